"""Columns of the stored event, in the order the write path builds them.

The hot fields of the canonical model get typed columns (derived from
`chatlens.model.events`); everything else an event carried is kept as JSON properties.
"""

from __future__ import annotations

from typing import Any

import orjson

from chatlens.model.events import EVENT_TYPES, Kind, hot_columns


def _hot_column_type(column: str) -> str:
    for event_type in EVENT_TYPES.values():
        for field in event_type.fields:
            if field.column == column:
                return "DOUBLE" if field.kind is Kind.NUMBER else "VARCHAR"
    return "VARCHAR"


# (name, SQL type). Timestamps are UTC microseconds in the write path.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "UUID"),
    ("site_id", "VARCHAR"),
    ("visitor_id", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("type", "VARCHAR"),
    ("client_ts", "TIMESTAMPTZ"),  # the client's clock (the event's `timestamp`)
    ("sent_at", "TIMESTAMPTZ"),  # the client's clock when the batch was sent
    ("received_at", "TIMESTAMPTZ"),  # the server's clock
    ("ts", "TIMESTAMPTZ"),  # skew-corrected: received_at - (sent_at - client_ts)
    *((name, _hot_column_type(name)) for name in hot_columns()),
    ("device", "VARCHAR"),  # desktop | mobile | tablet
    ("language", "VARCHAR"),  # the browser's first Accept-Language tag, e.g. en-US
    ("bot", "BOOLEAN"),
    ("ip_hash", "VARCHAR"),  # keyed hash with a daily salt held only in memory
    ("properties", "JSON"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in EVENT_COLUMNS)
COLUMN_INDEX: dict[str, int] = {name: i for i, name in enumerate(COLUMN_NAMES)}
TIMESTAMP_COLUMNS = frozenset(n for n, t in EVENT_COLUMNS if t == "TIMESTAMPTZ")

# Typed column -> the wire field it came from, to rebuild an event's data on read.
COLUMN_TO_FIELD: dict[str, str] = {}
for _event_type in EVENT_TYPES.values():
    for _field in _event_type.fields:
        if _field.column:
            COLUMN_TO_FIELD.setdefault(_field.column, _field.name)


# Per event type: typed column -> wire field, to give each event back its own fields.
_FIELDS_BY_TYPE = {
    name: {f.column: f.name for f in spec.fields if f.column} for name, spec in EVENT_TYPES.items()
}


def event_data(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row's own fields, by wire name: its JSON properties plus its typed columns."""
    data: dict[str, Any] = orjson.loads(row["properties"]) if row["properties"] else {}
    for column, name in _FIELDS_BY_TYPE.get(row["type"], {}).items():
        if row.get(column) is not None:
            data[name] = row[column]
    return data
