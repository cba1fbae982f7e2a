"""The embedded default backend: one DuckDB file owned by the server process.

DuckDB allows one read-write process per file, so the server owns it. Rows arrive as
whole journal segments (`chatlens.store.writer`), which DuckDB parses natively in one
transaction: its cost per commit is milliseconds, so it is paid once per segment, not per
request, and the loading never holds Python's GIL. Every thread gets its own cursor.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from chatlens.model.events import CONVERSATION_TYPES, LIFECYCLE_TYPES
from chatlens.store.base import (
    ConversationQuery,
    CreatedSite,
    EventPage,
    EventQuery,
    Site,
    hash_secret,
)
from chatlens.store.schema import EVENT_COLUMNS, KEY_COLUMNS, ROLLUPS, STORED_COLUMN_NAMES, DerivedRollup, Rollup

log = logging.getLogger("chatlens.store")

SCHEMA_VERSION = 2  # 2: the visitor and visit keys (store/schema.py KEY_COLUMNS)
# Bumped when the rollup's definition changes: the table is then rebuilt from `events`.
ROLLUP_VERSION = "15"

# Journal lines carry timestamps as UTC microseconds and UUIDs and JSON as text.
_LINE_TYPES = {"TIMESTAMPTZ": "BIGINT", "UUID": "VARCHAR"}
_READ_SEGMENT_SQL = "SELECT {exprs} FROM read_json(?, format = 'newline_delimited', columns = {{{types}}})".format(
    exprs=", ".join(
        (f"make_timestamptz({n})" if t == "TIMESTAMPTZ" else f"{n}::UUID" if t == "UUID" else n) + f" AS {n}"
        for n, t in EVENT_COLUMNS
    )
    + "".join(f", {expr.format(a='')} AS {name}" for name, expr in KEY_COLUMNS),
    types=", ".join(f"'{n}': '{_LINE_TYPES.get(t, t)}'" for n, t in EVENT_COLUMNS),
)
_LIFECYCLE = [t.name for t in LIFECYCLE_TYPES]
_CONVERSATION_EVENTS = [*_LIFECYCLE, *(t.name for t in CONVERSATION_TYPES)]
_READ_COLUMNS = ", ".join(
    f"{n}::VARCHAR AS {n}"
    if t == "UUID"
    else f"epoch_us({n}) AS {n}"
    if t == "TIMESTAMPTZ"
    else n
    for n, t in EVENT_COLUMNS
)


# DuckDB checkpoints once its WAL passes 16 MB by default: under heavy ingestion that was
# every load, and each checkpoint rewrote the rollups' touched row groups and indexes, a
# third of the load's CPU. Acknowledged rows are safe in our journal anyway; a larger WAL
# costs memory (about twice its size) and replay time at start after a crash (about 1.5 s
# for 230 MB). tests/store/test_checkpoint.py, benchmarks/load_chunks.py.
CHECKPOINT_THRESHOLD = "128MB"


class StoreError(Exception):
    """The store cannot be opened or used; the message says why, for a person."""


class DuckDBStore:
    def __init__(
        self, path: str | os.PathLike[str], *, threads: int = 2, rollups: Sequence[DerivedRollup | Rollup] = ROLLUPS
    ) -> None:
        self.path = Path(path)
        self._rollups = tuple(rollups)
        self._con = _connect(self.path, threads)
        self._local = threading.local()
        self._migrate()

    # -- connections -------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
            cur.execute("SET TimeZone = 'UTC'")  # a setting of each connection: hours and days are UTC's
        return cur

    def close(self) -> None:
        try:
            self._con.execute("CHECKPOINT")
        finally:
            self._con.close()

    def _migrate(self) -> None:
        con = self._con
        con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer Chatlens (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade Chatlens"
            )
        stored = [*EVENT_COLUMNS, *((name, "UBIGINT") for name, _ in KEY_COLUMNS)]
        columns = ",\n  ".join(f"{name} {sql}" for name, sql in stored)
        con.execute(f"CREATE TABLE IF NOT EXISTS events (\n  {columns}\n)")
        for name, sql in stored:  # columns added by later versions of the model
            con.execute(f"ALTER TABLE events ADD COLUMN IF NOT EXISTS {name} {sql}")
        events = self.count_events()  # a person waiting for the server should know why it waits
        if version < 2:  # a file from before the keys: derive them (about 5 s per 10M events)
            if events:
                log.info("deriving the visitor and visit keys of %s stored events (once) ...", f"{events:,}")
            keys = ", ".join(f"{name} = {expr.format(a='')}" for name, expr in KEY_COLUMNS)
            con.execute(f"UPDATE events SET {keys}")
        con.execute(
            """CREATE TABLE IF NOT EXISTS sites (
              site_id VARCHAR PRIMARY KEY,
              name VARCHAR NOT NULL,
              public_key VARCHAR NOT NULL UNIQUE,
              secret_key_hash VARCHAR NOT NULL UNIQUE,
              origins VARCHAR[] NOT NULL,
              created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
            )"""
        )
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )
        built = con.execute("SELECT value FROM meta WHERE key = 'rollup_version'").fetchone()
        if built is None or built[0] != ROLLUP_VERSION:
            if events:
                log.info("building the reports' rollups from %s stored events (once) ...", f"{events:,}")
            try:
                started = time.monotonic()
                self.rebuild_rollups()
                if events:
                    log.info("rollups built in %.1f s", time.monotonic() - started)
            except duckdb.Error as exc:  # the events are intact: serve them, reports may lag
                log.error("rollups could not be rebuilt, reports read stale rollups: %s", exc)

    def rebuild_rollups(self) -> None:
        """Recompute the rollups (store/schema.py) from all stored events: on first start with a file
        written before it existed, when its definition changed, and after rows were
        written into `events` without `load_segment` (benchmarks/bulk_events.py)."""
        cur = self._cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            for rollup in self._rollups:
                cur.execute(f"DROP TABLE IF EXISTS {rollup.table}")
                cur.execute(rollup.ddl())
                cur.execute(f"INSERT INTO {rollup.table} BY NAME {rollup.select('events')}")
            cur.execute("INSERT OR REPLACE INTO meta VALUES ('rollup_version', ?)", [ROLLUP_VERSION])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    # -- events ------------------------------------------------------------------------

    def load_segment(self, path: Path, journal_segment: int) -> int:
        try:
            return self._load(path, journal_segment, merge=True)
        except duckdb.Error as exc:
            # Acknowledged events come first: a rollup that cannot take this segment must
            # not hold them back. They are stored alone and the rollups marked stale, to
            # be rebuilt from all events when the store next opens.
            log.error("segment %s: rollups not updated, stored the events alone: %s", journal_segment, exc)
            return self._load(path, journal_segment, merge=False)

    def _load(self, path: Path, journal_segment: int, *, merge: bool) -> int:
        cur = self._cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            # DuckDB parses the file itself, in its own threads: no Python objects per row.
            # The rows go through a temporary table so that the file is parsed once for
            # both the events and the rollups.
            inserted = 0
            if path.stat().st_size:
                cur.execute(f"CREATE OR REPLACE TEMPORARY TABLE segment_rows AS {_READ_SEGMENT_SQL}", [str(path)])
                inserted = cur.execute(
                    f"INSERT INTO events ({', '.join(STORED_COLUMN_NAMES)}) SELECT * FROM segment_rows"
                ).fetchone()[0]
                for rollup in self._rollups if merge else ():
                    cur.execute(rollup.merge("segment_rows"))
                cur.execute("DROP TABLE segment_rows")
            if not merge:
                cur.execute("INSERT OR REPLACE INTO meta VALUES ('rollup_version', 'stale')")
            cur.execute(
                "INSERT OR REPLACE INTO meta VALUES ('journal_position', ?)", [str(journal_segment)]
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return int(inserted)

    def journal_position(self) -> int:
        row = self._cursor().execute("SELECT value FROM meta WHERE key = 'journal_position'").fetchone()
        return int(row[0]) if row else 0

    def existing_event_ids(
        self, site_id: str, event_ids: Sequence[str], client_ts_range: tuple[int, int]
    ) -> set[str]:
        if not event_ids:
            return set()
        # The time bound lets DuckDB skip row groups by their min/max (zone maps).
        rows = self._cursor().execute(
            "SELECT event_id::VARCHAR FROM events WHERE site_id = ? "
            "AND client_ts BETWEEN make_timestamptz(?::BIGINT) AND make_timestamptz(?::BIGINT) "
            "AND event_id IN (SELECT unnest(?::UUID[]))",
            [site_id, client_ts_range[0], client_ts_range[1], list(event_ids)],
        ).fetchall()
        return {r[0] for r in rows}

    def recent_event_keys(self, limit: int) -> list[tuple[str, str, int]]:
        return self._cursor().execute(
            "SELECT site_id, event_id::VARCHAR, epoch_us(client_ts) FROM events "
            "ORDER BY client_ts DESC LIMIT ?",
            [limit],
        ).fetchall()

    def query_events(self, query: EventQuery) -> EventPage:
        where = ["site_id = ?"]
        params: list[Any] = [query.site_id]
        if query.types:
            where.append("type IN (SELECT unnest(?::VARCHAR[]))")
            params.append(list(query.types))
        if query.visitor_id is not None:
            where.append("visitor_id = ?")
            params.append(query.visitor_id)
        if query.session_id is not None:
            where.append("session_id = ?")
            params.append(query.session_id)
        if query.interaction_id is not None:
            where.append("interaction_id = ?")
            params.append(query.interaction_id)
        if query.since_us is not None:
            where.append("ts >= make_timestamptz(?::BIGINT)")
            params.append(query.since_us)
        if query.until_us is not None:
            where.append("ts < make_timestamptz(?::BIGINT)")
            params.append(query.until_us)
        if query.after is not None:
            where.append(
                "(ts > make_timestamptz(?::BIGINT) "
                "OR (ts = make_timestamptz(?::BIGINT) AND event_id > ?::UUID))"
            )
            params.extend([query.after[0], query.after[0], query.after[1]])
        sql = (
            f"SELECT {_READ_COLUMNS} FROM events WHERE {' AND '.join(where)} "
            f"ORDER BY ts, event_id LIMIT {int(query.limit) + 1}"
        )
        cur = self._cursor()
        result = cur.execute(sql, params)
        names = [d[0] for d in result.description]
        rows = [dict(zip(names, r)) for r in result.fetchall()]
        page = EventPage(rows=rows[: query.limit])
        if len(rows) > query.limit:
            last = page.rows[-1]
            page.next_after = (last["ts"], last["event_id"])
        return page

    def known_conversations(self, site_id: str, conversation_ids: Sequence[str]) -> set[str]:
        if not conversation_ids:
            return set()
        rows = self._cursor().execute(
            "SELECT DISTINCT interaction_id FROM events WHERE site_id = ? "
            "AND interaction_id IN (SELECT unnest(?::VARCHAR[])) "
            "AND (type = 'conversation' OR type IN (SELECT unnest(?::VARCHAR[])))",
            [site_id, list(conversation_ids), _LIFECYCLE],
        ).fetchall()
        return {r[0] for r in rows}

    def list_conversations(self, query: ConversationQuery) -> list[tuple[str, int]]:
        where = ["site_id = ?", "interaction_id IS NOT NULL", "type IN (SELECT unnest(?::VARCHAR[]))"]
        params: list[Any] = [query.site_id, _CONVERSATION_EVENTS]
        having: list[str] = []
        for column, value in (("visitor_id", query.visitor_id), ("customer_id", query.customer_id)):
            if value is not None:
                having.append(f"bool_or({column} = ?)")
                params.append(value)
        if query.since_us is not None:
            having.append("min(ts) >= make_timestamptz(?::BIGINT)")
            params.append(query.since_us)
        if query.until_us is not None:
            having.append("min(ts) < make_timestamptz(?::BIGINT)")
            params.append(query.until_us)
        if query.before is not None:
            having.append(
                "(epoch_us(min(ts)) < ?::BIGINT OR (epoch_us(min(ts)) = ?::BIGINT AND interaction_id < ?))"
            )
            params.extend([query.before[0], query.before[0], query.before[1]])
        sql = (
            f"SELECT interaction_id, epoch_us(min(ts)) AS first FROM events WHERE {' AND '.join(where)} "
            f"GROUP BY interaction_id {'HAVING ' + ' AND '.join(having) if having else ''} "
            f"ORDER BY first DESC, interaction_id DESC LIMIT {int(query.limit)}"
        )
        return [(r[0], r[1]) for r in self._cursor().execute(sql, params).fetchall()]

    def analytics(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        result = self._cursor().execute(sql, params)
        return [d[0] for d in result.description], result.fetchall()

    def export(self, sql: str, params: dict[str, Any], path: Path, fmt: str) -> int:
        options = {"parquet": "FORMAT parquet, COMPRESSION zstd", "csv": "FORMAT csv, HEADER true"}[fmt]
        # COPY takes no parameters: the rows go through a temporary table of this cursor.
        cur = self._cursor()
        table = f"export_{secrets.token_hex(6)}"
        cur.execute(f"CREATE TEMPORARY TABLE {table} AS {sql}", params)
        try:
            cur.execute(f"COPY {table} TO '{_sql_text(str(path))}' ({options})")
            return int(cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        finally:
            cur.execute(f"DROP TABLE {table}")

    def server_secret(self, name: str) -> bytes:
        cur = self._cursor()
        key = f"secret:{name}"
        cur.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", [key, secrets.token_hex(32)])
        return bytes.fromhex(cur.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()[0])

    def count_events(self, site_id: str | None = None) -> int:
        sql = "SELECT count(*) FROM events" + (" WHERE site_id = ?" if site_id else "")
        return self._cursor().execute(sql, [site_id] if site_id else []).fetchone()[0]

    # -- sites -------------------------------------------------------------------------

    def create_site(self, name: str, origins: Sequence[str] = ()) -> CreatedSite:
        if not name.strip():
            raise StoreError("site name must not be empty")
        cur = self._cursor()
        base = _slug(name)
        taken = {r[0] for r in cur.execute("SELECT site_id FROM sites").fetchall()}
        site_id, n = base, 2
        while site_id in taken:
            site_id, n = f"{base}-{n}", n + 1
        secret_key = new_secret_key()
        site = Site(
            site_id=site_id,
            name=name.strip(),
            public_key="pk_" + secrets.token_urlsafe(18),
            secret_key_hash=hash_secret(secret_key),
            origins=tuple(origins),
        )
        cur.execute(
            "INSERT INTO sites (site_id, name, public_key, secret_key_hash, origins) "
            "VALUES (?, ?, ?, ?, ?)",
            [site.site_id, site.name, site.public_key, site.secret_key_hash, list(site.origins)],
        )
        return CreatedSite(site, secret_key)

    def list_sites(self) -> list[Site]:
        rows = self._cursor().execute(
            "SELECT site_id, name, public_key, secret_key_hash, origins FROM sites ORDER BY created_at"
        ).fetchall()
        return [Site(r[0], r[1], r[2], r[3], tuple(r[4])) for r in rows]

    def set_site_origins(self, site_id: str, origins: Sequence[str]) -> Site:
        row = self._cursor().execute(
            "UPDATE sites SET origins = ? WHERE site_id = ? "
            "RETURNING site_id, name, public_key, secret_key_hash, origins",
            [list(origins), site_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"no site {site_id!r} (`chatlens site list` shows them)")
        return Site(row[0], row[1], row[2], row[3], tuple(row[4]))


def new_secret_key() -> str:
    """128 random bits in the shape the `agentsight` SDK insists on
    (`ags_<32 hex>_<6 hex>`), so that SDK runs against Chatlens unmodified; the last six
    digits are a checksum that catches a mistyped key before any lookup."""
    body = secrets.token_hex(16)
    return f"ags_{body}_{hashlib.sha256(body.encode()).hexdigest()[:6]}"


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:40] or "site"


def _connect(path: Path, threads: int) -> duckdb.DuckDBPyConnection:
    """Open the database file, turning DuckDB's errors into ones a person can act on."""
    if path.is_dir():
        raise StoreError(f"--db {path}: is a directory; give a file path such as {path}/chatlens.duckdb")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise StoreError(f"--db {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise StoreError(f"--db {path}: not writable by this user")
    try:
        con = duckdb.connect(str(path), config={"threads": threads})
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            pid = re.search(r"PID (\d+)", message)
            owner = f" (process {pid.group(1)})" if pid else ""
            raise StoreError(
                f"--db {path}: the database is in use by another Chatlens server{owner}; "
                "stop it, or point --db at another file"
            ) from None
        raise StoreError(f"--db {path}: cannot open: {message}") from None
    except duckdb.Error as exc:
        raise StoreError(f"--db {path}: not a Chatlens database: {exc}") from None
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    return con
