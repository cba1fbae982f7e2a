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

from chatlens.analytics.report import Column, Report, Table, headline, run
from chatlens.analytics.scope import ReportQuery, Scope, sql_list
from chatlens.store.base import EventStore
from chatlens.store.schema import PAGE

MINUTE_US = 60_000_000
NOW_WINDOW_US = 5 * MINUTE_US  # "on the site now"
RECENT_US = 30 * MINUTE_US  # conversation activity, current pages, the per-minute table
LOOKBACK_US = 24 * 60 * MINUTE_US  # how far back a conversation's start and end are looked for

STARTS = ("chat.started", "CONTACT_STARTED", "conversation")
ENDS = ("chat.completed", "chat.cancelled", "chat.rejected", "chat.closed", "CONTACT_ENDED")


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
    # The scope reaches back 24 h (conversation starts); every part narrows it further.
    # One query: with filters, the visits' attributes are then computed once.
    scope = Scope(dataclasses.replace(query, since_us=now - LOOKBACK_US, until_us=now + 1))
    params = {"five": now - NOW_WINDOW_US, "recent": now - RECENT_US, "first_minute": first_minute, "limit": query.limit}
    conv = (
        f"conv AS (SELECT e.interaction_id, any_value({scope.segment_column()}) AS seg, "
        f"bool_or(e.type IN {sql_list(STARTS)}) AS started, bool_or(e.type IN {sql_list(ENDS)}) AS ended, "
        "bool_or(e.type = 'CONNECT_TO_AGENT') AS connected, max(e.ts) AS last_at, "
        f"min(e.ts) FILTER (WHERE e.type IN {sql_list(STARTS)}) AS started_at "
        f"FROM events e {scope.join('e')} WHERE {scope.where('e')} AND e.interaction_id IS NOT NULL GROUP BY e.interaction_id)"
    )
    # The browser's events of the last 30 minutes (a /v1/batch row always has a device).
    recent = (
        "recent AS MATERIALIZED (SELECT e.visitor_key AS visitor, e.visit_key AS visit, e.type, e.ts, "
        f"CASE WHEN e.type = 'page_view' THEN {PAGE.format(a='e.')} END AS page, {scope.segment_column()} AS seg "
        f"FROM events e {scope.join('e')} WHERE {scope.where('e')} AND e.device IS NOT NULL "
        "AND e.ts >= make_timestamptz($recent::BIGINT))"
    )
    rows = run(
        store,
        f"{scope.with_(conv, recent)} "
        # now: visitors, visits, page views
        f"SELECT 'now' AS part, {scope.segment('seg')}, NULL::BIGINT AS minute, NULL::VARCHAR AS page, "
        "count(DISTINCT visitor) AS a, count(DISTINCT visit) AS b, count(*) FILTER (WHERE type = 'page_view') AS c "
        f"FROM recent WHERE ts >= make_timestamptz($five::BIGINT) {scope.group(expr='seg')} "
        # open conversations, and those waiting for an agent
        f"UNION ALL SELECT 'open', {scope.segment('seg')}, NULL, NULL, count(*), count(*) FILTER (WHERE NOT connected), 0 "
        f"FROM conv WHERE started AND NOT ended AND last_at >= make_timestamptz($recent::BIGINT) {scope.group(expr='seg')} "
        # per minute: visitors, visits, page views; conversations started
        "UNION ALL SELECT 'minute', NULL, NULL, epoch_us(date_trunc('minute', ts)) AS m, NULL, count(DISTINCT visitor), "
        "count(DISTINCT visit), count(*) FILTER (WHERE type = 'page_view') FROM recent "
        "WHERE ts >= make_timestamptz($first_minute::BIGINT) GROUP BY m "
        "UNION ALL SELECT 'started', NULL, NULL, epoch_us(date_trunc('minute', started_at)) AS m, NULL, count(*), 0, 0 "
        "FROM conv WHERE started_at >= make_timestamptz($first_minute::BIGINT) GROUP BY m "
        # current pages: each visitor's latest page view, for the visitors here now
        "UNION ALL SELECT 'page', NULL, NULL, NULL, * FROM (SELECT page, count(*) AS n, 0, 0 FROM ("
        "SELECT visitor, arg_max(page, ts) FILTER (WHERE type = 'page_view') AS page FROM recent "
        "WHERE visitor IN (SELECT visitor FROM recent WHERE ts >= make_timestamptz($five::BIGINT)) "
        "GROUP BY visitor) WHERE page IS NOT NULL GROUP BY page ORDER BY n DESC, page LIMIT $limit)",
        scope,
        **params,
    )

    merged: dict[tuple[object, bool], dict[str, object]] = {}
    for row in rows:
        if row["part"] in ("now", "open"):
            names = ("visitors", "visits", "page_views") if row["part"] == "now" else ("open_conversations", "waiting")
            entry = merged.setdefault((row["segment"], row["is_total"]), {"segment": row["segment"], "is_total": row["is_total"]})
            entry.update(zip(names, (row["a"], row["b"], row["c"])))
    headline(report, list(merged.values()), SUMMARY)
    if query.breakdown is not None:  # a segment with open conversations only has no visitors: 0
        for values in report.table("breakdown").rows:
            values[1:] = [0 if v is None else v for v in values[1:]]

    pages = sorted(((r["page"], r["a"]) for r in rows if r["part"] == "page"), key=lambda p: (-p[1], p[0]))
    report.tables.append(
        Table(
            "pages",
            "Where visitors are now",
            "bar",
            [Column("page", "Page", "url"), Column("visitors", "Visitors")],
            [list(p) for p in pages],
            "The page of each visitor's latest page view (last 30 minutes), for visitors on the site now.",
        )
    )
    by_minute: dict[int, list[int]] = {}
    for r in rows:
        if r["part"] == "minute":
            by_minute.setdefault(r["minute"], [0, 0, 0, 0])[:3] = [r["a"], r["b"], r["c"]]
        elif r["part"] == "started":
            by_minute.setdefault(r["minute"], [0, 0, 0, 0])[3] = r["a"]
    report.tables.append(
        Table(
            "minutes",
            "The last 30 minutes",
            "line",
            [Column("minute", "Minute", "datetime"), Column("visitors", "Visitors"), Column("visits", "Visits"),
             Column("page_views", "Page views"), Column("started", "Conversations started")],
            [[_label(m), *by_minute.get(m, [0, 0, 0, 0])] for m in range(first_minute, _minute(now) + 1, MINUTE_US)],
            "By minute (UTC); the last one is the current, partial minute.",
        )
    )
    report.notes.append("Live ignores from and to: it always shows the last 30 minutes before the request.")
    return report
