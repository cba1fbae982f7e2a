"""Did offers help: the lift arithmetic (uplift.py) with numbers worked out by hand, and
the fold of stored events into decision stories and per-skill reports (decisions.py) on
hand-built rows."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatlens.engine.decisions import Row, fold_decisions, skill_report
from chatlens.engine.skills import parse_skills
from chatlens.engine.uplift import Z95, Lift

S = 1_000_000
MIN = 60 * S
HOUR = 60 * MIN
T0 = 1_750_000_000 * S


# ---- Lift -----------------------------------------------------------------------------


def test_z95_is_the_two_sided_normal_quantile() -> None:
    assert Z95 == pytest.approx(1.959964, abs=1e-6)


def test_absolute_lift_with_a_wald_interval() -> None:
    lift = Lift(offered=200, offered_converted=30, held_out=100, held_out_converted=10)
    assert lift.offered_rate == 0.15
    assert lift.held_out_rate == 0.10
    value, low, high = lift.absolute()  # type: ignore[misc]
    # p1 = 30/200 = 0.15, p0 = 10/100 = 0.10
    # se = sqrt(0.15 * 0.85 / 200 + 0.10 * 0.90 / 100) = sqrt(0.0006375 + 0.0009) = sqrt(0.0015375) = 0.0392110
    se = math.sqrt(0.0015375)
    assert se == pytest.approx(0.039211, abs=1e-6)
    assert value == pytest.approx(0.05, abs=1e-12)
    assert low == pytest.approx(0.05 - 1.959964 * se, abs=1e-6)
    assert high == pytest.approx(0.05 + 1.959964 * se, abs=1e-6)
    assert (low, high) == (pytest.approx(-0.026852, abs=1e-6), pytest.approx(0.126852, abs=1e-6))


def test_relative_lift_with_a_log_ratio_interval() -> None:
    lift = Lift(200, 30, 100, 10)
    value, low, high = lift.relative()  # type: ignore[misc]
    # ratio 0.15 / 0.10 = 1.5 -> lift 0.5
    # se(log ratio) = sqrt((1 - 0.15) / 30 + (1 - 0.10) / 10) = sqrt(0.0283333 + 0.09) = sqrt(0.1183333) = 0.3439961
    se = math.sqrt(0.85 / 30 + 0.9 / 10)
    assert se == pytest.approx(0.343996, abs=1e-6)
    assert value == pytest.approx(0.5, abs=1e-12)
    assert low == pytest.approx(math.exp(math.log(1.5) - 1.959964 * se) - 1, abs=1e-6)
    assert high == pytest.approx(math.exp(math.log(1.5) + 1.959964 * se) - 1, abs=1e-6)
    assert (low, high) == (pytest.approx(-0.235669, abs=1e-6), pytest.approx(1.943752, abs=1e-6))


def test_as_json_rounds_to_six_places() -> None:
    assert Lift(200, 30, 100, 10).as_json() == {
        "offeredVisitors": 200,
        "offeredConverted": 30,
        "offeredRate": 0.15,
        "heldOutVisitors": 100,
        "heldOutConverted": 10,
        "heldOutRate": 0.1,
        "absoluteLift": {"value": 0.05, "low": -0.026852, "high": 0.126852},
        "relativeLift": {"value": 0.5, "low": -0.235669, "high": 1.943752},
    }


def test_no_held_out_visitors_means_no_lift() -> None:
    lift = Lift(100, 10, 0, 0)
    assert lift.offered_rate == 0.1
    assert lift.held_out_rate is None
    assert lift.absolute() is None
    assert lift.relative() is None
    assert Lift(0, 0, 50, 5).absolute() is None
    assert Lift(0, 0, 0, 0).as_json() == {
        "offeredVisitors": 0, "offeredConverted": 0, "offeredRate": None,
        "heldOutVisitors": 0, "heldOutConverted": 0, "heldOutRate": None,
        "absoluteLift": None, "relativeLift": None,
    }


def test_zero_conversions_leave_out_the_relative_lift_only() -> None:
    # no conversion among the offered: absolute -0.1, se = sqrt(0 + 0.1 * 0.9 / 100) = 0.03
    lift = Lift(100, 0, 100, 10)
    assert lift.relative() is None
    value, low, high = lift.absolute()  # type: ignore[misc]
    assert value == pytest.approx(-0.1)
    assert low == pytest.approx(-0.1 - 1.959964 * 0.03, abs=1e-6)
    assert high == pytest.approx(-0.1 + 1.959964 * 0.03, abs=1e-6)
    # none among the held out
    assert Lift(100, 10, 100, 0).relative() is None
    # none anywhere: no difference and no spread
    assert Lift(100, 0, 100, 0).absolute() == (0.0, 0.0, 0.0)
    assert Lift(100, 0, 100, 0).as_json()["relativeLift"] is None


@settings(max_examples=200, deadline=None)
@given(n1=st.integers(1, 5000), n0=st.integers(1, 5000), f1=st.floats(0, 1), f0=st.floats(0, 1))
def test_intervals_contain_their_estimate_and_mirror(n1: int, n0: int, f1: float, f0: float) -> None:
    c1, c0 = round(n1 * f1), round(n0 * f0)
    lift = Lift(n1, c1, n0, c0)
    value, low, high = lift.absolute()  # type: ignore[misc]
    assert low <= value <= high
    assert value == pytest.approx(c1 / n1 - c0 / n0, abs=1e-12)
    mirrored = Lift(n0, c0, n1, c1).absolute()
    assert mirrored is not None
    assert mirrored[0] == pytest.approx(-value, abs=1e-12)
    assert mirrored[2] - mirrored[1] == pytest.approx(high - low, rel=1e-9, abs=1e-12)
    relative = lift.relative()
    if c1 == 0 or c0 == 0:
        assert relative is None
    else:
        assert relative is not None
        assert relative[1] <= relative[0] <= relative[2]
        assert relative[0] == pytest.approx((c1 / n1) / (c0 / n0) - 1, rel=1e-9)


# ---- the fold -------------------------------------------------------------------------

POLICY = parse_skills("""
[engagement]
offer_ttl = "2m"
attribution_window = "1h"

