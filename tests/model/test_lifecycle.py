"""The conversation fold (model/lifecycle.py) and session results, property by property.

These are pure functions, so hypothesis drives them directly: the HTTP path is covered in
tests/api/test_conversations.py.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chatlens.model.events import LIFECYCLE_STAGES
from chatlens.model.lifecycle import SCENARIOS, TRANSITIONS, ConversationEvent, fold
from chatlens.model.session_results import DEFAULT_DATA_KEYS, DataKeys

T0 = 1_790_000_000_000_000  # us
KEYS = DataKeys()
# Every path the state machine accepts: the four scenarios of reference 002, and the same
# paths begun at `opened` (a widget reopened after closing).
VALID_PATHS = [*SCENARIOS.values(), *(path[1:] for path in SCENARIOS.values())]


def stage_event(stage: str, n: int, *, received: int | None = None, **metadata: Any) -> ConversationEvent:
    ts = T0 + n * 1_000_000
    return ConversationEvent(
        event_id=str(uuid.UUID(int=n)),
        type=f"chat.{stage}",
        ts_us=ts,
        client_ts_us=ts,
        received_us=ts if received is None else received,
        data={"metadata": {"id": "c1", **metadata}},
    )


def event(type_name: str, n: int, **data: Any) -> ConversationEvent:
    ts = T0 + n * 1_000_000
    return ConversationEvent(str(uuid.UUID(int=10_000 + n)), type_name, ts, ts, ts, data)


def is_valid_prefix(stages: list[str]) -> bool:
    return any(tuple(stages) == path[: len(stages)] for path in VALID_PATHS)


def test_the_transition_table_is_exactly_the_four_scenarios() -> None:
    """Every edge of the state machine comes from a scenario of reference 002, and every
    step of every scenario is an edge."""
    edges = {(a, b) for a, nexts in TRANSITIONS.items() for b in nexts}
    from_paths = {(None, path[0]) for path in VALID_PATHS} | {
        pair for path in VALID_PATHS for pair in itertools.pairwise(path)
    }
    assert edges == from_paths


@given(st.sampled_from(VALID_PATHS).flatmap(lambda p: st.integers(1, len(p)).map(lambda n: p[:n])))
def test_a_valid_path_gives_its_last_stage_and_no_anomalies(path: tuple[str, ...]) -> None:
    conv = fold("c1", [stage_event(s, i) for i, s in enumerate(path)], KEYS)
    assert conv.state == path[-1]
    assert [s["stage"] for s in conv.stages] == list(path)
    assert conv.anomalies == []


@given(st.lists(st.sampled_from(LIFECYCLE_STAGES), min_size=1, max_size=12))
def test_any_sequence_is_kept_whole_and_the_accepted_part_is_a_valid_path(stages: list[str]) -> None:
    """Whatever a widget sends, every stage event is either a step of a valid path or an
    anomaly with a reason: nothing is silently dropped, and the state is always reachable."""
    events = [stage_event(s, i) for i, s in enumerate(stages)]
    conv = fold("c1", events, KEYS)
    accepted = [s["stage"] for s in conv.stages]
    assert is_valid_prefix(accepted)
    assert conv.state == (accepted[-1] if accepted else None)
    flagged = {a["event_id"] for a in conv.anomalies}
    kept = {s["event_id"] for s in conv.stages}
    assert flagged | kept == {e.event_id for e in events} and not flagged & kept
    for anomaly in conv.anomalies:
        assert anomaly["reason"] in ("impossible_transition", "repeated_stage", "after_end")


@given(st.sampled_from(list(SCENARIOS.values())), st.randoms(use_true_random=False))
def test_arrival_order_does_not_change_the_conversation(path: tuple[str, ...], rnd: Any) -> None:
    """Events are replayed in time order: a batch that arrives late changes nothing but a
    `late` note."""
    in_order = [stage_event(s, i) for i, s in enumerate(path)]
    arrival = list(range(len(path)))
    rnd.shuffle(arrival)
    shuffled = [stage_event(s, i, received=T0 + 10**9 + arrival[i]) for i, s in enumerate(path)]
    rnd.shuffle(shuffled)
    a, b = fold("c1", in_order, KEYS), fold("c1", shuffled, KEYS)
    assert (a.state, a.metadata, [s["stage"] for s in a.stages]) == (b.state, b.metadata, [s["stage"] for s in b.stages])
    assert {x["reason"] for x in b.anomalies} <= {"late"}
    expect_late = {i for i in range(len(path)) if any(arrival[j] < arrival[i] for j in range(i + 1, len(path)))}
    assert {x["event_id"] for x in b.anomalies} == {str(uuid.UUID(int=i)) for i in expect_late}


def test_each_anomaly_reason() -> None:
    conv = fold(
        "c1",
        [
            stage_event("ready", 0),
            stage_event("started", 1),  # skipped opened and submitted
            stage_event("opened", 2),
            stage_event("opened", 3),  # again
            stage_event("submitted", 4),
            stage_event("rejected", 5),
            stage_event("closed", 6),  # nothing follows a rejection in 002
        ],
        KEYS,
    )
    assert [(a["to"], a["reason"]) for a in conv.anomalies] == [
        ("started", "impossible_transition"),
        ("opened", "repeated_stage"),
        ("closed", "after_end"),
    ]
    assert conv.state == "rejected"


def test_used_by_a_used_conversation_event_or_a_visitor_message_and_it_sticks() -> None:
    only_available = fold("c1", [event("conversation", 0, used=False), event("message", 1, sender="agent")], KEYS)
    assert not only_available.used
    by_message = fold("c1", [event("conversation", 0), event("message", 1, sender="user")], KEYS)
    assert by_message.used and by_message.used_at == T0 + 1_000_000
    sticky = fold("c1", [event("conversation", 0, used=True), event("conversation", 1, used=False)], KEYS)
    assert sticky.used and sticky.used_at == T0


# -- session results -------------------------------------------------------------------

ALL_KEYS = sorted(DEFAULT_DATA_KEYS)


@given(st.lists(st.sampled_from(ALL_KEYS + ["MY_CUSTOM_KEY"]), max_size=15), st.randoms(use_true_random=False))
def test_the_result_is_the_highest_priority_key_whatever_the_order(names: list[str], rnd: Any) -> None:
    shuffled = names[:]
    rnd.shuffle(shuffled)
    prioritized = [KEYS.get(n).priority for n in names if KEYS.get(n).priority]
    for order in (names, shuffled):
        result = KEYS.result(order)
        if not prioritized:
            assert result is None  # 0-priority keys never decide
        else:
            assert result is not None and result.priority == min(prioritized)
            # ties go to the earliest
            assert result.name == next(n for n in order if KEYS.get(n).priority == result.priority)


@given(st.lists(st.sampled_from([k for k in ALL_KEYS if DEFAULT_DATA_KEYS[k].priority == 0]), min_size=1))
@settings(max_examples=50)
def test_zero_priority_keys_never_decide_a_conversation(names: list[str]) -> None:
    """A conversation always has START (priority 10); keys of priority 0 never beat it."""
    events = [event("conversation", 0)] + [event("session_log", i + 1, dataKey=n) for i, n in enumerate(names)]
    conv = fold("c1", events, KEYS)
    assert conv.result == {"dataKey": "START", "priority": 10, "path": "Start"}
    assert [log["dataKey"] for log in conv.session_logs] == ["START", *names]


def test_reference_004_example_escalated_then_attended() -> None:
    """004: the visitor rejects an escalation, later accepts one and an agent attends."""
    events = [
        event("conversation", 0),
        event("session_log", 1, dataKey="SEARCH", value="refund"),
        event("session_log", 2, dataKey="CHAT_ESCALATION_REJECTED"),
        event("session_log", 3, dataKey="CHAT_ATTENDED"),
    ]
    conv = fold("c1", events, KEYS)
    assert conv.result == {
        "dataKey": "CHAT_ATTENDED",
        "priority": 1,
        "path": "Escalated > Accepted > Available Agents > Chat Attended",
    }


def test_custom_keys_take_their_configured_priority() -> None:
    keys = DataKeys({"PURCHASE": (1, "Sale > Purchase"), "NEWSLETTER": 9})
    events = [
        event("conversation", 0),
        event("session_log", 1, dataKey="NEWSLETTER"),
        event("session_log", 2, dataKey="CHAT_NO_AGENTS"),
        event("session_log", 3, dataKey="PURCHASE"),
    ]
    assert fold("c1", events, keys).result == {"dataKey": "PURCHASE", "priority": 1, "path": "Sale > Purchase"}
    # Unconfigured, a custom key has priority 0 and CHAT_NO_AGENTS decides.
    assert fold("c1", events, KEYS).result["dataKey"] == "CHAT_NO_AGENTS"  # type: ignore[index]


def test_docs_list_every_prioritized_key_with_its_priority_and_path() -> None:
    """docs/lifecycle.md's priority table is reference 004's, and it is what the code uses."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "lifecycle.md").read_text()
    table = doc.split("| priority | data key | readable path |", 1)[1].split("\n\n", 1)[0]
    rows = set()
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit() and cells[1].startswith("`"):
            rows.add((int(cells[0]), cells[1].split("`")[1], cells[2]))
    expected = {(k.priority, k.name, k.path) for k in DEFAULT_DATA_KEYS.values() if k.priority}
    assert rows == expected
