"""Analytics reports on 10 million events, each next to a hand-written DuckDB query.

    .venv/bin/python benchmarks/analytics_reports.py --db /tmp/reports10m.duckdb
    .venv/bin/python benchmarks/analytics_reports.py --db PATH --runs 5 --report chat --report live

`--db` is a Chatlens DuckDB file; when it does not exist, `benchmarks/bulk_events.py`
generates `--events` (10,000,000) realistic events into it (about ten minutes). DuckDB lets
one process open a file: give this script its own copy (`cp`), not a server's file.

Every report of `chatlens.analytics.REPORTS` runs as the API runs it:
`REPORTS[name](DuckDBStore(path), parse_report_query(site, {"from": ..., "to": ...}, ...))`
over the whole range of the data (30 days), in three variants: the whole site, a filter
(`device=mobile`) and a breakdown (`breakdown=device`). Next to it runs the reference: the
same answer from plain SQL over the `events` table written by hand from the definitions in
the report's module docstring (no `Scope`, no SQL of the report's), on a cursor of the same
DuckDB connection (same settings, same 2 threads). The reference is written as a person
would: one plain query per table (a few for the headline), and what several of them share
(the rows per visit, per conversation or per decision, and the visits' devices) computed
once into a temporary table. Each side is run once to warm up, then `--runs` times,
alternating; the table shows the median and p90 of the wall time of the whole call (the
report's Python included; the reference's temporary tables, fetches and the little Python
that shapes its rows into the report's tables included too).

`--explain` times nothing: it records the statements each report runs, times each once and
prints the operators of the slowest one's `EXPLAIN ANALYZE` by time.

`--inset MINUTES` cuts that much off both ends of the range (1470: from mid-hour to
mid-hour, with visits and conversations crossing both ends, as a dashboard's range ending
now has). The chat, engagement and results references count the events in the range
only, so their answers are then not compared (the reports count a visit where its chat
first loaded and a conversation where it began: tests/analytics/test_range_boundaries.py
checks those edges); behaviour, intents and live still are.

The two answers are compared: every headline metric, the per-segment metrics of the
breakdown, and every row of every table, except columns that are text labels of fixed
rows (`label`, `path`). Numbers compare exactly, floats to 1e-9. The script exits 1 when
an answer differs (the differences are printed) and 0 otherwise; the targets (at most
300 ms per report, at most 1.3 times the reference) are reported, not enforced.

The reference's few non-SQL parts: rates (`part * 100 / whole`, rounded to 2 places, as
every report rounds them), filling the days without rows with zeros, the labels of the
report's fixed buckets, and the intents report's lift intervals, computed from the counts
by `chatlens.engine.uplift.Lift` (statistics, not a query).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from chatlens.analytics import REPORTS, Report, parse_report_query
from chatlens.engine.uplift import Lift
from chatlens.ingest.validate import parse_timestamp
from chatlens.model.session_results import DataKeys
from chatlens.store.duckdb_store import DuckDBStore

DAY_US = 86_400_000_000
MINUTE_US = 60_000_000
TARGET_MS = 300.0
TARGET_RATIO = 1.3
VARIANTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("all", {}),
    ("device=mobile", {"device": "mobile"}),
    ("breakdown=device", {"breakdown": "device"}),
)
SKIPPED_COLUMNS = {"label", "path"}  # fixed text of fixed rows: not compared


@dataclass(frozen=True)
class Case:
    site: str
    since: int  # us, inclusive
    until: int  # us, exclusive
    now: int  # us
    device: str | None  # the filter
    breakdown: bool  # breakdown=device
    limit: int = 20


@dataclass
class Answer:
    metrics: dict[str, Any]
    segments: dict[str, dict[str, Any]] | None  # breakdown: segment -> its metrics
    tables: dict[str, list[dict[str, Any]]]


# -- plain SQL helpers ------------------------------------------------------------------

VISIT = "coalesce({a}session_id, 'conversation:' || {a}interaction_id)"
IN_RANGE = "{a}site_id = $site AND {a}ts >= make_timestamptz($since) AND {a}ts < make_timestamptz($until)"
VISIT_DEVICE = (
    "SELECT coalesce(session_id, 'conversation:' || interaction_id) AS visit, "
    "coalesce(arg_min(device, ts) FILTER (WHERE device IS NOT NULL), "
    "arg_min(properties->>'deviceType', ts) FILTER (WHERE type = 'conversation')) AS device "
    "FROM events WHERE {range} GROUP BY visit"
)


def visit(a: str = "") -> str:
    return VISIT.format(a=f"{a}." if a else "")


def in_range(a: str = "") -> str:
    return IN_RANGE.format(a=f"{a}." if a else "")


def with_(*ctes: str) -> str:
    return "WITH " + ", ".join(ctes) if ctes else ""


def temp(cur: duckdb.DuckDBPyConnection, name: str, sql: str, c: Case, **more: Any) -> None:
    """Work shared by several of a reference's queries, computed once into a temporary table."""
    fetch(cur, f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", c, **more)


def drop(cur: duckdb.DuckDBPyConnection, *names: str) -> None:
    for name in names:
        cur.execute(f"DROP TABLE IF EXISTS {name}")


def prepare_visits(cur: duckdb.DuckDBPyConnection, c: Case) -> None:
    """The device of every visit of the range (`visit_device`), when the case filters or
    breaks down by it."""
    if c.device or c.breakdown:
        temp(cur, "visit_device", VISIT_DEVICE.format(range=in_range()), c)


def only(c: Case, a: str = "e") -> str:
    """AND: the event's visit is a mobile one (the filter)."""
    return f" AND {visit(a)} IN (SELECT visit FROM visit_device WHERE device = $device)" if c.device else ""


def seg_join(c: Case, a: str = "e") -> str:
    return f" JOIN visit_device vd ON vd.visit = {visit(a)}" if c.breakdown else ""


def seg(c: Case) -> str:
    return "vd.device" if c.breakdown else "NULL::VARCHAR"


def by_seg(c: Case) -> str:
    """GROUP BY: per segment and in total (`grouping(seg) = 1` is the total)."""
    return "GROUP BY ROLLUP (seg)" if c.breakdown else ""


def seg_total(c: Case) -> str:
    """The select-list columns `seg, is_total` of a query grouped `by_seg`."""
    return "seg, grouping(seg) = 1 AS is_total" if c.breakdown else "NULL::VARCHAR AS seg, true AS is_total"


def sql_list(names: list[str] | tuple[str, ...]) -> str:
    return "(" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + ")"


def fetch(cur: duckdb.DuckDBPyConnection, sql: str, c: Case, **more: Any) -> list[dict[str, Any]]:
    values = {"site": c.site, "since": c.since, "until": c.until, "now": c.now, "device": c.device, "limit": c.limit, **more}
    names = set(re.findall(r"\$([A-Za-z_]\w*)", sql))
    result = cur.execute(sql, {k: v for k, v in values.items() if k in names})
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row)) for row in result.fetchall()]


def pct(part: Any, whole: Any) -> float | None:
    if not whole or part is None:
        return None
    return round(part * 100.0 / whole, 2)


def days(c: Case) -> list[str]:
    t = dt.datetime.fromtimestamp(c.since / 1e6, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = dt.datetime.fromtimestamp(c.until / 1e6, dt.UTC)
    out = []
    while t < end:
        out.append(t.strftime("%Y-%m-%d"))
        t += dt.timedelta(days=1)
    return out


DAY_LABEL = "strftime(date_trunc('day', {}), '%Y-%m-%d')"


def split_segments(c: Case, rows: list[dict[str, Any]], keys: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]] | None]:
    total = next((r for r in rows if r["is_total"]), {})
    metrics = {k: total.get(k) for k in keys}
    if not c.breakdown:
        return metrics, None
    segments = {
        ("(none)" if r["seg"] is None else r["seg"]): {k: r.get(k) for k in keys} for r in rows if not r["is_total"]
    }
    return metrics, segments


# -- engagement -------------------------------------------------------------------------

CHAT_TYPES = ("CHAT_LOADED", "CHAT_VISIBLE", "CONTACT_STARTED", "CONTACT_ENDED", "TRANSFER_TO_QUEUE", "CONNECT_TO_AGENT",
              "chat.ready", "chat.opened", "chat.submitted", "chat.started", "chat.cancelled", "chat.rejected",
              "chat.completed", "chat.closed",
              "conversation", "message", "action", "button", "attachment", "token_usage", "rating", "session_log")
