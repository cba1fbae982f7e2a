"""Server settings. Defaults are the documented behaviour; the CLI and tests override them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Settings:
    db_path: Path = Path("chatlens.duckdb")
    # POST /v1/batch limits
    max_body_bytes: int = 256 * 1024
    max_events_per_batch: int = 1000
    rate_limit_per_minute: int = 30  # per session, as in reference 000; 0 disables it
    drop_bots: bool = True
    # Take the client address from X-Forwarded-For (only behind your own proxy).
    trust_proxy_headers: bool = False
    # POST /v1/server/batch and the AgentSight-compatible API (secret key)
    max_server_body_bytes: int = 8 * 1024 * 1024
    max_attachment_bytes: int = 1024 * 1024  # larger files keep their description only
    # Custom session data keys (reference 004): name -> priority or (priority, path)
    data_keys: dict[str, int | tuple[int, str]] = field(default_factory=dict)
    # Storage
    dedupe_capacity: int = 1_000_000  # event ids kept in memory (~150 bytes each)
    max_pending_rows: int = 200_000  # beyond this, batches get 503 + Retry-After
    duckdb_threads: int = 2
    load_interval: float = 1.0  # seconds between loads of the journal into the store
    load_rows: int = 50_000  # ... or sooner, once this many rows are waiting
    # A route that reads and discards the body: the benchmark's reference point.
    noop_endpoint: bool = False

    @property
    def journal_path(self) -> Path:
        """The write-ahead journal lives beside the database file."""
        return self.db_path.with_name(self.db_path.name + ".journal")
