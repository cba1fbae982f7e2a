"""Columns of the stored event, in the order the write path builds them.

The hot fields of the canonical model get typed columns (derived from
`chatlens.model.events`); everything else an event carried is kept as JSON properties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from chatlens.model.events import (
    BEHAVIOUR_TYPES,
    CONVERSATION_TYPES,
    EVENT_TYPES,
    LIFECYCLE_TYPES,
    WIDGET_TYPES,
    Kind,
    hot_columns,
)


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

# A visit: the session, or the conversation when an agent backend sent it without one.
# (CASE rather than coalesce: the fallback string is then only built where it is needed.)
VISIT = "CASE WHEN {a}session_id IS NOT NULL THEN {a}session_id ELSE 'conversation:' || {a}interaction_id END"


def key_sql(text: str) -> str:
    """SQL: the 64-bit key of an id (the lower half of its MD5)."""
    return f"md5_number_lower({text})"


# Keys the store derives from an event's ids as it loads it (not in the journal, not in
# exports): reports group and join visitors and visits on these. DuckDB groups and joins
# 8-byte integers much faster than 36-character strings: the behaviour and intents
# reports took 0.7-0.8 of the time on the 10M-event benchmark file (docs/benchmarks.md).
# Two different ids share a key with a probability of about n^2 / 2^65 for n ids (3e-6 for
# ten million visitors), and then only count as one; MD5 is used for its stability across
# DuckDB versions, not for secrecy.
KEY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("visitor_key", key_sql("{a}visitor_id")),
    ("visit_key", key_sql(VISIT)),
)
STORED_COLUMN_NAMES: tuple[str, ...] = (*COLUMN_NAMES, *(name for name, _ in KEY_COLUMNS))
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


# -- rollups ---------------------------------------------------------------------------
# Reports filter and break down by attributes of a *visit* and count visits and
# conversations. Deriving those from every event of a range costs a group-by over all of
# them each time, so the store keeps one row per visit, per conversation, per page a visit
# viewed and per decision, merged in as each journal segment loads
# (`DuckDBStore.load_segment`) and rebuilt from `events` when missing. Every column is an
# aggregate that two partial rows merge into exactly (earliest, latest, sum, or, union,
# concatenation), so segments may arrive in any order.

# The page a URL stands for (engagement's content): without its query string and fragment.
PAGE = "split_part(split_part({a}url, '#', 1), '?', 1)"

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


# The furthest step of the chat funnel (001/002) an event shows; other chat events: 0 (loaded).
FUNNEL_STEP_OF = {
    "CHAT_VISIBLE": 1,
    "chat.opened": 2,
    "chat.cancelled": 2,
    "chat.closed": 2,
    "chat.submitted": 3,
    "chat.rejected": 3,
    "chat.started": 4,
    "CONTACT_STARTED": 4,
    "TRANSFER_TO_QUEUE": 4,
    "CONTACT_ENDED": 4,
    "CONNECT_TO_AGENT": 5,
    "chat.completed": 6,
}
_STEP_SQL = "CASE e.type " + " ".join(f"WHEN '{t}' THEN {n}" for t, n in FUNNEL_STEP_OF.items()) + " ELSE 0 END"

# Merges of a stored value `{c}` with the new partial row's `EXCLUDED.{c}`.
EARLIEST = "least({c}, EXCLUDED.{c})"  # least() and greatest() skip NULLs
LATEST = "greatest({c}, EXCLUDED.{c})"
SUM = "{c} + EXCLUDED.{c}"
EITHER = "{c} OR EXCLUDED.{c}"
UNION = "list_distinct(list_concat({c}, EXCLUDED.{c}))"
CONCAT = "list_concat({c}, EXCLUDED.{c})"
# Attributes are kept as {t: first time, v: value}: the earliest wins, whatever the order.
_FIRST = "STRUCT(t TIMESTAMPTZ, v VARCHAR)"


def _first(value: str, where: str) -> str:
    return f"min({{'t': e.ts, 'v': {value}}}) FILTER (WHERE {where})"


@dataclass(frozen=True, slots=True)
class Rollup:
    """A table with one row per `key` (site_id first), made of `columns`: (name, SQL
    type, aggregate over the events `e` of one key, merge), and `derived` columns: (name,
    SQL type, expression over other columns as `{name}`), recomputed from the merged values
    on every merge, so they are exact in any order too."""

    table: str
    key: tuple[tuple[str, str, str], ...]  # (name, SQL type, expression over `e`)
    where: str  # which events count
    columns: tuple[tuple[str, str, str, str], ...]
    derived: tuple[tuple[str, str, str], ...] = ()

    def ddl(self) -> str:
        keys = ", ".join(f"{name} {sql} NOT NULL" for name, sql, _ in self.key)
        columns = ", ".join(f"{name} {sql}" for name, sql, *_ in (*self.columns, *self.derived))
        return f"CREATE TABLE {self.table} ({keys}, {columns}, PRIMARY KEY ({', '.join(n for n, *_ in self.key)}))"

    def select(self, source: str) -> str:
        """One partial row per key of the events in the table `source`."""
        keys = ", ".join(f"{expr} AS {name}" for name, _, expr in self.key)
        aggregates = ", ".join(f"{agg} AS {name}" for name, _, agg, _ in self.columns)
        grouped = f"SELECT {keys}, {aggregates} FROM {source} e WHERE {self.where} GROUP BY ALL"
        if not self.derived:
            return grouped
        plain = {name: name for name, *_ in self.columns}
        derived = ", ".join(f"{expr.format(**plain)} AS {name}" for name, _, expr in self.derived)
        return f"SELECT *, {derived} FROM ({grouped})"

    def merge(self, source: str) -> str:
        """Merge the partial rows of `source` into the table."""
        merged = {name: merge.format(c=name) for name, _, _, merge in self.columns}
        return (
            f"INSERT INTO {self.table} BY NAME {self.select(source)} "
            f"ON CONFLICT ({', '.join(n for n, *_ in self.key)}) DO UPDATE SET "
            + ", ".join(
                [f"{name} = {expr}" for name, expr in merged.items()]
                + [f"{name} = {expr.format(**merged)}" for name, _, expr in self.derived]
            )
        )


# The page type of a visit's latest page view at or before a time (engagement's placement).
_PAGE_TYPE_AT = "list_max(list_filter({{views}}, lambda x: x.t <= {{{time}}})).pt"
# The reference 000 behaviour events (analytics/behaviour.py).
_BEHAVIOUR_TYPES_SQL = "(" + ", ".join(f"'{t.name}'" for t in BEHAVIOUR_TYPES) + ")"
# Behaviour's headline counts of a visit (analytics/behaviour.py): (column, what is
# counted, of which events). The report reads a visit inside its range from these, and
# counts the events of a visit that crosses an end of the range the same way.
BEHAVIOUR_COUNTS = (
    ("page_views", "*", "e.type = 'page_view'"),
    ("product_views", "e.product_id", "e.type = 'page_view'"),
    ("searches", "*", "e.type = 'search_event'"),
    ("cart_adds", "*", "e.type = 'cart_action' AND e.action = 'add'"),
    ("cart_removes", "*", "e.type = 'cart_action' AND e.action = 'remove'"),
    ("out_of_stock_views", "*", "e.type = 'product_status' AND e.status = 'out_of_stock'"),
)


def count_sql(what: str, where: str) -> str:
    """SQL: how many of a group's events `e` match `where` (`what`: `*`, or a column whose
    non-null values are counted)."""
    return f"count({what}) FILTER (WHERE {where})"


# Behaviour's comparisons (analytics/behaviour.py) of a visit: its product views in time
# order, and each pair of different products viewed one right after the other, as
# {a, b, n}: a < b, n the times one directly followed the other. (Worked out per visit
# as its views merge in: at report time, ordering 1.6M product views by visit cost about
# a third of the behaviour report.)
_PRODUCT_SEQUENCE = "list_sort(list_filter({views}, lambda v: v.p IS NOT NULL))"
_PAIRS = (
    # one level of lambdas: DuckDB (2.0) rejects nested ones in an upsert's SET
    "list_transform(map_entries(list_histogram(list_filter(list_transform("
    f"list_zip({_PRODUCT_SEQUENCE}[1:-2], {_PRODUCT_SEQUENCE}[2:]), "
    "lambda z: {{'a': least(z[1].p, z[2].p), 'b': greatest(z[1].p, z[2].p)}}), lambda x: x.a <> x.b))), "
    "lambda m: {{'a': m.key.a, 'b': m.key.b, 'n': m.value}})"
)


VISIT_ROLLUP = Rollup(
    "visit_rollup",
    (("site_id", "VARCHAR", "e.site_id"), ("visit_key", "UBIGINT", "e.visit_key")),
    "e.session_id IS NOT NULL OR e.interaction_id IS NOT NULL",
    (
        ("visitor_key", "UBIGINT", "any_value(e.visitor_key)", "coalesce({c}, EXCLUDED.{c})"),
        ("first_ts", "TIMESTAMPTZ", "min(e.ts)", EARLIEST),
        ("last_ts", "TIMESTAMPTZ", "max(e.ts)", LATEST),
        # the browser's device and language (a visit with a device is a browser visit)
        ("device", _FIRST, _first("e.device", "e.device IS NOT NULL"), EARLIEST),
        ("language", _FIRST, _first("e.language", "e.language IS NOT NULL"), EARLIEST),
        # what an agent backend said of the conversation (002/003 `conversation` events)
        *(
            (f"conversation_{name}", _FIRST,
             _first(f"e.properties->>'{field}'", f"e.type = 'conversation' AND (e.properties->>'{field}') IS NOT NULL"),
             EARLIEST)
            for name, field in (("device", "deviceType"), ("source", "source"), ("language", "language"))
        ),
        ("landing_page_type", _FIRST, _first("e.page_type", "e.type = 'page_view' AND e.page_type IS NOT NULL"), EARLIEST),
        ("page_types", "VARCHAR[]",
         "coalesce(list_distinct(list(e.page_type) FILTER (WHERE e.type = 'page_view' AND e.page_type IS NOT NULL)), [])",
         UNION),
        # every page view's time, page type and product, for where the widget loaded and
        # was used (engagement's placement: the latest view at or before a time, whatever
        # the order segments arrive in) and behaviour's comparisons
        ("views", "STRUCT(t TIMESTAMPTZ, pt VARCHAR, p VARCHAR)[]",
         "coalesce(list({'t': e.ts, 'pt': e.page_type, 'p': e.product_id}) FILTER (WHERE e.type = 'page_view'), [])",
         CONCAT),
        # behaviour (000): its first and last behaviour event; a report whose range holds
        # both reads the visit's behaviour here, otherwise from its events
        ("behaviour_first", "TIMESTAMPTZ", f"min(e.ts) FILTER (WHERE e.type IN {_BEHAVIOUR_TYPES_SQL})", EARLIEST),
        ("behaviour_last", "TIMESTAMPTZ", f"max(e.ts) FILTER (WHERE e.type IN {_BEHAVIOUR_TYPES_SQL})", LATEST),
        # its latest product view (behaviour's searches: a product viewed after a search)
        ("last_product_view", "TIMESTAMPTZ",
         "max(e.ts) FILTER (WHERE e.type = 'page_view' AND e.product_id IS NOT NULL)", LATEST),
        *((name, "BIGINT", count_sql(what, where), SUM) for name, what, where in BEHAVIOUR_COUNTS),
        # engagement (003): when the widget first loaded and when the visitor first
        # engaged; the chat funnel: the furthest step reached
        ("loaded_at", "TIMESTAMPTZ", f"min(e.ts) FILTER (WHERE e.type IN {CHAT_TYPES_SQL})", EARLIEST),
        ("used_at", "TIMESTAMPTZ", f"min(e.ts) FILTER (WHERE {engaged('e')})", EARLIEST),
        ("furthest_step", "INTEGER", f"max({_STEP_SQL}) FILTER (WHERE e.type IN {CHAT_TYPES_SQL})", LATEST),
    ),
    # where the widget first loaded and where the visitor first engaged: the page type of
    # the latest page view at or before (placement; over 436k visits at report time the
    # list functions had taken a quarter of engagement's CPU)
    derived=(
        ("loaded_on", "VARCHAR", _PAGE_TYPE_AT.format(time="loaded_at")),
        ("used_on", "VARCHAR", _PAGE_TYPE_AT.format(time="used_at")),
        ("product_pairs", "STRUCT(a VARCHAR, b VARCHAR, n UBIGINT)[]", _PAIRS),
    ),
)

# The 002 metadata counters of a conversation's outcome events (the block is cumulative,
# so the outcomes carry the final values; `chat.closed` repeats them).
OUTCOME_TYPES_SQL = "('chat.cancelled', 'chat.rejected', 'chat.completed')"
REPORTED = ("waitingForAgent", "elapsed", "userMessages", "agentMessages", "systemMessages", "filesUploaded",
            "numAgents", "agentReached")


def _earliest(column: str, *types: str) -> str:
    return f"min(e.{column}) FILTER (WHERE e.type IN ({', '.join(repr(t) for t in types)}))"


CONVERSATION_ROLLUP = Rollup(
    "conversation_rollup",
    (("site_id", "VARCHAR", "e.site_id"), ("interaction_id", "VARCHAR", "e.interaction_id")),
    f"e.interaction_id IS NOT NULL AND e.type IN {CHAT_TYPES_SQL}",
    (
        # its visit (CONVERSATION_VISIT): the session of its first browser event, else
        # the conversation itself (the visit key of its events without a session)
        ("session", "STRUCT(t TIMESTAMPTZ, v UBIGINT)", "min({'t': e.ts, 'v': e.visit_key}) FILTER (WHERE e.session_id IS NOT NULL)",
         EARLIEST),
        ("alone_visit", "UBIGINT", "any_value(e.visit_key) FILTER (WHERE e.session_id IS NULL)", "coalesce({c}, EXCLUDED.{c})"),
        ("first_ts", "TIMESTAMPTZ", "min(e.ts)", EARLIEST),
        # a conversation is an interaction id with a lifecycle or `conversation` event
        ("is_conversation", "BOOLEAN", "bool_or(e.type LIKE 'chat.%' OR e.type = 'conversation')", EITHER),
        ("started_at", "TIMESTAMPTZ", _earliest("ts", "chat.started", "CONTACT_STARTED"), EARLIEST),
        ("completed_at", "TIMESTAMPTZ", _earliest("ts", "chat.completed"), EARLIEST),
        ("rejected_at", "TIMESTAMPTZ", _earliest("ts", "chat.rejected"), EARLIEST),
        ("cancelled_at", "TIMESTAMPTZ", _earliest("ts", "chat.cancelled"), EARLIEST),
        ("queued", "BOOLEAN", "bool_or(e.type = 'TRANSFER_TO_QUEUE')", EITHER),
        ("connected", "BOOLEAN", "bool_or(e.type = 'CONNECT_TO_AGENT')", EITHER),
        # client times, as the conversation fold measures waits and lengths
        ("started_client", "TIMESTAMPTZ", _earliest("client_ts", "chat.started"), EARLIEST),
        ("agent_client", "TIMESTAMPTZ", _earliest("client_ts", "CONNECT_TO_AGENT"), EARLIEST),
        ("completed_client", "TIMESTAMPTZ", _earliest("client_ts", "chat.completed"), EARLIEST),
        ("cancelled_client", "TIMESTAMPTZ", _earliest("client_ts", "chat.cancelled"), EARLIEST),
        *((f"{sender}_messages", "BIGINT", count_sql("*", f"e.type = 'message' AND e.sender = '{sender}'"), SUM)
          for sender in ("user", "agent", "system")),
        ("files", "BIGINT", count_sql("*", "e.type = 'attachment'"), SUM),
        *((f"reported_{name}", "BIGINT",
           f"max(try_cast(json_extract_string(e.properties, '$.metadata.{name}') AS BIGINT)) "
           f"FILTER (WHERE e.type IN {OUTCOME_TYPES_SQL})", LATEST)
          for name in REPORTED),
        # session results (004): the logged data keys and the first CONNECT_TO_AGENT
        # (CHAT_ATTENDED), with what orders them (time, event id)
        ("logged_keys", "STRUCT(k VARCHAR, t TIMESTAMPTZ, id UUID)[]",
         "coalesce(list({'k': e.name, 't': e.ts, 'id': e.event_id}) FILTER (WHERE e.type = 'session_log'), [])", CONCAT),
        ("attended", "STRUCT(t TIMESTAMPTZ, id UUID)",
         "min({'t': e.ts, 'id': e.event_id}) FILTER (WHERE e.type = 'CONNECT_TO_AGENT')", EARLIEST),
        # the non-empty `errors` arrays the outcomes reported, as JSON text
        ("error_lists", "VARCHAR[]",
         "coalesce(list(json_extract_string(e.properties, '$.metadata.errors')) FILTER (WHERE e.type IN "
         f"{OUTCOME_TYPES_SQL} AND json_extract_string(e.properties, '$.metadata.errors') LIKE '[_%]'), [])", CONCAT),
    ),
)
# One row per page a visit viewed (engagement's content): its first view and the type of
# the page then. (Grouping 3M page views by visit and page takes most of a second at
# report time; this is the result of that grouping, kept as segments load.)
VISIT_PAGE_ROLLUP = Rollup(
    "visit_page_rollup",
    (("site_id", "VARCHAR", "e.site_id"), ("visit_key", "UBIGINT", "e.visit_key"), ("page", "VARCHAR", PAGE.format(a="e."))),
    "e.type = 'page_view' AND e.session_id IS NOT NULL AND e.url IS NOT NULL",
    (
        ("first_view", "TIMESTAMPTZ", "min(e.ts)", EARLIEST),
        ("page_type", _FIRST, _first("e.page_type", "e.page_type IS NOT NULL"), EARLIEST),
    ),
)
# One row per decision of the intent engine, keyed by its offer id (the decision's event
# id), with every answer the page gave to the offer: the intents report reads its
# decisions here instead of finding 195k `decision` rows among 10M events, and each
# offer's answers without a second scan. The decision is a struct so that the earliest
# wins as a whole; answers are kept as they came (the report applies its own range and
# visitors to them).
DECISION_ROLLUP = Rollup(
    "decision_rollup",
    (("site_id", "VARCHAR", "e.site_id"), ("offer_id", "VARCHAR", "e.offer_id")),
    "e.type IN ('decision', 'offer') AND e.offer_id IS NOT NULL",
    (
        ("decision", "STRUCT(t TIMESTAMPTZ, skill VARCHAR, status VARCHAR, reason VARCHAR, visitor_key UBIGINT, "
         "visit_key UBIGINT)",
         "min({'t': e.ts, 'skill': e.name, 'status': e.status, 'reason': e.properties->>'reason', "
         "'visitor_key': e.visitor_key, 'visit_key': e.visit_key}) FILTER (WHERE e.type = 'decision')", EARLIEST),
        ("answers", "STRUCT(t TIMESTAMPTZ, id UUID, status VARCHAR, visitor_key UBIGINT)[]",
         "coalesce(list({'t': e.ts, 'id': e.event_id, 'status': e.status, 'visitor_key': e.visitor_key}) "
         "FILTER (WHERE e.type = 'offer'), [])", CONCAT),
    ),
)
# Behaviour's trends and page types (analytics/behaviour.py), per UTC hour: page views by
# page type, cart adds and removes, of visits or of none. A report over whole hours sums
# these few rows per hour instead of grouping millions of events (3.5M page views and
# cart actions took 50 ms of CPU to group, about a tenth of the report on the 10M-event
# benchmark); the partial hours at the ends of its range, and any report with filters
# (they need each event's visit), count the events.
HOUR_US = 3_600_000_000
BEHAVIOUR_HOUR_ROLLUP = Rollup(
    "behaviour_hour_rollup",
    (
        ("site_id", "VARCHAR", "e.site_id"),
        ("hour", "BIGINT", f"(epoch_us(e.ts) // {HOUR_US}) * {HOUR_US}"),  # its start, UTC microseconds
        ("kind", "VARCHAR", "CASE WHEN e.type = 'page_view' THEN 'page_view' ELSE e.action END"),  # or add, remove
        # a key has no NULLs: page views without a page type are `typed` false
        ("page_type", "VARCHAR", "CASE WHEN e.type = 'page_view' THEN coalesce(e.page_type, '') ELSE '' END"),
        ("typed", "BOOLEAN", "e.type = 'page_view' AND e.page_type IS NOT NULL"),
        ("visited", "BOOLEAN", "e.visit_key IS NOT NULL"),
    ),
    "e.type = 'page_view' OR (e.type = 'cart_action' AND e.action IN ('add', 'remove'))",
    (("n", "BIGINT", "count(*)", SUM),),
)


# Behaviour's products (analytics/behaviour.py) per UTC day: each product's views, cart adds
# and removes, and the latest name a cart action carried. A report without filters sums
# the days inside its range (2,000 products by 30 days: 61k rows, against 1.6M product
# views and 393k cart actions to group, with their JSON) and counts the events of the
# partial days at its ends.
DAY_US = 24 * HOUR_US
PRODUCT_DAY_ROLLUP = Rollup(
    "product_day_rollup",
    (
        ("site_id", "VARCHAR", "e.site_id"),
        ("day", "BIGINT", f"(epoch_us(e.ts) // {DAY_US}) * {DAY_US}"),  # its start, UTC microseconds
        ("product_id", "VARCHAR", "e.product_id"),
    ),
    "e.product_id IS NOT NULL AND e.type IN ('page_view', 'cart_action')",
    (
        ("views", "BIGINT", count_sql("*", "e.type = 'page_view'"), SUM),
        ("adds", "BIGINT", count_sql("*", "e.type = 'cart_action' AND e.action = 'add'"), SUM),
        ("removes", "BIGINT", count_sql("*", "e.type = 'cart_action' AND e.action = 'remove'"), SUM),
        # at the same instant, the greatest name
        ("named", _FIRST, "max({'t': e.ts, 'v': e.properties->>'productName'}) "
         "FILTER (WHERE e.type = 'cart_action' AND (e.properties->>'productName') IS NOT NULL)", LATEST),
    ),
)


# A search query as behaviour groups it (analytics/behaviour.py): lower-cased, each run of
# whitespace made one space, trimmed; `{query}`: the query's SQL.
NORMALIZED_QUERY_SQL = "trim(lower(regexp_replace({query}, '\\s+', ' ', 'g')))"


# Behaviour's searches and filters (analytics/behaviour.py) per visit: its searches per
# normalized query, and its uses per filter and value, with the first time of each.
# A report reads a visit inside its range here instead of grouping the range's searches
# by visit and query, and its filter uses by filter, value and visit (together about a
# sixth of the report's CPU on the 10M-event benchmark).
VISIT_SEARCH_ROLLUP = Rollup(
    "visit_search_rollup",
    (("site_id", "VARCHAR", "e.site_id"), ("visit_key", "UBIGINT", "e.visit_key"),
     ("q", "VARCHAR", NORMALIZED_QUERY_SQL.format(query="e.query"))),
    "e.type = 'search_event' AND e.visit_key IS NOT NULL AND e.query IS NOT NULL",
    (("n", "BIGINT", "count(*)", SUM), ("first_at", "TIMESTAMPTZ", "min(e.ts)", EARLIEST)),
)
VISIT_FILTER_ROLLUP = Rollup(
    "visit_filter_rollup",
    (("site_id", "VARCHAR", "e.site_id"), ("visit_key", "UBIGINT", "e.visit_key"),
     ("filter_type", "VARCHAR", "e.filter_type"), ("filter_value", "VARCHAR", "e.filter_value")),
    "e.type = 'filter_usage' AND e.visit_key IS NOT NULL AND e.filter_type IS NOT NULL AND e.filter_value IS NOT NULL",
    (("n", "BIGINT", "count(*)", SUM), ("first_at", "TIMESTAMPTZ", "min(e.ts)", EARLIEST)),
)


# What behaviour's out-of-stock demand (OUT_OF_STOCK_ROLLUP below) is worked out from, per
# visit: its product views with their URLs, its dwells, and the products it saw out of
# stock, with their times. (Kept apart from the visit rollup: only that demand reads them.)
VISIT_SHOPPING_ROLLUP = Rollup(
    "visit_shopping_rollup",
    (("site_id", "VARCHAR", "e.site_id"), ("visit_key", "UBIGINT", "e.visit_key")),
    "e.visit_key IS NOT NULL AND ((e.type = 'page_view' AND e.product_id IS NOT NULL) OR e.type = 'dwell' "
    "OR (e.type = 'product_status' AND e.status = 'out_of_stock' AND e.product_id IS NOT NULL))",
    (
        ("product_pages", "STRUCT(t TIMESTAMPTZ, p VARCHAR, u VARCHAR)[]",
         "coalesce(list({'t': e.ts, 'p': e.product_id, 'u': e.url}) FILTER (WHERE e.type = 'page_view'), [])", CONCAT),
        ("dwells", "STRUCT(t TIMESTAMPTZ, u VARCHAR, d DOUBLE)[]",
         "coalesce(list({'t': e.ts, 'u': e.url, 'd': e.duration_seconds}) FILTER (WHERE e.type = 'dwell'), [])", CONCAT),
        ("out_of_stock", "STRUCT(t TIMESTAMPTZ, p VARCHAR)[]",
         "coalesce(list({'t': e.ts, 'p': e.product_id}) FILTER (WHERE e.type = 'product_status'), [])", CONCAT),
    ),
)


def out_of_stock_sql(visits: str) -> str:
    """SQL: behaviour's out-of-stock demand (analytics/behaviour.py) per visit and product
    it saw out of stock, as rows (site_id, visit_key, product_id, views, dwells): its
    product views of the product, and how long each of them was stayed on, sorted. A dwell
    names a URL: it belongs to the product view the visit made last with that URL at or
    before it (at the same instant, the greatest product id), and a view's stay is the
    largest of its dwells (the browser SDK reports a growing total while the visitor
    stays). `visits`: rows of `visit_shopping_rollup`, or of its SELECT over some events
    (a report's, for the visits crossing an end of its range)."""
    return (
        f"SELECT * FROM (WITH v AS (SELECT site_id, visit_key, product_pages, dwells, out_of_stock FROM {visits} "
        "WHERE len(out_of_stock) > 0), "
        "seen AS (SELECT DISTINCT site_id, visit_key, x.p AS product_id FROM "
        "(SELECT site_id, visit_key, unnest(out_of_stock) AS x FROM v)), "
        "viewed AS (SELECT site_id, visit_key, x.p AS product_id, x.u AS url, x.t AS t FROM "
        "(SELECT site_id, visit_key, unnest(product_pages) AS x FROM v)), "
        # each dwell (i: its place in the list) with the view it belongs to, then each
        # view's stay
        "attributed AS (SELECT d.site_id, d.visit_key, d.x.u AS url, max({'t': p.t, 'p': p.product_id}) AS viewed, "
        "any_value(d.x.d) AS d FROM (SELECT site_id, visit_key, unnest(dwells) AS x, generate_subscripts(dwells, 1) AS i "
        "FROM v) d JOIN viewed p ON p.site_id = d.site_id AND p.visit_key = d.visit_key AND p.url = d.x.u AND p.t <= d.x.t "
        "GROUP BY d.site_id, d.visit_key, d.x.u, d.i), "
        "stays AS (SELECT site_id, visit_key, viewed.p AS product_id, max(d) AS d FROM attributed "
        "GROUP BY site_id, visit_key, url, viewed), "
        "dwelt AS (SELECT site_id, visit_key, product_id, list_sort(list(d)) AS dwells FROM stays GROUP BY ALL), "
        "counted AS (SELECT site_id, visit_key, product_id, count(*) AS views FROM viewed GROUP BY ALL) "
        "SELECT s.site_id, s.visit_key, s.product_id, coalesce(c.views, 0) AS views, coalesce(d.dwells, []) AS dwells "
        "FROM seen s LEFT JOIN counted c USING (site_id, visit_key, product_id) "
        "LEFT JOIN dwelt d USING (site_id, visit_key, product_id))"
    )


@dataclass(frozen=True, slots=True)
class DerivedRollup:
    """A table of rows derived per visit from another rollup's merged rows by `rows` (SQL
    over rows of `source`, as out_of_stock_sql): kept like a rollup, for what depends on
    all of a visit's events so far rather than adding up segment by segment (a dwell
    belongs to the product view made last on its URL before it, which a view arriving in a
    later segment can change). After `source` merged a segment, the visits it touched are
    derived again."""

    table: str
    columns: str  # the DDL's column list, `site_id` and `visit_key` among them
    source: Rollup  # keyed by site_id and visit_key, before this one in ROLLUPS
    rows: Callable[[str], str]  # SQL: the rows of the `source` rows in a relation

    def ddl(self) -> str:
        return f"CREATE TABLE {self.table} ({self.columns})"

    def select(self, events: str) -> str:
        """Every visit's rows, from `source` (rebuilt first; `events` is not read)."""
        return self.rows(self.source.table)

    def merge(self, events: str) -> str:
        """Statements: the rows of the visits whose events in `events` `source` took, derived again."""
        touched = (f"(SELECT DISTINCT e.site_id, e.visit_key FROM {events} e WHERE {self.source.where})")
        visits = (f"(SELECT r.* FROM {self.source.table} r SEMI JOIN {touched} t "
                  "ON t.site_id = r.site_id AND t.visit_key = r.visit_key)")
        return (f"DELETE FROM {self.table} d USING {touched} t WHERE d.site_id = t.site_id AND d.visit_key = t.visit_key; "
                f"INSERT INTO {self.table} BY NAME {self.rows(visits)}")


# Behaviour's out-of-stock demand of a visit inside a report's range is read here instead
# of joining 1.6M product views and 1.5M dwells to the visits that saw a product out of
# stock (about a quarter of the report's CPU on the 10M-event benchmark); a visit that
# crosses an end of the range is worked out at report time, from its events in the range.
OUT_OF_STOCK_ROLLUP = DerivedRollup(
    "out_of_stock_rollup",
    "site_id VARCHAR NOT NULL, visit_key UBIGINT NOT NULL, product_id VARCHAR NOT NULL, views BIGINT NOT NULL, "
    "dwells DOUBLE[] NOT NULL",
    VISIT_SHOPPING_ROLLUP,
    out_of_stock_sql,
)
ROLLUPS: tuple[Rollup | DerivedRollup, ...] = (
    VISIT_ROLLUP, CONVERSATION_ROLLUP, VISIT_PAGE_ROLLUP, DECISION_ROLLUP, BEHAVIOUR_HOUR_ROLLUP, PRODUCT_DAY_ROLLUP,
    VISIT_SEARCH_ROLLUP, VISIT_FILTER_ROLLUP, VISIT_SHOPPING_ROLLUP, OUT_OF_STOCK_ROLLUP,
)
# The visit key of a `conversation_rollup` row `c`: the session of its first browser
# event, else the conversation itself (as VISIT for events without a session).
CONVERSATION_VISIT = "coalesce(c.session.v, c.alone_visit)"