PAGE = "regexp_replace({}url, '[?#].*$', '')"


def hand_engagement(cur: duckdb.DuckDBPyConnection, c: Case) -> Answer:
    prepare_visits(cur, c)
    # per visit with the widget: when it first loaded, when the visitor first engaged
    temp(cur, "chat_visits",
         f"SELECT {visit('e')} AS visit, {seg(c)} AS seg, min(e.ts) AS loaded_at, "
         "min(e.ts) FILTER (WHERE e.type IN ('chat.submitted', 'chat.started', 'CONTACT_STARTED') "
         "OR (e.type = 'message' AND e.sender = 'user') OR (e.type = 'conversation' AND e.properties->>'used' = 'true')) AS used_at "
         f"FROM events e{seg_join(c)} WHERE {in_range('e')} AND e.type IN {sql_list(CHAT_TYPES)}{only(c)} GROUP BY ALL", c)
    views = (
        f"views AS (SELECT {visit('e')} AS visit, e.ts, e.page_type, {PAGE.format('e.')} AS page FROM events e "
        f"WHERE {in_range('e')} AND e.type = 'page_view'{only(c)})"
    )
    head = with_(views)
    summary = fetch(cur, f"{head} SELECT {seg_total(c)}, count(*) AS initialized, count(used_at) AS used "
                         f"FROM chat_visits {by_seg(c)}", c)
    for r in summary:
        r["interaction_rate"] = pct(r["used"], r["initialized"])
        r["abandoned"] = r["initialized"] - r["used"]
        r["abandonment_rate"] = pct(r["abandoned"], r["initialized"])
    metrics, segments = split_segments(c, summary, ["initialized", "used", "interaction_rate", "abandoned", "abandonment_rate"])
    trend = {r["day"]: r for r in fetch(
        cur, f"{head} SELECT {DAY_LABEL.format('loaded_at')} AS day, count(*) AS initialized, count(used_at) AS used "
             "FROM chat_visits GROUP BY day", c)}
    timing = fetch(cur, f"{head} SELECT isodow(loaded_at) AS weekday, hour(loaded_at) AS hour, count(*) AS initialized, "
                        "count(used_at) AS used FROM chat_visits GROUP BY ALL ORDER BY weekday, hour", c)
    content = fetch(
        cur,
        f"{head} SELECT page, any_value(page_type) AS page_type, count(*) AS visits, "
        "count(*) FILTER (WHERE cv.used_at >= first_view) AS engaged_after "
        "FROM (SELECT visit, page, any_value(page_type) AS page_type, min(ts) AS first_view FROM views GROUP BY visit, page) "
        "LEFT JOIN chat_visits cv USING (visit) GROUP BY page ORDER BY engaged_after DESC, visits DESC, page LIMIT $limit",
        c,
    )
    placement = fetch(
        cur,
        f"{head}, at_load AS (SELECT coalesce(v.page_type, '(unknown)') AS page_type FROM chat_visits cv "
        "ASOF LEFT JOIN views v ON cv.visit = v.visit AND cv.loaded_at >= v.ts), "
        "at_use AS (SELECT coalesce(v.page_type, '(unknown)') AS page_type FROM chat_visits cv "
        "ASOF LEFT JOIN views v ON cv.visit = v.visit AND cv.used_at >= v.ts WHERE cv.used_at IS NOT NULL) "
        "SELECT page_type, sum(loaded)::BIGINT AS loaded, sum(used)::BIGINT AS used FROM ("
        "SELECT page_type, 1 AS loaded, 0 AS used FROM at_load UNION ALL SELECT page_type, 0, 1 FROM at_use) "
        "GROUP BY page_type ORDER BY loaded DESC, page_type",
        c,
    )
    drop(cur, "chat_visits", "visit_device")
    return Answer(metrics, segments, {
        "trend": [{"bucket": d, "initialized": trend.get(d, {}).get("initialized", 0), "used": trend.get(d, {}).get("used", 0),
                   "interaction_rate": pct(trend.get(d, {}).get("used", 0), trend.get(d, {}).get("initialized", 0))}
                  for d in days(c)],
        "timing": [{"weekday": r["weekday"], "hour": r["hour"], "interaction_rate": pct(r["used"], r["initialized"]),
                    "initialized": r["initialized"], "used": r["used"]} for r in timing],
        "content": [{**r, "rate": pct(r["engaged_after"], r["visits"])} for r in content],
        "placement": [{**r, "rate": pct(r["used"], r["loaded"])} for r in placement],
    })


# -- chat -------------------------------------------------------------------------------

FUNNEL_STEPS = ("loaded", "visible", "opened", "submitted", "started", "agent", "completed")
STEP_OF = ("CASE type WHEN 'CHAT_VISIBLE' THEN 1 WHEN 'chat.opened' THEN 2 WHEN 'chat.cancelled' THEN 2 "
           "WHEN 'chat.closed' THEN 2 WHEN 'chat.submitted' THEN 3 WHEN 'chat.rejected' THEN 3 WHEN 'chat.started' THEN 4 "
           "WHEN 'CONTACT_STARTED' THEN 4 WHEN 'TRANSFER_TO_QUEUE' THEN 4 WHEN 'CONTACT_ENDED' THEN 4 "
           "WHEN 'CONNECT_TO_AGENT' THEN 5 WHEN 'chat.completed' THEN 6 ELSE 0 END")
WAITS = (("< 10 s", 0, 10_000), ("10-30 s", 10_000, 30_000), ("30-60 s", 30_000, 60_000), ("1-2 min", 60_000, 120_000),
         ("2-5 min", 120_000, 300_000), ("≥ 5 min", 300_000, None))
SCENARIOS = ("failed_to_start", "completed", "gave_up_waiting", "changed_mind", "no_end")
CONVERSATION_EVENTS = ("chat.ready", "chat.opened", "chat.submitted", "chat.started", "chat.cancelled", "chat.rejected",
                       "chat.completed", "chat.closed", "conversation", "CONTACT_STARTED", "TRANSFER_TO_QUEUE",
                       "CONNECT_TO_AGENT", "message", "attachment")
CHAT_METRICS = ["loaded", "started_visits", "visit_conversion", "conversations", "started", "completed", "completion_rate",
                "agent_connected", "cancelled", "abandoned", "abandonment_rate", "rejected", "rejection_rate", "transferred",
                "transfer_rate", "wait_p50", "wait_p90", "wait_p99", "elapsed_p50", "elapsed_p90", "messages", "messages_mean",
                "messages_p50", "files", "with_errors"]


