"""The intents report (analytics/intents.py).

1. The SQL against the Python fold it replaces: for random sets of decision, offer, chat
   start and outcome events loaded into a real DuckDB store, `skill_numbers` equals
   `DecisionReader.report` (fold_decisions + skill_report) on the same rows, with an
   outcome policy whose conditions exercise every translated operator and one that SQL
   cannot express (tested in Python).
2. Over HTTP, against numbers worked out by hand: visitors make the shipped
   `value_seeking` skill qualify (a price sort, low to high), the page answers the offers,
   visitors chat and convert; GET /v1/analytics/intents and GET /v1/intents.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatlens.analytics.intents import OutcomeSQL, _clauses, skill_numbers
from chatlens.analytics.scope import ReportQuery
from chatlens.engine.engine import held_out
from chatlens.engine.skills import load_skills, parse_skills
from chatlens.intents import DecisionReader
from chatlens.store.duckdb_store import DuckDBStore
from tests.conftest import BROWSER_UA, Server, start_server

S = 1_000_000
T0 = 1_750_000_000 * S

# ---- 1. SQL == the Python fold, on random events ----------------------------------------

POLICY = """
[engagement]
offer_ttl = "10s"
attribution_window = "30s"

[[engagement.outcome]]
type = "cart_action"
where = { action = "add" }

[[engagement.outcome]]
type = "custom"
where = { name = "purchase", value = { gte = 10, lt = 1000 }, coupon = { exists = false } }

[[engagement.outcome]]
type = ["custom", "chat.completed"]
where = { channel = { in = ["web", 7] }, tier = { ne = "free" }, note = { contains_any = ["VIP", "gold"] } }

[[engagement.outcome]]
type = "custom"
where = { name = { not_in = ["purchase", "view"] }, flag = true }

[[engagement.outcome]]
type = "search_event"
where = { query = { glob = "buy *" } }
"""

SKILLS = parse_skills(POLICY)
SKILL_NAMES = ("alpha", "beta")


def test_the_test_policy_is_translated_except_the_glob() -> None:
    sql = OutcomeSQL(SKILLS.policy.outcomes)
    assert len(SKILLS.policy.outcomes) == 5
    assert [sorted(o.types) for o in sql.python] == [["search_event"]]  # glob: tested in Python
    assert sql.python_types == ["search_event"]


def test_the_shipped_outcomes_are_all_sql() -> None:
    outcomes = load_skills(None).policy.outcomes
    assert [_clauses(o) for o in outcomes] == [
        [("action", "eq", "add")], [("name", "eq", "purchase")], [],
    ]
    assert OutcomeSQL(outcomes).python == []


def test_outcome_conditions_are_read_as_the_compiled_test_compares_them() -> None:
    outcomes = parse_skills(POLICY + """
