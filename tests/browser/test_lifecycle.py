"""Reference 002's four lifecycle scenarios, driven through `chatlens.chat.*`.

Each step is one call, timed in the page (`Date.now()` just before and after it), and a
model of docs/sdk.md's table says what the metadata must be after it. The stored
`chat.*` events must come in the scenario's order, all with the interaction's id and the
metadata the model predicts: flags and counters, timestamps set (within the call's time)
when due and `false` before, `elapsed` and `waitingForAgent` consistent with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from .helpers import METADATA_FIELDS, WIDGET_TYPES, is_uuid7

FORM = {"firstname": "Ada", "email": "ada@example.com", "subject": "Order 1234"}


@dataclass
class Window:
    before: int
    after: int


class Model:
    """The metadata of docs/sdk.md's table; timestamps are the call windows."""

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.interactions = 0
        self.contact: str | None = None
        self.reset()
        self.interactions = 0  # counts the interactions that the calls start

    def reset(self) -> None:
        self.meta = {name: False for name in METADATA_FIELDS if name != "id"}
        self.interactions += 1
        self.contact = None

    def apply(self, call: str, arg: Any, now: Window) -> tuple[list[str], list[str]]:
        """Apply one call; returns (chat.* types emitted, widget types emitted)."""
        m = self.meta
        if call == "loaded":
            self.reset()
            return ["chat.ready"], ["CHAT_LOADED"]
        if call == "visible":
            return [], ["CHAT_VISIBLE"]
        if call == "opened":
            if m["closed"] is not False:
                self.reset()
                m = self.meta
            m["opened"] = now
            return ["chat.opened"], []
        if call == "submitted":
            m["form"] = arg if arg is not None else False
            return ["chat.submitted"], []
        if call == "started":
            m["started"] = now
            self.contact = arg
            return ["chat.started"], ["CONTACT_STARTED"]
        if call == "queued":
            return [], ["TRANSFER_TO_QUEUE"]
        if call == "agentJoined":
            m["numAgents"] = (m["numAgents"] or 0) + 1
            if m["agentReached"] is False:
                m["agentReached"] = now
                m["waitingForAgent"] = ("since", "started", "agentReached")
            return [], ["CONNECT_TO_AGENT"]
        if call == "cancelled":
            m["cancelled"] = now
            if m["started"] is not False:
                m["elapsed"] = ("since", "started", "cancelled")
                return ["chat.cancelled"], ["CONTACT_ENDED"]
            return ["chat.cancelled"], []
        if call == "rejected":
            m["rejected"] = now
            if arg is not None:
                m["errors"] = [*(m["errors"] or []), arg]
            return ["chat.rejected"], []
        if call == "completed":
            m["completed"] = now
            m["elapsed"] = ("since", "started", "completed")
            return ["chat.completed"], ["CONTACT_ENDED"]
        if call == "closed":
            m["closed"] = now
            return ["chat.closed"], []
        if call == "message":
            key = {"user": "userMessages", "agent": "agentMessages", "system": "systemMessages"}[arg]
            m[key] = (m[key] or 0) + 1
            return [], []
        if call == "fileUploaded":
            m["filesUploaded"] = (m["filesUploaded"] or 0) + 1
            return [], []
        if call == "supervisorReached":
            if m["supervisorReached"] is False:
                m["supervisorReached"] = now
            return [], []
        if call == "error":
            m["errors"] = [*(m["errors"] or []), arg]
            return [], []
        if call == "flags":
            m.update(arg)
            return [], []
        raise ValueError(call)

    def snapshot(self) -> dict[str, Any]:
        return dict(self.meta)