def hand_chat(cur: duckdb.DuckDBPyConnection, c: Case) -> Answer:
    # The funnel: per visit, the furthest step its chat events show.
    prepare_visits(cur, c)
    visits = fetch(
        cur,
        f"SELECT {seg_total(c)}, "
        + ", ".join(f"count(*) FILTER (WHERE furthest >= {i}) AS step_{k}" for i, k in enumerate(FUNNEL_STEPS))
        + f" FROM (SELECT {seg(c)} AS seg, max({STEP_OF.replace('type', 'e.type')}) AS furthest FROM events e{seg_join(c)} "
        f"WHERE {in_range('e')} AND e.type IN {sql_list(CHAT_TYPES)}{only(c)} GROUP BY {visit('e')}, seg) {by_seg(c)}",
        c,
    )
    md = "'$.metadata.{}'"
    conversations = (
        # the reported metadata: outcome events only
        "reported AS (SELECT interaction_id AS conv, "
        + ", ".join(f"max(try_cast(properties->>{md.format(f)} AS BIGINT)) AS r_{f}"
                    for f in ("waitingForAgent", "elapsed", "userMessages", "agentMessages", "systemMessages",
                              "filesUploaded", "numAgents", "agentReached"))
        + f", bool_or(json_array_length(CASE WHEN json_type(properties, {md.format('errors')}) = 'ARRAY' "
        f"THEN properties->{md.format('errors')} END) > 0) AS has_errors "
        f"FROM events e WHERE {in_range('e')} AND e.type IN ('chat.cancelled', 'chat.rejected', 'chat.completed') "
        f"AND e.interaction_id IS NOT NULL{only(c)} GROUP BY conv), "
        # per conversation: its stages, times and events
        f"stages AS (SELECT e.interaction_id AS conv, arg_min({seg(c)}, e.ts) AS seg, "
        "min(e.ts) FILTER (WHERE e.type IN ('chat.started', 'CONTACT_STARTED')) AS started_at, "
        "min(e.ts) FILTER (WHERE e.type = 'chat.completed') AS completed_at, "
        "min(e.ts) FILTER (WHERE e.type = 'chat.rejected') AS rejected_at, "
        "min(e.ts) FILTER (WHERE e.type = 'chat.cancelled') AS any_cancelled_at, "
        "bool_or(e.type = 'TRANSFER_TO_QUEUE') AS queued, bool_or(e.type = 'CONNECT_TO_AGENT') AS connected, "
        "epoch_ms(min(e.client_ts) FILTER (WHERE e.type = 'chat.started')) AS started_ms, "
        "epoch_ms(min(e.client_ts) FILTER (WHERE e.type = 'CONNECT_TO_AGENT')) AS agent_ms, "
        "epoch_ms(coalesce(min(e.client_ts) FILTER (WHERE e.type = 'chat.completed'), "
        "min(e.client_ts) FILTER (WHERE e.type = 'chat.cancelled'))) AS end_ms, "
        "count(*) FILTER (WHERE e.type = 'message' AND e.sender = 'user') AS n_user, "
        "count(*) FILTER (WHERE e.type = 'message' AND e.sender = 'agent') AS n_agent, "
        "count(*) FILTER (WHERE e.type = 'message' AND e.sender = 'system') AS n_system, "
        "count(*) FILTER (WHERE e.type = 'attachment') AS n_files "
        f"FROM events e{seg_join(c)} WHERE {in_range('e')} AND e.type IN {sql_list(CONVERSATION_EVENTS)} "
        f"AND e.interaction_id IS NOT NULL{only(c)} GROUP BY e.interaction_id "
        "HAVING bool_or(e.type LIKE 'chat.%' OR e.type = 'conversation')) "
        "SELECT s.*, connected OR coalesce(r_numAgents > 0 OR r_agentReached > 0, false) AS agent, "
        "CASE WHEN any_cancelled_at IS NOT NULL AND NOT (connected OR coalesce(r_numAgents > 0 OR r_agentReached > 0, false)) "
        "THEN any_cancelled_at END AS cancelled_at, "
        "CASE WHEN agent_ms >= started_ms THEN agent_ms - started_ms ELSE r_waitingForAgent END AS wait_ms, "
        "CASE WHEN end_ms >= started_ms THEN end_ms - started_ms ELSE r_elapsed END AS elapsed_ms, "
        "(CASE WHEN n_user > 0 THEN n_user ELSE coalesce(r_userMessages, 0) END) "
        "+ (CASE WHEN n_agent > 0 THEN n_agent ELSE coalesce(r_agentMessages, 0) END) "
        "+ (CASE WHEN n_system > 0 THEN n_system ELSE coalesce(r_systemMessages, 0) END) AS messages, "
        "CASE WHEN n_files > 0 THEN n_files ELSE coalesce(r_filesUploaded, 0) END AS files, "
        "coalesce(has_errors, false) AS has_errors FROM stages s LEFT JOIN reported USING (conv)"
    )
    # one row per conversation: stages, times, counts
    temp(cur, "conv", "WITH " + conversations, c)
    head = ""
    scenario = ("CASE WHEN rejected_at IS NOT NULL THEN 'failed_to_start' WHEN completed_at IS NOT NULL THEN 'completed' "
                "WHEN any_cancelled_at IS NOT NULL AND started_at IS NOT NULL THEN 'gave_up_waiting' "
                "WHEN any_cancelled_at IS NOT NULL THEN 'changed_mind' ELSE 'no_end' END")
    kpis = fetch(
        cur,
        f"{head} SELECT {seg_total(c)}, count(*) AS conversations, count(started_at) AS started, "
        "count(completed_at) AS completed, count(*) FILTER (WHERE agent) AS agent_connected, count(cancelled_at) AS cancelled, "
        "count(*) FILTER (WHERE started_at IS NOT NULL AND cancelled_at IS NOT NULL) AS abandoned, "
        "count(rejected_at) AS rejected, count(*) FILTER (WHERE started_at IS NOT NULL AND queued) AS transferred, "
        "round(quantile_cont(wait_ms, 0.5)) AS wait_p50, round(quantile_cont(wait_ms, 0.9)) AS wait_p90, "
        "round(quantile_cont(wait_ms, 0.99)) AS wait_p99, round(quantile_cont(elapsed_ms, 0.5)) AS elapsed_p50, "
        "round(quantile_cont(elapsed_ms, 0.9)) AS elapsed_p90, coalesce(sum(messages), 0) AS messages, "
        "round(avg(messages) FILTER (WHERE messages > 0), 2) AS messages_mean, "
        "quantile_cont(messages, 0.5) FILTER (WHERE messages > 0) AS messages_p50, coalesce(sum(files), 0) AS files, "
        "count(*) FILTER (WHERE has_errors) AS with_errors, count(wait_ms) AS waited, "
        + ", ".join(f"count(*) FILTER (WHERE wait_ms >= {lo}{f' AND wait_ms < {hi}' if hi else ''}) AS wait_{i}"
                    for i, (_, lo, hi) in enumerate(WAITS))
        + ", " + ", ".join(f"count(*) FILTER (WHERE {scenario} = '{s}') AS scenario_{s}" for s in SCENARIOS)
        + f" FROM conv {by_seg(c)}",
        c,
    )
    trend = fetch(
        cur,
        f"{head} SELECT day, count(*) FILTER (WHERE kind = 'started') AS started, "
        "count(*) FILTER (WHERE kind = 'completed') AS completed, count(*) FILTER (WHERE kind = 'cancelled') AS cancelled, "
        "count(*) FILTER (WHERE kind = 'rejected') AS rejected FROM ("
        + " UNION ALL ".join(f"SELECT {DAY_LABEL.format(col)} AS day, '{kind}' AS kind FROM conv WHERE {col} IS NOT NULL"
                             for kind, col in (("started", "started_at"), ("completed", "completed_at"),
                                               ("cancelled", "cancelled_at"), ("rejected", "rejected_at")))
        + ") GROUP BY day",
        c,
    )
    errors = fetch(
        cur,
        "SELECT code, count(DISTINCT conv) AS conversations FROM ("
        f"SELECT e.interaction_id AS conv, unnest(json_extract_string(e.properties, '$.metadata.errors[*]')) AS code "
        f"FROM events e WHERE {in_range('e')} AND e.type IN ('chat.cancelled', 'chat.rejected', 'chat.completed') "
        f"AND e.interaction_id IS NOT NULL AND json_type(e.properties, '$.metadata.errors') = 'ARRAY'{only(c)} "
        # only conversations (a lifecycle or conversation event: these are lifecycle events)
        ") GROUP BY code ORDER BY conversations DESC, code LIMIT $limit",
        c,
    )
    drop(cur, "conv", "visit_device")
    # merge the visit funnel and the conversation KPIs per segment
    merged: dict[tuple[Any, bool], dict[str, Any]] = {}
    for r in visits + kpis:
        merged.setdefault((r["seg"], r["is_total"]), {"seg": r["seg"], "is_total": r["is_total"]}).update(
            {k: v for k, v in r.items() if v is not None})
    for r in merged.values():
        for k in ("conversations", "started", "completed", "agent_connected", "cancelled", "abandoned", "rejected",
                  "transferred", "messages", "files", "with_errors", *(f"step_{s}" for s in FUNNEL_STEPS)):
            r.setdefault(k, 0)
        r["loaded"], r["started_visits"] = r["step_loaded"], r["step_started"]
        r["visit_conversion"] = pct(r["started_visits"], r["loaded"])
        for k in ("wait_p50", "wait_p90", "wait_p99", "elapsed_p50", "elapsed_p90"):
            if r.get(k) is not None:
                r[k] = int(r[k])
        r["completion_rate"] = pct(r["completed"], r["started"])
        r["abandonment_rate"] = pct(r["abandoned"], r["started"])
        r["transfer_rate"] = pct(r["transferred"], r["started"])
        r["rejection_rate"] = pct(r["rejected"], r["started"] + r["rejected"])
    metrics, segments = split_segments(c, list(merged.values()), CHAT_METRICS)
    total = next((r for r in merged.values() if r["is_total"]), {})
    funnel, previous = [], None
    for key in FUNNEL_STEPS:
        n = total.get(f"step_{key}", 0)
        dropped = None if previous is None else previous - n
        funnel.append({"step": key, "visits": n, "dropped": dropped,
                       "dropped_pct": None if previous is None else pct(dropped, previous),
                       "conversion": pct(n, total.get("step_loaded", 0))})
        previous = n
    by_day = {r["day"]: r for r in trend}
    return Answer(metrics, segments, {
        "funnel": funnel,
        "trend": [{"bucket": d, **{k: by_day.get(d, {}).get(k, 0) for k in ("started", "completed", "cancelled", "rejected")}}
                  for d in days(c)],
        "wait": [{"range": label, "conversations": total.get(f"wait_{i}", 0),
                  "share": pct(total.get(f"wait_{i}", 0), total.get("waited", 0))} for i, (label, _, _) in enumerate(WAITS)],
        "scenarios": [{"scenario": s, "conversations": total.get(f"scenario_{s}", 0),
                       "share": pct(total.get(f"scenario_{s}", 0), total.get("conversations", 0))} for s in SCENARIOS],
        "errors": [{"code": r["code"], "conversations": r["conversations"],
                    "share": pct(r["conversations"], total.get("with_errors", 0))} for r in errors],
    })


