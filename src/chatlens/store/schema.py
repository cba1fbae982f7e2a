"""Columns of the stored event, in the order the write path builds them.

The hot fields of the canonical model get typed columns (derived from
`chatlens.model.events`); everything else an event carried is kept as JSON properties.
"""

from __future__ import annotations

from typing import Any

import orjson

from chatlens.model.events import CONVERSATION_TYPES, EVENT_TYPES, LIFECYCLE_TYPES, WIDGET_TYPES, Kind, hot_columns


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


# -- the visit rollup ------------------------------------------------------------------
# Reports filter and break down by attributes of a *visit*, and engagement counts visits.
# Deriving those from every event of a range costs a group-by over all of them each time,
# so the store keeps one row per visit, merged in as each journal segment loads
# (`DuckDBStore.load_segment`) and rebuilt from `events` when missing.

# A visit: the session, or the conversation when an agent backend sent it without one.
# (CASE rather than coalesce: the fallback string is then only built where it is needed.)
VISIT = "CASE WHEN {a}session_id IS NOT NULL THEN {a}session_id ELSE 'conversation:' || {a}interaction_id END"

# The widget (001), lifecycle (002) and conversation events: "the widget loaded" (003).
CHAT_TYPES: tuple[str, ...] = tuple(
    sorted({*(t.name for t in WIDGET_TYPES), *(t.name for t in LIFECYCLE_TYPES), *(t.name for t in CONVERSATION_TYPES)})
)
CHAT_TYPES_SQL = "(" + ", ".join(f"'{t}'" for t in CHAT_TYPES) + ")"


def engaged(a: str = "e") -> str:
    """SQL: the event `a` shows the visitor engaging (003 "conversation used")."""
    return (
        f"({a}.type IN ('chat.submitted', 'chat.started', 'CONTACT_STARTED') OR ({a}.type = 'message' AND {a}.sender = 'user') "
        f"OR ({a}.type = 'conversation' AND ({a}.properties->>'used') = 'true'))"
    )


# (name, SQL type, aggregate over a visit's events `e`, merge of the stored value with
# `EXCLUDED`'s). Attributes are kept as {t: first time, v: value} so that two partial
# rows merge exactly: the earlier wins, whatever order the segments arrive in.
_FIRST = "STRUCT(t TIMESTAMPTZ, v VARCHAR)"
_MERGE_FIRST = "least({c}, EXCLUDED.{c})"  # least() skips NULLs


def _first(value: str, where: str) -> str:
    return f"min({{'t': e.ts, 'v': {value}}}) FILTER (WHERE {where})"


VISIT_ROLLUP_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("visitor_id", "VARCHAR", "any_value(e.visitor_id)", "coalesce({c}, EXCLUDED.{c})"),
    ("first_ts", "TIMESTAMPTZ", "min(e.ts)", "least({c}, EXCLUDED.{c})"),
    ("last_ts", "TIMESTAMPTZ", "max(e.ts)", "greatest({c}, EXCLUDED.{c})"),
    # the browser's device and language (a visit with a device is a browser visit)
    ("device", _FIRST, _first("e.device", "e.device IS NOT NULL"), _MERGE_FIRST),
    ("language", _FIRST, _first("e.language", "e.language IS NOT NULL"), _MERGE_FIRST),
    # what an agent backend said of the conversation (002/003 `conversation` events)
    *(
        (f"conversation_{name}", _FIRST,
         _first(f"e.properties->>'{field}'", f"e.type = 'conversation' AND (e.properties->>'{field}') IS NOT NULL"),
         _MERGE_FIRST)
        for name, field in (("device", "deviceType"), ("source", "source"), ("language", "language"))
    ),
    ("landing_page_type", _FIRST, _first("e.page_type", "e.type = 'page_view' AND e.page_type IS NOT NULL"), _MERGE_FIRST),
    ("page_types", "VARCHAR[]",
     "coalesce(list_distinct(list(e.page_type) FILTER (WHERE e.type = 'page_view' AND e.page_type IS NOT NULL)), [])",
     "list_distinct(list_concat({c}, EXCLUDED.{c}))"),
    # engagement (003): when the widget first loaded and when the visitor first engaged
    ("loaded_at", "TIMESTAMPTZ", f"min(e.ts) FILTER (WHERE e.type IN {CHAT_TYPES_SQL})", "least({c}, EXCLUDED.{c})"),
    ("used_at", "TIMESTAMPTZ", f"min(e.ts) FILTER (WHERE {engaged('e')})", "least({c}, EXCLUDED.{c})"),
)


def visit_rollup_select(source: str) -> str:
    """SELECT one partial rollup row per visit of the events in `source` (a table name)."""
    aggregates = ", ".join(f"{agg} AS {name}" for name, _, agg, _ in VISIT_ROLLUP_COLUMNS)
    return (
        f"SELECT e.site_id, {VISIT.format(a='e.')} AS visit, {aggregates} FROM {source} e "
        "WHERE e.session_id IS NOT NULL OR e.interaction_id IS NOT NULL GROUP BY ALL"
    )
