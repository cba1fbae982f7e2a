"""Engagement (reference 003): did visitors who could talk to the agent actually do so?

Counted per visit (analytics/scope.py), in the range where its widget first loaded, from
the store's visit rollup (store/schema.py); used when it engaged before the range's end:
- *initialized*: the widget loaded, or an agent backend initialized a conversation: any
  widget (001), lifecycle (002) or conversation event;
- *used*: the visitor engaged: submitted the chat form, a chat started, a user message,
  or a `conversation` marked used;
- *interaction rate* = used / initialized x 100; *page abandonment*: initialized, never used.

Where things happened is the page the visitor was on: the visit's latest `page_view` at
or before the event (placement: when the widget first loaded and when the visitor first
engaged).

Content effectiveness counts, per page (its URL without query string and fragment), the
visits that first viewed it in the range (any visit, with the widget or not), and of
those the visits that engaged, within the range, at or after that first view. Its page
type is that of the page's earliest view that had one. Page views without a session
belong to no visit and count nowhere.
"""

from __future__ import annotations

from chatlens.analytics.report import Column, Report, Table, headline, ratio, run
from chatlens.analytics.scope import ReportQuery, Scope
from chatlens.analytics.timeseries import bucket_sql, fill_buckets
from chatlens.store.base import EventStore

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
    # One row per visit whose widget first loaded in the range, from the visit rollup:
    # when it loaded and when the visitor first engaged (within the range), and the type
    # of the page it was on then (placement: its latest page view at or before, kept in
    # the rollup as `loaded_on` and `used_on`).
    join, condition, segment = scope.on_visit_rollup()
    used_in_range = "r.used_at < make_timestamptz($until::BIGINT)"
    per_visit = (
        f"per_visit AS MATERIALIZED (SELECT r.visit_key AS visit, {segment} AS seg, r.loaded_at, r.loaded_on, "
        f"CASE WHEN {used_in_range} THEN r.used_at END AS used_at, CASE WHEN {used_in_range} THEN r.used_on END AS used_on "
        f"FROM visit_rollup r {join}WHERE r.site_id = $site AND {scope.during('r.loaded_at')}{condition})"
    )
    # Headline (per segment), trend and timing from one pass over the visits; content
    # effectiveness (the pages visits first viewed in the range, from the store's
    # visit-page rollup, and whether the visit engaged after) and widget placement as
    # parts of the same statement.
    sets = ["()", "(bucket)", "(weekday, hour)", *(["(seg)"] if scope.segmented else [])]
    rows = run(
        store,
        f"{scope.with_(per_visit)} "
        f"SELECT 'visits' AS part, {'seg' if scope.segmented else 'NULL'} AS seg, bucket, weekday, hour, grouping(bucket) = 0 AS is_trend, "
        f"grouping(weekday) = 0 AS is_timing, {'grouping(seg) = 1' if scope.segmented else 'true'} AS is_total, "
        "count(*) AS initialized, count(used_at) AS used "
        f"FROM (SELECT *, {bucket_sql(query, 'loaded_at')} AS bucket, isodow(loaded_at) AS weekday, hour(loaded_at) AS hour "
        f"FROM per_visit) GROUP BY GROUPING SETS ({', '.join(sets)}) "
        "UNION ALL BY NAME "
        "(SELECT 'content' AS part, w.page, min(w.page_type).v AS page_type, count(*) AS a, "
        "count(*) FILTER (WHERE p.used_at >= w.first_view) AS b "
        f"FROM visit_page_rollup w {scope.join_visit('w.visit_key', segmented=False)}"
        # (only the engaged visits are joined: a few percent of them)
        "LEFT JOIN (SELECT visit, used_at FROM per_visit WHERE used_at IS NOT NULL) p ON p.visit = w.visit_key "
        f"WHERE w.site_id = $site AND {scope.during('w.first_view')} "
        "GROUP BY w.page ORDER BY b DESC, a DESC, w.page LIMIT $limit) "
        "UNION ALL BY NAME "
        "SELECT 'placement' AS part, page_type, sum(a)::BIGINT AS a, sum(b)::BIGINT AS b FROM ("
        "SELECT coalesce(loaded_on, '(unknown)') AS page_type, 1 AS a, 0 AS b FROM per_visit "
        "UNION ALL SELECT coalesce(used_on, '(unknown)'), 0, 1 FROM per_visit WHERE used_at IS NOT NULL) GROUP BY page_type",
        scope,
        limit=query.limit,
    )
    rows, pages = [r for r in rows if r["part"] == "visits"], [r for r in rows if r["part"] != "visits"]
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
