"""The chat report (references 001, 002) over real HTTP, against numbers worked out by hand.

Every event has an explicit past `timestamp` and the batches carry no `sent_at`, so each
event's `ts` is its timestamp. Day 1 is 2026-11-10, day 2 is 2026-11-11 (UTC).

    visit  device   day  conversation  what happens                                      furthest step
    A      desktop  1    ca   loaded, visible, opened, submitted, started, queued,        completed
                              agent after 15 s, 2 user + 1 agent message events,
                              completed 300 s after start (metadata: 1 file), closed
    B      desktop  1    cb   loaded, visible, opened, submitted, started, queued,        started
                              cancelled 120 s after start (metadata: userMessages 1,
                              errors [E_TIMEOUT]), closed
    C      mobile   2    cc   ready, opened, cancelled, closed (changed their mind)       opened
    D      mobile   2    cd   ready, visible, opened, submitted, rejected                 submitted
                              (metadata errors [E_NO_AGENTS, E_TIMEOUT])
    E      desktop  2    ce   loaded, ready, opened, submitted, started, 3 agent          completed
                              message events, 2 attachments, completed 600 s after
                              start; no CONNECT_TO_AGENT, the metadata reports
                              waitingForAgent 90000, numAgents 1, userMessages 4,
                              filesUploaded 5
    F      desktop  1    cf   loaded, ready                                                loaded
    G      desktop  1    -    loaded, visible (no conversation)                            visible
    H      (none)   2    ch   an agent backend's conversation: 1 user + 1 agent message   loaded
    I      mobile   1    ci   ready, opened, submitted, started, agent after 5 s,         completed
                              completed 185 s after start, closed
    J      desktop  3    cj   ready, opened, submitted, started, agent after 20 s,        agent connected
                              cancelled 60 s after start (only in test_cancelled_after_an_agent)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import BROWSER_UA, Server, start_server

MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
RANGE = {"from": "2026-11-10T00:00:00Z", "to": "2026-11-12T00:00:00Z", "interval": "day"}


def at(day: int, clock: str) -> int:
    """Epoch ms of day 1, 2 or 3 at hh:mm:ss(.fff) UTC."""
    t = dt.datetime.fromisoformat(f"2026-11-{9 + day:02d}T{clock}+00:00")
    return int(t.timestamp() * 1000)


def stage(name: str, cid: str, ms: int, **reported: Any) -> dict[str, Any]:
    return {"type": f"chat.{name}", "timestamp": ms, "metadata": {"id": cid, **reported}}


def widget(kind: str, ms: int, cid: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "timestamp": ms}
    if cid:
        event["contactId"] = cid
    return event


def message(sender: str, cid: str, ms: int) -> dict[str, Any]:
    return {"type": "message", "conversationId": cid, "sender": sender, "timestamp": ms}


def post_visit(srv: Server, session: str, ua: str, events: list[dict[str, Any]]) -> None:
    for event in events:
        event["id"] = str(uuid.uuid4())
    body = {"key": srv.keys["public_key"], "visitor_id": f"v-{session}", "session_id": session, "events": events}
    r = httpx.post(f"{srv.url}/v1/batch", json=body, headers={"User-Agent": ua}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("chat") / "c.duckdb", "--rate-limit", "100000")
    try:
        post_visit(server, "sa", BROWSER_UA, [
            widget("CHAT_LOADED", at(1, "10:00:00")), stage("ready", "ca", at(1, "10:00:00.100")),
            widget("CHAT_VISIBLE", at(1, "10:00:01")), stage("opened", "ca", at(1, "10:00:10")),
            stage("submitted", "ca", at(1, "10:00:20")), stage("started", "ca", at(1, "10:00:30")),
            widget("CONTACT_STARTED", at(1, "10:00:30.100"), "ca"), widget("TRANSFER_TO_QUEUE", at(1, "10:00:31"), "ca"),
            widget("CONNECT_TO_AGENT", at(1, "10:00:45"), "ca"),
            message("user", "ca", at(1, "10:01:00")), message("agent", "ca", at(1, "10:01:10")),
            message("user", "ca", at(1, "10:01:20")),
            stage("completed", "ca", at(1, "10:05:30"), userMessages=2, agentMessages=1, filesUploaded=1, errors=False),
            widget("CONTACT_ENDED", at(1, "10:05:30.100"), "ca"), stage("closed", "ca", at(1, "10:05:40")),
        ])
        post_visit(server, "sb", BROWSER_UA, [
            widget("CHAT_LOADED", at(1, "11:00:00")), stage("ready", "cb", at(1, "11:00:00.100")),
            widget("CHAT_VISIBLE", at(1, "11:00:01")), stage("opened", "cb", at(1, "11:00:05")),
            stage("submitted", "cb", at(1, "11:00:08")), stage("started", "cb", at(1, "11:00:10")),
            widget("TRANSFER_TO_QUEUE", at(1, "11:00:11"), "cb"),
            stage("cancelled", "cb", at(1, "11:02:10"), userMessages=1, errors=["E_TIMEOUT"]),
            stage("closed", "cb", at(1, "11:02:15"), userMessages=1, errors=["E_TIMEOUT"]),
        ])
        post_visit(server, "sc", MOBILE_UA, [
            stage("ready", "cc", at(2, "08:00:00")), stage("opened", "cc", at(2, "08:00:05")),
            stage("cancelled", "cc", at(2, "08:00:07")), stage("closed", "cc", at(2, "08:00:08")),
        ])
        post_visit(server, "sd", MOBILE_UA, [
            stage("ready", "cd", at(2, "09:30:00")), widget("CHAT_VISIBLE", at(2, "09:30:01")),
            stage("opened", "cd", at(2, "09:30:05")), stage("submitted", "cd", at(2, "09:30:10")),
            stage("rejected", "cd", at(2, "09:30:12"), errors=["E_NO_AGENTS", "E_TIMEOUT"]),
        ])
        attachment = {"type": "attachment", "conversationId": "ce", "filename": "a.pdf", "mimeType": "application/pdf"}
        post_visit(server, "se", BROWSER_UA, [
            widget("CHAT_LOADED", at(2, "09:00:00")), stage("ready", "ce", at(2, "09:00:00.100")),
            stage("opened", "ce", at(2, "09:00:02")), stage("submitted", "ce", at(2, "09:00:04")),
            stage("started", "ce", at(2, "09:00:05")),
            message("agent", "ce", at(2, "09:01:00")), message("agent", "ce", at(2, "09:02:00")),
            message("agent", "ce", at(2, "09:03:00")),
            {**attachment, "timestamp": at(2, "09:04:00")}, {**attachment, "timestamp": at(2, "09:05:00")},
            stage("completed", "ce", at(2, "09:10:05"), numAgents=1, agentReached=at(2, "09:01:35"),
                  waitingForAgent=90000, userMessages=4, filesUploaded=5),
        ])
        post_visit(server, "sf", BROWSER_UA, [
            widget("CHAT_LOADED", at(1, "12:00:00")), stage("ready", "cf", at(1, "12:00:00.100")),
        ])
        post_visit(server, "sg", BROWSER_UA, [
            widget("CHAT_LOADED", at(1, "12:30:00")), widget("CHAT_VISIBLE", at(1, "12:30:01")),
        ])
        r = httpx.post(
            f"{server.url}/v1/server/batch",
            json={"events": [
                {"type": "conversation", "conversationId": "ch", "used": True, "timestamp": at(2, "10:00:00")},
                {**message("user", "ch", at(2, "10:00:05")), "id": str(uuid.uuid4())},
                {**message("agent", "ch", at(2, "10:00:06")), "id": str(uuid.uuid4())},
            ]},
            headers={"Authorization": f"Bearer {server.keys['secret_key']}"},
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
        post_visit(server, "si", MOBILE_UA, [
            stage("ready", "ci", at(1, "14:00:00")), stage("opened", "ci", at(1, "14:00:01")),
            stage("submitted", "ci", at(1, "14:00:02")), stage("started", "ci", at(1, "14:00:03")),
            widget("CONNECT_TO_AGENT", at(1, "14:00:08"), "ci"), stage("completed", "ci", at(1, "14:03:08")),
            stage("closed", "ci", at(1, "14:03:10")),
        ])
        # Day 3, outside RANGE: an agent connected, then the visitor cancelled (not a 002 path)
        post_visit(server, "sj", BROWSER_UA, [
            stage("ready", "cj", at(3, "10:00:00")), stage("opened", "cj", at(3, "10:00:01")),
            stage("submitted", "cj", at(3, "10:00:02")), stage("started", "cj", at(3, "10:00:03")),
            widget("CONNECT_TO_AGENT", at(3, "10:00:23"), "cj"), stage("cancelled", "cj", at(3, "10:01:03"), numAgents=1),
        ])
        yield server
    finally:
        server.stop()


def get(srv: Server, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{srv.url}{path}", params=params, headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)


def report(srv: Server, **params: str) -> dict[str, Any]:
    r = get(srv, "/v1/analytics/chat", **{**RANGE, **params})
    assert r.status_code == 200, r.text
    return r.json()


def metrics(body: dict[str, Any]) -> dict[str, Any]:
    return {m["key"]: m["value"] for m in body["metrics"]}


def table(body: dict[str, Any], key: str) -> list[list[Any]]:
    return next(t["rows"] for t in body["tables"] if t["key"] == key)


# Every metric of the whole fixture, worked out from the table in the module docstring.
TOTAL = {
    "loaded": 9,  # visits A..I: every visit has a chat event
    "started_visits": 4,  # A, B, E, I
    "visit_conversion": 44.44,  # 4 / 9
    "conversations": 8,  # ca, cb, cc, cd, ce, cf, ch, ci (G has no interaction id)
    "started": 4,  # ca, cb, ce, ci
    "completed": 3,  # ca, ce, ci
    "completion_rate": 75.0,  # 3 / 4
    "agent_connected": 3,  # ca, ci (CONNECT_TO_AGENT), ce (metadata numAgents 1)
    "cancelled": 2,  # cb, cc
    "abandoned": 1,  # cb: started, then cancelled
    "abandonment_rate": 25.0,  # 1 / 4
    "rejected": 1,  # cd
    "rejection_rate": 20.0,  # 1 / (4 + 1)
    "transferred": 2,  # ca, cb
    "transfer_rate": 50.0,  # 2 / 4
    # waits: ci 5000, ca 15000 (events), ce 90000 (reported): sorted [5000, 15000, 90000]
    "wait_p50": 15000,
    "wait_p90": 75000,  # position 0.9 x 2 = 1.8: 15000 + 0.8 x 75000
    "wait_p99": 88500,  # position 1.98: 15000 + 0.98 x 75000
    # elapsed: cb 120000, ci 185000, ca 300000, ce 600000
    "elapsed_p50": 242500,  # position 1.5: (185000 + 300000) / 2
    "elapsed_p90": 510000,  # position 2.7: 300000 + 0.7 x 300000
    # messages: ca 3 (events), cb 1 (userMessages counter), ce 3 agent events + 4 reported user = 7, ch 2
    "messages": 13,
    "messages_mean": 3.25,  # 13 / 4 conversations with messages
    "messages_p50": 2.5,  # median of [1, 2, 3, 7]
    "files": 3,  # ca 1 (filesUploaded), ce 2 (attachment events win over its reported 5)
    "with_errors": 2,  # cb, cd
}


def test_headline_metrics(srv: Server) -> None:
    body = report(srv)
    assert metrics(body) == TOTAL
    assert [m["type"] for m in body["metrics"] if m["key"].startswith(("wait_", "elapsed_"))] == ["ms"] * 5


def test_funnel(srv: Server) -> None:
    # furthest steps: A 6, B 4, C 2, D 3, E 6, F 0, G 1, H 0, I 6 (0 loaded .. 6 completed)
    assert table(report(srv), "funnel") == [
        ["loaded", "Chat loaded", 9, None, None, 100.0],
        ["visible", "Chat visible", 7, 2, 22.22, 77.78],  # all but F, H
        ["opened", "Chat opened", 6, 1, 14.29, 66.67],  # minus G
        ["submitted", "Form submitted", 5, 1, 16.67, 55.56],  # minus C
        ["started", "Chat started", 4, 1, 20.0, 44.44],  # minus D
        ["agent", "Agent connected", 3, 1, 25.0, 33.33],  # A, E (completed implies it), I
        ["completed", "Chat completed", 3, 0, 0.0, 33.33],
    ]


def test_trend_wait_scenarios_and_errors(srv: Server) -> None:
    body = report(srv)
    # started: day 1 ca cb ci, day 2 ce; completed: ca ci | ce; cancelled: cb | cc; rejected: - | cd
    assert table(body, "trend") == [["2026-11-10", 3, 2, 1, 0], ["2026-11-11", 1, 1, 1, 1]]
    assert table(body, "wait") == [
        ["< 10 s", 1, 33.33],  # ci 5 s
        ["10-30 s", 1, 33.33],  # ca 15 s
        ["30-60 s", 0, 0.0],
        ["1-2 min", 1, 33.33],  # ce 90 s
        ["2-5 min", 0, 0.0],
        ["≥ 5 min", 0, 0.0],
    ]
    rows = table(body, "scenarios")
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("failed_to_start", 1, 12.5),  # cd, of 8 conversations
        ("completed", 3, 37.5),  # ca, ce, ci
        ("gave_up_waiting", 1, 12.5),  # cb
        ("changed_mind", 1, 12.5),  # cc
        ("no_end", 2, 25.0),  # cf, ch
    ]
    assert rows[2][2] == "ready → opened → submitted → started → cancelled → closed"
    # E_TIMEOUT: cb and cd (cb reported it twice: counted once); E_NO_AGENTS: cd; of 2 with errors
    assert table(body, "errors") == [["E_TIMEOUT", 2, 100.0], ["E_NO_AGENTS", 1, 50.0]]
    assert table(report(srv, limit="1"), "errors") == [["E_TIMEOUT", 2, 100.0]]


def test_agrees_with_the_conversation_fold(srv: Server) -> None:
    # The fold's metadata block (GET /v1/conversations/{id}) has the same waits and lengths
    # that the report's percentiles are made of.
    blocks = {cid: get(srv, f"/v1/conversations/{cid}").json()["metadata"] for cid in ("ca", "cb", "ce", "ci")}
    assert [(b["waitingForAgent"], b["elapsed"]) for b in blocks.values()] == [
        (15000, 300000), (False, 120000), (False, 600000), (5000, 185000),
    ]  # ce: no CONNECT_TO_AGENT, so the report falls back to its reported 90000
    assert (blocks["ca"]["userMessages"], blocks["ca"]["agentMessages"]) == (2, 1)


def test_filter_by_device(srv: Server) -> None:
    body = report(srv, device="mobile")  # visits C, D, I
    assert metrics(body) == {
        "loaded": 3, "started_visits": 1, "visit_conversion": 33.33, "conversations": 3, "started": 1,
        "completed": 1, "completion_rate": 100.0, "agent_connected": 1, "cancelled": 1, "abandoned": 0,
        "abandonment_rate": 0.0, "rejected": 1, "rejection_rate": 50.0, "transferred": 0, "transfer_rate": 0.0,
        "wait_p50": 5000, "wait_p90": 5000, "wait_p99": 5000, "elapsed_p50": 185000, "elapsed_p90": 185000,
        "messages": 0, "messages_mean": None, "messages_p50": None, "files": 0, "with_errors": 1,
    }
    # furthest: C 2, D 3, I 6
    assert [r[2] for r in table(body, "funnel")] == [3, 3, 3, 2, 1, 1, 1]
    assert table(body, "errors") == [["E_NO_AGENTS", 1, 100.0], ["E_TIMEOUT", 1, 100.0]]


def test_breakdown_by_device(srv: Server) -> None:
    body = report(srv, breakdown="device")
    assert metrics(body) == TOTAL  # the headline stays the total
    breakdown = next(t for t in body["tables"] if t["key"] == "breakdown")
    keys = [c["key"] for c in breakdown["columns"]]
    rows = {r[0]: dict(zip(keys[1:], r[1:])) for r in breakdown["rows"]}
    assert list(rows) == ["desktop", "mobile", "(none)"]
    assert rows["desktop"] == {  # visits A, B, E, F, G; conversations ca, cb, ce, cf
        "loaded": 5, "started_visits": 3, "visit_conversion": 60.0, "conversations": 4, "started": 3,
        "completed": 2, "completion_rate": 66.67, "agent_connected": 2, "cancelled": 1, "abandoned": 1,
        "abandonment_rate": 33.33, "rejected": 0, "rejection_rate": 0.0, "transferred": 2, "transfer_rate": 66.67,
        # waits [15000, 90000]: p50 52500, p90 15000 + 0.9 x 75000, p99 15000 + 0.99 x 75000
        "wait_p50": 52500, "wait_p90": 82500, "wait_p99": 89250,
        # elapsed [120000, 300000, 600000]: p90 at position 1.8
        "elapsed_p50": 300000, "elapsed_p90": 540000,
        "messages": 11, "messages_mean": 3.67, "messages_p50": 3.0, "files": 3, "with_errors": 1,
    }
    assert rows["mobile"]["conversations"] == 3 and rows["mobile"]["wait_p50"] == 5000
    assert rows["(none)"] == {  # H: the agent backend's conversation, no device
        "loaded": 1, "started_visits": 0, "visit_conversion": 0.0, "conversations": 1, "started": 0,
        "completed": 0, "completion_rate": None, "agent_connected": 0, "cancelled": 0, "abandoned": 0,
        "abandonment_rate": None, "rejected": 0, "rejection_rate": None, "transferred": 0, "transfer_rate": None,
        "wait_p50": None, "wait_p90": None, "wait_p99": None, "elapsed_p50": None, "elapsed_p90": None,
        "messages": 2, "messages_mean": 2.0, "messages_p50": 2.0, "files": 0, "with_errors": 0,
    }


def test_one_day_and_an_empty_range(srv: Server) -> None:
    body = report(srv, **{"from": "2026-11-11T00:00:00Z"})  # day 2: C, D, E, H
    m = metrics(body)
    assert (m["loaded"], m["conversations"], m["started"], m["completed"], m["rejected"], m["cancelled"]) == (4, 4, 1, 1, 1, 1)
    assert table(body, "trend") == [["2026-11-11", 1, 1, 1, 1]]

    body = report(srv, **{"from": "2020-01-01", "to": "2020-01-02"})
    counts = {m["key"] for m in body["metrics"] if m["type"] == "int"}
    assert metrics(body) == {k: 0 if k in counts else None for k in TOTAL}  # rates, times and means: None
    assert len(counts) == 13  # loaded, started_visits, conversations, ..., files, with_errors
    assert [r[2] for r in table(body, "funnel")] == [0] * 7
    assert table(body, "trend") == [["2020-01-01", 0, 0, 0, 0]]
    assert [r[1] for r in table(body, "wait")] == [0] * 6 and table(body, "errors") == []


def test_cancelled_after_an_agent(srv: Server) -> None:
    # J alone (day 3): an agent connected, so its cancellation is not "cancelled before an
    # agent"; by its stages it is still the "gave up waiting" scenario.
    body = report(srv, **{"from": "2026-11-12T00:00:00Z", "to": "2026-11-13T00:00:00Z"})
    m = metrics(body)
    assert (m["conversations"], m["started"], m["agent_connected"], m["cancelled"], m["abandoned"], m["completed"]) == (1, 1, 1, 0, 0, 0)
    assert (m["wait_p50"], m["elapsed_p50"]) == (20000, 60000)  # agent 20 s after start; cancelled 60 s after
    assert [(r[0], r[3]) for r in table(body, "scenarios")] == [
        ("failed_to_start", 0), ("completed", 0), ("gave_up_waiting", 1), ("changed_mind", 0), ("no_end", 0),
    ]
    assert [r[2] for r in table(body, "funnel")] == [1, 1, 1, 1, 1, 1, 0]  # furthest: agent connected
    assert table(body, "trend") == [["2026-11-12", 1, 0, 0, 0]]


def test_bad_parameters(srv: Server) -> None:
    r = get(srv, "/v1/analytics/chat", interval="week")
    assert r.status_code == 400 and r.json()["message"].startswith("interval: must be hour or day"), r.text
    r = get(srv, "/v1/analytics/chat", format="csv", table="nope")
    assert r.status_code == 400
    assert r.json()["message"] == "table: 'nope' is not a table of chat (metrics, funnel, trend, wait, scenarios, errors)"
