"""Proactive engagement (docs/engagement.md) in SQL: what the intent engine decided, what
became of its offers, and whether offers helped, per skill.

The same numbers as the Python fold (`engine/decisions.py` `fold_decisions` then
`skill_report`), computed over the decisions made in the range:

- *qualified*: `decision` events in the range (one per qualified skill); by decision,
  *blocked* (with its reason; none recorded: "unknown"), *held out* and *offered*;
- *shown*, *accepted*, *dismissed*, *opted out*: offered decisions with an `offer` event of
  that status for their offer id (from a visitor that had a decision in the range, up to
  the attribution window after the range);
- *ignored*: offered decisions with no accepted, dismissed or opted-out answer whose
  `offer_ttl` had passed at the time of the report (`now`);
- *conversations*: accepted offers followed, within the attribution window, by a chat
  start (chat.started, CONTACT_STARTED or a `conversation` event) in the decision's
  session after the acceptance;
- *converted*: offered or held-out decisions followed by an outcome event of the
  visitor (the policy's `[[engagement.outcome]]`: a cart add, a `purchase` custom event or
  a completed chat by default) within the attribution window (from the decision, both
  ends included);
- the *lift*, per skill: each visitor's first offered or held-out decision of the skill in
  the range (by time, then offer id); conversion = that decision converted; absolute lift
  = offered rate - held-out rate (percentage points) with a 95% Wald interval; relative
  lift = offered rate / held-out rate - 1 with the 95% interval of the log ratio, left out
  when a group has no conversion (`engine/uplift.py`).

Filters and the breakdown apply to the decisions' visits; what followed a decision is
counted with it. The trend buckets decisions by the time they were made.

Outcome conditions are translated to SQL (equality, `ne`, `in`, `not_in`, `gt`/`gte`/
`lt`/`lte`, `exists`, `contains`/`contains_any` on an event's own fields). An outcome with
any other condition (`glob`, `regex`, `complement_of`, a `$step.field` reference, a
dotted name) is tested in Python, on the few events of its types that fall in a decision's
window. `offer` events are never outcomes (as in the fold).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from chatlens.analytics.report import Column, Report, Table, headline, ratio, run
from chatlens.analytics.scope import ReportQuery, Scope, type_in
from chatlens.analytics.timeseries import bucket_sql, fill_buckets
from chatlens.engine.conditions import NOTHING, Ref
from chatlens.engine.decisions import CONVERSATION_STARTS, Row
from chatlens.engine.skills import Outcome, Policy, SkillSet, load_skills
from chatlens.engine.uplift import Lift
from chatlens.model.events import EVENT_TYPES, Kind
from chatlens.store.base import EventStore
from chatlens.store.schema import event_data

# skill_report's keys, in its order, and the SQL column each comes from
_COUNTS = (("qualified", "qualified"), ("blocked", "blocked"), ("offered", "offered"), ("heldOut", "held_out"),
           ("shown", "shown"), ("accepted", "accepted"), ("dismissed", "dismissed"), ("optedOut", "opted_out"),
           ("ignored", "ignored"), ("conversations", "conversations"), ("converted", "converted"))

SUMMARY = (
    ("qualified", "Decisions", "int", "Skills that qualified: decision events made in the range"),
    ("blocked", "Blocked", "int", "Decisions blocked by a rule (cap, cooldown, open chat, ...)"),
    ("held_out", "Held out", "int", "Decisions held out for the lift comparison: logged, never offered"),
    ("offered", "Offered", "int", "Decisions sent to the page as offers"),
    ("shown", "Shown", "int", "Offers the page reported as shown"),
    ("accepted", "Accepted", "int", "Offers the visitor accepted"),
    ("accept_rate", "Acceptance rate", "percent", "accepted / shown x 100"),
    ("conversations", "Conversations", "int", "Accepted offers followed by a chat start in the same session"),
    ("converted", "Converted", "int",
     "Offered or held-out decisions followed by an outcome of the visitor within the attribution window"),
)

_SHIPPED: list[SkillSet] = []


def shipped() -> SkillSet:
    """The shipped skills: their policy and names are what the report uses when it is
    given none (the server passes its own: `intents_report(..., policy, names)`)."""
    if not _SHIPPED:
        _SHIPPED.append(load_skills(None))
    return _SHIPPED[0]


# -- outcome conditions -> SQL ----------------------------------------------------------
#
# A policy keeps each outcome's conditions as (field, operator, value) triples beside the
# compiled test (engine/skills.py `Outcome.clauses`). Those this module can say in SQL
# are; anything else is tested in Python instead, so a new operator costs speed, never
# correctness (tests/analytics/test_intents_report.py checks that the shipped outcomes
# stay in SQL).

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SQL_OPERATORS = ("eq", "ne", "in", "not_in", "exists", "contains", "contains_any", "gt", "gte", "lt", "lte")


def _clauses(outcome: Outcome) -> list[tuple[str, str, Any]] | None:
    """The outcome's conditions as SQL reads them: values as the compiled test compares
    them (`contains` as `contains_any`, words lower-cased; bounds as floats); None when one
    compares with what a step captured (`$step.field`) or uses an operator SQL lacks."""
    out: list[tuple[str, str, Any]] = []
    for name, op, value in outcome.clauses:
        if op not in _SQL_OPERATORS or isinstance(value, Ref):
            return None
        if op in ("in", "not_in"):
            value = tuple(value)
        elif op in ("contains", "contains_any"):
            op, value = "contains_any", tuple(w.lower() for w in ([value] if op == "contains" else value))
        elif op in ("gt", "gte", "lt", "lte"):
            value = float(value)
        out.append((name, op, value))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bool too: Python's True == 1


_JSON_NUMBERS = "('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE')"


def _field_sql(type_name: str, name: str, a: str) -> tuple[str, str, str] | None:
    """SQL for a field of an event of `type_name` as the fold reads it (event_data: its
    typed column, else its JSON property): (its value if a string, its value if a number
    or boolean, whether it is there)."""
    for field in EVENT_TYPES[type_name].fields:
        if field.name == name and field.column:
            column = f"{a}.{field.column}"
            if field.kind is Kind.NUMBER:
                return "NULL::VARCHAR", column, f"{column} IS NOT NULL"
            return column, "NULL::DOUBLE", f"{column} IS NOT NULL"
    if not _PLAIN.fullmatch(name):
        return None
    kind = f"json_type({a}.properties->'{name}')"
    text = f"({a}.properties->>'{name}')"
    return (
        f"CASE WHEN {kind} = 'VARCHAR' THEN {text} END",
        f"CASE WHEN {kind} IN {_JSON_NUMBERS} THEN {text}::DOUBLE WHEN {kind} = 'BOOLEAN' THEN {text}::BOOLEAN::DOUBLE END",
        f"coalesce({kind}, 'NULL') <> 'NULL'",
    )


class OutcomeSQL:
    """The policy's outcomes as a SQL condition on events `a` (`sql`, with `params`): a
    CASE on the type, each type's outcome conditions OR-ed; and the outcomes that must be
    tested in Python (`python`)."""

    def __init__(self, outcomes: Iterable[Outcome], a: str = "l") -> None:
        outcomes = list(outcomes)
        self.params: dict[str, Any] = {}
        self.python: list[Outcome] = []
        by_type: dict[str, list[str]] = {}
        for outcome in outcomes:
            types = sorted(outcome.types - {"offer", "decision"})
            clauses = _clauses(outcome)
            conditions = None if clauses is None else self._outcome(types, clauses, a)
            if conditions is None:
                self.python.append(outcome)
                continue
            for type_name, condition in conditions.items():
                by_type.setdefault(type_name, []).append(condition)
        cases = " ".join(
            f"WHEN '{t}' THEN " + ("true" if "true" in conds else " OR ".join(f"({c})" for c in conds))
            for t, conds in sorted(by_type.items())
        )
        self.sql = f"(CASE {a}.type {cases} ELSE false END)" if by_type else "false"
        self.types = sorted({t for o in outcomes for t in o.types} - {"offer", "decision"})
        self.python_types = sorted({t for o in self.python for t in o.types} - {"offer", "decision"})

    def _param(self, value: Any) -> str:
        name = f"o{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def _outcome(self, types: Sequence[str], clauses: Sequence[tuple[str, str, Any]], a: str) -> dict[str, str] | None:
        per_type = {}
        for type_name in types:
            conditions = []
            for name, op, value in clauses:
                field = _field_sql(type_name, name, a)
                condition = None if field is None else self._clause(field, op, value)
                if condition is None:
                    return None
                conditions.append(condition)
            per_type[type_name] = " AND ".join(conditions) or "true"
        return per_type

    def _clause(self, field: tuple[str, str, str], op: str, value: Any) -> str | None:
        text, number, present = field
        if op in ("eq", "ne"):
            if isinstance(value, str):
                equal = f"coalesce({text} = {self._param(value)}, false)"
            elif _is_number(value):
                equal = f"coalesce({number} = {self._param(float(value))}::DOUBLE, false)"
            else:
                return None
            return equal if op == "eq" else f"({present} AND NOT {equal})"
        if op in ("in", "not_in"):
            texts = [v for v in value if isinstance(v, str)]
            numbers = [float(v) for v in value if _is_number(v)]
            if len(texts) + len(numbers) != len(value):
                return None
            found = (
                f"(coalesce(list_contains({self._param(texts)}::VARCHAR[], {text}), false) "
                f"OR coalesce(list_contains({self._param(numbers)}::DOUBLE[], {number}), false))"
            )
            return found if op == "in" else f"({present} AND NOT {found})"
        if op in ("gt", "gte", "lt", "lte"):
            if not _is_number(value):
                return None
            symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
            return f"coalesce({number} {symbol} {self._param(float(value))}::DOUBLE, false)"
        if op == "exists":
            return present if value else f"NOT ({present})"
        if op == "contains_any":
            if not value or not all(isinstance(w, str) for w in value):
                return None
            return "(" + " OR ".join(f"coalesce(contains(lower({text}), {self._param(w)}), false)" for w in value) + ")"
        return None


# -- the decisions, in SQL ---------------------------------------------------------------


DECISION_VISIT = "r.decision.visit_key"
# The visits of the range's decisions: the only visits whose segments intents looks up.
DECIDED_VISITS = (
    f"SELECT {DECISION_VISIT} FROM decision_rollup r WHERE r.site_id = $site AND {Scope.during('r.decision.t')}"
)


def _ctes(scope: Scope, outcomes: OutcomeSQL, python_converted: bool) -> list[str]:
    """The decisions of the range (`dec`) and each one's story (`story`)."""
    later_types = CONVERSATION_STARTS | set(outcomes.types)
    span = "{a}.site_id = $site AND {a}.ts >= make_timestamptz($since::BIGINT) " \
           "AND {a}.ts < make_timestamptz($until::BIGINT + $window::BIGINT + 1)"
    window = "to_microseconds($window::BIGINT)"
    extra = " OR d.offer_id IN (SELECT unnest($python_converted::VARCHAR[]))" if python_converted else ""
    return [
        # The decisions, from the store's decision rollup (store/schema.py: one row per
        # offer id, which is the decision's event id). A decision's visit is its session
        # (the engine decides on browser batches, which have one).
        f"dec AS MATERIALIZED (SELECT r.offer_id, r.decision.skill AS skill, r.decision.status AS decision, "
        "CASE WHEN r.decision.status = 'blocked' THEN coalesce(nullif(r.decision.reason, ''), 'unknown') END AS reason, "
        "r.decision.t AS decided_at, r.decision.visitor_key AS visitor, r.decision.visit_key AS visit, "
        f"{scope.segment_column()} AS seg FROM decision_rollup r {scope.join('r', visit=DECISION_VISIT)} "
        f"WHERE {scope.where('r', visit=DECISION_VISIT, ts='decision.t')})",
        # The page's answers to the offers made, kept with each decision (from visitors
        # with a decision, up to the window after the range, as the fold reads them),
        # with the first acceptance. (An answer nearly always comes from the decision's
        # own visitor: comparing with it first spares most answers the set lookup.)
        "answers AS MATERIALIZED (SELECT offer_id, bool_or(a.status = 'shown') AS shown, "
        "bool_or(a.status = 'accepted') AS accepted, bool_or(a.status = 'dismissed') AS dismissed, "
        "bool_or(a.status = 'opted_out') AS opted_out, min(a.t) FILTER (WHERE a.status = 'accepted') AS accepted_at, "
        "arg_min(a.id, (a.t, a.id)) FILTER (WHERE a.status = 'accepted') AS accepted_id "
        "FROM (SELECT offer_id, decision.visitor_key AS decided_by, unnest(answers) AS a FROM decision_rollup "
        "WHERE site_id = $site AND offer_id IN (SELECT offer_id FROM dec WHERE decision = 'offered')) "
        "WHERE a.t >= make_timestamptz($since::BIGINT) AND a.t < make_timestamptz($until::BIGINT + $window::BIGINT + 1) "
        "AND (a.visitor_key = decided_by OR a.visitor_key IN (SELECT visitor FROM dec)) GROUP BY offer_id)",
        # Chat starts and outcomes of the visitors who had a decision.
        # (Not filtered on is_start OR is_outcome: the conditions are then only evaluated
        # on the rows of those visitors, not on every row of the types.)
        f"later AS MATERIALIZED (SELECT l.visitor_key AS visitor, l.visit_key AS visit, l.ts, l.event_id, "
        f"{type_in('l', CONVERSATION_STARTS)} AS is_start, {outcomes.sql} AS is_outcome FROM events l "
        f"WHERE {span.format(a='l')} AND {type_in('l', later_types)} AND l.visitor_key IN (SELECT visitor FROM dec))",
        "answered AS MATERIALIZED (SELECT d.*, a.* EXCLUDE (offer_id) FROM dec d LEFT JOIN answers a USING (offer_id))",
        # A chat start in the decision's session after the first acceptance, within the window.
        "talked AS (SELECT DISTINCT d.offer_id FROM answered d JOIN later s ON s.visitor = d.visitor "
        "AND s.visit IS NOT DISTINCT FROM d.visit WHERE s.is_start AND d.accepted_at IS NOT NULL "
        f"AND s.ts >= d.decided_at AND s.ts <= d.decided_at + {window} "
        "AND (s.ts > d.accepted_at OR (s.ts = d.accepted_at AND s.event_id > d.accepted_id)))",
        "reached AS (SELECT DISTINCT d.offer_id FROM dec d JOIN later c ON c.visitor = d.visitor "
        f"WHERE c.is_outcome AND d.decision <> 'blocked' AND c.ts >= d.decided_at AND c.ts <= d.decided_at + {window})",
        "story AS MATERIALIZED (SELECT d.* EXCLUDE (shown, accepted, dismissed, opted_out), "
        "coalesce(d.shown, false) AS shown, coalesce(d.accepted, false) AS accepted, "
        "coalesce(d.dismissed, false) AS dismissed, coalesce(d.opted_out, false) AS opted_out, "
        "d.decision = 'offered' AND NOT coalesce(d.accepted OR d.dismissed OR d.opted_out, false) "
        "AND $now::BIGINT > epoch_us(d.decided_at) + $ttl::BIGINT AS ignored, "
        "d.offer_id IN (SELECT offer_id FROM talked) AS talked, "
        f"d.decision <> 'blocked' AND (d.offer_id IN (SELECT offer_id FROM reached){extra}) AS converted "
        "FROM answered d)",
        # The lift: each visitor's first offered or held-out decision of the skill.
        "firsts AS (SELECT skill, first.decision, first.converted FROM (SELECT skill, "
        "arg_min({'decision': decision, 'converted': converted}, (decided_at, offer_id)) AS first "
        "FROM story WHERE decision <> 'blocked' GROUP BY skill, visitor))",
        "lifts AS (SELECT skill, count(*) FILTER (WHERE decision = 'offered') AS offered_visitors, "
        "count(*) FILTER (WHERE decision = 'offered' AND converted) AS offered_converted, "
        "count(*) FILTER (WHERE decision <> 'offered') AS held_out_visitors, "
        "count(*) FILTER (WHERE decision <> 'offered' AND converted) AS held_out_converted FROM firsts GROUP BY skill)",
    ]


