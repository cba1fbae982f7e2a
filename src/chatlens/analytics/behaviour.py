"""Behaviour (reference 000): what visitors did in the shop, read from the six behaviour
events (`page_view`, `dwell`, `product_status`, `filter_usage`, `cart_action`,
`search_event`), with the signals an agent reads as intents: comparison (product pairs),
out-of-stock interest, value seeking (filters), bundles (cart and searches), research
(dwell).

Everything counts events in the report's scope (analytics/scope.py: the site, `ts` in the
range, the visits that match the filters); a breakdown splits the headline metrics by
segment, the tables are over the whole scope. A *visit* is the scope's visit; behaviour
events never carry a conversation id, so for them it is the session. Events an agent
backend sent without a session belong to no visit: they count as events (page views,
searches, ...), never in visits, comparisons or out-of-stock visits, and are left out when
a filter or a breakdown applies (they match no visit). A *product view* is a `page_view`
with a `productId`; its product is that id. Time buckets are UTC hours or days.

Headline metrics:
- *page views*: `page_view` events;
- *visits* / *visitors*: distinct sessions / their visitor ids with at least one behaviour
  event (a visit's visitor is the visitor id of its events);
- *product views*: `page_view` events with a `productId`;
- *searches*: `search_event` events;
- *cart adds* / *cart removes*: `cart_action` events with action `add` / `remove`;
- *out-of-stock views*: `product_status` events with status `out_of_stock`.

Tables:
- `products`, most viewed: per product, *views* (its product views), *unique visitors*
  (distinct visitor ids among those views), *cart adds* and *cart removes*, and its
  *name*: the `productName` of its latest `cart_action` in scope that carried one (of
  two at the same instant, the greater), else null. Top `limit` by views.
- `out_of_stock`, demand for products seen out of stock: per product with a
  `product_status` `out_of_stock` event, *visits*: visits with such an event for it;
  *page views*: its product views in those visits; *total* and *median dwell*: the sum
  (rounded to milliseconds) and the median of how long those views were stayed on, a
  view's stay being the largest `durationSeconds` of its `dwell` events (the browser SDK
  reports a growing total while the visitor stays; an integration that reports once
  sends one). A dwell names a URL, not a product: it belongs to the product view the same
  visit made last with that URL at or before the dwell (at the same instant, the
  greatest product id; a quick view of another product on the same URL takes the page
  over until P is viewed again). Top `limit` by visits.
- `searches`: per normalized query (lower-cased, each run of ASCII whitespace made one
  space, trimmed): *searches* (events), *visits*, *viewed a product after*: those visits
  with a product view later than their first search for the query, and its share of the
  visits (%). Top `limit` by searches.
- `filters`: per filter type and value, *uses* (`filter_usage` events) and *visits*.
  Top `limit` by uses.
- `cart`: per product with a cart action, *adds*, *removes*, *net* = adds - removes.
  Top `limit` by adds, then removes. `cart_trend`: adds and removes per time bucket.
- `comparisons`: products A and B are compared in a visit when, among the visit's product
  views in `ts` order (views at the same instant in no set order), a view of one directly
  follows a view of the other (A then B and B then A are one unordered pair; a product
  viewed twice in a row is no pair). *visits*: visits that compared the pair; *switches*:
  how many times a view of one followed a view of the other. Top `limit` by visits, then
  switches.
- `trend`: page views per time bucket; `page_types`: page views per `pageType`, "(none)"
  for page views without one.

Visitor-provided strings (URLs, queries, product names, filter values) are returned as
they came: the dashboard renders text safely and CSV exports neutralize formulas.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chatlens.analytics.report import Column, Report, Table, headline, ratio, run
from chatlens.analytics.scope import ReportQuery, Scope, type_in
from chatlens.analytics.timeseries import bucket_sql, fill_buckets
from chatlens.model.events import BEHAVIOUR_TYPES
from chatlens.store.base import EventStore
from chatlens.store.schema import (
    BEHAVIOUR_COUNTS,
    DAY_US,
    HOUR_US,
    NORMALIZED_QUERY_SQL,
    PRODUCT_DAY_ROLLUP,
    VISIT_SHOPPING_ROLLUP,
    count_sql,
    out_of_stock_sql,
)

BEHAVIOUR_TYPES_SQL = type_in("e", (t.name for t in BEHAVIOUR_TYPES))
COUNTED_TYPES_SQL = type_in("e", ("page_view", "search_event", "cart_action", "product_status"))
# The visit of a behaviour event: its visit key (store/schema.py), the key of its session
# (no behaviour type has a conversation id; without a session, none).
VISIT_SQL = "e.visit_key"

SUMMARY = (
    ("page_views", "Page views", "int", "page_view events"),
    ("visits", "Visits", "int", "Visits with at least one behaviour event"),
    ("visitors", "Visitors", "int", "Distinct visitors with at least one behaviour event"),
    ("product_views", "Product views", "int", "page_view events with a productId"),
    ("searches", "Searches", "int", "search_event events"),
    ("cart_adds", "Cart adds", "int", "cart_action events with action add"),
    ("cart_removes", "Cart removes", "int", "cart_action events with action remove"),
    ("out_of_stock_views", "Out-of-stock views", "int", "product_status events with status out_of_stock"),
)
_COUNTED = tuple(name for name, *_ in BEHAVIOUR_COUNTS)


def behaviour_report(store: EventStore, query: ReportQuery) -> Report:
    scope = Scope(query)
    report = Report("behaviour", "Behaviour", query)
    time_type = "datetime" if query.interval == "hour" else "date"
    ctes: list[str] = []
    parts: dict[str, str] = {}  # name -> SELECT; each comes back as a list of row dicts
    order: dict[str, str] = {}  # name -> the ORDER BY of a top-N part (its LIMIT is $limit)

    # The visits with behaviour in the range, from the visit rollup (store/schema.py: its
    # first and last behaviour event, counts, latest product view and comparisons): a
    # visit wholly inside the range is read there; the few that cross an end of it (`NOT
    # inside`) from their events in the range. Filters and the breakdown are read off the
    # rollup row.
    join, condition, visit_segment = scope.on_visit_rollup()
    overlapping = ("r.site_id = $site AND r.behaviour_first < make_timestamptz($until::BIGINT) "
                   "AND r.behaviour_last >= make_timestamptz($since::BIGINT)")
    overlaps = overlapping + condition
    inside = ("r.behaviour_first >= make_timestamptz($since::BIGINT) "
              "AND r.behaviour_last < make_timestamptz($until::BIGINT)")
    ctes.append(
        f"behaviour_visits AS MATERIALIZED (SELECT r.visit_key AS visit, r.visitor_key AS visitor, {visit_segment} AS seg, "
        f"{inside} AS inside, "
        f"r.last_product_view FROM visit_rollup r {join}WHERE {overlaps})"
    )
    # A visit that crosses an end of the range has its behaviour events in the range near
    # that end: from the range's start to the latest end of the visits crossing it, and
    # from the earliest start of those crossing its end. Asked first, these bounds reach
    # the events' scans as constants, so that DuckDB reads only the row groups at the
    # ends (a month from mid-hour to mid-hour: 0.82-0.84 of the report's time). With
    # filters read off the row, the same query counts the visits that match (below).
    matching = f", count(*) AS overlapping, count(*) FILTER (WHERE true{condition}) AS matching" \
        if scope.filters_on_row else ""
    [windows] = run(
        store,
        "SELECT coalesce(epoch_us(max(r.behaviour_last) FILTER (WHERE r.behaviour_first < make_timestamptz($since::BIGINT))), "
        "$since) AS crossing_low_end, coalesce(epoch_us(min(r.behaviour_first) "
        f"FILTER (WHERE r.behaviour_last >= make_timestamptz($until::BIGINT))), $until) AS crossing_high_start{matching} "
        f"FROM visit_rollup r WHERE {overlapping}",
        scope,
    )
    overlapping_visits, matching_visits = windows.pop("overlapping", 0), windows.pop("matching", 0)

    near_ends = "(e.ts <= make_timestamptz($crossing_low_end) OR e.ts >= make_timestamptz($crossing_high_start))"
    # Their behaviour events in the range, read once for every part below (each read of
    # its own had scanned the ends and probed the crossing visits again).
    ctes.append(
        "crossing_events AS MATERIALIZED (SELECT e.site_id, e.visit_key, e.ts, e.type, e.url, e.product_id, "
        "e.duration_seconds, e.status, e.action, e.query, e.filter_type, e.filter_value FROM events e "
        f"WHERE {scope.in_range('e')} AND {near_ends} AND {BEHAVIOUR_TYPES_SQL} "
        f"AND {VISIT_SQL} IN (SELECT visit FROM behaviour_visits WHERE NOT inside))"
    )
    crossing_product_views = "FROM crossing_events e WHERE e.type = 'page_view' AND e.product_id IS NOT NULL"

    # The scope's events, on the session column (see VISIT_SQL): with filters, those of
    # the matching visits (every visit with a behaviour event in the range is among the
    # overlapping ones); with a breakdown, only the headline splits by segment, the
    # tables are over the whole (filtered) scope. When most visits match, the events are
    # tested against the few that do not: a join probes a small table much faster (a
    # filter that every visit matches, source=web: 0.79 of the report's time; tested that
    # way, device=mobile, 38 % of the visits, took 1.13).
    where = scope.in_range("e")
    if matching_visits * 2 > overlapping_visits:
        ctes.append(f"excluded_visits AS MATERIALIZED (SELECT r.visit_key AS visit FROM visit_rollup r WHERE {overlapping} "
                    "AND r.visit_key NOT IN (SELECT visit FROM behaviour_visits))")
        where += f" AND {VISIT_SQL} IS NOT NULL AND {VISIT_SQL} NOT IN (SELECT visit FROM excluded_visits)"
    elif query.filters:
        where += f" AND {VISIT_SQL} IN (SELECT visit FROM behaviour_visits)"
    source = f"FROM events e WHERE {where}"

    # The headline counts by segment: a visit inside the range from its rollup row, the
    # events of one that crosses an end of it counted the same way (store/schema.py
    # BEHAVIOUR_COUNTS), and without filters or a breakdown, the events of no visit.
    sums = ", ".join(f"coalesce(sum(r.{name}), 0)::BIGINT AS {name}" for name in _COUNTED)
    counts = ", ".join(f"{count_sql(what, where)} AS {name}" for name, what, where in BEHAVIOUR_COUNTS)
    counted = [
        f"SELECT {visit_segment} AS segment, {sums} FROM visit_rollup r {join}WHERE {overlaps} AND {inside} GROUP BY ALL",
        f"SELECT b.seg AS segment, {counts} FROM crossing_events e JOIN behaviour_visits b ON b.visit = {VISIT_SQL} "
        f"WHERE {COUNTED_TYPES_SQL} GROUP BY ALL",
    ]
    if not scope.needs_visits:
        counted.append(f"SELECT NULL::VARCHAR AS segment, {counts} FROM events e WHERE {scope.in_range('e')} "
                       f"AND {VISIT_SQL} IS NULL AND {COUNTED_TYPES_SQL}")
    parts["counted"] = " UNION ALL ".join(counted)
    # Page views (by page type) and cart adds and removes by bucket: both trends and the
    # page types (with a breakdown, of visits only, as the headline). Whole hours of the
    # range come from the store's hourly rollup unless filters need each event's visit;
    # the rest from the events.
    visits_only = f" AND {VISIT_SQL} IS NOT NULL" if scope.segmented else ""
    counted_events = (
        f"SELECT {bucket_sql(query, 'e.ts')} AS bucket, e.type, e.action, e.page_type, count(*) AS n "
        f"{source}{visits_only} AND {type_in('e', ('page_view', 'cart_action'))}"
    )
    hours: dict[str, int] = {}
    if query.filters:
        parts["trend"] = f"{counted_events} GROUP BY ALL"
    else:
        hours = {"first_hour": -(-query.since_us // HOUR_US) * HOUR_US, "last_hour": query.until_us // HOUR_US * HOUR_US}
        parts["trend"] = (
            f"SELECT {bucket_sql(query, 'make_timestamptz(h.hour)')} AS bucket, "
            "CASE WHEN h.kind = 'page_view' THEN 'page_view' ELSE 'cart_action' END AS type, "
            "CASE WHEN h.kind <> 'page_view' THEN h.kind END AS action, "
            "CASE WHEN h.typed THEN h.page_type END AS page_type, sum(h.n)::BIGINT AS n FROM behaviour_hour_rollup h "
            f"WHERE h.site_id = $site AND h.hour >= $first_hour AND h.hour < $last_hour{' AND h.visited' if scope.segmented else ''} "
            f"GROUP BY ALL UNION ALL {counted_events} "
            "AND (e.ts < make_timestamptz($first_hour) OR e.ts >= make_timestamptz($last_hour)) GROUP BY ALL"
        )
    # Distinct visits and visitors, per segment and in total (a visit's visitor: the
    # rollup's, the visitor of its events).
    parts["summary"] = (
        f"SELECT {scope.segment('seg')}, count(*) AS visits, count(DISTINCT visitor) AS visitors FROM ("
        "SELECT visit, visitor, seg FROM behaviour_visits WHERE inside UNION ALL "
        f"SELECT DISTINCT b.visit, b.visitor, b.seg FROM crossing_events e JOIN behaviour_visits b ON b.visit = {VISIT_SQL}) "
        f"{scope.group(expr='seg')}"
    )

    # Products: per product its views, cart adds and removes and latest name. Without
    # filters, the whole days of the range from the store's per-day rollup and the partial
    # days at its ends from the events, by that rollup's own SELECT (0.88-0.90 of the
    # report's time); with filters (they need each event's visit), from the events, by the
    # rollup's aggregates per product. The top rows by views (most viewed) and by cart
    # actions (cart) come from one ranking; unique visitors are counted for the most viewed
    # rows only (the one table that shows them), not for all products. With filters the
    # scope's product views are read once (each read of the events would otherwise probe
    # the matching visits again).
    product_views = f"{source} AND e.type = 'page_view' AND e.product_id IS NOT NULL"
    days: dict[str, int] = {}
    if query.filters:
        ctes.append(f"product_views AS MATERIALIZED (SELECT e.visitor_key, e.product_id {product_views})")
        product_views = "FROM product_views e WHERE true"
        aggregates = {name: aggregate for name, _, aggregate, _ in PRODUCT_DAY_ROLLUP.columns}
        product_rows = (
            "SELECT e.product_id, count(*) AS views, 0 AS adds, 0 AS removes, NULL AS named FROM product_views e "
            f"GROUP BY e.product_id UNION ALL SELECT e.product_id, 0, {aggregates['adds']}, {aggregates['removes']}, "
            f"{aggregates['named']} {source} AND e.type = 'cart_action' GROUP BY e.product_id"
        )
    else:
        days = {"first_day": -(-query.since_us // DAY_US) * DAY_US, "last_day": query.until_us // DAY_US * DAY_US}
        edges = "(e.ts < make_timestamptz($first_day) OR e.ts >= make_timestamptz($last_day))"
        product_rows = (
            "SELECT product_id, views, adds, removes, named FROM product_day_rollup "
            "WHERE site_id = $site AND day >= $first_day AND day < $last_day UNION ALL "
            f"SELECT product_id, views, adds, removes, named FROM ({PRODUCT_DAY_ROLLUP.select(f'(SELECT * {source} AND {edges})')})"
        )
    ctes += [
        "ranked AS (SELECT *, row_number() OVER (ORDER BY views DESC, product_id) AS view_rank, "
        "row_number() OVER (ORDER BY adds DESC, removes DESC, product_id) AS cart_rank FROM ("
        "SELECT product_id, sum(views)::BIGINT AS views, sum(adds)::BIGINT AS adds, sum(removes)::BIGINT AS removes, "
        f"max(named).v AS product_name FROM ({product_rows}) GROUP BY product_id) "
        "QUALIFY (view_rank <= $limit AND views > 0) OR (cart_rank <= $limit AND adds + removes > 0))",
        "top_visitors AS (SELECT e.product_id, count(DISTINCT e.visitor_key) AS visitors "
        f"{product_views} AND e.product_id IN "
        "(SELECT product_id FROM ranked WHERE view_rank <= $limit AND views > 0) GROUP BY e.product_id)",
    ]
    parts["products"] = (
        "SELECT r.*, coalesce(t.visitors, 0) AS visitors FROM ranked r LEFT JOIN top_visitors t USING (product_id)"
    )

    # Out-of-stock demand per visit and product it saw out of stock (store/schema.py
    # out_of_stock_sql): a visit inside the range from the store's out-of-stock rollup; one
    # that crosses an end of it from its events in the range, gathered into the shopping
    # rollup's lists by that rollup's own SELECT.
    crossing_visits = f"({VISIT_SHOPPING_ROLLUP.select('crossing_events')})"
    ctes.append(
        "oos AS (SELECT o.product_id, o.views, o.dwells FROM out_of_stock_rollup o "
        "JOIN behaviour_visits b ON b.visit = o.visit_key AND b.inside WHERE o.site_id = $site "
        f"UNION ALL SELECT product_id, views, dwells FROM ({out_of_stock_sql(crossing_visits)}))"
    )
    parts["out_of_stock"] = (
        "SELECT o.product_id, o.visits, o.views, d.dwell_total, d.dwell_median "
        "FROM (SELECT product_id, count(*) AS visits, sum(views)::BIGINT AS views FROM oos GROUP BY product_id) o "
        "LEFT JOIN (SELECT product_id, round(sum(d), 3) AS dwell_total, median(d) AS dwell_median "
        "FROM (SELECT product_id, unnest(dwells) AS d FROM oos) GROUP BY product_id) d USING (product_id)"
    )
    order["out_of_stock"] = "visits DESC, product_id"

    # Searches and filters: a visit inside the range from its rows in the search and
    # filter rollups (per visit and normalized query, per visit, filter and value), one
    # that crosses an end of it from its events near that end, and without filters the
    # events of no visit (counted as searches and uses, never as visits). Rows are read
    # by their first time too, so that a range skips the row groups of other visits.
    normalized = NORMALIZED_QUERY_SQL.format(query="e.query")
    searched = [
        # whether the visit viewed a product after its first search: its latest product view
        "SELECT s.visit_key AS visit, s.q, s.n, s.first_at, b.last_product_view AS viewed_at FROM visit_search_rollup s "
        f"JOIN behaviour_visits b ON b.visit = s.visit_key AND b.inside WHERE s.site_id = $site AND {scope.during('s.first_at')}",
        f"SELECT c.visit, c.q, c.n, c.first_at, l.viewed_at FROM (SELECT {VISIT_SQL} AS visit, {normalized} AS q, "
        "count(*) AS n, min(e.ts) AS first_at FROM crossing_events e WHERE e.type = 'search_event' GROUP BY ALL) c "
        f"LEFT JOIN (SELECT {VISIT_SQL} AS visit, max(e.ts) AS viewed_at {crossing_product_views} GROUP BY ALL) l USING (visit)",
    ]
    # Without filters, a filter row is chosen by its first time, not by joining its visit
    # (0.80 of the report's time against 0.89 with the join): every row of a visit inside
    # the range lies in it, no row of a visit before or after it does, and the visits that
    # cross an end of it are left to their events.
    member = "IN (SELECT visit FROM behaviour_visits WHERE inside)" if query.filters else \
        "NOT IN (SELECT visit FROM behaviour_visits WHERE NOT inside)"
    used = [
        "SELECT f.visit_key AS visit, f.filter_type, f.filter_value, f.n FROM visit_filter_rollup f "
        f"WHERE f.site_id = $site AND {scope.during('f.first_at')} AND f.visit_key {member}",
        f"SELECT {VISIT_SQL}, e.filter_type, e.filter_value, count(*) FROM crossing_events e "
        "WHERE e.type = 'filter_usage' GROUP BY ALL",
    ]
    if not query.filters:
        searched.append(f"SELECT NULL, {normalized}, count(*), NULL, NULL FROM events e WHERE {scope.in_range('e')} "
                        f"AND e.type = 'search_event' AND {VISIT_SQL} IS NULL GROUP BY ALL")
        used.append(f"SELECT NULL, e.filter_type, e.filter_value, count(*) FROM events e WHERE {scope.in_range('e')} "
                    f"AND e.type = 'filter_usage' AND {VISIT_SQL} IS NULL GROUP BY ALL")
    parts["searches"] = (
        "SELECT q, sum(n)::BIGINT AS searches, count(visit) AS visits, count(*) FILTER (WHERE viewed_at > first_at) AS viewed "
        f"FROM ({' UNION ALL '.join(searched)}) GROUP BY q"
    )
    order["searches"] = "searches DESC, visits DESC, q"
    parts["filters"] = (
        "SELECT filter_type, filter_value, sum(n)::BIGINT AS uses, count(visit) AS visits "
        f"FROM ({' UNION ALL '.join(used)}) GROUP BY ALL"
    )
    order["filters"] = "uses DESC, visits DESC, filter_type, filter_value"

    # Comparisons: the rollup's pairs of the visits inside the range; for the visits that
    # cross an end of it, consecutive product views in the range, by lag over product
    # views only (one sort by visit and time, the previous row's visit compared).
    ctes.append(
        "crossing_pairs AS (SELECT least(previous, product_id) AS a, greatest(previous, product_id) AS b, "
        "count(*) AS n FROM ("
        f"SELECT {VISIT_SQL} AS visit, e.product_id, lag(e.product_id) OVER w AS previous, "
        f"lag({VISIT_SQL}) OVER w AS previous_visit {crossing_product_views} WINDOW w AS (ORDER BY {VISIT_SQL}, e.ts)) "
        "WHERE previous_visit = visit AND previous <> product_id GROUP BY visit, a, b)"
    )
    parts["pairs"] = (
        "SELECT a, b, count(*) AS visits, sum(n)::BIGINT AS switches FROM ("
        f"SELECT unnest(r.product_pairs, recursive := true) FROM visit_rollup r {join}WHERE {overlaps} AND {inside} "
        "UNION ALL SELECT a, b, n FROM crossing_pairs) GROUP BY a, b"
    )
    order["pairs"] = "visits DESC, switches DESC, a, b"

    # One statement: the scope's visits (with filters or a breakdown) are worked out once,
    # not once per table. Each part comes back as a list of structs, top-N parts in order.
    selects = []
    for name, sql in parts.items():
        if name in order:
            sql = f"{sql} ORDER BY {order[name]} LIMIT $limit"
            selects.append(f"(SELECT list(p ORDER BY {order[name]}) FROM ({sql}) p) AS {name}")
        else:
            selects.append(f"(SELECT list(p) FROM ({sql}) p) AS {name}")
    [row] = run(store, f"{scope.with_(*ctes)} SELECT {', '.join(selects)}", scope, limit=query.limit, **hours, **days, **windows)
    result: dict[str, list[dict[str, Any]]] = {name: rows or [] for name, rows in row.items()}

    totals: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTED, 0))
    trend: dict[int, dict[str, int]] = defaultdict(lambda: {"page_views": 0, "adds": 0, "removes": 0})
    for r in result["counted"]:
        for row_key in (("total",), ("segment", r["segment"])) if scope.segmented else (("total",),):
            for key in _COUNTED:
                totals[row_key][key] += r[key]
    page_types: dict[str | None, int] = defaultdict(int)
    for r in result["trend"]:
        if r["type"] == "page_view":
            trend[r["bucket"]]["page_views"] += r["n"]
            page_types[r["page_type"]] += r["n"]
        elif r["action"] in ("add", "remove"):
            trend[r["bucket"]]["adds" if r["action"] == "add" else "removes"] += r["n"]
    summary = result["summary"]
    for r in summary:
        r.update(totals[("total",) if r["is_total"] else ("segment", r["segment"])])
    headline(report, summary, SUMMARY)

    products = result["products"]
    most_viewed = sorted((r for r in products if r["views"] and r["view_rank"] <= query.limit), key=lambda r: r["view_rank"])
    in_cart = sorted((r for r in products if r["adds"] + r["removes"] and r["cart_rank"] <= query.limit),
                     key=lambda r: r["cart_rank"])
    out_of_stock, searches, filters, pairs = (result[k] for k in ("out_of_stock", "searches", "filters", "pairs"))

    buckets = fill_buckets(query, [{"bucket": b, **counts} for b, counts in trend.items()])
    report.tables += [
        Table(
            "products",
            "Most viewed products",
            "table",
            [Column("product_id", "Product", "string"), Column("product_name", "Name", "string"), Column("views", "Views"),
             Column("visitors", "Unique visitors"), Column("cart_adds", "Cart adds"), Column("cart_removes", "Cart removes")],
            [[r["product_id"], r["product_name"], r["views"], r["visitors"], r["adds"], r["removes"]] for r in most_viewed],
            "Product page views; the name is the latest productName a cart action carried.",
        ),
        Table(
            "out_of_stock",
            "Out-of-stock demand",
            "table",
            [Column("product_id", "Product", "string"), Column("visits", "Visits that saw it out of stock"),
             Column("page_views", "Page views"), Column("dwell_total", "Total dwell", "seconds"),
             Column("dwell_median", "Median dwell", "seconds")],
            [[r["product_id"], r["visits"], r["views"], r["dwell_total"], r["dwell_median"]] for r in out_of_stock],
            "In the visits that saw the product out of stock: its page views and the time spent on its pages.",
        ),
        Table(
            "searches",
            "Top searches",
            "table",
            [Column("query", "Query", "string"), Column("searches", "Searches"), Column("visits", "Visits"),
             Column("viewed_product", "Visits that viewed a product after"),
             Column("viewed_rate", "Viewed a product after", "percent")],
            [[r["q"], r["searches"], r["visits"], r["viewed"], ratio(r["viewed"], r["visits"])] for r in searches],
            "Queries lower-cased with whitespace collapsed. Viewed a product after: visits with a product page view "
            "after their first search for the query.",
        ),
        Table(
            "filters",
            "Filters used",
            "table",
            [Column("filter_type", "Filter", "string"), Column("filter_value", "Value", "string"), Column("uses", "Uses"),
             Column("visits", "Visits")],
            [[r["filter_type"], r["filter_value"], r["uses"], r["visits"]] for r in filters],
        ),
        Table(
            "cart",
            "Cart adds and removes by product",
            "table",
            [Column("product_id", "Product", "string"), Column("product_name", "Name", "string"), Column("adds", "Adds"),
             Column("removes", "Removes"), Column("net", "Net")],
            [[r["product_id"], r["product_name"], r["adds"], r["removes"], r["adds"] - r["removes"]] for r in in_cart],
        ),
        Table(
            "cart_trend",
            "Cart adds and removes over time",
            "line",
            [Column("bucket", "Time", time_type), Column("adds", "Adds"), Column("removes", "Removes")],
            [[b, r.get("adds", 0), r.get("removes", 0)] for b, r in buckets],
        ),
        Table(
            "comparisons",
            "Products compared",
            "table",
            [Column("product_a", "Product", "string"), Column("product_b", "Compared with", "string"),
             Column("visits", "Visits"), Column("switches", "Switches")],
            [[r["a"], r["b"], r["visits"], r["switches"]] for r in pairs],
            "Different products viewed one right after the other in a visit, in either order.",
        ),
        Table(
            "trend",
            "Page views over time",
            "line",
            [Column("bucket", "Time", time_type), Column("page_views", "Page views")],
            [[b, r.get("page_views", 0)] for b, r in buckets],
        ),
        Table(
            "page_types",
            "Page views by page type",
            "bar",
            [Column("page_type", "Page type", "string"), Column("page_views", "Page views")],
            [[t if t is not None else "(none)", n]
             for t, n in sorted(page_types.items(), key=lambda item: (-item[1], item[0] is None, item[0] or ""))],
        ),
    ]
    return report
