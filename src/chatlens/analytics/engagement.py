"""Engagement (reference 003): did visitors who could talk to the agent actually do so?

Counted per visit (analytics/scope.py):
- *initialized*: the widget loaded, or an agent backend initialized a conversation: any
  widget (001), lifecycle (002) or conversation event;
- *used*: the visitor engaged: submitted the chat form, a chat started, a user message,
  or a `conversation` marked used;
- *interaction rate* = used / initialized x 100; *page abandonment*: initialized, never used.

Where things happened is the page the visitor was on: the visit's latest `page_view` at
or before the event.
"""

from __future__ import annotations

from chatlens.analytics.report import Column, Report, Table, headline, ratio, run
from chatlens.analytics.scope import VISIT, ReportQuery, Scope
from chatlens.analytics.timeseries import bucket_sql, fill_buckets
from chatlens.model.events import CONVERSATION_TYPES, LIFECYCLE_TYPES, WIDGET_TYPES
from chatlens.store.base import EventStore

_CHAT_TYPES = sorted({*(t.name for t in WIDGET_TYPES), *(t.name for t in LIFECYCLE_TYPES), *(t.name for t in CONVERSATION_TYPES)})
CHAT_TYPES_SQL = "(" + ", ".join(f"'{t}'" for t in _CHAT_TYPES) + ")"


def engaged(a: str = "e") -> str:
    """SQL: the event `a` shows the visitor engaging."""
    return (
        f"({a}.type IN ('chat.submitted', 'chat.started', 'CONTACT_STARTED') OR ({a}.type = 'message' AND {a}.sender = 'user') "
        f"OR ({a}.type = 'conversation' AND ({a}.properties->>'used') = 'true'))"
    )


# The page a URL stands for in content tables: without its query string and fragment.
PAGE_SQL = "regexp_replace(url, '[?#].*$', '')"

SUMMARY = (
    ("initialized", "Interactions initialized", "int", "Visits where the widget loaded or a conversation was initialized"),
    ("used", "Conversations used", "int", "Visits where the visitor engaged: chat form submitted, chat started or a question asked"),
    ("interaction_rate", "Interaction rate", "percent", "used / initialized x 100"),
    ("abandoned", "Page abandonment", "int", "Visits where the widget loaded and the visitor never engaged"),
    ("abandonment_rate", "Abandonment rate", "percent", "abandoned / initialized x 100"),
)