[[engagement.outcome]]
type = "cart_action"
where = { action = "add" }

[[engagement.outcome]]
type = "custom"
where = { name = "purchase" }
""").policy

_n = iter(range(10**9))


def row(type_name: str, ts: int, visitor: str, session: str, **data: object) -> Row:
    return Row(f"r{next(_n):06d}", type_name, ts, visitor, session, dict(data))


def decision(offer_id: str, skill: str, outcome: str, ts: int, visitor: str, session: str,
             reason: str | None = None) -> Row:
    data: dict[str, object] = {"offerId": offer_id, "skill": skill, "decision": outcome, "priority": 3,
                               "message": f"message of {offer_id}", "evidence": [f"ev-{offer_id}"],
                               "data": {"a": {"productId": "A"}}}
    if reason is not None:
        data["reason"] = reason
    return row("decision", ts, visitor, session, **data)


def answer(offer_id: str, status: str, ts: int, visitor: str, session: str) -> Row:
    return row("offer", ts, visitor, session, offerId=offer_id, status=status)


def chat_started(ts: int, visitor: str, session: str, conversation: str) -> Row:
    return row("chat.started", ts, visitor, session, metadata={"id": conversation, "proactive": True})


def cart_add(ts: int, visitor: str, session: str, action: str = "add") -> Row:
    return row("cart_action", ts, visitor, session, action=action, productId="A")


def scenario() -> list[Row]:
    return [
        # o1: offered, shown, accepted, conversation in the same session, then a cart add
        decision("o1", "comparison", "offered", T0, "v1", "s1"),
        answer("o1", "shown", T0 + S, "v1", "s1"),
        answer("o1", "accepted", T0 + 5 * S, "v1", "s1"),
        chat_started(T0 + 6 * S, "v1", "s1", "conv-1"),
        cart_add(T0 + 10 * MIN, "v1", "s1"),
        cart_add(T0 + 20 * MIN, "v1", "s1"),  # only the first outcome counts
        # o2: offered, never answered -> ignored; a chat it did not lead to
        decision("o2", "comparison", "offered", T0, "v2", "s2"),
        chat_started(T0 + 5 * MIN, "v2", "s2", "conv-2"),
        # o3: shown then dismissed; a chat afterwards is not its conversation
        decision("o3", "comparison", "offered", T0 + MIN, "v3", "s3"),
        answer("o3", "shown", T0 + MIN + S, "v3", "s3"),
        answer("o3", "dismissed", T0 + MIN + 30 * S, "v3", "s3"),
        chat_started(T0 + 2 * MIN, "v3", "s3", "conv-3"),
        # o4: blocked; its visitor's cart add is no outcome of a blocked decision
        decision("o4", "comparison", "blocked", T0, "v4", "s4", reason="cooldown"),
        cart_add(T0 + MIN, "v4", "s4"),
        # o5: held out, then a purchase within the window; a stray answer is ignored
        decision("o5", "comparison", "held_out", T0, "v5", "s5", reason="holdout"),
        answer("o5", "shown", T0 + S, "v5", "s5"),
        row("custom", T0 + 30 * MIN, "v5", "s5", name="purchase"),
        # o6: held out; a cart add before the decision, a remove, and an add past the window
        cart_add(T0 - S, "v6", "s6"),
        decision("o6", "comparison", "held_out", T0, "v6", "s6", reason="holdout"),
        cart_add(T0 + MIN, "v6", "s6", action="remove"),
        row("custom", T0 + 2 * MIN, "v6", "s6", name="signup"),
        cart_add(T0 + HOUR + S, "v6", "s6"),
        # research: blocked three times
        decision("o7", "research", "blocked", T0 + 2 * S, "v1", "s1", reason="session_cap"),
        decision("o8", "research", "blocked", T0, "v2", "s2", reason="offer_pending"),
        decision("o9", "research", "blocked", T0, "v9", "s9", reason="session_cap"),
        # o10: v1 offered again in a later session, no outcome this time
        decision("o10", "comparison", "offered", T0 + 2 * HOUR, "v1", "s1b"),
        # o11: accepted, but the chat started in another session
        decision("o11", "comparison", "offered", T0, "v7", "s7"),
        answer("o11", "shown", T0 + S, "v7", "s7"),
        answer("o11", "accepted", T0 + 2 * S, "v7", "s7"),
        chat_started(T0 + 3 * S, "v7", "s7b", "conv-7"),
        # a skill no longer in the file
        decision("o12", "retired", "offered", T0, "v8", "s8"),
        answer("o12", "shown", T0 + S, "v8", "s8"),
        answer("o12", "accepted", T0 + 2 * S, "v8", "s8"),
    ]


NOW = T0 + 3 * HOUR


def stories_by_id(rows: list[Row], now: int = NOW) -> dict[str, object]:
    return {s.offer_id: s for s in fold_decisions(rows, POLICY, now)}


def test_fold_follows_each_decision_through_its_stages() -> None:
    stories = stories_by_id(list(reversed(scenario())))  # the order rows come in does not matter
    o1 = stories["o1"]
    assert o1.stages == {"qualified": T0, "offered": T0, "shown": T0 + S, "accepted": T0 + 5 * S,  # type: ignore[attr-defined]
                         "conversation": T0 + 6 * S, "outcome": T0 + 10 * MIN}
    assert o1.status == "outcome"  # type: ignore[attr-defined]
    assert o1.conversation_id == "conv-1"  # type: ignore[attr-defined]
    assert o1.outcome.ts_us == T0 + 10 * MIN  # type: ignore[attr-defined]
    assert (o1.skill, o1.decision, o1.reason, o1.visitor_id, o1.session_id) == (  # type: ignore[attr-defined]
        "comparison", "offered", None, "v1", "s1")
    assert (o1.message, o1.evidence, o1.data) == ("message of o1", ["ev-o1"], {"a": {"productId": "A"}})  # type: ignore[attr-defined]

    o2 = stories["o2"]
    assert o2.stages == {"qualified": T0, "offered": T0, "ignored": T0 + 2 * MIN}  # type: ignore[attr-defined]
    assert o2.status == "ignored" and o2.conversation_id is None  # type: ignore[attr-defined]

    o3 = stories["o3"]
    assert o3.stages == {"qualified": T0 + MIN, "offered": T0 + MIN, "shown": T0 + MIN + S,  # type: ignore[attr-defined]
                         "dismissed": T0 + MIN + 30 * S}
    assert o3.status == "dismissed" and o3.conversation_id is None  # type: ignore[attr-defined]

    o4 = stories["o4"]
    assert (o4.decision, o4.reason, o4.stages, o4.outcome, o4.status) == ("blocked", "cooldown", {}, None, "blocked")  # type: ignore[attr-defined]

    o5 = stories["o5"]
    assert o5.stages == {"qualified": T0, "held_out": T0, "outcome": T0 + 30 * MIN}  # type: ignore[attr-defined]
    assert o5.status == "outcome"  # type: ignore[attr-defined]

    o6 = stories["o6"]
    assert o6.stages == {"qualified": T0, "held_out": T0}  # type: ignore[attr-defined]
    assert o6.outcome is None and o6.status == "held_out"  # type: ignore[attr-defined]

    o10 = stories["o10"]
    assert o10.stages == {"qualified": T0 + 2 * HOUR, "offered": T0 + 2 * HOUR, "ignored": T0 + 2 * HOUR + 2 * MIN}  # type: ignore[attr-defined]

    o11 = stories["o11"]
    assert o11.status == "accepted" and o11.conversation_id is None and "ignored" not in o11.stages  # type: ignore[attr-defined]


def test_fold_returns_stories_oldest_first() -> None:
    order = [s.offer_id for s in fold_decisions(scenario(), POLICY, NOW)]
    # at T0 the offer ids break the tie
    assert order == ["o1", "o11", "o12", "o2", "o4", "o5", "o6", "o8", "o9", "o7", "o3", "o10"]


def test_an_offer_is_not_ignored_before_its_time_is_up() -> None:
    rows = [decision("o1", "comparison", "offered", T0, "v1", "s1"), answer("o1", "shown", T0 + S, "v1", "s1")]
    [story] = fold_decisions(rows, POLICY, T0 + 2 * MIN)
    assert story.status == "shown" and "ignored" not in story.stages
    [story] = fold_decisions(rows, POLICY, T0 + 2 * MIN + 1)
    assert story.status == "ignored" and story.stages["ignored"] == T0 + 2 * MIN


def test_an_opted_out_offer_is_answered_and_not_left_as_merely_offered() -> None:
    rows = [decision("o1", "comparison", "offered", T0, "v1", "s1"),
            answer("o1", "shown", T0 + S, "v1", "s1"),
            answer("o1", "opted_out", T0 + 2 * S, "v1", "s1")]
    [story] = fold_decisions(rows, POLICY, NOW)
    assert story.stages["opted_out"] == T0 + 2 * S
    assert "ignored" not in story.stages
    assert story.status in {"opted_out", "dismissed"}


def test_conversation_from_a_contact_started_widget_event() -> None:
    rows = [decision("o1", "comparison", "offered", T0, "v1", "s1"),
            answer("o1", "accepted", T0 + S, "v1", "s1"),
            row("CONTACT_STARTED", T0 + 2 * S, "v1", "s1", contactId="contact-1")]
    [story] = fold_decisions(rows, POLICY, NOW)
    assert (story.status, story.conversation_id) == ("conversation", "contact-1")


def test_no_decisions_no_stories() -> None:
    assert fold_decisions([cart_add(T0, "v1", "s1")], POLICY, NOW) == []


def test_skill_report_counts_the_funnel_reasons_and_lift_per_visitor() -> None:
    report = skill_report(fold_decisions(scenario(), POLICY, NOW), ["comparison", "research", "value_seeking"])
    assert [e["skill"] for e in report] == ["comparison", "research", "value_seeking", "retired"]
    comparison, research, value_seeking, retired = report
    lift = comparison.pop("lift")
    assert comparison == {
        "skill": "comparison",
        "qualified": 8,  # o1 o2 o3 o4 o5 o6 o10 o11
        "blocked": 1,
        "offered": 5,  # o1 o2 o3 o10 o11
        "heldOut": 2,  # o5 o6
        "shown": 3,  # o1 o3 o11
        "accepted": 2,  # o1 o11
        "dismissed": 1,  # o3
        "optedOut": 0,
        "ignored": 2,  # o2 o10
        "conversations": 1,  # o1
        "converted": 2,  # o1 o5
        "blockedReasons": {"cooldown": 1},
    }
    # per visitor, first decision: offered v1 (converted), v2, v3, v7; held out v5 (converted), v6
    assert lift == Lift(4, 1, 2, 1).as_json()
    assert lift["offeredRate"] == 0.25 and lift["heldOutRate"] == 0.5
    assert research["qualified"] == 3 and research["blocked"] == 3
    assert research["blockedReasons"] == {"session_cap": 2, "offer_pending": 1}
    assert research["offered"] == research["heldOut"] == research["converted"] == 0
    assert research["lift"]["absoluteLift"] is None and research["lift"]["offeredVisitors"] == 0
    assert value_seeking["qualified"] == 0 and value_seeking["blockedReasons"] == {}
    assert retired["offered"] == 1 and retired["accepted"] == 1 and retired["lift"]["offeredVisitors"] == 1


def test_lift_counts_a_visitor_once_per_skill() -> None:
    rows = [
        decision("a1", "comparison", "offered", T0, "v1", "s1"),
        decision("a2", "comparison", "offered", T0 + HOUR + MIN, "v1", "s2"),
        cart_add(T0 + HOUR + 2 * MIN, "v1", "s2"),  # converts a2, not a1 (past a1's window)
        decision("b1", "research", "offered", T0, "v1", "s1"),
        cart_add(T0 + 5 * MIN, "v1", "s1"),
        decision("h1", "comparison", "held_out", T0, "v2", "s3", reason="holdout"),
        decision("h2", "comparison", "held_out", T0 + MIN, "v2", "s4", reason="holdout"),
        cart_add(T0 + 2 * MIN, "v2", "s4"),
    ]
    report = {e["skill"]: e for e in skill_report(fold_decisions(rows, POLICY, NOW), ["comparison", "research"])}
    # comparison: v1's first decision a1 converted (the add at T0+5m), v2's first h1 converted too
    assert report["comparison"]["offered"] == 2 and report["comparison"]["heldOut"] == 2
    assert report["comparison"]["converted"] == 4
    assert report["comparison"]["lift"] == Lift(1, 1, 1, 1).as_json()
    assert report["research"]["lift"] == Lift(1, 1, 0, 0).as_json()
