"""Session results and ratings (reference 004).

**Conversations** are the interaction ids that have a lifecycle (`chat.*`) or
`conversation` event (the conversations `GET /v1/conversations` knows), counted in the
range where they began and filtered by their visit, as in the chat report; all their
data keys count, also those logged after the range's end.

**Result** of a conversation, as the conversation fold decides it (model/lifecycle.py,
model/session_results.py): its highest-priority data key, priority 1 the highest; keys of
priority 0 (every unconfigured custom key) never decide; among equal priorities the
earliest wins. The keys are the `dataKey`s of its `session_log` events, plus two the server
derives: `START` for every conversation (at its first event, so it wins its ties) and
`CHAT_ATTENDED` at its first `CONNECT_TO_AGENT`. Priorities and readable paths come from
the data keys (the defaults of 004 plus the configured custom keys).

- *results* table: per deciding data key (with its path and priority), the conversations
  whose result it is and their share of all conversations; a `(no result)` row counts the
  conversations no key decided (only possible when `START` is configured to priority 0);
  most conversations first, then by priority and name;
- *attended*: conversations whose result is `CHAT_ATTENDED`; *attended rate* = attended /
  conversations x 100;
- *trend*: conversations per bucket of their first event's time (`ts`), one column per
  result among the five first of the results table (column key = the data key), `other`
  for the other results and `no_result` (each of these two only when it occurs).

**Ratings** are `rating` events (004 RATE) in the scope, whether or not their conversation
has a lifecycle event: `rateCode` (the `name` column) and, in the properties, `contentId`
(what was rated; `(none)` when absent: the conversation as a whole) and `comment`.
Rate codes are the site's own text ("1", "5", "THUMBS_UP"), so:

- *ratings*: rating events; *rated conversations*: distinct conversations with one;
  *comments*: ratings with a non-empty comment;
- *mean rating*: the mean of the rate codes that read as numbers, over those ratings only
  (meaningful when the site's codes are a numeric scale; empty when none is numeric);
- *ratings by content*: per content id its ratings, numeric ratings and their mean,
  comments, and its most given rate code (ties to the smallest code) with its count;
  the `limit` contents with the most ratings;
- *rate codes*: per rate code its ratings, share of all ratings and comments.

One query computes everything, each table a tagged part (`part`) of a `UNION ALL BY
NAME`: per conversation from the store's conversation rollup (its logged data keys with
their times and event ids, its first CONNECT_TO_AGENT), and the rating events of the range
(the only JSON it parses). The priorities travel as parameters (two lists), so custom
keys need no SQL of their own.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chatlens.analytics.report import Column, Report, Table, headline, ratio, run
from chatlens.analytics.scope import ReportQuery, Scope
from chatlens.analytics.timeseries import bucket_sql, fill_buckets
from chatlens.model.session_results import DataKeys
from chatlens.store.base import EventStore
from chatlens.store.schema import CONVERSATION_VISIT

TREND_SERIES = 5  # results drawn as their own series; the rest is `other`
NO_CONTENT = "(none)"

SUMMARY = (
    ("conversations", "Conversations", "int", "Interaction ids with a lifecycle or conversation event"),
    ("with_result", "With a result", "int", "Conversations whose data keys decide a result"),
    ("no_result", "Without a result", "int", "Conversations no data key decides (only when START has priority 0)"),
    ("attended", "Chat attended", "int", "Conversations whose result is CHAT_ATTENDED"),
    ("attended_rate", "Attended rate", "percent", "attended / conversations x 100"),
    ("ratings", "Ratings", "int", "rating events"),
    ("rated_conversations", "Rated conversations", "int", "Conversations with at least one rating"),
    ("rating_mean", "Mean rating", "number", "Mean of the rate codes that read as numbers"),
    ("comments", "Comments", "int", "Ratings with a comment"),
)


def results_report(store: EventStore, query: ReportQuery, data_keys: DataKeys | None = None) -> Report:
    data_keys = data_keys or DataKeys()
    scope = Scope(query)
    report = Report("results", "Session results and ratings", query)
    deciding = [k for k in data_keys if k.priority > 0]
    start_priority = data_keys.get("START").priority

    source = f"FROM events e {scope.join('e')} WHERE {scope.where('e')}"
    # Per conversation (from the store's conversation rollup), the best logged or derived
    # key by (priority, time, event id): the fold's order. START is compared afterwards:
    # it is the first key of every conversation.
    keys = (
        "list_concat(c.logged_keys, CASE WHEN c.attended IS NOT NULL THEN "
        "[{'k': 'CHAT_ATTENDED', 't': c.attended.t, 'id': c.attended.id}] ELSE [] END)"
    )
    per_conversation = (
        f"rc AS MATERIALIZED (SELECT c.interaction_id AS conv, {scope.segment_column()} AS seg, c.first_ts, "
        f"list_min(list_transform(list_filter({keys}, lambda x: list_contains($key_names::VARCHAR[], x.k)), "
        "lambda x: {'p': ($key_priorities::INTEGER[])[list_position($key_names::VARCHAR[], x.k)], 't': x.t, 'id': x.id, 'k': x.k})) AS best "
        f"FROM conversation_rollup c {scope.join_visit(CONVERSATION_VISIT)}"
        f"WHERE c.site_id = $site AND c.is_conversation AND {scope.during('c.first_ts')})"
    )
    decided = (
        "rcx AS (SELECT *, CASE WHEN $start_priority > 0 AND (best IS NULL OR $start_priority <= best.p) THEN 'START' "
        "ELSE best.k END AS result FROM rc)"
    )
    ratings = (
        "rt AS MATERIALIZED (SELECT conv, seg, rate_code, rp[1] AS content_id, rp[2] AS comment, "
        "try_cast(rate_code AS DOUBLE) AS numeric_code "
        f"FROM (SELECT e.interaction_id AS conv, {scope.segment_column()} AS seg, e.name AS rate_code, "
        f"json_extract_string(e.properties, ['$.contentId', '$.comment']) AS rp {source} AND e.type = 'rating'))"
    )
    sql = (
        f"{scope.with_(per_conversation, decided, ratings)} "
        f"SELECT 'conversations' AS part, {scope.segment('seg')}, count(*) AS conversations, count(result) AS with_result, "
        f"count(*) FILTER (WHERE result = 'CHAT_ATTENDED') AS attended FROM rcx {scope.group(expr='seg')} "
        "UNION ALL BY NAME "
        f"SELECT 'ratings' AS part, {scope.segment('seg')}, count(*) AS ratings, count(DISTINCT conv) AS rated_conversations, "
        "round(avg(numeric_code), 2) AS rating_mean, count(comment) FILTER (WHERE comment <> '') AS comments "
        f"FROM rt {scope.group(expr='seg')} "
        "UNION ALL BY NAME "
        "SELECT 'results' AS part, result, count(*) AS result_conversations FROM rcx GROUP BY result "
        "UNION ALL BY NAME "
        f"SELECT 'trend' AS part, {bucket_sql(query, 'first_ts')} AS bucket, result, count(*) AS result_conversations "
        "FROM rcx GROUP BY ALL "
        "UNION ALL BY NAME "
        "SELECT 'content_codes' AS part, content_id, rate_code, count(*) AS code_ratings, "
        "count(comment) FILTER (WHERE comment <> '') AS code_comments, any_value(numeric_code) AS code_value "
        "FROM rt GROUP BY ALL"
    )
    rows = run(
        store,
        sql,
        scope,
        key_names=[k.name for k in deciding],
        key_priorities=[k.priority for k in deciding],
        start_priority=start_priority,
    )
    parts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        parts[row["part"]].append(row)

    merged: dict[tuple[Any, bool], dict[str, Any]] = {}
    for row in parts["conversations"] + parts["ratings"]:
        target = merged.setdefault((row["segment"], row["is_total"]), {"segment": row["segment"], "is_total": row["is_total"]})
        target.update({k: v for k, v in row.items() if v is not None})
    for row in merged.values():
        # a segment seen in one part only: its counts in the other are 0
        row.update({k: 0 for k, _, kind, _ in SUMMARY if kind == "int" and k not in row})
        conversations = row.get("conversations", 0)
        row["no_result"] = conversations - row.get("with_result", 0)
        row["attended_rate"] = ratio(row.get("attended", 0), conversations)
    headline(report, list(merged.values()), SUMMARY)
    total = next((r for r in merged.values() if r["is_total"]), {})
    conversations = total.get("conversations", 0)

    def describe(name: str | None) -> tuple[str, str, int | None]:
        if name is None:
            return "(no result)", "", None
        key = data_keys.get(name)
        return name, key.path, key.priority

    results = sorted(
        parts["results"],
        key=lambda r: (r["result"] is None, -r["result_conversations"], describe(r["result"])[2] or 0, r["result"] or ""),
    )
    report.tables.append(
        Table(
            "results",
            "Session results",
            "bar",
            [Column("data_key", "Data key", "string"), Column("path", "Result", "string"), Column("priority", "Priority"),
             Column("conversations", "Conversations"), Column("share", "Share", "percent")],
            [[*describe(r["result"]), r["result_conversations"], ratio(r["result_conversations"], conversations)]
             for r in results],
            "Each conversation under its result: its highest-priority data key (1 is the highest; ties to the earliest).",
        )
    )

    # Trend: one column per frequent result (by conversations in the range), then the rest.
    series = [r["result"] for r in results if r["result"] is not None][:TREND_SERIES]
    per_bucket: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in parts["trend"]:
        name = r["result"] if r["result"] in series else ("no_result" if r["result"] is None else "other")
        per_bucket[r["bucket"]][name] += r["result_conversations"]
    trend_rows = [{"bucket": b, **counts} for b, counts in per_bucket.items()]
    extra = [c for c in ("other", "no_result") if any(c in counts for counts in per_bucket.values())]
    report.tables.append(
        Table(
            "trend",
            "Session results over time",
            "line",
            [Column("bucket", "Time", "datetime" if query.interval == "hour" else "date"),
             *(Column(name, data_keys.get(name).path, "int") for name in series),
             *(Column(c, "Other results" if c == "other" else "No result", "int") for c in extra)],
            [[b, *(r.get(name, 0) for name in series), *(r.get(c, 0) for c in extra)]
             for b, r in fill_buckets(query, trend_rows)],
            "Conversations per bucket of their first event, one column per result (column key = data key) for the "
            f"{TREND_SERIES} most frequent results of the range; `other`: the other results; `no_result`: none decided.",
        )
    )

    # Ratings by content: totals, numeric mean and the most given code per content id.
    contents: dict[str, dict[str, Any]] = {}
    codes: dict[str, dict[str, Any]] = {}
    for r in parts["content_codes"]:
        content = r["content_id"] if r["content_id"] is not None else NO_CONTENT
        c = contents.setdefault(content, {"ratings": 0, "numeric": 0, "sum": 0.0, "comments": 0, "top": None})
        c["ratings"] += r["code_ratings"]
        c["comments"] += r["code_comments"]
        if r["code_value"] is not None:
            c["numeric"] += r["code_ratings"]
            c["sum"] += r["code_value"] * r["code_ratings"]
        if c["top"] is None or (-r["code_ratings"], r["rate_code"]) < (-c["top"][1], c["top"][0]):
            c["top"] = (r["rate_code"], r["code_ratings"])
        k = codes.setdefault(r["rate_code"], {"ratings": 0, "comments": 0, "value": r["code_value"]})
        k["ratings"] += r["code_ratings"]
        k["comments"] += r["code_comments"]
    top_contents = sorted(contents.items(), key=lambda kv: (-kv[1]["ratings"], kv[0]))[: query.limit]
    report.tables.append(
        Table(
            "ratings_by_content",
            "Ratings by content",
            "table",
            [Column("content_id", "Content", "string"), Column("ratings", "Ratings"), Column("numeric", "Numeric ratings"),
             Column("mean", "Mean rating", "number"), Column("comments", "Comments"),
             Column("top_code", "Most given code", "string"), Column("top_code_ratings", "Its ratings")],
            [[content, c["ratings"], c["numeric"], round(c["sum"] / c["numeric"], 2) if c["numeric"] else None,
              c["comments"], c["top"][0], c["top"][1]] for content, c in top_contents],
            f"Per content id ({NO_CONTENT}: ratings without one); the mean is over the rate codes that read as numbers; "
            "the most given code ties to the smallest.",
        )
    )
    all_ratings = total.get("ratings", 0)
    report.tables.append(
        Table(
            "rate_codes",
            "Rate codes",
            "bar",
            [Column("rate_code", "Rate code", "string"), Column("ratings", "Ratings"), Column("share", "Share", "percent"),
             Column("comments", "Comments")],
            [[code, k["ratings"], ratio(k["ratings"], all_ratings), k["comments"]]
             for code, k in sorted(codes.items(), key=lambda kv: (-kv[1]["ratings"], kv[0]))[: query.limit]],
            "Ratings per rate code, as share of all ratings.",
        )
    )
    return report