# -- results ----------------------------------------------------------------------------


def hand_results(cur: duckdb.DuckDBPyConnection, c: Case) -> Answer:
    keys = DataKeys()
    deciding = [k for k in keys if k.priority > 0]
    start = keys.get("START").priority
    prepare_visits(cur, c)
    params = {"start": start}
    events = (
        f"re AS (SELECT e.interaction_id AS conv, {seg(c)} AS seg, e.type, e.ts, e.event_id, e.name "
        f"FROM events e{seg_join(c)} WHERE {in_range('e')} AND e.type IN {sql_list(CHAT_TYPES)} "
        f"AND e.interaction_id IS NOT NULL{only(c)})"
    )
    key_table = "keys(key, priority) AS (VALUES " + ", ".join(f"('{k.name}', {k.priority})" for k in deciding) + ")"
    # per conversation: its first event and its result (the best data key, else START)
    temp(
        cur, "convs",
        f"WITH {events}, {key_table} SELECT c.conv, c.seg, c.first_ts, "
        "CASE WHEN $start > 0 AND (b.best_p IS NULL OR $start <= b.best_p) THEN 'START' ELSE b.best_key END AS result FROM "
        "(SELECT conv, arg_min(seg, ts) AS seg, min(ts) AS first_ts FROM re GROUP BY conv "
        " HAVING bool_or(type LIKE 'chat.%' OR type = 'conversation')) c LEFT JOIN "
        "(SELECT conv, arg_min(key, (priority, ts, event_id)) AS best_key, min(priority) AS best_p FROM "
        " (SELECT conv, ts, event_id, CASE WHEN type = 'session_log' THEN name ELSE 'CHAT_ATTENDED' END AS key FROM re "
        "  WHERE type IN ('session_log', 'CONNECT_TO_AGENT')) JOIN keys USING (key) GROUP BY conv) b USING (conv)",
        c, **params,
    )
    temp(cur, "ratings",
         f"SELECT e.interaction_id AS conv, {seg(c)} AS seg, e.name AS rate_code, e.properties->>'contentId' AS content_id, "
         f"e.properties->>'comment' AS comment, try_cast(e.name AS DOUBLE) AS value FROM events e{seg_join(c)} "
         f"WHERE {in_range('e')} AND e.type = 'rating' AND e.interaction_id IS NOT NULL{only(c)}", c)
    head = ""
    summary = fetch(cur, f"{head} SELECT {seg_total(c)}, count(*) AS conversations, count(result) AS with_result, "
                         f"count(*) FILTER (WHERE result = 'CHAT_ATTENDED') AS attended FROM convs {by_seg(c)}", c, **params)
    rated = fetch(cur, f"{head} SELECT {seg_total(c)}, count(*) AS ratings, count(DISTINCT conv) AS rated_conversations, "
                       "round(avg(value), 2) AS rating_mean, count(*) FILTER (WHERE comment <> '') AS comments "
                       f"FROM ratings {by_seg(c)}", c, **params)
    results = fetch(cur, f"{head} SELECT result, count(*) AS n FROM convs GROUP BY result", c, **params)
    trend = fetch(cur, f"{head} SELECT {DAY_LABEL.format('first_ts')} AS day, result, count(*) AS n FROM convs GROUP BY ALL",
                  c, **params)
    contents = fetch(
        cur,
        "WITH per_code AS (SELECT coalesce(content_id, '(none)') AS content_id, rate_code, count(*) AS n FROM ratings GROUP BY ALL) "
        "SELECT r.content_id, count(*) AS ratings, count(value) AS numeric, avg(value) AS mean, "
        "count(*) FILTER (WHERE comment <> '') AS comments, any_value(t.top_code) AS top_code, any_value(t.top_n) AS top_code_ratings "
        "FROM (SELECT *, coalesce(content_id, '(none)') AS content_key FROM ratings) r "
        "JOIN (SELECT content_id, arg_min(rate_code, (-n, rate_code)) AS top_code, max(n) AS top_n FROM per_code GROUP BY content_id) t "
        "ON t.content_id = r.content_key GROUP BY r.content_key, r.content_id ORDER BY ratings DESC, r.content_key LIMIT $limit",
        c, **params,
    )
    codes = fetch(cur, f"{head} SELECT rate_code, count(*) AS ratings, count(*) FILTER (WHERE comment <> '') AS comments "
                       "FROM ratings GROUP BY rate_code ORDER BY ratings DESC, rate_code LIMIT $limit", c, **params)
    drop(cur, "convs", "ratings", "visit_device")

    merged: dict[tuple[Any, bool], dict[str, Any]] = {}
    for r in summary + rated:
        merged.setdefault((r["seg"], r["is_total"]), {"seg": r["seg"], "is_total": r["is_total"]}).update(
            {k: v for k, v in r.items() if v is not None})
    for r in merged.values():
        for k in ("conversations", "with_result", "attended", "ratings", "rated_conversations", "comments"):
            r.setdefault(k, 0)
        r["no_result"] = r["conversations"] - r["with_result"]
        r["attended_rate"] = pct(r["attended"], r["conversations"])
    metrics, segments = split_segments(c, list(merged.values()), ["conversations", "with_result", "no_result", "attended",
                                                                  "attended_rate", "ratings", "rated_conversations",
                                                                  "rating_mean", "comments"])
    n_conv, n_ratings = metrics["conversations"] or 0, metrics["ratings"] or 0
    results.sort(key=lambda r: (r["result"] is None, -r["n"], keys.get(r["result"]).priority if r["result"] else 0, r["result"] or ""))
    series = [r["result"] for r in results if r["result"] is not None][:5]
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in trend:
        name = r["result"] if r["result"] in series else ("no_result" if r["result"] is None else "other")
        per_day[r["day"]][name] += r["n"]
    extra = [x for x in ("other", "no_result") if any(x in v for v in per_day.values())]
    return Answer(metrics, segments, {
        "results": [{"data_key": r["result"] or "(no result)", "priority": keys.get(r["result"]).priority if r["result"] else None,
                     "conversations": r["n"], "share": pct(r["n"], n_conv)} for r in results],
        "trend": [{"bucket": d, **{k: per_day.get(d, {}).get(k, 0) for k in [*series, *extra]}} for d in days(c)],
        "ratings_by_content": [{"content_id": r["content_id"] if r["content_id"] is not None else "(none)",
                                "ratings": r["ratings"], "numeric": r["numeric"],
                                "mean": None if r["mean"] is None else round(r["mean"], 2), "comments": r["comments"],
                                "top_code": r["top_code"], "top_code_ratings": r["top_code_ratings"]} for r in contents],
        "rate_codes": [{"rate_code": r["rate_code"], "ratings": r["ratings"], "share": pct(r["ratings"], n_ratings),
                        "comments": r["comments"]} for r in codes],
    })


# -- behaviour --------------------------------------------------------------------------

BEHAVIOUR = ("page_view", "dwell", "product_status", "filter_usage", "cart_action", "search_event")