def _python_converted(store: EventStore, scope: Scope, outcomes: OutcomeSQL, params: dict[str, Any]) -> list[str]:
    """Offer ids converted by an outcome whose conditions SQL does not express: its
    events in a decision's window, tested in Python."""
    columns = ", ".join(f"c.{name}" for name in _DATA_COLUMNS)
    rows = run(
        store,
        f"{scope.with_(*_ctes(scope, outcomes, False)[:1], among=DECIDED_VISITS)} SELECT d.offer_id AS story_offer_id, c.event_id::VARCHAR AS event_id, {columns} "
        "FROM dec d JOIN events c ON c.visitor_key = d.visitor AND c.ts >= d.decided_at AND c.ts <= d.decided_at + to_microseconds($window::BIGINT) "
        f"WHERE d.decision <> 'blocked' AND c.site_id = $site AND {type_in('c', outcomes.python_types)} "
        "AND c.ts >= make_timestamptz($since::BIGINT) AND c.ts < make_timestamptz($until::BIGINT + $window::BIGINT + 1)",
        scope,
        **params,
    )
    verdicts: dict[str, bool] = {}
    converted = set()
    for r in rows:
        hit = verdicts.get(r["event_id"])
        if hit is None:
            row = Row(r["event_id"], r["type"], 0, None, None, event_data(r))
            hit = verdicts[r["event_id"]] = any(row.type in o.types and o.test(row, NOTHING) for o in outcomes.python)
        if hit:
            converted.add(r["story_offer_id"])
    return sorted(converted)


