"""Conversations as the read API shows them: their events, folded (model/lifecycle.py).

A conversation is computed when it is read, from the events stored for it, so it is
always consistent with them and nothing has to be migrated when the rules improve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from chatlens.model.lifecycle import Conversation, ConversationEvent, fold
from chatlens.model.session_results import DataKeys
from chatlens.store.base import ConversationQuery, EventQuery, EventStore
from chatlens.store.schema import event_data

# How many candidate conversations one list request may fold while filtering.
MAX_SCAN = 5000
_PAGE = 500


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """Filters that need the folded conversation (the store filters the rest)."""

    state: str | None = None
    used: bool | None = None
    result: str | None = None  # a data key
    flagged: bool | None = None  # has anomalies

    def matches(self, conv: Conversation) -> bool:
        if self.state is not None and conv.state != self.state:
            return False
        if self.used is not None and conv.used != self.used:
            return False
        if self.result is not None and (conv.result or {}).get("dataKey") != self.result:
            return False
        return self.flagged is None or bool(conv.anomalies) == self.flagged


class ConversationReader:
    def __init__(self, store: EventStore, flush: Callable[[], None], data_keys: DataKeys) -> None:
        self.store = store
        self.flush = flush  # loads journaled events, so a reader sees all it was promised
        self.data_keys = data_keys

    def get(self, site_id: str, conversation_id: str) -> Conversation | None:
        """Blocking (call from a worker thread)."""
        self.flush()
        return self._fold(site_id, conversation_id)

    def list(
        self, query: ConversationQuery, filters: ConversationFilter
    ) -> tuple[list[Conversation], tuple[int, str] | None]:
        """Blocking. A page of matching conversations, and the cursor of the next page."""
        self.flush()
        found: list[Conversation] = []
        scanned = 0
        before = query.before
        while True:
            batch = self.store.list_conversations(replace(query, before=before, limit=_PAGE))
            for conversation_id, first_us in batch:
                scanned += 1
                before = (first_us, conversation_id)
                conv = self._fold(query.site_id, conversation_id)
                if conv is not None and filters.matches(conv):
                    found.append(conv)
                    if len(found) == query.limit:
                        return found, before
                if scanned >= MAX_SCAN:
                    return found, before  # the client continues from here
            if len(batch) < _PAGE:
                return found, None

    def _fold(self, site_id: str, conversation_id: str) -> Conversation | None:
        events: list[ConversationEvent] = []
        after = None
        while True:
            page = self.store.query_events(
                EventQuery(site_id=site_id, interaction_id=conversation_id, after=after, limit=1000)
            )
            for row in page.rows:
                events.append(
                    ConversationEvent(
                        event_id=row["event_id"],
                        type=row["type"],
                        ts_us=row["ts"],
                        client_ts_us=row["client_ts"],
                        received_us=row["received_at"],
                        data=event_data(row),
                        visitor_id=row["visitor_id"],
                        session_id=row["session_id"],
                    )
                )
            if page.next_after is None:
                break
            after = page.next_after
        if not any(e.type == "conversation" or e.type.startswith("chat.") for e in events):
            return None  # only events that named it: it never began
        return fold(conversation_id, events, self.data_keys)