def engagement_report(store: EventStore, query: ReportQuery) -> Report:
    scope = Scope(query)
    report = Report("engagement", "Engagement", query)
    per_visit = (
        f"per_visit AS (SELECT {VISIT.format(a='e.')} AS visit, {scope.segment_column()} AS seg, "
        f"min(e.ts) AS loaded_at, min(e.ts) FILTER (WHERE {engaged('e')}) AS used_at "
        f"FROM events e {scope.join('e')} WHERE {scope.where('e')} AND e.type IN {CHAT_TYPES_SQL} GROUP BY ALL)"
    )
    rows = run(
        store,
        f"{scope.with_(per_visit)} SELECT {scope.segment('seg')}, count(*) AS initialized, count(used_at) AS used "
        f"FROM per_visit {scope.group(expr='seg')}",
        scope,
    )
    for row in rows:
        row["interaction_rate"] = ratio(row["used"], row["initialized"])
        row["abandoned"] = row["initialized"] - row["used"]
        row["abandonment_rate"] = ratio(row["abandoned"], row["initialized"])
    headline(report, rows, SUMMARY)

    trend = run(
        store,
        f"{scope.with_(per_visit)} SELECT {bucket_sql(query, 'loaded_at')} AS bucket, count(*) AS initialized, "
        "count(used_at) AS used FROM per_visit GROUP BY bucket",
        scope,
    )
    report.tables.append(
        Table(
            "trend",
            "Initialized and used over time",
            "line",
            [Column("bucket", "Time", "datetime" if query.interval == "hour" else "date"), Column("initialized", "Initialized"),
             Column("used", "Used"), Column("interaction_rate", "Interaction rate", "percent")],
            [[b, r.get("initialized", 0), r.get("used", 0), ratio(r.get("used", 0), r.get("initialized", 0))]
             for b, r in fill_buckets(query, trend)],
        )
    )

    timing = run(
        store,
        f"{scope.with_(per_visit)} SELECT isodow(loaded_at) AS weekday, hour(loaded_at) AS hour, count(*) AS initialized, "
        "count(used_at) AS used FROM per_visit GROUP BY ALL ORDER BY weekday, hour",
        scope,
    )
    report.tables.append(
        Table(
            "timing",
            "When visitors engage (UTC)",
            "heatmap",
            [Column("weekday", "Weekday", "weekday"), Column("hour", "Hour", "hour"), Column("interaction_rate", "Interaction rate", "percent"),
             Column("initialized", "Initialized"), Column("used", "Used")],
            [[r["weekday"], r["hour"], ratio(r["used"], r["initialized"]), r["initialized"], r["used"]] for r in timing],
            "Cells by the weekday and hour the widget loaded; the value is the interaction rate.",
        )
    )

    # Content effectiveness: the pages of a visit, and whether the visit engaged after.
    pages = run(
        store,
        f"{scope.with_(per_visit)}, viewed AS (SELECT {VISIT.format(a='e.')} AS visit, {PAGE_SQL} AS page, "
        f"any_value(e.page_type) AS page_type, min(e.ts) AS first_view FROM events e WHERE {scope.where('e')} "
        "AND e.type = 'page_view' GROUP BY ALL) "
        "SELECT page, any_value(page_type) AS page_type, count(*) AS visits, "
        "count(*) FILTER (WHERE p.used_at >= viewed.first_view) AS engaged_after "
        "FROM viewed LEFT JOIN per_visit p USING (visit) GROUP BY page "
        "ORDER BY engaged_after DESC, visits DESC, page LIMIT $limit",
        scope,
        limit=query.limit,
    )
    report.tables.append(
        Table(
            "content",
            "Content effectiveness: pages that lead to conversations",
            "table",
            [Column("page", "Page", "url"), Column("page_type", "Page type", "string"), Column("visits", "Visits that viewed it"),
             Column("engaged_after", "Engaged after viewing it"), Column("rate", "Rate", "percent")],
            [[r["page"], r["page_type"], r["visits"], r["engaged_after"], ratio(r["engaged_after"], r["visits"])] for r in pages],
        )
    )

    # Widget placement: the page each visit's widget loaded on and where it was used.
    placement = run(
        store,
        f"{scope.with_(per_visit)}, views AS (SELECT {VISIT.format(a='e.')} AS visit, e.ts, e.page_type, {PAGE_SQL} AS page "
        f"FROM events e WHERE {scope.where('e')} AND e.type = 'page_view'), "
        "loaded AS (SELECT p.visit, coalesce(v.page_type, '(unknown)') AS page_type, 'loaded' AS what FROM per_visit p "
        "ASOF LEFT JOIN views v ON p.visit = v.visit AND p.loaded_at >= v.ts), "
        "used AS (SELECT p.visit, coalesce(v.page_type, '(unknown)') AS page_type, 'used' AS what FROM per_visit p "
        "ASOF LEFT JOIN views v ON p.visit = v.visit AND p.used_at >= v.ts WHERE p.used_at IS NOT NULL) "
        "SELECT page_type, count(*) FILTER (WHERE what = 'loaded') AS loaded, count(*) FILTER (WHERE what = 'used') AS used "
        "FROM (SELECT * FROM loaded UNION ALL SELECT * FROM used) GROUP BY page_type ORDER BY loaded DESC, page_type",
        scope,
    )
    report.tables.append(
        Table(
            "placement",
            "Widget placement: where it loaded and where it was used",
            "bar",
            [Column("page_type", "Page type", "string"), Column("loaded", "Loaded on"), Column("used", "Used on"),
             Column("rate", "Used / loaded", "percent")],
            [[r["page_type"], r["loaded"], r["used"], ratio(r["used"], r["loaded"])] for r in placement],
            "Page type of the visit's page when the widget first loaded, and when the visitor first engaged.",
        )
    )
    return report