def hand_behaviour(cur: duckdb.DuckDBPyConnection, c: Case) -> Answer:
    prepare_visits(cur, c)
    where = f"{in_range('e')}{only(c)}"
    head = ""
    counts = fetch(
        cur,
        f"{head} SELECT {seg_total(c)}, count(*) FILTER (WHERE type = 'page_view') AS page_views, "
        "count(DISTINCT session_id) AS visits, count(DISTINCT visitor_id) AS visitors, "
        "count(*) FILTER (WHERE type = 'page_view' AND product_id IS NOT NULL) AS product_views, "
        "count(*) FILTER (WHERE type = 'search_event') AS searches, "
        "count(*) FILTER (WHERE type = 'cart_action' AND action = 'add') AS cart_adds, "
        "count(*) FILTER (WHERE type = 'cart_action' AND action = 'remove') AS cart_removes, "
        "count(*) FILTER (WHERE type = 'product_status' AND status = 'out_of_stock') AS out_of_stock_views "
        f"FROM (SELECT {seg(c)} AS seg, e.type, e.session_id, e.visitor_id, e.product_id, e.action, e.status "
        f"FROM events e{seg_join(c)} WHERE {where} AND e.type IN {sql_list(BEHAVIOUR)}) {by_seg(c)}",
        c,
    )
    metrics, segments = split_segments(c, counts, ["page_views", "visits", "visitors", "product_views", "searches",
                                                   "cart_adds", "cart_removes", "out_of_stock_views"])
    products = (
        "products AS (SELECT product_id, coalesce(views, 0) AS views, coalesce(visitors, 0) AS visitors, "
        "coalesce(adds, 0) AS adds, coalesce(removes, 0) AS removes, product_name FROM "
        "(SELECT e.product_id, count(*) AS views, count(DISTINCT e.visitor_id) AS visitors FROM events e "
        f" WHERE {where} AND e.type = 'page_view' AND e.product_id IS NOT NULL GROUP BY e.product_id) "
        "FULL JOIN (SELECT e.product_id, count(*) FILTER (WHERE e.action = 'add') AS adds, "
        " count(*) FILTER (WHERE e.action = 'remove') AS removes, "
        " arg_max(e.properties->>'productName', e.ts) FILTER (WHERE e.properties->>'productName' IS NOT NULL) AS product_name "
        f" FROM events e WHERE {where} AND e.type = 'cart_action' GROUP BY e.product_id) USING (product_id))"
    )
    viewed = fetch(cur, f"{with_(products)} SELECT product_id, product_name, views, visitors, adds AS cart_adds, "
                        "removes AS cart_removes FROM products WHERE views > 0 ORDER BY views DESC, product_id LIMIT $limit", c)
    cart = fetch(cur, f"{with_(products)} SELECT product_id, product_name, adds, removes, adds - removes AS net "
                      "FROM products WHERE adds + removes > 0 ORDER BY adds DESC, removes DESC, product_id LIMIT $limit", c)
    oos = fetch(
        cur,
        with_(
            f"seen AS (SELECT DISTINCT e.session_id AS visit, e.product_id FROM events e WHERE {where} "
            "AND e.type = 'product_status' AND e.status = 'out_of_stock' AND e.session_id IS NOT NULL)",
            f"product_views AS (SELECT e.session_id AS visit, e.product_id, e.url, e.ts FROM events e WHERE {where} "
            "AND e.type = 'page_view' AND e.product_id IS NOT NULL)",
            # a dwell's view: the product view its visit made last with its URL at or before
            # it; the view's stay: its largest dwell
            "dwells AS (SELECT pv.visit, pv.product_id, max(d.duration_seconds) AS duration_seconds FROM "
            "(SELECT e.session_id AS visit, e.url, e.ts, "
            f"e.duration_seconds FROM events e WHERE {where} AND e.type = 'dwell') d "
            "ASOF JOIN product_views pv ON pv.visit = d.visit AND pv.url = d.url AND d.ts >= pv.ts "
            "GROUP BY pv.visit, pv.url, pv.ts, pv.product_id)",
        )
        + " SELECT s.product_id, count(*) AS visits, coalesce(any_value(v.views), 0) AS page_views, "
        "any_value(d.total) AS dwell_total, any_value(d.median) AS dwell_median FROM seen s "
        "LEFT JOIN (SELECT pv.product_id, count(*) AS views FROM product_views pv SEMI JOIN seen USING (visit, product_id) "
        "  GROUP BY pv.product_id) v USING (product_id) "
        "LEFT JOIN (SELECT d.product_id, sum(d.duration_seconds) AS total, median(d.duration_seconds) AS median "
        "  FROM dwells d SEMI JOIN seen s ON s.visit = d.visit AND s.product_id = d.product_id "
        "  GROUP BY d.product_id) d USING (product_id) "
        "GROUP BY s.product_id ORDER BY visits DESC, s.product_id LIMIT $limit",
        c,
    )
    searches = fetch(
        cur,
        with_(
            "searched AS (SELECT session_id AS visit, q, count(*) AS n, min(ts) AS first_at FROM "
            "(SELECT e.session_id, trim(lower(regexp_replace(e.query, '\\s+', ' ', 'g'))) AS q, e.ts FROM events e "
            f" WHERE {where} AND e.type = 'search_event') GROUP BY ALL)",
            f"last_view AS (SELECT e.session_id AS visit, max(e.ts) AS at FROM events e WHERE {where} "
            "AND e.type = 'page_view' AND e.product_id IS NOT NULL GROUP BY e.session_id)",
        )
        + " SELECT q AS query, sum(n)::BIGINT AS searches, count(s.visit) AS visits, "
        "count(*) FILTER (WHERE l.at > s.first_at) AS viewed_product FROM searched s LEFT JOIN last_view l USING (visit) "
        "GROUP BY q ORDER BY searches DESC, visits DESC, q LIMIT $limit",
        c,
    )
    filters = fetch(cur, f"{head} SELECT e.filter_type, e.filter_value, count(*) AS uses, count(DISTINCT e.session_id) AS visits "
                         f"FROM events e WHERE {where} AND e.type = 'filter_usage' GROUP BY ALL "
                         "ORDER BY uses DESC, visits DESC, e.filter_type, e.filter_value LIMIT $limit", c)
    pairs = fetch(
        cur,
        f"{head} SELECT a AS product_a, b AS product_b, count(*) AS visits, sum(n)::BIGINT AS switches FROM ("
        "SELECT session_id, least(previous, product_id) AS a, greatest(previous, product_id) AS b, count(*) AS n FROM ("
        "SELECT e.session_id, e.product_id, lag(e.product_id) OVER (PARTITION BY e.session_id ORDER BY e.ts) AS previous "
        f"FROM events e WHERE {where} AND e.type = 'page_view' AND e.product_id IS NOT NULL AND e.session_id IS NOT NULL) "
        "WHERE previous <> product_id GROUP BY ALL) GROUP BY a, b ORDER BY visits DESC, switches DESC, a, b LIMIT $limit",
        c,
    )
    by_day = {r["day"]: r for r in fetch(
        cur,
        f"{head} SELECT {DAY_LABEL.format('e.ts')} AS day, count(*) FILTER (WHERE e.type = 'page_view') AS page_views, "
        "count(*) FILTER (WHERE e.type = 'cart_action' AND e.action = 'add') AS adds, "
        "count(*) FILTER (WHERE e.type = 'cart_action' AND e.action = 'remove') AS removes "
        f"FROM events e WHERE {where} AND e.type IN ('page_view', 'cart_action') GROUP BY day",
        c,
    )}
    page_types = fetch(cur, f"{head} SELECT coalesce(e.page_type, '(none)') AS page_type, count(*) AS page_views "
                            f"FROM events e WHERE {where} AND e.type = 'page_view' GROUP BY e.page_type "
                            "ORDER BY page_views DESC, e.page_type IS NULL, e.page_type", c)
    drop(cur, "visit_device")
    return Answer(metrics, segments, {
        "products": viewed,
        "out_of_stock": oos,
        "searches": [{**r, "viewed_rate": pct(r["viewed_product"], r["visits"])} for r in searches],
        "filters": filters,
        "cart": cart,
        "cart_trend": [{"bucket": d, "adds": by_day.get(d, {}).get("adds", 0), "removes": by_day.get(d, {}).get("removes", 0)}
                       for d in days(c)],
        "comparisons": pairs,
        "trend": [{"bucket": d, "page_views": by_day.get(d, {}).get("page_views", 0)} for d in days(c)],
        "page_types": page_types,
    })


