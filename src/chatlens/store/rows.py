"""Stored rows as journal lines: one JSON object per event, newline-terminated.

This is the format between ingestion and storage. The journal keeps these lines, and a
backend bulk-loads a whole segment of them natively (DuckDB's `read_json`, ClickHouse's
`JSONEachRow`), so no Python objects are converted on the way into the store. Null
columns are left out. A torn line is never valid JSON, so a crash cannot smuggle half a
row in.
"""

from __future__ import annotations

from typing import Any

import orjson


class RowEncoder:
    """Encodes the events of one batch; the fields they share are serialized once."""

    __slots__ = ("_prefix",)

    def __init__(self, shared: dict[str, Any]) -> None:
        common = orjson.dumps({k: v for k, v in shared.items() if v is not None})
        self._prefix = common[:-1] + b","  # '{"site_id":...,' ready for the event's own fields

    def encode(
        self,
        event_id: str,
        type_name: str,
        client_ts: int,
        ts: int,
        columns: dict[str, Any],
        properties_json: str | None,
    ) -> bytes:
        """One line. `columns` (typed column -> value, from validation) is extended in place."""
        columns["event_id"] = event_id
        columns["type"] = type_name
        columns["client_ts"] = client_ts
        columns["ts"] = ts
        if properties_json is not None:  # already JSON: spliced in, not encoded twice
            columns = {**columns, "properties": orjson.Fragment(properties_json)}
        return self._prefix + orjson.dumps(columns, option=orjson.OPT_APPEND_NEWLINE)[1:]
