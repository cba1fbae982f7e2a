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
PAGE_SQL = "split_part(split_part(e.url, '#', 1), '?', 1)"

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
    # One row per visit with the widget: when it first loaded, when the visitor first engaged.
    per_visit = (
        f"per_visit AS MATERIALIZED (SELECT {VISIT.format(a='e.')} AS visit, {scope.segment_column()} AS seg, "
        f"min(e.ts) AS loaded_at, min(e.ts) FILTER (WHERE {engaged('e')}) AS used_at "
        f"FROM events e {scope.join('e')} WHERE {scope.where('e')} AND e.type IN {CHAT_TYPES_SQL} GROUP BY ALL)"
    )
    # Headline (per segment), trend and timing from one pass over the visits.
    sets = ["()", "(bucket)", "(weekday, hour)", *(["(seg)"] if scope.segmented else [])]
    rows = run(
        store,
        f"{scope.with_(per_visit)} SELECT {'seg' if scope.segmented else 'NULL'} AS seg, bucket, weekday, hour, grouping(bucket) = 0 AS is_trend, "
        f"grouping(weekday) = 0 AS is_timing, {'grouping(seg) = 1' if scope.segmented else 'true'} AS is_total, "
        "count(*) AS initialized, count(used_at) AS used "
        f"FROM (SELECT *, {bucket_sql(query, 'loaded_at')} AS bucket, isodow(loaded_at) AS weekday, hour(loaded_at) AS hour "
        f"FROM per_visit) GROUP BY GROUPING SETS ({', '.join(sets)})",
        scope,
    )
    summary = [dict(r, segment=r["seg"]) for r in rows if not r["is_trend"] and not r["is_timing"]]
    for row in summary:
        row["interaction_rate"] = ratio(row["used"], row["initialized"])
        row["abandoned"] = row["initialized"] - row["used"]
        row["abandonment_rate"] = ratio(row["abandoned"], row["initialized"])
    headline(report, summary, SUMMARY)

    trend = [r for r in rows if r["is_trend"]]
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
    timing = sorted((r for r in rows if r["is_timing"]), key=lambda r: (r["weekday"], r["hour"]))
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

    # Content effectiveness (the pages of a visit, and whether it engaged after the first
    # view) and widget placement (the page type where the widget first loaded and where the
    # visitor first engaged), from one pass over the page views.
    views = (
        f"views AS MATERIALIZED (SELECT {VISIT.format(a='e.')} AS visit, e.ts, e.page_type, {PAGE_SQL} AS page "
        f"FROM events e WHERE {scope.where('e')} AND e.type = 'page_view')"
    )
    pages = run(
        store,
        f"{scope.with_(per_visit, views)}, "
        "content AS (SELECT page, any_value(page_type) AS page_type, count(*) AS visits, "
        "count(*) FILTER (WHERE p.used_at >= first_view) AS engaged_after FROM "
        "(SELECT visit, page, any_value(page_type) AS page_type, min(ts) AS first_view FROM views GROUP BY visit, page) "
        "LEFT JOIN per_visit p USING (visit) GROUP BY page ORDER BY engaged_after DESC, visits DESC, page LIMIT $limit), "
        "placed AS (SELECT coalesce(v.page_type, '(unknown)') AS page_type, 'loaded' AS what FROM per_visit p "
        "ASOF LEFT JOIN views v ON p.visit = v.visit AND p.loaded_at >= v.ts "
        "UNION ALL SELECT coalesce(v.page_type, '(unknown)'), 'used' FROM (SELECT * FROM per_visit WHERE used_at IS NOT NULL) p "
        "ASOF LEFT JOIN views v ON p.visit = v.visit AND p.used_at >= v.ts) "
        "SELECT 'content' AS part, page, page_type, visits AS a, engaged_after AS b FROM content "
        "UNION ALL SELECT 'placement', NULL, page_type, count(*) FILTER (WHERE what = 'loaded'), "
        "count(*) FILTER (WHERE what = 'used') FROM placed GROUP BY page_type",
        scope,
        limit=query.limit,
    )
    content = sorted((r for r in pages if r["part"] == "content"), key=lambda r: (-r["b"], -r["a"], r["page"]))
    report.tables.append(
        Table(
            "content",
            "Content effectiveness: pages that lead to conversations",
            "table",
            [Column("page", "Page", "url"), Column("page_type", "Page type", "string"), Column("visits", "Visits that viewed it"),
             Column("engaged_after", "Engaged after viewing it"), Column("rate", "Rate", "percent")],
            [[r["page"], r["page_type"], r["a"], r["b"], ratio(r["b"], r["a"])] for r in content],
        )
    )
    placement = sorted((r for r in pages if r["part"] == "placement"), key=lambda r: (-r["a"], r["page_type"]))
    report.tables.append(
        Table(
            "placement",
            "Widget placement: where it loaded and where it was used",
            "bar",
            [Column("page_type", "Page type", "string"), Column("loaded", "Loaded on"), Column("used", "Used on"),
             Column("rate", "Used / loaded", "percent")],
            [[r["page_type"], r["a"], r["b"], ratio(r["b"], r["a"])] for r in placement],
            "Page type of the visit's page when the widget first loaded, and when the visitor first engaged.",
        )
    )
    return report
