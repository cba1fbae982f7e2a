"""Build wire events (camelCase, as the server's batch endpoint expects) from Python
arguments (snake_case, as agentsight's ConversationTracker names them).

The only module that knows the wire field names. The sync and async clients both build
through it, so a field added here reaches both, validated the same way. Every builder
validates its arguments first and raises before anything is queued; every event gets its
own UUIDv7 `id` (the idempotency key) and the `timestamp` of the call.
"""

from __future__ import annotations

from typing import Any, Final

from chatlens_client import _checks as check
from chatlens_client._attachments import read_attachments
from chatlens_client._clock import utc_now_iso
from chatlens_client._uuid7 import uuid7
from chatlens_client.errors import InvalidEventError

WireEvent = dict[str, Any]

SENDERS: Final = ("user", "agent", "system")
ATTACHMENT_SENDERS: Final = ("user", "agent")
DEVICES: Final = ("desktop", "mobile", "tablet")
ENVIRONMENTS: Final = ("production", "development")


def new_event(type_name: str, conversation_id: str, **fields: Any) -> WireEvent:
    """The common envelope plus the given fields; None means "not given" and is left out."""
    event: WireEvent = {
        "type": type_name,
        "id": uuid7(),
        "timestamp": utc_now_iso(),
        "conversationId": conversation_id,
    }
    event.update((name, value) for name, value in fields.items() if value is not None)
    return event


def conversation_event(
    conversation_id: Any,
    *,
    used: bool,
    customer_id: Any = None,
    customer_ip_address: Any = None,
    device: Any = None,
    source: Any = None,
    language: Any = None,
    name: Any = None,
    environment: Any = "production",
    metadata: Any = None,
) -> WireEvent:
    return new_event(
        "conversation",
        check.required_text("conversation_id", conversation_id),
        used=used,
        customerId=check.optional_text("customer_id", customer_id),
        name=check.optional_text("name", name),
        source=check.optional_text("source", source),
        language=check.optional_text("language", language),
        deviceType=check.optional_choice("device", device, DEVICES),
        environment=check.choice("environment", environment, ENVIRONMENTS),
        metadata=check.optional_json_object("metadata", metadata),
        customerIp=check.optional_ip_address("customer_ip_address", customer_ip_address),
    )


def message_event(
    conversation_id: str, sender: Any, content: Any, metadata: Any, *, content_argument: str = "content"
) -> WireEvent:
    """`content_argument` names the text as the caller's method does (question, answer)."""
    return new_event(
        "message",
        conversation_id,
        sender=check.choice("sender", sender, SENDERS),
        content=check.required_text(content_argument, content),
        metadata=check.optional_json_object("metadata", metadata),
    )


def action_event(
    conversation_id: str,
    action_name: Any,
    *,
    started_at: Any = None,
    ended_at: Any = None,
    duration_ms: Any = None,
    tools_used: Any = None,
    response: Any = None,
    error_msg: Any = None,
    metadata: Any = None,
) -> WireEvent:
    started = check.optional_iso_time("started_at", started_at)
    ended = check.optional_iso_time("ended_at", ended_at)
    duration = check.optional_non_negative_number("duration_ms", duration_ms)
    if started is not None and ended is not None:
        elapsed = check.parse_iso(ended) - check.parse_iso(started)
        if elapsed.total_seconds() < 0:
            raise InvalidEventError("ended_at", f"is before started_at ({ended} < {started})")
        if duration is None:  # both ends known: the duration is not a guess
            duration = round(elapsed.total_seconds() * 1000, 3)
    return new_event(
        "action",
        conversation_id,
        name=check.required_text("action_name", action_name),
        startedAt=started,
        endedAt=ended,
        durationMs=duration,
        tools=check.optional_json_object("tools_used", tools_used),
        response=check.optional_text("response", response),
        error=check.optional_text("error_msg", error_msg),
        metadata=check.optional_json_object("metadata", metadata),
    )


def button_event(conversation_id: str, button_event: Any, label: Any, value: Any, metadata: Any) -> WireEvent:
    return new_event(
        "button",
        conversation_id,
        event=check.required_text("button_event", button_event),
        label=check.required_text("label", label),
        value=check.required_text("value", value),
        metadata=check.optional_json_object("metadata", metadata),
    )


def attachment_events(conversation_id: str, attachments: Any, sender: Any, metadata: Any) -> list[WireEvent]:
    """One event per file, so one oversized or refused file does not sink the others."""
    checked_sender = check.choice("sender", sender, ATTACHMENT_SENDERS)
    checked_metadata = check.optional_json_object("metadata", metadata)
    return [
        new_event(
            "attachment",
            conversation_id,
            sender=checked_sender,
            filename=item.filename,
            mimeType=item.mime_type,
            size=item.size,
            sha256=item.sha256,
            content=item.content or None,  # an empty file has no content to keep
            metadata=None if checked_metadata is None else dict(checked_metadata),
        )
        for item in read_attachments(attachments)
    ]


def token_usage_event(
    conversation_id: str,
    *,
    prompt_tokens: Any,
    completion_tokens: Any,
    total_tokens: Any,
    embedding_tokens: Any,
    model: Any,
) -> WireEvent:
    return new_event(
        "token_usage",
        conversation_id,
        model=check.optional_text("model", model),
        promptTokens=check.token_count("prompt_tokens", prompt_tokens),
        completionTokens=check.token_count("completion_tokens", completion_tokens),
        totalTokens=check.token_count("total_tokens", total_tokens),
        embeddingTokens=check.token_count("embedding_tokens", embedding_tokens),
    )


def rating_event(conversation_id: str, rate_code: Any, comment: Any, content_id: Any) -> WireEvent:
    return new_event(
        "rating",
        conversation_id,
        rateCode=check.required_text("rate_code", rate_code),
        contentId=check.optional_text("content_id", content_id),
        comment=check.optional_text("comment", comment),
    )


def session_log_event(conversation_id: str, data_key: Any, log_type: Any, value: Any) -> WireEvent:
    return new_event(
        "session_log",
        conversation_id,
        dataKey=check.required_text("data_key", data_key),
        logType=check.optional_text("log_type", log_type),
        value=check.json_value("value", value),
    )