# -- intents ----------------------------------------------------------------------------

SKILLS = ("out_of_stock", "bundle", "comparison", "value_seeking", "research")  # the shipped skills, in their order
WINDOW_US = 86_400_000_000  # the shipped policy: attribution window 24 h
OFFER_TTL_US = 120_000_000  # offers count as ignored 120 s after the decision
# The shipped outcomes: a cart add, a custom "purchase" event, a completed chat.
OUTCOME = "((o.type = 'cart_action' AND o.action = 'add') OR (o.type = 'custom' AND o.name = 'purchase') OR o.type = 'chat.completed')"


def hand_intents(cur: duckdb.DuckDBPyConnection, c: Case) -> Answer:
    later = "site_id = $site AND ts >= make_timestamptz($since) AND ts < make_timestamptz($until + $window + 1)"
    prepare_visits(cur, c)
    params = {"window": WINDOW_US, "ttl": OFFER_TTL_US}
    # each decision with what became of it
    stories = with_(
        f"decisions AS MATERIALIZED (SELECT e.offer_id, e.name AS skill, e.status AS decision, "
        "coalesce(nullif(e.properties->>'reason', ''), 'unknown') AS reason, e.ts, e.visitor_id, e.session_id, "
        f"{seg(c)} AS seg FROM events e{seg_join(c)} WHERE {in_range('e')} AND e.type = 'decision'{only(c)})",
        # the page's answers to each offer (from the visitors with a decision)
        "answers AS (SELECT offer_id, bool_or(status = 'shown') AS shown, bool_or(status = 'accepted') AS accepted, "
        "bool_or(status = 'dismissed') AS dismissed, bool_or(status = 'opted_out') AS opted_out, "
        "min((ts, event_id)) FILTER (WHERE status = 'accepted') AS first_accept "
        f"FROM events WHERE {later} AND type = 'offer' AND visitor_id IN (SELECT visitor_id FROM decisions) GROUP BY offer_id)",
        "starts AS (SELECT visitor_id, session_id, ts, event_id FROM events "
        f"WHERE {later} AND type IN ('chat.started', 'CONTACT_STARTED', 'conversation') "
        "AND visitor_id IN (SELECT visitor_id FROM decisions))",
        "outcomes AS (SELECT o.visitor_id, o.ts FROM events o WHERE o.site_id = $site AND o.ts >= make_timestamptz($since) "
        "AND o.ts < make_timestamptz($until + $window + 1) "
        f"AND o.type IN ('cart_action', 'custom', 'chat.completed') AND {OUTCOME} "
        "AND o.visitor_id IN (SELECT visitor_id FROM decisions))",
    ) + (
        " SELECT d.*, d.decision = 'offered' AND coalesce(a.shown, false) AS shown, "
        "d.decision = 'offered' AND coalesce(a.accepted, false) AS accepted, "
        "d.decision = 'offered' AND coalesce(a.dismissed, false) AS dismissed, "
        "d.decision = 'offered' AND coalesce(a.opted_out, false) AS opted_out, "
        "d.decision = 'offered' AND NOT coalesce(a.accepted OR a.dismissed OR a.opted_out, false) "
        "AND $now > epoch_us(d.ts) + $ttl AS ignored, "
        "d.decision = 'offered' AND a.first_accept IS NOT NULL AND EXISTS (SELECT 1 FROM starts s "
        "WHERE s.visitor_id = d.visitor_id AND s.session_id IS NOT DISTINCT FROM d.session_id "
        "AND s.ts BETWEEN d.ts AND d.ts + to_microseconds($window) AND (s.ts, s.event_id) > a.first_accept) AS talked, "
        "d.decision <> 'blocked' AND EXISTS (SELECT 1 FROM outcomes o WHERE o.visitor_id = d.visitor_id "
        "AND o.ts BETWEEN d.ts AND d.ts + to_microseconds($window)) AS converted "
        "FROM decisions d LEFT JOIN answers a ON a.offer_id = d.offer_id AND d.decision = 'offered'"
    )
    temp(cur, "stories", stories, c, **params)
    head = ""
    counts = (
        "count(*) AS qualified, count(*) FILTER (WHERE decision = 'blocked') AS blocked, "
        "count(*) FILTER (WHERE decision = 'offered') AS offered, "
        "count(*) FILTER (WHERE decision NOT IN ('blocked', 'offered')) AS held_out, count(*) FILTER (WHERE shown) AS shown, "
        "count(*) FILTER (WHERE accepted) AS accepted, count(*) FILTER (WHERE dismissed) AS dismissed, "
        "count(*) FILTER (WHERE opted_out) AS opted_out, count(*) FILTER (WHERE ignored) AS ignored, "
        "count(*) FILTER (WHERE talked) AS conversations, count(*) FILTER (WHERE converted) AS converted"
    )
    summary = fetch(cur, f"{head} SELECT {seg_total(c)}, {counts} FROM stories {by_seg(c)}", c, **params)
    for r in summary:
        r["accept_rate"] = pct(r["accepted"], r["shown"])
    metrics, segments = split_segments(c, summary, ["qualified", "blocked", "held_out", "offered", "shown", "accepted",
                                                    "accept_rate", "conversations", "converted"])
    skills = fetch(cur, f"{head} SELECT skill, {counts}, epoch_us(min(ts)) AS first_at "
                        "FROM stories GROUP BY skill", c, **params)
    blocked = fetch(cur, f"{head} SELECT skill, reason, count(*) AS n FROM stories WHERE decision = 'blocked' GROUP BY ALL "
                         "ORDER BY n DESC, reason", c, **params)
    lifts = fetch(
        cur,
        f"{head} SELECT skill, count(*) FILTER (WHERE decision = 'offered') AS n1, "
        "count(*) FILTER (WHERE decision = 'offered' AND converted) AS c1, count(*) FILTER (WHERE decision <> 'offered') AS n0, "
        "count(*) FILTER (WHERE decision <> 'offered' AND converted) AS c0 FROM ("
        "SELECT skill, arg_min(decision, (ts, offer_id)) AS decision, arg_min(converted, (ts, offer_id)) AS converted "
        "FROM stories WHERE decision <> 'blocked' GROUP BY skill, visitor_id) GROUP BY skill",
        c, **params,
    )
    trend = {r["day"]: r for r in fetch(
        cur,
        f"{head} SELECT {DAY_LABEL.format('ts')} AS day, count(*) FILTER (WHERE decision = 'offered') AS offered, "
        "count(*) FILTER (WHERE shown) AS shown, count(*) FILTER (WHERE accepted) AS accepted, "
        "count(*) FILTER (WHERE talked) AS conversations FROM stories GROUP BY day",
        c, **params,
    )}
    names = list(SKILLS) + [r["skill"] for r in sorted(skills, key=lambda r: (r["first_at"], r["skill"])) if r["skill"] not in SKILLS]
    by_skill = {r["skill"]: r for r in skills}
    lift_by_skill = {r["skill"]: r for r in lifts}
    columns = ("qualified", "blocked", "held_out", "offered", "shown", "accepted", "dismissed", "opted_out", "ignored",
               "conversations", "converted")

    def points(v: float | None) -> float | None:
        return None if v is None else round(v * 100, 2)

    lift_rows = []
    for name in names:
        r = lift_by_skill.get(name, {})
        lift = Lift(r.get("n1", 0), r.get("c1", 0), r.get("n0", 0), r.get("c0", 0)).as_json()
        absolute, relative = lift["absoluteLift"] or {}, lift["relativeLift"] or {}
        lift_rows.append({
            "skill": name, "offered_visitors": lift["offeredVisitors"], "offered_converted": lift["offeredConverted"],
            "offered_rate": points(lift["offeredRate"]), "held_out_visitors": lift["heldOutVisitors"],
            "held_out_converted": lift["heldOutConverted"], "held_out_rate": points(lift["heldOutRate"]),
            "absolute_lift": points(absolute.get("value")), "absolute_low": points(absolute.get("low")),
            "absolute_high": points(absolute.get("high")), "relative_lift": points(relative.get("value")),
            "relative_low": points(relative.get("low")), "relative_high": points(relative.get("high")),
        })
    drop(cur, "stories", "visit_device")
    return Answer(metrics, segments, {
        "skills": [{"skill": n, **{k: by_skill.get(n, {}).get(k, 0) for k in columns}} for n in names],
        "blocked": [{"skill": n, "reason": r["reason"], "count": r["n"]} for n in names for r in blocked if r["skill"] == n],
        "lift": lift_rows,
        "trend": [{"bucket": d, **{k: trend.get(d, {}).get(k, 0) for k in ("offered", "shown", "accepted", "conversations")}}
                  for d in days(c)],
    })


