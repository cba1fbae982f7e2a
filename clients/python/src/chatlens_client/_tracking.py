"""The conversation-scoped methods, named as in agentsight's ConversationTracker.

One implementation for both clients: tracking never does I/O (it validates, builds the
events and queues them), so the same synchronous methods serve `Client` and
`AsyncClient`; each subclass only says how to queue (`_enqueue`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import IO, Any, Literal, TypedDict

from chatlens_client import _checks as check
from chatlens_client import _events
from chatlens_client._events import WireEvent
from chatlens_client.errors import NoConversationError

Sender = Literal["user", "agent", "system"]
AttachmentSender = Literal["user", "agent"]
Device = Literal["desktop", "mobile", "tablet"]
Environment = Literal["production", "development"]


class Attachment(TypedDict):
    """One file for `track_attachments`: `data` is bytes, base64 text or a binary file."""

    filename: str
    mime_type: str
    data: bytes | str | IO[bytes]


class ConversationTracking:
    _current_conversation_id: str | None = None

    def _enqueue(self, events: list[WireEvent]) -> None:
        raise NotImplementedError

    @property
    def current_conversation_id(self) -> str | None:
        """The conversation used when `conversation_id` is not given (set by get_or_create_conversation)."""
        return self._current_conversation_id

    def _conversation(self, conversation_id: str | None) -> str:
        if conversation_id is None:
            if self._current_conversation_id is None:
                raise NoConversationError()
            return self._current_conversation_id
        return check.required_text("conversation_id", conversation_id)

    def _queue_one(self, event: WireEvent) -> str:
        self._enqueue([event])
        return str(event["id"])

    # ---- conversations ----------------------------------------------------------------

    def initialize_conversation(
        self,
        conversation_id: str,
        customer_id: str | None = None,
        customer_ip_address: str | None = None,
        device: Device | None = None,
        source: str | None = None,
        language: str | None = None,
        name: str | None = None,
        environment: Environment = "production",
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Record that a conversation was made possible (used=false: the chat loaded, nobody
        wrote yet). Does not change the current conversation. Returns the event id."""
        return self._queue_one(
            _events.conversation_event(
                conversation_id,
                used=False,
                customer_id=customer_id,
                customer_ip_address=customer_ip_address,
                device=device,
                source=source,
                language=language,
                name=name,
                environment=environment,
                metadata=metadata,
            )
        )

    def get_or_create_conversation(
        self,
        conversation_id: str,
        customer_id: str | None = None,
        customer_ip_address: str | None = None,
        device: Device | None = None,
        source: str | None = None,
        language: str | None = None,
        name: str | None = None,
        environment: Environment = "production",
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Record that the conversation is used (used=true: the visitor engaged) and make it
        the current conversation of this client. Returns the event id."""
        event = _events.conversation_event(
            conversation_id,
            used=True,
            customer_id=customer_id,
            customer_ip_address=customer_ip_address,
            device=device,
            source=source,
            language=language,
            name=name,
            environment=environment,
            metadata=metadata,
        )
        event_id = self._queue_one(event)
        self._current_conversation_id = event["conversationId"]
        return event_id

    # ---- messages ---------------------------------------------------------------------

    def track_question(
        self, question: str, metadata: Mapping[str, Any] | None = None, conversation_id: str | None = None
    ) -> str:
        """A message from the user. Returns the event id."""
        conversation = self._conversation(conversation_id)
        return self._queue_one(_events.message_event(conversation, "user", question, metadata, content_argument="question"))

    def track_answer(
        self, answer: str, metadata: Mapping[str, Any] | None = None, conversation_id: str | None = None
    ) -> str:
        """A message from the agent. Returns the event id."""
        conversation = self._conversation(conversation_id)
        return self._queue_one(_events.message_event(conversation, "agent", answer, metadata, content_argument="answer"))

    def track_message(
        self,
        sender: Sender,
        content: str,
        metadata: Mapping[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> str:
        """A message from 'user', 'agent' or 'system'. Returns the event id."""
        conversation = self._conversation(conversation_id)
        return self._queue_one(_events.message_event(conversation, sender, content, metadata))

    # ---- what the agent did -----------------------------------------------------------

    def track_action(
        self,
        action_name: str,
        started_at: str | datetime | None = None,
        ended_at: str | datetime | None = None,
        duration_ms: float | None = None,
        tools_used: Mapping[str, Any] | None = None,
        response: str | None = None,
        error_msg: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> str:
        """An action or tool call. With both `started_at` and `ended_at` and no
        `duration_ms`, the duration is computed. Returns the event id."""
        conversation = self._conversation(conversation_id)
        return self._queue_one(
            _events.action_event(
                conversation,
                action_name,
                started_at=started_at,
                ended_at=ended_at,
                duration_ms=duration_ms,
                tools_used=tools_used,
                response=response,
                error_msg=error_msg,
                metadata=metadata,
            )
        )

    def track_button(
        self,
        button_event: str,
        label: str,
        value: str,
        metadata: Mapping[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> str:
        """The user clicked a button the agent offered. Returns the event id."""
        conversation = self._conversation(conversation_id)
        return self._queue_one(_events.button_event(conversation, button_event, label, value, metadata))

    def track_attachments(
        self,
        attachments: Sequence[Attachment | Mapping[str, Any]],
        sender: AttachmentSender = "user",
        metadata: Mapping[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> list[str]:
        """Files sent in the conversation, one event each (size and SHA-256 computed here).
        All are queued or none. Returns the event ids, in order."""
        conversation = self._conversation(conversation_id)
        events = _events.attachment_events(conversation, attachments, sender, metadata)
        self._enqueue(events)
        return [str(e["id"]) for e in events]

    def track_token_usage(
        self,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        total_tokens: int = 0,
        embedding_tokens: int = 0,
        model: str | None = None,
        conversation_id: str | None = None,
    ) -> str:
        """LLM tokens used, sent as given (one event per call; the server sums them).
        Returns the event id."""
        conversation = self._conversation(conversation_id)
        return self._queue_one(
            _events.token_usage_event(
                conversation,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=total_tokens,
                embedding_tokens=embedding_tokens,
                model=model,
            )
        )

    # ---- outcomes ---------------------------------------------------------------------

    def track_rating(
        self,
        rate_code: str,
        comment: str | None = None,
        content_id: str | None = None,
        conversation_id: str | None = None,
    ) -> str:
        """The user rated an answer or the conversation. Returns the event id."""
        conversation = self._conversation(conversation_id)
        return self._queue_one(_events.rating_event(conversation, rate_code, comment, content_id))

    def track_session_log(
        self,
        data_key: str,
        log_type: str | None = None,
        value: Any = None,
        conversation_id: str | None = None,
    ) -> str:
        """A session log entry ('CHAT_ATTENDED', 'SEARCH', or your own key); `value` is any
        JSON value. Returns the event id."""
        conversation = self._conversation(conversation_id)
        return self._queue_one(_events.session_log_event(conversation, data_key, log_type, value))