[[engagement.outcome]]
type = "search_event"
where = { query = { contains = "Buy" }, page = { url = { glob = "*/sale/*" } } }
""").policy.outcomes
    equal, ranged, listed, globbed = outcomes[0], outcomes[1], outcomes[2], outcomes[-1]
    assert _clauses(equal) == [("action", "eq", "add")]
    assert _clauses(ranged) == [("name", "eq", "purchase"), ("value", "gte", 10.0), ("value", "lt", 1000.0),
                                ("coupon", "exists", False)]
    assert _clauses(listed) == [("channel", "in", ("web", 7)), ("tier", "ne", "free"),
                                ("note", "contains_any", ("vip", "gold"))]
    assert _clauses(globbed) is None  # a glob (on a namespaced field): tested in Python
    assert globbed.clauses == (("query", "contains", "Buy"), ("page.url", "glob", "*/sale/*"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path_factory.mktemp("intents") / "p.duckdb")
    yield s
    s.close()


_segments = itertools.count(1)
_sites = itertools.count(1)

visitors = st.sampled_from(["v1", "v2", "v3"])
sessions = st.sampled_from(["a", "b"])
STEP = 5 * S  # times on a 5 s grid over 100 s: ties and the window's edges are common
times = st.integers(0, 20).map(lambda k: T0 + k * STEP)
later_events = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["chat.started", "CONTACT_STARTED", "conversation"]),
                           "interaction_id": st.just("c1")}),
    st.fixed_dictionaries({"type": st.just("cart_action"), "action": st.sampled_from(["add", "remove"])}),
    st.fixed_dictionaries({"type": st.just("chat.completed"), "interaction_id": st.just("c1"),
                           "properties": st.fixed_dictionaries({}, optional={
                               "channel": st.sampled_from(["web", "app", 7, 7.0, True]),
                               "tier": st.sampled_from(["free", "pro", None, 3]),
                               "note": st.sampled_from(["a vip", "Gold!", "none", 5])})}),
    st.fixed_dictionaries({"type": st.just("custom"), "name": st.sampled_from(["purchase", "view", "other"]),
                           "properties": st.fixed_dictionaries({}, optional={
                               "value": st.sampled_from([5, 10, 10.0, 999.5, 1000, "20", True, None]),
                               "coupon": st.sampled_from(["X", None, False]),
                               "channel": st.sampled_from(["web", 7]),
                               "note": st.sampled_from(["VIP", "gold"]),
                               "flag": st.sampled_from([True, 1, 1.0, "true", False])})}),
    st.fixed_dictionaries({"type": st.just("search_event"), "query": st.sampled_from(["buy a kettle", "Buy it", "kettle"])}),
)


@st.composite
def event_sets(draw: Any) -> list[dict[str, Any]]:
    """Decisions, each with a story drawn around it (answers, chat starts and outcome
    candidates of its visitor, mostly in its session, at and after its time, sometimes
    before), plus unrelated events."""
    events: list[dict[str, Any]] = []
    offer_ids = [f"offer-{i}" for i in range(draw(st.integers(1, 8)))]
    near = st.integers(-2, 8)  # steps from the decision: the 30 s window is 6 steps
    for offer_id in offer_ids:
        decision = draw(st.sampled_from(["offered", "offered", "held_out", "blocked"]))
        reason = {"held_out": "holdout", "offered": None}.get(decision) or draw(st.sampled_from([None, "", "cooldown", "chat_open"]))
        visitor = draw(visitors)
        session = visitor + draw(sessions)
        at = draw(times)
        events.append({"type": "decision", "visitor_id": visitor, "session_id": session, "ts": at,
                       "offer_id": offer_id, "name": draw(st.sampled_from(["alpha", "beta", "gamma"])), "status": decision,
                       "properties": {"reason": reason, "priority": 3, "message": "hi"} if reason is not None else {"priority": 3}})
        for status in draw(st.lists(st.sampled_from(["shown", "accepted", "dismissed", "opted_out"]), max_size=3)):
            who = draw(st.sampled_from([visitor, visitor, visitor, "v9"]))  # v9: never had a decision
            events.append({"type": "offer", "visitor_id": who, "session_id": session, "ts": at + draw(near) * STEP,
                           "offer_id": offer_id, "status": status})
        if draw(st.booleans()):  # an acceptance and a chat start near each other (same time: by event id)
            k = draw(st.integers(-1, 6))
            events.append({"type": "offer", "visitor_id": visitor, "session_id": session, "ts": at + k * STEP,
                           "offer_id": offer_id, "status": "accepted"})
            events.append({"type": draw(st.sampled_from(["chat.started", "CONTACT_STARTED", "conversation"])),
                           "interaction_id": "c2", "visitor_id": visitor, "ts": at + (k + draw(st.integers(-1, 2))) * STEP,
                           "session_id": draw(st.sampled_from([session, session, visitor + "z"]))})
        for event in draw(st.lists(later_events, max_size=3)):
            where = draw(st.sampled_from([session, session, visitor + "z"]))
            events.append({**event, "visitor_id": visitor, "session_id": where, "ts": at + draw(near) * STEP})
    for event in draw(st.lists(later_events, max_size=4)):
        visitor = draw(visitors)
        events.append({**event, "visitor_id": visitor, "session_id": visitor + draw(sessions), "ts": draw(times)})
    for _ in range(draw(st.integers(0, 2))):
        events.append({"type": "offer", "visitor_id": draw(visitors), "session_id": "x", "ts": draw(times),
                       "offer_id": draw(st.sampled_from([*offer_ids, "offer-unknown"])), "status": "accepted"})
    return events


def load(store: DuckDBStore, tmp: Path, site: str, events: list[dict[str, Any]]) -> None:
    path = tmp / f"segment-{next(_segments)}.jsonl"
    with path.open("w") as f:
        for e in events:
            row = {"site_id": site, "event_id": str(uuid.uuid4()), "client_ts": e["ts"], "received_at": e["ts"], **e}
            f.write(json.dumps(row) + "\n")
    store.load_segment(path, next(_segments))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=event_sets(), since=st.integers(0, 4), length=st.integers(2, 22), now=st.integers(0, 30))
def test_sql_equals_the_python_fold(store: DuckDBStore, tmp_path: Path, events: list[dict[str, Any]],
                                    since: int, length: int, now: int) -> None:
    site = f"site-{next(_sites)}"
    load(store, tmp_path, site, events)
    since_us, until_us, now_us = T0 + since * 5 * S, T0 + (since + length) * 5 * S, T0 + now * 5 * S
    expected = DecisionReader(store, lambda: None, SKILLS).report(site, since_us, until_us, now_us)
    got, summary, _ = skill_numbers(store, ReportQuery(site, since_us, until_us, now_us), SKILLS.policy, SKILLS.names)
    assert {e["skill"]: e for e in got} == {e["skill"]: e for e in expected}
    [total] = summary
    for key in ("qualified", "blocked", "offered", "shown", "accepted", "conversations", "converted"):
        assert total[key] == sum(e[key] for e in expected)


def test_the_fold_and_the_sql_agree_on_a_hand_made_story(store: DuckDBStore, tmp_path: Path) -> None:
    """One story per stage, checked by hand (the random test's anchor). Policy: offer_ttl
    10 s, attribution window 30 s."""
    site = "site-hand"
    t = lambda s: T0 + s * S  # noqa: E731
    load(store, tmp_path, site, [
        # v1: offered at 0, shown 1, accepted 2, chat started 3 in its session, cart add 30 (the window's last instant)
        {"type": "decision", "visitor_id": "v1", "session_id": "v1a", "ts": t(0), "offer_id": "o1", "name": "alpha", "status": "offered"},
        {"type": "offer", "visitor_id": "v1", "session_id": "v1a", "ts": t(1), "offer_id": "o1", "status": "shown"},
        {"type": "offer", "visitor_id": "v1", "session_id": "v1a", "ts": t(2), "offer_id": "o1", "status": "accepted"},
        {"type": "chat.started", "visitor_id": "v1", "session_id": "v1a", "ts": t(3), "interaction_id": "c1"},
        {"type": "cart_action", "visitor_id": "v1", "session_id": "v1a", "ts": t(30), "action": "add"},
        # v2: offered at 5, never answered (ignored: 10 s passed by now = 30); a purchase of 5 is no outcome,
        # a chat start in its session is no conversation (never accepted)
        {"type": "decision", "visitor_id": "v2", "session_id": "v2a", "ts": t(5), "offer_id": "o2", "name": "alpha", "status": "offered"},
        {"type": "custom", "visitor_id": "v2", "session_id": "v2a", "ts": t(6), "name": "purchase", "properties": {"value": 5}},
        {"type": "chat.started", "visitor_id": "v2", "session_id": "v2a", "ts": t(7), "interaction_id": "c2"},
        # v3: held out at 7, a purchase of 12 at 38 (31 s later: outside the window), a cart add at 37 (inside)
        {"type": "decision", "visitor_id": "v3", "session_id": "v3a", "ts": t(7), "offer_id": "o3", "name": "alpha", "status": "held_out", "properties": {"reason": "holdout"}},
        {"type": "custom", "visitor_id": "v3", "session_id": "v3a", "ts": t(38), "name": "purchase", "properties": {"value": 12}},
        {"type": "cart_action", "visitor_id": "v3", "session_id": "v3a", "ts": t(37), "action": "add"},
        # v5: blocked (cooldown) at 8, then a search "buy shoes" (a glob outcome, tested in Python): blocked, no outcome
        {"type": "decision", "visitor_id": "v5", "session_id": "v5a", "ts": t(8), "offer_id": "o4", "name": "beta", "status": "blocked", "properties": {"reason": "cooldown"}},
        {"type": "search_event", "visitor_id": "v5", "session_id": "v5a", "ts": t(9), "query": "buy shoes"},
        # v4: held out for beta at 10, a "Buy shoes" search at 11: converted through the Python-tested outcome;
        # then offered beta at 12 (not its first beta decision: the lift counts the held-out one)
        {"type": "decision", "visitor_id": "v4", "session_id": "v4a", "ts": t(10), "offer_id": "o5", "name": "beta", "status": "held_out", "properties": {"reason": "holdout"}},
        {"type": "search_event", "visitor_id": "v4", "session_id": "v4a", "ts": t(11), "query": "Buy shoes"},
        {"type": "decision", "visitor_id": "v4", "session_id": "v4b", "ts": t(12), "offer_id": "o6", "name": "beta", "status": "offered"},
        # v6: offered gamma at 20; now (30) is exactly its offer_ttl later: not yet ignored
        {"type": "decision", "visitor_id": "v6", "session_id": "v6a", "ts": t(20), "offer_id": "o7", "name": "gamma", "status": "offered"},
        # v7: offered gamma at 15; an acceptance at 12 (before it: still its answer, as the fold reads it),
        # but the chat start and the cart add at 14 came before the decision: no conversation, no outcome
        {"type": "decision", "visitor_id": "v7", "session_id": "v7a", "ts": t(15), "offer_id": "o8", "name": "gamma", "status": "offered"},
        {"type": "offer", "visitor_id": "v7", "session_id": "v7a", "ts": t(12), "offer_id": "o8", "status": "accepted"},
        {"type": "chat.started", "visitor_id": "v7", "session_id": "v7a", "ts": t(14), "interaction_id": "c7"},
        {"type": "cart_action", "visitor_id": "v7", "session_id": "v7a", "ts": t(14), "action": "add"},
        # outcome 4 (custom, name not purchase/view, flag = true): v6's JSON true converts o7 (as Python's
        # True == 1 would); v7's flag "true" is a string: no outcome
        {"type": "custom", "visitor_id": "v6", "session_id": "v6a", "ts": t(25), "name": "other", "properties": {"flag": True}},
        {"type": "custom", "visitor_id": "v7", "session_id": "v7a", "ts": t(16), "name": "other", "properties": {"flag": "true"}},
    ])
    query = ReportQuery(site, t(0), t(21), t(30))
    got, _, _ = skill_numbers(store, query, SKILLS.policy, SKILLS.names)
    assert got == DecisionReader(store, lambda: None, SKILLS).report(site, t(0), t(21), t(30))
    alpha, beta, gamma = got
    # alpha: o1 offered/shown/accepted/conversation/converted (cart add at exactly 30 s),
    # o2 offered and ignored, o3 held out and converted (cart add 30 s after it)
    assert {k: alpha[k] for k in ("qualified", "offered", "heldOut", "shown", "accepted", "ignored", "conversations", "converted")} == {
        "qualified": 3, "offered": 2, "heldOut": 1, "shown": 1, "accepted": 1, "ignored": 1, "conversations": 1, "converted": 2}
    # lift: offered visitors v1 (converted), v2 (not): 1/2; held out v3 (converted): 1/1
    assert alpha["lift"]["offeredVisitors"] == 2 and alpha["lift"]["offeredConverted"] == 1
    assert alpha["lift"]["heldOutVisitors"] == 1 and alpha["lift"]["heldOutConverted"] == 1
    # absolute: 0.5 - 1.0 = -0.5; se = sqrt(0.25/2 + 0) = 0.353553 -> -0.5 -/+ 1.959964 * 0.353553
    assert alpha["lift"]["absoluteLift"] == {"value": -0.5, "low": round(-0.5 - 1.959964 * math.sqrt(0.125), 6),
                                             "high": round(-0.5 + 1.959964 * math.sqrt(0.125), 6)}
    # beta: o4 blocked (cooldown); o5 held out, converted by the glob outcome; o6 offered, not
    # converted (the search at 11 came before it)
    assert (beta["qualified"], beta["blocked"], beta["heldOut"], beta["offered"], beta["converted"], beta["blockedReasons"]) == (
        3, 1, 1, 1, 1, {"cooldown": 1})
    # the lift counts v4 once, held out (its first beta decision), converted
    assert (beta["lift"]["heldOutVisitors"], beta["lift"]["heldOutConverted"], beta["lift"]["offeredVisitors"]) == (1, 1, 0)
    assert {k: gamma[k] for k in ("offered", "accepted", "ignored", "conversations", "converted")} == {
        "offered": 2, "accepted": 1, "ignored": 0, "conversations": 0, "converted": 1}


# ---- 2. Over HTTP, by hand ---------------------------------------------------------------

SORT = {"type": "filter_usage", "category": "kettles", "filterType": "price", "filterValue": "low_to_high"}
MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def send(srv: Server, visitor: str, session: str, events: list[dict[str, Any]], ua: str = BROWSER_UA) -> dict[str, Any]:
    """One browser batch, stamped on arrival (no timestamps): events keep the order they are sent in."""
    for event in events:
        event["id"] = str(uuid.uuid4())
    r = httpx.post(f"{srv.url}/v1/batch", json={"key": srv.keys["public_key"], "visitor_id": visitor, "session_id": session,
                                                 "events": events}, headers={"User-Agent": ua}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def offer(srv: Server, visitor: str, session: str, *statuses: str, **kw: Any) -> None:
    send(srv, visitor, session, [{"type": "offer", "offerId": kw["offer_id"], "status": s} for s in statuses])


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The fixture (shipped skills: value_seeking fires on a price sort, low to high):

        A  desktop  offered; shown, accepted; chat.started in its session; cart add (outcome)
        B  desktop  offered; shown, dismissed; a cart *remove* and a custom "view" (no outcome)
        C  mobile   offered; shown, opted out; a custom "purchase" (outcome)
        D  mobile   offered; no answer (not yet ignored: the 2 min offer_ttl has not passed)
        H1 desktop  held out; chat.completed (outcome)
        H2 mobile   held out; nothing
        A, 2nd session: blocked (cooldown: A had an offer minutes ago)
        E  desktop  chat.opened, then the sort: blocked (chat_open)
    """
    server = start_server(tmp_path_factory.mktemp("intents-http") / "i.duckdb")
    site = server.keys["site_id"]
    names = (f"iv-{i}" for i in range(10_000))
    pick = lambda want: next(v for v in names if held_out("chatlens", site, "value_seeking", v, 0.10) is want)  # noqa: E731
    a, b, c, d, e = (pick(False) for _ in range(5))
    h1, h2 = pick(True), pick(True)
    try:
        ids = {}
        for visitor, ua in ((a, BROWSER_UA), (b, BROWSER_UA), (c, MOBILE_UA), (d, MOBILE_UA), (h1, BROWSER_UA), (h2, MOBILE_UA)):
            answer = send(server, visitor, f"{visitor}-s1", [dict(SORT)], ua)
            ids[visitor] = [o["id"] for o in answer.get("instructions", {}).get("offers", [])]
        assert all(len(ids[v]) == 1 for v in (a, b, c, d)) and ids[h1] == ids[h2] == []
        offer(server, a, f"{a}-s1", "shown", "accepted", offer_id=ids[a][0])
        send(server, a, f"{a}-s1", [{"type": "chat.started", "metadata": {"id": "chat-a"}},
                                     {"type": "cart_action", "action": "add", "productId": "K-1"}])
        offer(server, b, f"{b}-s1", "shown", "dismissed", offer_id=ids[b][0])
        send(server, b, f"{b}-s1", [{"type": "cart_action", "action": "remove", "productId": "K-2"},
                                     {"type": "custom", "name": "view"}])
        offer(server, c, f"{c}-s1", "shown", "opted_out", offer_id=ids[c][0], ua=MOBILE_UA)
        send(server, c, f"{c}-s1", [{"type": "custom", "name": "purchase"}], MOBILE_UA)
        send(server, h1, f"{h1}-s1", [{"type": "chat.completed", "metadata": {"id": "chat-h1"}}])
        assert send(server, a, f"{a}-s2", [dict(SORT)]).get("instructions", {}).get("offers") is None  # cooldown
        send(server, e, f"{e}-s1", [{"type": "chat.opened", "metadata": {"id": "chat-e"}}])
        assert send(server, e, f"{e}-s1", [dict(SORT)]).get("instructions", {}).get("offers") is None  # chat_open
        yield server
    finally:
        server.stop()


def get(srv: Server, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{srv.url}{path}", params=params, headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)


def report(srv: Server, **params: str) -> dict[str, Any]:
    r = get(srv, "/v1/analytics/intents", **params)
    assert r.status_code == 200, r.text
    return r.json()


def metrics(body: dict[str, Any]) -> dict[str, Any]:
    return {m["key"]: m["value"] for m in body["metrics"]}


def table(body: dict[str, Any], key: str) -> list[list[Any]]:
    return next(t["rows"] for t in body["tables"] if t["key"] == key)


def test_headline(srv: Server) -> None:
    # qualified: A, B, C, D, H1, H2, A's 2nd session, E = 8; blocked: 2 (cooldown, chat_open);
    # held out: H1, H2; offered: A, B, C, D; shown: A, B, C; accepted: A (1/3 shown = 33.33%);
    # conversations: A; converted: A (cart add), C (purchase), H1 (chat.completed) = 3
    assert metrics(report(srv)) == {
        "qualified": 8, "blocked": 2, "held_out": 2, "offered": 4, "shown": 3, "accepted": 1,
        "accept_rate": 33.33, "conversations": 1, "converted": 3,
    }


def test_the_skill_table_and_blocked_reasons(srv: Server) -> None:
    body = report(srv)
    rows = {r[0]: r[1:] for r in table(body, "skills")}
    # the shipped skills, in their order, each listed even without decisions
    assert [r[0] for r in table(body, "skills")] == ["out_of_stock", "bundle", "comparison", "value_seeking", "research"]
    # qualified, blocked, held out, offered, shown, accepted, dismissed (B), opted out (C),
    # ignored (none: 2 min have not passed), conversations (A), converted (A, C, H1)
    assert rows["value_seeking"] == [8, 2, 2, 4, 3, 1, 1, 1, 0, 1, 3]
    assert rows["bundle"] == [0] * 11
    assert table(body, "blocked") == [["value_seeking", "chat_open", 1], ["value_seeking", "cooldown", 1]]


def test_the_lift(srv: Server) -> None:
    [row] = [r for r in table(report(srv), "lift") if r[0] == "value_seeking"]
    # offered visitors A, B, C, D (A's blocked 2nd decision does not count): A and C converted
    # -> 2/4 = 50%; held out H1, H2: H1 converted -> 1/2 = 50%; absolute lift 0 points,
    # se = sqrt(0.5*0.5/4 + 0.5*0.5/2) = sqrt(0.1875) = 0.433013 -> +/- 1.959964 * 0.433013 = 84.87 points;
    # relative: ratio 1 -> 0, se(log) = sqrt(0.5/2 + 0.5/1) = sqrt(0.75) = 0.866025 ->
    # exp(-/+ 1.959964 * 0.866025) - 1 = exp(-/+ 1.697378) - 1 = 0.183163 - 1 = -81.68%, 5.459617 - 1 = 445.96%
    assert row == ["value_seeking", 4, 2, 50.0, 2, 1, 50.0, 0.0, -84.87, 84.87, 0.0, -81.68, 445.96]
    [empty] = [r for r in table(report(srv), "lift") if r[0] == "research"]
    assert empty == ["research", 0, 0, None, 0, 0, None, None, None, None, None, None, None]


def test_filter_and_breakdown_by_device(srv: Server) -> None:
    # mobile: C (offered, shown, opted out, converted), D (offered), H2 (held out)
    assert metrics(report(srv, device="mobile")) == {
        "qualified": 3, "blocked": 0, "held_out": 1, "offered": 2, "shown": 1, "accepted": 0,
        "accept_rate": 0.0, "conversations": 0, "converted": 1,
    }
    body = report(srv, breakdown="device")
    # segment, qualified, blocked, held out, offered, shown, accepted, rate, conversations, converted
    assert table(body, "breakdown") == [
        ["desktop", 5, 2, 1, 2, 2, 1, 50.0, 1, 2],  # A, B, H1, A 2nd, E
        ["mobile", 3, 0, 1, 2, 1, 0, 0.0, 0, 1],
    ]
    assert metrics(body)["qualified"] == 8


def test_trend(srv: Server) -> None:
    body = report(srv)
    assert body["interval"] == "day"  # the default range, 30 days
    trend = table(body, "trend")
    assert len(trend) == 31  # 30 days back from now touch 31 dates
    # offered (A, B, C, D), shown (A, B, C), accepted (A), conversations (A): all today
    assert trend[-1][1:] == [4, 3, 1, 1] and all(r[1:] == [0, 0, 0, 0] for r in trend[:-1])
    hours = table(report(srv, interval="hour", **{"from": _iso_hours_ago(3)}), "trend")
    assert len(hours) in (3, 4) and [sum(r[i] for r in hours) for i in (1, 2, 3, 4)] == [4, 3, 1, 1]


def _iso_hours_ago(hours: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_empty_range(srv: Server) -> None:
    body = report(srv, **{"from": "2020-01-01", "to": "2020-01-02", "interval": "day"})
    assert metrics(body) == {"qualified": 0, "blocked": 0, "held_out": 0, "offered": 0, "shown": 0, "accepted": 0,
                             "accept_rate": None, "conversations": 0, "converted": 0}
    assert [r[1:] for r in table(body, "skills")] == [[0] * 11] * 5
    assert table(body, "blocked") == []
    assert all(r[1:] == [0, 0, None, 0, 0, None, None, None, None, None, None, None] for r in table(body, "lift"))
    assert table(body, "trend") == [["2020-01-01", 0, 0, 0, 0]]


def test_v1_intents_keeps_its_shape_and_gives_the_same_numbers(srv: Server) -> None:
    r = get(srv, "/v1/intents")
    assert r.status_code == 200, r.text
    skills = r.json()["skills"]
    assert [s["skill"] for s in skills] == ["out_of_stock", "bundle", "comparison", "value_seeking", "research"]
    [row] = [s for s in skills if s["skill"] == "value_seeking"]
    assert row == {
        "skill": "value_seeking", "qualified": 8, "blocked": 2, "offered": 4, "heldOut": 2, "shown": 3, "accepted": 1,
        "dismissed": 1, "optedOut": 1, "ignored": 0, "conversations": 1, "converted": 3,
        "blockedReasons": {"chat_open": 1, "cooldown": 1},
        "lift": {"offeredVisitors": 4, "offeredConverted": 2, "offeredRate": 0.5, "heldOutVisitors": 2,
                 "heldOutConverted": 1, "heldOutRate": 0.5,
                 # se = sqrt(0.25/4 + 0.25/2) = sqrt(0.1875) = 0.4330127; 1.9599640 * 0.4330127 = 0.848689
                 "absoluteLift": {"value": 0.0, "low": -0.848689, "high": 0.848689},
                 # se(log) = sqrt(0.5/2 + 0.5/1) = 0.8660254; exp(-/+ 1.697378) - 1 = 0.183163 - 1, 5.459617 - 1
                 "relativeLift": {"value": 0.0, "low": -0.816837, "high": 4.459617}},
    }


def test_v1_intents_uses_the_servers_policy(tmp_path: Path) -> None:
    """A skills file with a 1 s offer_ttl: an unanswered offer is ignored a second later."""
    shipped = load_skills(None)
    skills_file = tmp_path / "skills.toml"
    text = (Path(__file__).parents[2] / "src/chatlens/engine/skills.toml").read_text()
    assert 'offer_ttl = "2m"' in text and shipped.policy.offer_ttl_us == 120 * S
    skills_file.write_text(text.replace('offer_ttl = "2m"', 'offer_ttl = "1s"'))
    server = start_server(tmp_path / "t.duckdb", "--skills", str(skills_file))
    try:
        site = server.keys["site_id"]
        visitor = next(v for v in (f"ttl-{i}" for i in range(1000)) if not held_out("chatlens", site, "value_seeking", v, 0.10))
        assert send(server, visitor, "s-ttl", [dict(SORT)])["instructions"]["offers"]
        time.sleep(1.2)
        [row] = [s for s in get(server, "/v1/intents").json()["skills"] if s["skill"] == "value_seeking"]
        assert (row["offered"], row["ignored"]) == (1, 1)
    finally:
        server.stop()