# -- live -------------------------------------------------------------------------------


def hand_live(cur: duckdb.DuckDBPyConnection, c: Case) -> Answer:
    now = c.now
    first_minute = now - now % MINUTE_US - 29 * MINUTE_US
    # live looks at the 24 hours before now (conversation starts and ends), not at from/to
    day = Case(c.site, now - DAY_US, now + 1, now, c.device, c.breakdown, c.limit)
    where = f"{in_range('e')}{only(day)}"
    params = {"five": now - 5 * MINUTE_US, "recent": now - 30 * MINUTE_US, "first_minute": first_minute}
    conv = (
        f"SELECT e.interaction_id, any_value({seg(day)}) AS seg, "
        "bool_or(e.type IN ('chat.started', 'CONTACT_STARTED', 'conversation')) AS started, "
        "bool_or(e.type IN ('chat.completed', 'chat.cancelled', 'chat.rejected', 'chat.closed', 'CONTACT_ENDED')) AS ended, "
        "bool_or(e.type = 'CONNECT_TO_AGENT') AS connected, max(e.ts) AS last_at, "
        "min(e.ts) FILTER (WHERE e.type IN ('chat.started', 'CONTACT_STARTED', 'conversation')) AS started_at "
        f"FROM events e{seg_join(day)} WHERE {where} AND e.interaction_id IS NOT NULL GROUP BY e.interaction_id"
    )
    prepare_visits(cur, day)
    temp(cur, "conv", conv, day)
    head = ""
    now_rows = fetch(
        cur,
        f"{head} SELECT {seg_total(day)}, count(DISTINCT visitor_id) AS visitors, count(DISTINCT visit) AS visits, "
        "count(*) FILTER (WHERE type = 'page_view') AS page_views FROM ("
        f"SELECT {seg(day)} AS seg, e.visitor_id, {visit('e')} AS visit, e.type FROM events e{seg_join(day)} "
        f"WHERE {where} AND e.device IS NOT NULL AND e.ts >= make_timestamptz($five)) {by_seg(day)}",
        day, **params,
    )
    open_rows = fetch(
        cur,
        f"{head} SELECT {seg_total(day)}, count(*) AS open_conversations, count(*) FILTER (WHERE NOT connected) AS waiting "
        f"FROM conv WHERE started AND NOT ended AND last_at >= make_timestamptz($recent) {by_seg(day)}",
        day, **params,
    )
    merged: dict[tuple[Any, bool], dict[str, Any]] = {}
    for r in now_rows + open_rows:
        merged.setdefault((r["seg"], r["is_total"]), {"seg": r["seg"], "is_total": r["is_total"]}).update(r)
    for r in merged.values():
        for k in ("visitors", "visits", "page_views", "open_conversations", "waiting"):
            r[k] = r.get(k) or 0
    metrics, segments = split_segments(day, list(merged.values()),
                                       ["visitors", "visits", "page_views", "open_conversations", "waiting"])
    pages = fetch(
        cur,
        f"SELECT page, count(*) AS visitors FROM (SELECT e.visitor_id, arg_max({PAGE.format('e.')}, e.ts) AS page "
        f"FROM events e WHERE {where} AND e.type = 'page_view' AND e.ts >= make_timestamptz($recent) "
        f"AND e.visitor_id IN (SELECT e.visitor_id FROM events e WHERE {where} AND e.device IS NOT NULL "
        "AND e.ts >= make_timestamptz($five)) GROUP BY e.visitor_id) GROUP BY page ORDER BY visitors DESC, page LIMIT $limit",
        day, **params,
    )
    minutes = {r["minute"]: r for r in fetch(
        cur,
        f"{head} SELECT epoch_us(date_trunc('minute', e.ts)) AS minute, count(DISTINCT e.visitor_id) AS visitors, "
        f"count(DISTINCT {visit('e')}) AS visits, count(*) FILTER (WHERE e.type = 'page_view') AS page_views "
        f"FROM events e WHERE {where} AND e.device IS NOT NULL AND e.ts >= make_timestamptz($first_minute) GROUP BY minute",
        day, **params,
    )}
    started = {r["minute"]: r["n"] for r in fetch(
        cur,
        f"{head} SELECT epoch_us(date_trunc('minute', started_at)) AS minute, count(*) AS n FROM conv "
        "WHERE started_at >= make_timestamptz($first_minute) GROUP BY minute",
        day, **params,
    )}
    drop(cur, "conv", "visit_device")
    if segments is not None:
        segments = {k: {m: (0 if v is None else v) for m, v in s.items()} for k, s in segments.items()}
    return Answer(metrics, segments, {
        "pages": pages,
        "minutes": [{"minute": dt.datetime.fromtimestamp(m / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:00Z"),
                     "visitors": minutes.get(m, {}).get("visitors", 0), "visits": minutes.get(m, {}).get("visits", 0),
                     "page_views": minutes.get(m, {}).get("page_views", 0), "started": started.get(m, 0)}
                    for m in range(first_minute, now - now % MINUTE_US + 1, MINUTE_US)],
    })


HAND: dict[str, Callable[[duckdb.DuckDBPyConnection, Case], Answer]] = {
    "engagement": hand_engagement,
    "chat": hand_chat,
    "results": hand_results,
    "behaviour": hand_behaviour,
    "intents": hand_intents,
    "live": hand_live,
}


# -- comparing --------------------------------------------------------------------------


def from_report(report: Report) -> Answer:
    metrics = {m.key: m.value for m in report.metrics}
    segments = None
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in report.tables:
        keys = [col.key for col in table.columns]
        rows = [{k: v for k, v in zip(keys, row) if k not in SKIPPED_COLUMNS} for row in table.rows]
        if table.key == "breakdown":
            segments = {row[keys[0]]: {k: v for k, v in row.items() if k != keys[0]} for row in rows}
        else:
            tables[table.key] = rows
    return Answer(metrics, segments, tables)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return False
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def differences(report: Answer, hand: Answer, limit: int = 6) -> list[str]:
    out: list[str] = []

    def rows_diff(where: str, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} rows in the report, {len(b)} in the reference")
        shown = 0
        for i, (ra, rb) in enumerate(zip(a, b)):
            if ra.keys() != rb.keys() or not all(same(ra[k], rb[k]) for k in ra):
                if shown < 3:
                    out.append(f"{where}[{i}]: report {ra} | reference {rb}")
                shown += 1
        if shown > 3:
            out.append(f"{where}: {shown} rows differ in all")

    for k in report.metrics.keys() | hand.metrics.keys():
        if not same(report.metrics.get(k, "(missing)"), hand.metrics.get(k, "(missing)")):
            out.append(f"metric {k}: report {report.metrics.get(k, '(missing)')!r}, reference {hand.metrics.get(k, '(missing)')!r}")
    if (report.segments is None) != (hand.segments is None):
        out.append(f"breakdown: report {report.segments is not None}, reference {hand.segments is not None}")
    elif report.segments is not None and hand.segments is not None:
        rows_diff("breakdown", [{"segment": s, **m} for s, m in sorted(report.segments.items())],
                  [{"segment": s, **m} for s, m in sorted(hand.segments.items())])
    for key in report.tables.keys() | hand.tables.keys():
        if key not in report.tables or key not in hand.tables:
            out.append(f"table {key}: only in the {'report' if key in report.tables else 'reference'}")
            continue
        rows_diff(f"table {key}", report.tables[key], hand.tables[key])
    return out[:limit * 4]


# -- where the time goes ---------------------------------------------------------------


def operators(node: dict[str, Any], out: list[tuple[float, str, str, int]]) -> None:
    info = node.get("extra_info") or {}
    detail = "; ".join(f"{k}: {v}" for k, v in info.items() if k in ("Table", "Groups", "Aggregates", "Join Type",
                                                                       "Conditions", "Filters", "Partition By", "Order By"))
    out.append((float(node.get("timing") or 0.0), node.get("type") or node.get("operator_type") or "?",
                re.sub(r"\s+", " ", detail)[:160], int(node.get("intermediate_rows") or node.get("operator_cardinality") or 0)))
    for child in node.get("children") or []:
        operators(child, out)


def explain(store: DuckDBStore, name: str, query: Any, top: int = 8) -> None:
    """The report's statements, each timed again, and for the slowest the operators of its
    EXPLAIN ANALYZE by time (DuckDB's per-operator timings: CPU summed over threads)."""
    recorded: list[tuple[str, dict[str, Any]]] = []
    original = store.analytics

    def recording(sql: str, params: dict[str, Any]) -> Any:
        recorded.append((sql, params))
        return original(sql, params)

    store.analytics = recording  # type: ignore[method-assign]
    try:
        REPORTS[name](store, query)
    finally:
        del store.analytics
    cur = store._cursor()
    timings = []
    for sql, params in recorded:
        ms, _ = timed(lambda: cur.execute(sql, params).fetchall())
        timings.append(ms)
    print(f"  {len(recorded)} statement(s): " + ", ".join(f"{ms:,.0f} ms" for ms in timings))
    slowest = max(range(len(recorded)), key=lambda i: timings[i])
    sql, params = recorded[slowest]
    (_, plan), = cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchall()
    ops: list[tuple[float, str, str, int]] = []
    for node in json.loads(plan).get("children") or json.loads(plan).get("operator") or []:
        operators(node, ops)
    total = sum(t for t, *_ in ops) or 1.0
    print(f"  slowest statement ({timings[slowest]:,.0f} ms), operators by time (CPU over threads, {total * 1000:,.0f} ms in all):")
    for t, kind, detail, rows in sorted(ops, reverse=True)[:top]:
        print(f"    {t * 1000:8,.0f} ms {100 * t / total:5.1f} %  {kind:<22} rows out {rows:>11,}  {detail}")


# -- running ----------------------------------------------------------------------------


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def busy_share(seconds: float = 2.0) -> float:
    """The share of the machine's CPU time that was busy over `seconds` (/proc/stat), 0-1."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values[:8]), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def iso(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]


# References that count the events in the range only: right for a range with no visit or
# conversation crossing its ends (the default, the whole data), not for `--inset`, where
# these reports count a visit where its chat first loaded and a conversation where it
# began, with its later events (tests/analytics/test_range_boundaries.py checks those
# edges by hand). Their answers are then not compared, only their times.
WHOLE_RANGE_REFERENCES = {"chat", "engagement", "results"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a Chatlens DuckDB file (generated when missing)")
    parser.add_argument("--events", type=int, default=10_000_000, help="events to generate when --db is missing")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each side after one warm-up run")
    parser.add_argument("--inset", type=float, default=0,
                        help="minutes cut off both ends of the data's range (1470: a range from mid-hour to mid-hour, "
                             "with visits crossing both ends, as a dashboard's range ending now has)")
    parser.add_argument("--report", action="append", choices=sorted(REPORTS), help="a report to run (repeatable; default all)")
    parser.add_argument("--variant", action="append", choices=[v for v, _ in VARIANTS], help="a variant (repeatable; default all)")
    parser.add_argument("--explain", action="store_true",
                        help="instead of timing: each report's statements and the EXPLAIN ANALYZE of its slowest")
    args = parser.parse_args()

    start_load = os.getloadavg()[0]
    busy = busy_share()
    print(f"load average at start (1, 5, 15 min): {load()} on {os.cpu_count()} CPUs; CPU busy over 2 s before starting: {busy:.0%}")
    if start_load > 1.5 or busy > 0.25:
        print(f"NOTE: the machine may be busy (1-minute load {start_load:.2f} before starting, CPU {busy:.0%} busy over "
              "the last 2 s): figures can be slower and noisier than on a quiet machine; read the ratios")
    if not args.db.exists():
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bulk_events import generate  # noqa: PLC0415

        print(f"generating {args.events:,} events into {args.db} ...")
        generate(args.db, events=args.events, days=30, seed=1)

    store = DuckDBStore(args.db)
    cur = store._cursor()  # the reports' own cursor (this thread's), so the same connection and settings
    hand_cur = store._con.cursor()  # another cursor of the same connection, for the reference
    for c in (cur, hand_cur):
        c.execute("SET enable_progress_bar = false")
    threads = cur.execute("SELECT current_setting('threads')").fetchone()[0]
    (site,) = cur.execute("SELECT site_id FROM sites ORDER BY created_at LIMIT 1").fetchone()
    events, lo, hi = cur.execute(
        "SELECT count(*), epoch_us(min(ts)), epoch_us(max(ts)) FROM events WHERE site_id = ?", [site]
    ).fetchone()
    since = lo - lo % 1_000_000 + int(args.inset * 60_000_000)  # whole seconds around the data, less the inset
    until = hi - hi % 1_000_000 + 1_000_000 - int(args.inset * 60_000_000)
    now = hi + 1  # live: "now" is just after the last event
    print(f"database {args.db}: {events:,} events of site {site!r}, {iso(lo)} to {iso(hi)}; DuckDB {duckdb.__version__}, "
          f"{threads} threads; {args.runs} runs after a warm-up; range {iso(since)} to {iso(until)}")

    names = args.report or list(REPORTS)
    variants = [(v, p) for v, p in VARIANTS if not args.variant or v in args.variant]
    rows: list[tuple[str, ...]] = []
    failed = False
    for name in names:
        for variant, extra in variants:
            query = parse_report_query(site, {"from": iso(since), "to": iso(until), **extra}, parse_timestamp, now=now)
            case = Case(site, query.since_us, query.until_us, now, extra.get("device"), "breakdown" in extra, query.limit)
            report_fn = REPORTS[name]
            if args.explain:
                print(f"{name} {variant}:")
                explain(store, name, query)
                continue
            hand_fn = HAND[name]
            try:
                _, report = timed(lambda: report_fn(store, query))
                _, hand = timed(lambda: hand_fn(hand_cur, case))
                diffs = differences(from_report(report), hand)
                report_ms: list[float] = []
                hand_ms: list[float] = []
                for _ in range(args.runs):  # alternating, so that a slow minute hits both
                    report_ms.append(timed(lambda: report_fn(store, query))[0])
                    hand_ms.append(timed(lambda: hand_fn(hand_cur, case))[0])
            except Exception as exc:  # a report being edited may fail: say so, go on
                failed = True
                rows.append((name, variant, "error", "", "", "", "", f"{type(exc).__name__}: {str(exc).splitlines()[0][:100]}"))
                print(f"{name} {variant}: {type(exc).__name__}: {exc}", flush=True)
                continue
            r_med, h_med = statistics.median(report_ms), statistics.median(hand_ms)
            ratio = r_med / h_med
            met = "yes" if r_med <= TARGET_MS and ratio <= TARGET_RATIO else (
                "no (time)" if ratio <= TARGET_RATIO else "no (ratio)" if r_med <= TARGET_MS else "no (both)")
            if args.inset and name in WHOLE_RANGE_REFERENCES:
                diffs, equal = [], "not compared"
            else:
                equal = "yes" if not diffs else f"NO ({len(diffs)})"
            failed |= bool(diffs)
            rows.append((name, variant, f"{r_med:,.0f}", f"{p90(report_ms):,.0f}", f"{h_med:,.0f}", f"{ratio:.2f}", met, equal))
            print(f"{name} {variant}: report {r_med:,.0f} ms (p90 {p90(report_ms):,.0f}), reference {h_med:,.0f} ms, "
                  f"ratio {ratio:.2f}, answers equal: {equal}  [load {load()}]", flush=True)
            for d in diffs:
                print(f"    differs: {d}")

    if args.explain:
        print(f"load average at end (1, 5, 15 min): {load()}")
        store._con.close()
        return 0
    header = ("report", "variant", "report median ms", "p90", "hand-written median ms", "ratio", "target met", "same answer")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\ntargets: <= {TARGET_MS:.0f} ms per report and <= {TARGET_RATIO} x the hand-written query")
    print("compared: every headline metric, the breakdown's per-segment metrics and every row of every table "
          f"(not the fixed text columns {', '.join(sorted(SKIPPED_COLUMNS))})")
    store._con.close()
    print(f"load average at end (1, 5, 15 min): {load()} (this benchmark's own 2 threads count in it); "
          f"CPU busy over 2 s after: {busy_share():.0%}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