def check_metadata(actual: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    assert set(METADATA_FIELDS) <= set(actual), f"{where}: metadata lacks {sorted(set(METADATA_FIELDS) - set(actual))}"
    assert is_uuid7(actual["id"]), f"{where}: metadata.id {actual['id']!r} is not a UUIDv7"
    for name, want in expected.items():
        got = actual[name]
        if isinstance(want, Window):
            assert isinstance(got, int) and not isinstance(got, bool), f"{where}: {name} must be epoch ms, got {got!r}"
            assert want.before <= got <= want.after, f"{where}: {name}={got} not within the call ({want.before}..{want.after})"
        elif isinstance(want, tuple):  # a duration: end - start of the stored timestamps
            _, start, end = want
            assert isinstance(got, int) and not isinstance(got, bool), f"{where}: {name} must be ms, got {got!r}"
            assert abs(got - (actual[end] - actual[start])) <= 2, (
                f"{where}: {name}={got} but {end} - {start} = {actual[end] - actual[start]}"
            )
        else:
            assert got == want, f"{where}: metadata.{name} = {got!r}, expected {want!r}"


def run_steps(browse: Any, page: Any, steps: list[tuple[str, Any]]) -> tuple[list[tuple[str, dict]], list[tuple[str, str | None]], Model]:
    """Run the calls; returns the expected chat.* events with their metadata, the
    expected widget events with their contact, and the model."""
    model = Model()
    expected_chat: list[tuple[str, dict]] = []
    expected_widget: list[tuple[str, str | None]] = []
    for call, arg in steps:
        window = page.evaluate(
            """([call, arg]) => {
                const before = Date.now();
                if (arg === null) chatlens.chat[call](); else chatlens.chat[call](arg);
                return [before, Date.now()];
            }""",
            [call, arg],
        )
        chat_types, widget_types = model.apply(call, arg, Window(*window))
        for t in chat_types:
            expected_chat.append((t, model.snapshot()))
        for t in widget_types:
            expected_widget.append((t, model.contact))
        page.wait_for_timeout(40)
    return expected_chat, expected_widget, model


SCENARIOS = {
    # ready -> opened -> cancelled -> closed
    "opened_then_cancelled": [
        ("loaded", "help_faq_bot"),
        ("opened", None),
        ("cancelled", None),
        ("closed", None),
    ],
    # ready -> opened -> submitted -> started -> cancelled -> closed
    "cancelled_before_agent": [
        ("loaded", "help_faq_bot"),
        ("visible", "help_faq_bot"),
        ("opened", None),
        ("submitted", FORM),
        ("started", None),
        ("message", "system"),
        ("message", "user"),
        ("message", "user"),
        ("cancelled", None),
        ("closed", None),
    ],
    # ready -> opened -> submitted -> rejected
    "rejected": [
        ("loaded", "help_faq_bot"),
        ("opened", None),
        ("submitted", FORM),
        ("error", "E_TIMEOUT"),
        ("rejected", "E_NO_AGENTS"),
    ],
    # ready -> opened -> submitted -> started -> completed -> closed
    "completed_with_agent": [
        ("loaded", "help_faq_bot"),
        ("flags", {"proactive": True, "prefilled": True}),
        ("visible", "help_faq_bot"),
        ("opened", None),
        ("flags", {"autoSubmitted": True}),
        ("submitted", FORM),
        ("started", "contact-7f3a"),
        ("message", "user"),
        ("queued", None),
        ("agentJoined", None),
        ("message", "agent"),
        ("message", "user"),
        ("message", "agent"),
        ("fileUploaded", None),
        ("fileUploaded", None),
        ("supervisorReached", None),
        ("agentJoined", None),
        ("message", "agent"),
        ("completed", None),
        ("closed", None),
    ],
}

ORDERS = {
    "opened_then_cancelled": ["chat.ready", "chat.opened", "chat.cancelled", "chat.closed"],
    "cancelled_before_agent": ["chat.ready", "chat.opened", "chat.submitted", "chat.started", "chat.cancelled", "chat.closed"],
    "rejected": ["chat.ready", "chat.opened", "chat.submitted", "chat.rejected"],
    "completed_with_agent": ["chat.ready", "chat.opened", "chat.submitted", "chat.started", "chat.completed", "chat.closed"],
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_lifecycle_scenario(browse, scenario: str) -> None:
    page = browse.open()
    page.evaluate("() => { window.__bus = []; chatlens.subscribe(e => window.__bus.push(JSON.parse(JSON.stringify(e)))); }")
    expected_chat, expected_widget, _ = run_steps(browse, page, SCENARIOS[scenario])
    assert [t for t, _ in expected_chat] == ORDERS[scenario]  # the model agrees with reference 002

    is_chat = lambda e: e["type"].startswith("chat.")  # noqa: E731
    browse.wait_events(len(expected_chat), is_chat, what="chat.* events")
    stored = browse.chronological([e for e in browse.settled() if is_chat(e) or e["type"] in WIDGET_TYPES])
    chat_events = [e for e in stored if is_chat(e)]
    assert [e["type"] for e in chat_events] == ORDERS[scenario]

    ids = {e["data"]["metadata"]["id"] for e in chat_events}
    assert len(ids) == 1, f"one interaction, one metadata.id: {ids}"
    (interaction,) = ids
    for event, (type_, meta) in zip(chat_events, expected_chat):
        check_metadata(event["data"]["metadata"], meta, f"{scenario}/{type_}")

    # the widget events of reference 001 that the same calls emit
    widget = [e for e in stored if e["type"] in WIDGET_TYPES]
    assert [e["type"] for e in widget] == [t for t, _ in expected_widget]
    for event, (type_, contact) in zip(widget, expected_widget):
        if type_ in ("CHAT_LOADED", "CHAT_VISIBLE"):
            assert event["data"].get("chatInstanceName") == "help_faq_bot", event
        else:  # contactId: the one given to started(), or the interaction id
            assert event["data"]["contactId"] == (contact or interaction), event

    # the bus carries the same lifecycle events, with data = {metadata}
    bus = [e for e in page.evaluate("() => window.__bus") if e["type"].startswith("chat.")]
    assert [e["type"] for e in bus] == ORDERS[scenario]
    for on_bus, event in zip(bus, chat_events):
        assert on_bus["data"]["metadata"] == event["data"]["metadata"], (on_bus, event)

    # The server computes the same block from the events (docs/lifecycle.md), on the
    # same clock: stage times, durations, message counts, and the client-only facts.
    browse.wait_events(sum(1 for c, _ in SCENARIOS[scenario] if c == "message"), lambda e: e["type"] == "message", what="messages")
    response = httpx.get(
        f"{browse.chatlens.url}/v1/conversations/{interaction}",
        headers={"Authorization": f"Bearer {browse.site.secret_key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    on_server = response.json()
    client_block = chat_events[-1]["data"]["metadata"]
    # Not seen by the server: files counted by the page only, and agents announced under
    # a contactId other than the interaction id (completed_with_agent starts "contact-7f3a").
    unseen = {"filesUploaded"} | ({"numAgents", "agentReached", "waitingForAgent"} if scenario == "completed_with_agent" else set())
    server_block = {k: v for k, v in on_server["metadata"].items() if k not in unseen}
    assert server_block.keys() == {k for k in client_block if k not in unseen}
    for name, value in server_block.items():
        mine = client_block[name]
        if type(value) is int and type(mine) is int and name not in ("userMessages", "agentMessages", "systemMessages"):
            # The SDK reads the clock for the block and again for the event's timestamp.
            assert abs(value - mine) <= 2, (name, value, mine)
        else:
            assert value == mine, (name, value, mine)
    assert on_server["state"] == ORDERS[scenario][-1][5:] and on_server["anomalies"] == []
    assert on_server["used"] is any(c == "message" and a == "user" for c, a in SCENARIOS[scenario])


def test_opening_again_after_closed_starts_a_new_interaction(browse) -> None:
    page = browse.open()
    steps = [
        ("loaded", None),
        ("opened", None),
        ("message", "user"),
        ("error", "E_NETWORK"),
        ("cancelled", None),
        ("closed", None),
        ("opened", None),
    ]
    expected_chat, _, model = run_steps(browse, page, steps)
    assert model.interactions == 2
    browse.wait_events(len(expected_chat), lambda e: e["type"].startswith("chat."))
    chat_events = browse.chronological([e for e in browse.settled() if e["type"].startswith("chat.")])
    assert [e["type"] for e in chat_events] == ["chat.ready", "chat.opened", "chat.cancelled", "chat.closed", "chat.opened"]
    first, second = chat_events[0]["data"]["metadata"]["id"], chat_events[-1]["data"]["metadata"]["id"]
    assert first != second, "chat.opened after chat.closed must start a new interaction (new metadata.id)"
    assert all(e["data"]["metadata"]["id"] == first for e in chat_events[:4])
    for event, (type_, meta) in zip(chat_events, expected_chat):
        check_metadata(event["data"]["metadata"], meta, type_)
