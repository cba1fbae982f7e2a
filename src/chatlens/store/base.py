"""The narrow interface between Chatlens and wherever events and sites are kept.

Ingestion and the read API only talk to this protocol, so a second backend (a
distributed column store, say) can be added without touching them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


def hash_secret(secret_key: str) -> str:
    """Secret keys are stored only as this hash."""
    return hashlib.sha256(secret_key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    name: str
    public_key: str
    secret_key_hash: str
    origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CreatedSite:
    """A new site with its secret key, which is shown once and stored only as a hash."""

    site: Site
    secret_key: str


@dataclass(frozen=True, slots=True)
class EventQuery:
    site_id: str
    types: tuple[str, ...] = ()
    visitor_id: str | None = None
    session_id: str | None = None
    interaction_id: str | None = None  # one conversation
    since_us: int | None = None  # inclusive, on the skew-corrected time `ts`
    until_us: int | None = None  # exclusive
    after: tuple[int, str] | None = None  # keyset cursor: (ts in us, event_id)
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    """Conversations of a site, newest first (by their first event), keyset-paginated."""

    site_id: str
    visitor_id: str | None = None
    customer_id: str | None = None
    since_us: int | None = None  # on the first event's time, inclusive
    until_us: int | None = None  # exclusive
    before: tuple[int, str] | None = None  # keyset cursor: (first event time in us, id)
    limit: int = 100


@dataclass(slots=True)
class EventPage:
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_after: tuple[int, str] | None = None


class EventStore(Protocol):
    def load_segment(self, path: Path, journal_segment: int) -> int:
        """Store the rows of a journal segment file (`chatlens.store.rows` lines) in one
        transaction that also records `journal_segment` as loaded, so that a replay after a
        crash skips it. Returns the number of rows."""

    def journal_position(self) -> int:
        """The last journal segment whose rows are stored (0: none)."""

    def existing_event_ids(
        self, site_id: str, event_ids: Sequence[str], client_ts_range: tuple[int, int]
    ) -> set[str]:
        """The subset of `event_ids` already stored for the site; every one of them has a
        client time within `client_ts_range` (inclusive, us), which bounds the search."""

    def recent_event_keys(self, limit: int) -> list[tuple[str, str, int]]:
        """Up to `limit` (site_id, event_id, client_ts_us), newest client time first."""

    def query_events(self, query: EventQuery) -> EventPage: ...

    def known_conversations(self, site_id: str, conversation_ids: Sequence[str]) -> set[str]:
        """The subset of `conversation_ids` that some stored `conversation` or `chat.*`
        event of the site made exist."""

    def list_conversations(self, query: ConversationQuery) -> list[tuple[str, int]]:
        """(conversation id, first event time in us) of the conversations matching."""

    def analytics(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a read-only analytics query over the `events` and `visit_rollup` tables
        (store/schema.py; `$name` parameters) and return its column names and rows. The analytics
        package writes DuckDB's SQL dialect; a second backend translates or provides its own."""

    def export(self, sql: str, params: dict[str, Any], path: Path, fmt: str) -> int:
        """Write the rows of an analytics query to a file, `fmt` "parquet" or "csv" (with a
        header row); returns the row count."""

    def server_secret(self, name: str) -> bytes:
        """A random 32-byte secret kept with the data (made on first use), e.g. the key
        that signs dashboard logins, so they survive a restart."""

    def create_site(self, name: str, origins: Sequence[str] = ()) -> CreatedSite: ...

    def list_sites(self) -> list[Site]: ...

    def set_site_origins(self, site_id: str, origins: Sequence[str]) -> Site:
        """Replace the origins allowed to send a site's events (none: any); the site after."""
        ...

    def close(self) -> None: ...