_DATA_COLUMNS = ("type", "properties", *sorted({f.column for t in EVENT_TYPES.values() for f in t.fields if f.column}))


def skill_numbers(
    store: EventStore,
    query: ReportQuery,
    policy: Policy,
    skills: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Per skill, exactly as `engine.decisions.skill_report` gives it (`skills` first, in
    their order, then any other skill with decisions, by its first decision), plus the
    summary rows (for `headline`) and the trend rows. One query (two when an outcome is
    tested in Python)."""
    scope = Scope(query)
    outcomes = OutcomeSQL(policy.outcomes)
    params: dict[str, Any] = {
        "window": policy.attribution_window_us,
        "ttl": policy.offer_ttl_us,
        "now": query.now_us,
        **outcomes.params,
    }
    extra: list[str] = []
    if outcomes.python:
        extra = _python_converted(store, scope, outcomes, params)
        params["python_converted"] = extra
    rows = run(
        store,
        f"{scope.with_(*_ctes(scope, outcomes, bool(outcomes.python)), among=DECIDED_VISITS)} "
        "SELECT g.*, l.* EXCLUDE (skill) FROM (SELECT skill, reason, bucket, seg, "
        "GROUPING(skill, reason, bucket, seg) AS grouping_id, "
        "count(*) AS qualified, count(*) FILTER (WHERE decision = 'blocked') AS blocked, "
        "count(*) FILTER (WHERE decision = 'offered') AS offered, "
        "count(*) FILTER (WHERE decision NOT IN ('blocked', 'offered')) AS held_out, "
        "count(*) FILTER (WHERE decision = 'offered' AND shown) AS shown, "
        "count(*) FILTER (WHERE decision = 'offered' AND accepted) AS accepted, "
        "count(*) FILTER (WHERE decision = 'offered' AND dismissed) AS dismissed, "
        "count(*) FILTER (WHERE decision = 'offered' AND opted_out) AS opted_out, "
        "count(*) FILTER (WHERE ignored) AS ignored, count(*) FILTER (WHERE talked) AS conversations, "
        "count(*) FILTER (WHERE converted) AS converted, epoch_us(min(decided_at)) AS first_at "
        f"FROM (SELECT *, {bucket_sql(query, 'decided_at')} AS bucket FROM story) "
        "GROUP BY GROUPING SETS ((skill), (skill, reason), (bucket), (), (seg))) g "
        "LEFT JOIN lifts l ON g.grouping_id = 7 AND l.skill = g.skill",
        scope,
        **params,
    )
    # GROUPING(skill, reason, bucket, seg): a bit per column left out, skill the highest.
    by_skill = sorted((r for r in rows if r["grouping_id"] == 0b0111), key=lambda r: (r["first_at"], r["skill"]))
    entries: dict[str, dict[str, Any]] = {name: _entry(name, None) for name in skills}
    for r in by_skill:
        entries[r["skill"]] = _entry(r["skill"], r)
    for r in sorted((r for r in rows if r["grouping_id"] == 0b0011 and r["reason"] is not None),
                    key=lambda r: (-r["blocked"], r["reason"])):
        entries[r["skill"]]["blockedReasons"][r["reason"]] = r["blocked"]
    summary = []
    for r in rows:  # (seg) is the total again without a breakdown
        if r["grouping_id"] == 0b1111 or (r["grouping_id"] == 0b1110 and scope.segmented):
            total = r["grouping_id"] == 0b1111
            summary.append({**r, "segment": None if total else r["seg"], "is_total": total,
                            "accept_rate": ratio(r["accepted"], r["shown"])})
    trend = [r for r in rows if r["grouping_id"] == 0b1101]
    return list(entries.values()), summary, trend


def _entry(skill: str, row: dict[str, Any] | None) -> dict[str, Any]:
    r = {k: v for k, v in (row or {}).items() if v is not None}
    entry: dict[str, Any] = {"skill": skill, **{key: r.get(column, 0) for key, column in _COUNTS}, "blockedReasons": {}}
    entry["lift"] = Lift(r.get("offered_visitors", 0), r.get("offered_converted", 0),
                         r.get("held_out_visitors", 0), r.get("held_out_converted", 0)).as_json()
    return entry


def _points(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def intents_report(
    store: EventStore,
    query: ReportQuery,
    policy: Policy | None = None,
    skills: Sequence[str] | None = None,
) -> Report:
    """The intents report. `policy`: the server's (`SkillSet.policy`); `skills`: the names
    listed even without decisions (`SkillSet.names`). Each defaults to the shipped skills'."""
    policy = policy or shipped().policy
    skills = shipped().names if skills is None else skills
    report = Report("intents", "Proactive engagement", query)
    entries, summary, trend = skill_numbers(store, query, policy, skills)
    headline(report, summary, SUMMARY)
    report.tables.append(
        Table(
            "skills",
            "Decisions and offers by skill",
            "table",
            [Column("skill", "Skill", "string"), Column("qualified", "Qualified"), Column("blocked", "Blocked"),
             Column("held_out", "Held out"), Column("offered", "Offered"), Column("shown", "Shown"),
             Column("accepted", "Accepted"), Column("dismissed", "Dismissed"), Column("opted_out", "Opted out"),
             Column("ignored", "Ignored"), Column("conversations", "Conversations"), Column("converted", "Converted")],
            [[e["skill"], e["qualified"], e["blocked"], e["heldOut"], e["offered"], e["shown"], e["accepted"],
              e["dismissed"], e["optedOut"], e["ignored"], e["conversations"], e["converted"]] for e in entries],
            "Per skill, decisions made in the range and the furthest each got; converted counts offered and "
            "held-out decisions with an outcome within the attribution window.",
        )
    )
    report.tables.append(
        Table(
            "blocked",
            "Why decisions were blocked",
            "bar",
            [Column("skill", "Skill", "string"), Column("reason", "Reason", "string"), Column("count", "Blocked")],
            [[e["skill"], reason, n] for e in entries for reason, n in e["blockedReasons"].items()],
        )
    )
    lift_rows = []
    for e in entries:
        lift = e["lift"]
        absolute, relative = lift["absoluteLift"] or {}, lift["relativeLift"] or {}
        lift_rows.append([
            e["skill"], lift["offeredVisitors"], lift["offeredConverted"], _points(lift["offeredRate"]),
            lift["heldOutVisitors"], lift["heldOutConverted"], _points(lift["heldOutRate"]),
            _points(absolute.get("value")), _points(absolute.get("low")), _points(absolute.get("high")),
            _points(relative.get("value")), _points(relative.get("low")), _points(relative.get("high")),
        ])
    report.tables.append(
        Table(
            "lift",
            "Did offers help? Offered against held-out visitors",
            "table",
            [Column("skill", "Skill", "string"), Column("offered_visitors", "Offered visitors"),
             Column("offered_converted", "Offered converted"), Column("offered_rate", "Offered conversion", "percent"),
             Column("held_out_visitors", "Held-out visitors"), Column("held_out_converted", "Held-out converted"),
             Column("held_out_rate", "Held-out conversion", "percent"),
             Column("absolute_lift", "Lift (points)", "number"), Column("absolute_low", "Lift, 95% low (points)", "number"),
             Column("absolute_high", "Lift, 95% high (points)", "number"),
             Column("relative_lift", "Relative lift", "percent"), Column("relative_low", "Relative lift, 95% low", "percent"),
             Column("relative_high", "Relative lift, 95% high", "percent")],
            lift_rows,
            "Per visitor, their first offered or held-out decision of the skill in the range; conversion: an outcome "
            "within the attribution window. Absolute lift in percentage points with a 95% Wald interval; relative "
            "lift with the 95% interval of the log ratio (empty when a group has no conversion).",
        )
    )
    report.tables.append(
        Table(
            "trend",
            "Offers over time",
            "line",
            [Column("bucket", "Time", "datetime" if query.interval == "hour" else "date"), Column("offered", "Offered"),
             Column("shown", "Shown"), Column("accepted", "Accepted"), Column("conversations", "Conversations")],
            [[b, r.get("offered", 0), r.get("shown", 0), r.get("accepted", 0), r.get("conversations", 0)]
             for b, r in fill_buckets(query, trend)],
            "Offers by the time the decision was made, and how many of them were shown, accepted and led to a chat.",
        )
    )
    hours = policy.attribution_window_us / 3_600_000_000
    report.notes.append(
        f"Offers count as ignored {policy.offer_ttl_us / 1e6:g} s after the decision without an answer; "
        f"outcomes count within {hours:g} h of the decision."
    )
    return report

