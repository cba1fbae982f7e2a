"""Chat (references 001 and 002): how far visitors get with the widget, and what became of
the conversations they started.

**Funnel, per visit** (analytics/scope.py), over the visits whose chat first loaded in the
range (as engagement's *initialized*). Each step is the furthest a visit got; an event
counts for its own step and the steps it implies, so the funnel is monotone even when a
widget does not send every event:

| step | reached by |
|---|---|
| loaded | `CHAT_LOADED`, `chat.ready`, or any other widget, lifecycle or conversation event (as engagement's *initialized*) |
| visible | `CHAT_VISIBLE` |
| opened | `chat.opened` (also implied by `chat.cancelled`, `chat.closed`) |
| submitted | `chat.submitted` (also implied by `chat.rejected`) |
| started | `chat.started`, `CONTACT_STARTED` (also implied by `TRANSFER_TO_QUEUE`, `CONTACT_ENDED`) |
| agent connected | `CONNECT_TO_AGENT` (also implied by `chat.completed`: 002 completes only after an agent) |
| completed | `chat.completed` |

A step's *visits* are the visits whose furthest step is that one or a later one; *dropped*
= the previous step's visits - this step's, *dropped %* = dropped / previous x 100,
*conversion* = visits / loaded x 100.

**Conversations** are the interaction ids (the `interaction_id` column) that have a
lifecycle (`chat.*`) or `conversation` event: the conversations `GET /v1/conversations`
knows, counted in the range where they began (their first chat event, as that list's
`since`/`until`) and filtered by their visit (the session of their first browser event,
else the conversation itself). Their other events (widget events whose `contactId` is the
interaction id, messages, attachments) count for them, also after the range's end.
*Reported* values are those of the 002 metadata block of the conversation's outcome
events (`chat.cancelled`, `chat.rejected`, `chat.completed`): the block is cumulative, so
these carry the final counters (`chat.closed` repeats them; earlier stages precede them);
a value is the largest any of them reported, `false` counting as none.

- *started*: a `chat.started` or `CONTACT_STARTED`;
- *completed*: a `chat.completed`; *completion rate* = completed / started x 100;
- *agent connected*: a `CONNECT_TO_AGENT`, or a reported `numAgents` > 0 or `agentReached`;
- *cancelled*: a `chat.cancelled` and no agent connected (the visitor left before an
  agent: 002's "changed their mind" and "gave up waiting");
- *abandoned*: started and cancelled; *abandonment rate* = abandoned / started x 100;
- *rejected*: a `chat.rejected` (the chat failed to start); *rejection rate* = rejected /
  (started + rejected) x 100, the share of chat starts that failed;
- *transferred*: started and a `TRANSFER_TO_QUEUE`; *transfer rate* = transferred / started x 100;
- *wait for an agent* (ms): as the conversation fold computes `waitingForAgent`: the
  earliest client time (`client_ts`, in ms) of a `CONNECT_TO_AGENT` - that of a
  `chat.started`, when both exist and it is not negative; otherwise the reported
  `waitingForAgent`. Percentiles p50/p90/p99 (linear interpolation) over the
  conversations that have one;
- *elapsed* (ms): as the fold computes `elapsed`: the earliest client time of a
  `chat.completed` (else of a `chat.cancelled`) - that of a `chat.started`, when not
  negative; otherwise the reported `elapsed`. Percentiles p50/p90;
- *messages* of a conversation: for each sender (user, agent, system) the number of its
  `message` events, or, when there are none from that sender, the reported count
  (`userMessages`, `agentMessages`, `systemMessages`), summed. *Messages* is the total over
  conversations; *messages per conversation* (mean and p50) is taken over the
  conversations with at least one message;
- *files*: per conversation its `attachment` events, or, when there are none, the reported
  `filesUploaded`; summed;
- *with errors*: conversations whose outcome events reported a non-empty `errors` array;
  the *top errors* table counts, per error code, the conversations that reported it.

Where the conversation's stages follow 002's paths (no anomalies), these values are those
of the 002 metadata block of `GET /v1/conversations/{id}`; the report does not replay the
state machine, so for a conversation with a stage out of order it takes the earliest event
of each stage.

**Scenarios** (002): each conversation is put in the first that matches: *failed to start*
(rejected), *completed*, *gave up waiting* (started, then cancelled), *changed their mind*
(cancelled without starting), else *no end yet* (no cancelled, rejected or completed stage
in the range).

**Trend**: started, completed, cancelled and rejected conversations per bucket of the time
(`ts`) of the conversation's first event of that kind.

One query computes everything, each table a tagged part (`part`) of a `UNION ALL BY
NAME`. It reads no events: the store's rollups (store/schema.py) keep per visit its
furthest step and per conversation its stages, client times, counts and reported
metadata, merged in as events are stored.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chatlens.analytics.report import Column, Report, Table, headline, ratio, run
from chatlens.analytics.scope import ReportQuery, Scope
from chatlens.analytics.timeseries import bucket_sql, fill_buckets
from chatlens.model.lifecycle import SCENARIOS
from chatlens.store.base import EventStore
from chatlens.store.schema import CONVERSATION_VISIT, REPORTED

FUNNEL: tuple[tuple[str, str], ...] = (
    ("loaded", "Chat loaded"),
    ("visible", "Chat visible"),
    ("opened", "Chat opened"),
    ("submitted", "Form submitted"),
    ("started", "Chat started"),
    ("agent", "Agent connected"),
    ("completed", "Chat completed"),
)
# Wait histogram: (label, lower bound ms inclusive, upper bound ms exclusive or None)
WAIT_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 10 s", 0, 10_000),
    ("10-30 s", 10_000, 30_000),
    ("30-60 s", 30_000, 60_000),
    ("1-2 min", 60_000, 120_000),
    ("2-5 min", 120_000, 300_000),
    ("≥ 5 min", 300_000, None),
)
SCENARIO_LABELS = {
    "failed_to_start": "Failed to start",
    "completed": "Completed",
    "gave_up_waiting": "Gave up waiting",
    "changed_mind": "Changed their mind",
    "no_end": "No end yet",
}
# Scenario of a `cvx` row by the stages it reached, in order of precedence.
_SCENARIO_SQL = (
    "CASE WHEN rejected_at IS NOT NULL THEN 'failed_to_start' WHEN completed_at IS NOT NULL THEN 'completed' "
    "WHEN any_cancelled_at IS NOT NULL AND started_at IS NOT NULL THEN 'gave_up_waiting' "
    "WHEN any_cancelled_at IS NOT NULL THEN 'changed_mind' ELSE 'no_end' END"
)

SUMMARY = (
    ("loaded", "Visits with the chat", "int", "Visits where the chat loaded (first funnel step)"),
    ("started_visits", "Visits that started a chat", "int", "Visits whose furthest funnel step is started or later"),
    ("visit_conversion", "Visit conversion", "percent", "started visits / loaded visits x 100"),
    ("conversations", "Conversations", "int", "Interaction ids with a lifecycle or conversation event"),
    ("started", "Chats started", "int", "Conversations with chat.started or CONTACT_STARTED"),
    ("completed", "Chats completed", "int", "Conversations with chat.completed"),
    ("completion_rate", "Completion rate", "percent", "completed / started x 100"),
    ("agent_connected", "Agent connected", "int", "Conversations with CONNECT_TO_AGENT, or metadata numAgents > 0 or agentReached"),
    ("cancelled", "Cancelled before an agent", "int", "Conversations with chat.cancelled and no agent connected"),
    ("abandoned", "Abandoned", "int", "Started conversations cancelled before an agent connected"),
    ("abandonment_rate", "Abandonment rate", "percent", "abandoned / started x 100"),
    ("rejected", "Failed to start", "int", "Conversations with chat.rejected"),
    ("rejection_rate", "Rejection rate", "percent", "rejected / (started + rejected) x 100"),
    ("transferred", "Transferred to a queue", "int", "Started conversations with TRANSFER_TO_QUEUE"),
    ("transfer_rate", "Transfer rate", "percent", "transferred / started x 100"),
    ("wait_p50", "Wait for an agent (p50)", "ms", "Median of waitingForAgent over conversations that have one"),
    ("wait_p90", "Wait for an agent (p90)", "ms", "90th percentile of waitingForAgent"),
    ("wait_p99", "Wait for an agent (p99)", "ms", "99th percentile of waitingForAgent"),
    ("elapsed_p50", "Chat length (p50)", "ms", "Median of elapsed (start to completed or cancelled)"),
    ("elapsed_p90", "Chat length (p90)", "ms", "90th percentile of elapsed"),
    ("messages", "Messages", "int", "Per sender: message events, else the largest reported counter; summed"),
    ("messages_mean", "Messages per conversation", "number", "Mean of messages over conversations with at least one"),
    ("messages_p50", "Messages per conversation (p50)", "number", "Median of messages over conversations with at least one"),
    ("files", "Files", "int", "Per conversation: attachment events, else the largest reported filesUploaded; summed"),
    ("with_errors", "Conversations with errors", "int", "Conversations whose metadata reported a non-empty errors array"),
)


# A conversation with nothing after `chat.ready`: every KPI of it is zero or empty.
_BARE_SQL = (
    "(c.started_at IS NULL AND c.completed_at IS NULL AND c.rejected_at IS NULL AND c.cancelled_at IS NULL "
    "AND NOT c.queued AND NOT c.connected AND c.user_messages + c.agent_messages + c.system_messages + c.files = 0 "
    "AND len(c.error_lists) = 0 AND " + " AND ".join(f"c.reported_{name} IS NULL" for name in REPORTED) + ")"
)


def _per_conversation(scope: Scope) -> list[str]:
    """CTEs from the store's rollups (store/schema.py): `pv`, one row per visit whose chat
    first loaded in the range, with its furthest funnel step; `every_conversation`, the
    segment of each conversation that began in the range; `cv`, those of them with
    something after `chat.ready`, with their stages, times and counts; `cvx` adds what is
    derived."""
    segment = scope.segment_column()
    join, condition, visit_segment = scope.on_visit_rollup()
    pv = (
        f"pv AS (SELECT {visit_segment} AS seg, r.furthest_step AS furthest FROM visit_rollup r {join}"
        f"WHERE r.site_id = $site AND {scope.during('r.loaded_at')}{condition})"
    )

    def counted(events: str, counter: str) -> str:
        return f"CASE WHEN {events} > 0 THEN {events} ELSE coalesce(reported_{counter}, 0) END"

    # Most conversations are widget loads with nothing after `chat.ready` (each load has
    # an interaction id): they add to the count and to "no end yet" and to nothing else,
    # so only the others are materialized with their derived values.
    rows = (f"FROM conversation_rollup c {scope.join_visit(CONVERSATION_VISIT)}"
            f"WHERE c.site_id = $site AND c.is_conversation AND {scope.during('c.first_ts')}")
    every = f"every_conversation AS (SELECT {segment} AS seg {rows})"
    cv = (
        f"cv AS MATERIALIZED (SELECT c.interaction_id AS conv, {segment} AS seg, started_at, completed_at, rejected_at, "
        "cancelled_at AS any_cancelled_at, queued, "
        "connected OR coalesce(reported_numAgents > 0 OR reported_agentReached > 0, false) AS agent, "
        "epoch_ms(started_client) AS started_ms, epoch_ms(agent_client) AS agent_ms, "
        "epoch_ms(coalesce(completed_client, cancelled_client)) AS end_ms, "
        "reported_waitingForAgent AS reported_wait, reported_elapsed, "
        f"{counted('user_messages', 'userMessages')} + {counted('agent_messages', 'agentMessages')} "
        f"+ {counted('system_messages', 'systemMessages')} AS messages, {counted('files', 'filesUploaded')} AS files, "
        f"error_lists {rows} AND NOT {_BARE_SQL})"
    )
    # Derived per conversation: what the headline and the tables count.
    cvx = (
        "cvx AS (SELECT *, CASE WHEN any_cancelled_at IS NOT NULL AND NOT agent THEN any_cancelled_at END AS cancelled_at, "
        "CASE WHEN agent_ms >= started_ms THEN agent_ms - started_ms ELSE reported_wait END AS wait_ms, "
        "CASE WHEN end_ms >= started_ms THEN end_ms - started_ms ELSE reported_elapsed END AS elapsed_ms, "
        "len(error_lists) > 0 AS has_errors FROM cv)"
    )
    return [pv, every, cv, cvx]


def chat_report(store: EventStore, query: ReportQuery) -> Report:
    scope = Scope(query)
    report = Report("chat", "Chat funnel and conversations", query)
    steps = ", ".join(f"count(*) FILTER (WHERE furthest >= {i}) AS step_{key}" for i, (key, _) in enumerate(FUNNEL))
    started = "started_at IS NOT NULL"
    waits = ", ".join(
        f"count(*) FILTER (WHERE wait_ms >= {low}{f' AND wait_ms < {high}' if high else ''}) AS wait_{i}"
        for i, (_, low, high) in enumerate(WAIT_BUCKETS)
    )
    scenarios = ", ".join(
        f"count(*) FILTER (WHERE {_SCENARIO_SQL} = '{name}') AS scenario_{name}" for name in SCENARIO_LABELS
    )
    bucket = bucket_sql(query, "{}")
    trend_parts = " UNION ALL ".join(
        f"SELECT {bucket.format(column)} AS bucket, '{kind}' AS kind FROM cvx WHERE {column} IS NOT NULL"
        for kind, column in (("started", "started_at"), ("completed", "completed_at"), ("cancelled", "cancelled_at"),
                             ("rejected", "rejected_at"))
    )
    sql = (
        f"{scope.with_(*_per_conversation(scope))} "
        f"SELECT 'visits' AS part, {scope.segment('seg')}, {steps} FROM pv {scope.group(expr='seg')} "
        "UNION ALL BY NAME "
        f"SELECT 'every' AS part, {scope.segment('seg')}, count(*) AS conversations FROM every_conversation "
        f"{scope.group(expr='seg')} "
        "UNION ALL BY NAME "
        f"SELECT 'conversations' AS part, {scope.segment('seg')}, count(*) AS active, "
        f"count(*) FILTER (WHERE {started}) AS started, count(*) FILTER (WHERE completed_at IS NOT NULL) AS completed, "
        "count(*) FILTER (WHERE agent) AS agent_connected, count(cancelled_at) AS cancelled, "
        f"count(*) FILTER (WHERE {started} AND cancelled_at IS NOT NULL) AS abandoned, "
        "count(*) FILTER (WHERE rejected_at IS NOT NULL) AS rejected, "
        f"count(*) FILTER (WHERE {started} AND queued) AS transferred, "
        "round(quantile_cont(wait_ms, 0.5)) AS wait_p50, round(quantile_cont(wait_ms, 0.9)) AS wait_p90, "
        "round(quantile_cont(wait_ms, 0.99)) AS wait_p99, round(quantile_cont(elapsed_ms, 0.5)) AS elapsed_p50, "
        "round(quantile_cont(elapsed_ms, 0.9)) AS elapsed_p90, coalesce(sum(messages), 0) AS messages, "
        "round(avg(messages) FILTER (WHERE messages > 0), 2) AS messages_mean, "
        "quantile_cont(messages, 0.5) FILTER (WHERE messages > 0) AS messages_p50, "
        "coalesce(sum(files), 0) AS files, count(*) FILTER (WHERE has_errors) AS with_errors, "
        f"count(wait_ms) AS waited, {waits}, {scenarios} FROM cvx {scope.group(expr='seg')} "
        "UNION ALL BY NAME "
        f"SELECT 'trend' AS part, bucket, count(*) FILTER (WHERE kind = 'started') AS t_started, "
        "count(*) FILTER (WHERE kind = 'completed') AS t_completed, count(*) FILTER (WHERE kind = 'cancelled') AS t_cancelled, "
        f"count(*) FILTER (WHERE kind = 'rejected') AS t_rejected FROM ({trend_parts}) GROUP BY bucket "
        "UNION ALL BY NAME "
        "SELECT 'errors' AS part, code, count(DISTINCT conv) AS code_conversations FROM "
        "(SELECT conv, unnest(json_extract_string(error_list, '$[*]')) AS code FROM "
        "(SELECT conv, unnest(error_lists) AS error_list FROM cv WHERE len(error_lists) > 0)) GROUP BY code"
    )
    parts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in run(store, sql, scope):
        parts[row["part"]].append(row)

    # Headline: the visit funnel and the conversation KPIs, per segment.
    merged: dict[tuple[Any, bool], dict[str, Any]] = {}
    for row in parts["visits"] + parts["every"] + parts["conversations"]:
        target = merged.setdefault((row["segment"], row["is_total"]), {"segment": row["segment"], "is_total": row["is_total"]})
        target.update({k: v for k, v in row.items() if v is not None})
    for row in merged.values():
        # a segment seen in one part only: its counts in the other are 0
        row.update({k: 0 for k, _, kind, _ in SUMMARY if kind == "int" and k not in row})
        row["scenario_no_end"] = row.get("scenario_no_end", 0) + row["conversations"] - row.get("active", 0)
        row["loaded"] = row.get("step_loaded", 0)
        row["started_visits"] = row.get("step_started", 0)
        row["visit_conversion"] = ratio(row["started_visits"], row["loaded"])
        for key in ("wait_p50", "wait_p90", "wait_p99", "elapsed_p50", "elapsed_p90"):
            if row.get(key) is not None:
                row[key] = int(row[key])
        started_n = row.get("started", 0)
        row["completion_rate"] = ratio(row.get("completed", 0), started_n)
        row["abandonment_rate"] = ratio(row.get("abandoned", 0), started_n)
        row["transfer_rate"] = ratio(row.get("transferred", 0), started_n)
        row["rejection_rate"] = ratio(row.get("rejected", 0), started_n + row.get("rejected", 0))
    headline(report, list(merged.values()), SUMMARY)
    total = next((r for r in merged.values() if r["is_total"]), {})

    funnel_rows = []
    previous = None
    loaded = total.get("step_loaded", 0)
    for key, label in FUNNEL:
        visits = total.get(f"step_{key}", 0)
        dropped = None if previous is None else previous - visits
        funnel_rows.append([key, label, visits, dropped, None if previous is None else ratio(dropped, previous),
                            ratio(visits, loaded)])
        previous = visits
    report.tables.append(
        Table(
            "funnel",
            "Chat funnel (visits)",
            "funnel",
            [Column("step", "Step", "string"), Column("label", "Label", "string"), Column("visits", "Visits"),
             Column("dropped", "Dropped"), Column("dropped_pct", "Dropped %", "percent"),
             Column("conversion", "Conversion from loaded", "percent")],
            funnel_rows,
            "Visits whose furthest step is this one or later; dropped from the previous step; conversion from loaded.",
        )
    )

    report.tables.append(
        Table(
            "trend",
            "Conversations over time",
            "line",
            [Column("bucket", "Time", "datetime" if query.interval == "hour" else "date"), Column("started", "Started"),
             Column("completed", "Completed"), Column("cancelled", "Cancelled before an agent"),
             Column("rejected", "Failed to start")],
            [[b, r.get("t_started", 0), r.get("t_completed", 0), r.get("t_cancelled", 0), r.get("t_rejected", 0)]
             for b, r in fill_buckets(query, parts["trend"])],
            "Each conversation in the bucket of its first event of that kind.",
        )
    )

    waited = total.get("waited", 0)
    report.tables.append(
        Table(
            "wait",
            "Wait for an agent",
            "bar",
            [Column("range", "Wait", "string"), Column("conversations", "Conversations"), Column("share", "Share", "percent")],
            [[label, total.get(f"wait_{i}", 0), ratio(total.get(f"wait_{i}", 0), waited)]
             for i, (label, _, _) in enumerate(WAIT_BUCKETS)],
            "Conversations by their wait for an agent (waitingForAgent); share of those with a wait.",
        )
    )

    conversations = total.get("conversations", 0)
    report.tables.append(
        Table(
            "scenarios",
            "Outcomes by scenario (002)",
            "bar",
            [Column("scenario", "Scenario", "string"), Column("label", "Label", "string"), Column("path", "Path", "string"),
             Column("conversations", "Conversations"), Column("share", "Share", "percent")],
            [[name, label, " → ".join(SCENARIOS[name]) if name in SCENARIOS else "",
              total.get(f"scenario_{name}", 0), ratio(total.get(f"scenario_{name}", 0), conversations)]
             for name, label in SCENARIO_LABELS.items()],
            "Each conversation in the first scenario its stages match: failed to start (rejected), completed, "
            "gave up waiting (started and cancelled), changed their mind (cancelled without starting), else no end yet.",
        )
    )

    with_errors = total.get("with_errors", 0)
    errors = sorted(parts["errors"], key=lambda r: (-r["code_conversations"], r["code"]))[: query.limit]
    report.tables.append(
        Table(
            "errors",
            "Top error codes",
            "bar",
            [Column("code", "Error code", "string"), Column("conversations", "Conversations"),
             Column("share", "Share of conversations with errors", "percent")],
            [[r["code"], r["code_conversations"], ratio(r["code_conversations"], with_errors)] for r in errors],
            "Error codes reported in the lifecycle metadata's errors arrays; a conversation counts once per code.",
        )
    )
    return report
