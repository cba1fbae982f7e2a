"""Live: who is on the site right now, and which conversations are open.

Everything is relative to the report's `now` (the time of the request) on the
skew-corrected time `ts`, and `from`/`to` are ignored: the answer's `from`/`to` are the
30 minutes the report looks at. Filters apply (visit attributes seen in the last 24 hours);
a breakdown splits the headline numbers.

- *visitors now*: distinct visitors with an event sent by their browser (a `/v1/batch`
  event) at most 5 minutes old: now - 5 min <= ts <= now;
- *visits now*: distinct visits (sessions) with such an event;
- *page views*: `page_view` events in those 5 minutes;
- *current pages*: for each visitor on the site now, the page (URL without query string
  and fragment) of their latest `page_view` of the last 30 minutes; pages by visitors;
- *open conversations*: conversations (interaction ids) with an event in the last 30
  minutes, a start (chat.started, CONTACT_STARTED or a `conversation` event) and no end
  (chat.completed, chat.cancelled, chat.rejected, chat.closed, CONTACT_ENDED) among their
  events of the last 24 hours (a conversation that started earlier is not seen);
- *waiting for an agent*: open conversations without a CONNECT_TO_AGENT event;
- *per minute*: the last 30 minutes by minute (UTC, the current one partial): visitors
  and visits with a browser event in that minute, page views, conversations started.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from chatlens.analytics.engagement import PAGE_SQL
from chatlens.analytics.report import Column, Report, Table, headline, run
from chatlens.analytics.scope import VISIT, ReportQuery, Scope
from chatlens.store.base import EventStore

MINUTE_US = 60_000_000
NOW_WINDOW_US = 5 * MINUTE_US  # "on the site now"
RECENT_US = 30 * MINUTE_US  # conversation activity, current pages, the per-minute table
LOOKBACK_US = 24 * 60 * MINUTE_US  # how far back a conversation's start and end are looked for

STARTS = ("chat.started", "CONTACT_STARTED", "conversation")
ENDS = ("chat.completed", "chat.cancelled", "chat.rejected", "chat.closed", "CONTACT_ENDED")


def _sql_list(names: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{n}'" for n in names) + ")"


SUMMARY = (
    ("visitors", "Visitors now", "int", "Distinct visitors with a browser event in the last 5 minutes"),
    ("visits", "Visits now", "int", "Distinct visits (sessions) with a browser event in the last 5 minutes"),
    ("page_views", "Page views", "int", "page_view events in the last 5 minutes"),
    ("open_conversations", "Open conversations", "int",
     "Started, not ended (in the last 24 h), with activity in the last 30 minutes"),
    ("waiting", "Waiting for an agent", "int", "Open conversations no agent has connected to (no CONNECT_TO_AGENT)"),
)


def _minute(us: int) -> int:
    return us - us % MINUTE_US


def _label(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:00Z")


def live_report(store: EventStore, query: ReportQuery) -> Report:
    now = query.now_us
    first_minute = _minute(now) - 29 * MINUTE_US
    shown = dataclasses.replace(query, since_us=now - RECENT_US, until_us=now)
    report = Report("live", "Live", shown)
    # The scope reaches back 24 h (conversation starts); every query narrows it further.
    scope = Scope(dataclasses.replace(query, since_us=now - LOOKBACK_US, until_us=now + 1))
    params = {"five": now - NOW_WINDOW_US, "recent": now - RECENT_US, "first_minute": first_minute}
    browser = "e.device IS NOT NULL"

    conversations = (
        f"conv AS (SELECT e.interaction_id, any_value({scope.segment_column()}) AS seg, "
        f"bool_or(e.type IN {_sql_list(STARTS)}) AS started, bool_or(e.type IN {_sql_list(ENDS)}) AS ended, "
        "bool_or(e.type = 'CONNECT_TO_AGENT') AS connected, max(e.ts) AS last_at, "
        f"min(e.ts) FILTER (WHERE e.type IN {_sql_list(STARTS)}) AS started_at "
        f"FROM events e {scope.join('e')} WHERE {scope.where('e')} AND e.interaction_id IS NOT NULL GROUP BY e.interaction_id)"
    )
    now_rows = run(
        store,
        f"{scope.with_()} SELECT {scope.segment('seg')}, count(DISTINCT visitor_id) AS visitors, count(DISTINCT visit) AS visits, "
        "count(*) FILTER (WHERE type = 'page_view') AS page_views "
        f"FROM (SELECT e.visitor_id, {VISIT.format(a='e.')} AS visit, e.type, {scope.segment_column()} AS seg "
        f"FROM events e {scope.join('e')} WHERE {scope.where('e')} AND {browser} AND e.ts >= make_timestamptz($five::BIGINT)) "
        f"{scope.group(expr='seg')}",
        scope,
        **params,
    )
    open_rows = run(
        store,
        f"{scope.with_(conversations)} SELECT {scope.segment('seg')}, count(*) AS open_conversations, "
        "count(*) FILTER (WHERE NOT connected) AS waiting FROM conv "
        "WHERE started AND NOT ended AND last_at >= make_timestamptz($recent::BIGINT) "
        f"{scope.group(expr='seg')}",
        scope,
        **params,
    )
    merged: dict[tuple[object, bool], dict[str, object]] = {}
    for row in [*now_rows, *open_rows]:
        merged.setdefault((row["segment"], row["is_total"]), {"segment": row["segment"], "is_total": row["is_total"]}).update(row)
    headline(report, list(merged.values()), SUMMARY)
    if query.breakdown is not None:  # segments with open conversations only still get zeros
        for row in report.table("breakdown").rows:
            row[1:] = [0 if v is None else v for v in row[1:]]

    pages = run(
        store,
        scope.with_(f"active AS (SELECT DISTINCT e.visitor_id FROM events e WHERE {scope.where('e')} AND {browser} "
                    "AND e.ts >= make_timestamptz($five::BIGINT))") + " "
        f"SELECT page, count(*) AS visitors FROM (SELECT e.visitor_id, arg_max({PAGE_SQL}, e.ts) AS page FROM events e "
        f"WHERE {scope.where('e')} AND e.type = 'page_view' AND e.ts >= make_timestamptz($recent::BIGINT) "
        "AND e.visitor_id IN (SELECT visitor_id FROM active) GROUP BY e.visitor_id) "
        "GROUP BY page ORDER BY visitors DESC, page LIMIT $limit",
        scope,
        limit=query.limit,
        **params,
    )
    report.tables.append(
        Table(
            "pages",
            "Where visitors are now",
            "bar",
            [Column("page", "Page", "url"), Column("visitors", "Visitors")],
            [[r["page"], r["visitors"]] for r in pages],
            "The page of each visitor's latest page view (last 30 minutes), for visitors on the site now.",
        )
    )

    minutes = run(
        store,
        f"{scope.with_(conversations)} SELECT minute, sum(visitors) AS visitors, sum(visits) AS visits, "
        "sum(page_views) AS page_views, sum(started) AS started FROM ("
        "SELECT epoch_us(date_trunc('minute', e.ts)) AS minute, count(DISTINCT e.visitor_id) AS visitors, "
        f"count(DISTINCT {VISIT.format(a='e.')}) AS visits, count(*) FILTER (WHERE e.type = 'page_view') AS page_views, "
        f"0 AS started FROM events e WHERE {scope.where('e')} AND {browser} "
        "AND e.ts >= make_timestamptz($first_minute::BIGINT) GROUP BY minute "
        "UNION ALL SELECT epoch_us(date_trunc('minute', started_at)), 0, 0, 0, count(*) FROM conv "
        "WHERE started_at >= make_timestamptz($first_minute::BIGINT) GROUP BY 1) GROUP BY minute",
        scope,
        **params,
    )
    by_minute = {r["minute"]: r for r in minutes}
    report.tables.append(
        Table(
            "minutes",
            "The last 30 minutes",
            "line",
            [Column("minute", "Minute", "datetime"), Column("visitors", "Visitors"), Column("visits", "Visits"),
             Column("page_views", "Page views"), Column("started", "Conversations started")],
            [
                [_label(m), *(int(by_minute.get(m, {}).get(k) or 0) for k in ("visitors", "visits", "page_views", "started"))]
                for m in range(first_minute, _minute(now) + 1, MINUTE_US)
            ],
            "By minute (UTC); the last one is the current, partial minute.",
        )
    )
    report.notes.append("Live ignores from and to: it always shows the last 30 minutes before the request.")
    return report
