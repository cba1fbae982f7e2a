"""Conversations as the read API computes them from events (docs/lifecycle.md).

The four scenarios of reference 002 are played through `POST /v1/batch` as a browser
would send them, with known times, and the server's metadata block must equal the one
written out here by hand from 002's definitions.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Server, start_server

T = 1_790_000_000_000  # epoch ms: the scenarios' clock
FALSE_BLOCK = {
    name: False
    for name in (
        "proactive prefilled autoSubmitted coBrowseInitiated filesUploaded numAgents userMessages "
        "agentMessages systemMessages errors form opened started cancelled rejected completed "
        "closed agentReached supervisorReached elapsed waitingForAgent"
    ).split()
}


def auth(srv: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.keys['secret_key']}"}


def get_conversation(srv: Server, conversation_id: str) -> httpx.Response:
    return httpx.get(f"{srv.url}/v1/conversations/{conversation_id}", headers=auth(srv), timeout=30)


def list_conversations(srv: Server, **params: Any) -> httpx.Response:
    return httpx.get(f"{srv.url}/v1/conversations", params=params, headers=auth(srv), timeout=30)


def stage(name: str, at_ms: int, conversation_id: str, **reported: Any) -> dict[str, Any]:
    """A lifecycle event as the browser SDK sends it (its metadata block is the client's
    view; the server computes its own)."""
    return {"type": f"chat.{name}", "id": str(uuid.uuid4()), "timestamp": at_ms, "metadata": {"id": conversation_id, **reported}}


def message(sender: str, at_ms: int, conversation_id: str) -> dict[str, Any]:
    return {"type": "message", "id": str(uuid.uuid4()), "timestamp": at_ms, "conversationId": conversation_id, "sender": sender}


def agent_joined(at_ms: int, conversation_id: str) -> dict[str, Any]:
    return {"type": "CONNECT_TO_AGENT", "id": str(uuid.uuid4()), "timestamp": at_ms, "contactId": conversation_id}


def send(srv: Server, events: list[dict[str, Any]], session: str = "s-1") -> None:
    r = srv.post(srv.envelope(events, session_id=session, sent_at=None))
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


SCENARIOS: dict[str, tuple[list[Any], dict[str, Any], str]] = {
    # ready -> opened -> cancelled -> closed: opened, changed their mind
    "changed_mind": (
        [("ready", 0), ("opened", 1_000), ("cancelled", 4_000), ("closed", 4_500)],
        {"opened": T + 1_000, "cancelled": T + 4_000, "closed": T + 4_500},
        "closed",
    ),
    # ready -> opened -> submitted -> started -> cancelled -> closed: gave up waiting
    "gave_up_waiting": (
        [("ready", 0), ("opened", 1_000), ("submitted", 2_000), ("started", 2_500),
         ("user", 3_000), ("system", 3_100), ("cancelled", 62_500), ("closed", 63_000)],
        {"opened": T + 1_000, "started": T + 2_500, "cancelled": T + 62_500, "closed": T + 63_000,
         "elapsed": 60_000, "userMessages": 1, "systemMessages": 1},
        "closed",
    ),
    # ready -> opened -> submitted -> rejected: failed to start
    "failed_to_start": (
        [("ready", 0), ("opened", 1_000), ("submitted", 2_000), ("rejected", 2_300)],
        {"opened": T + 1_000, "rejected": T + 2_300, "errors": ["E_NO_QUEUE"]},
        "rejected",
    ),
    # ready -> opened -> submitted -> started -> completed -> closed: attended, ended normally
    "completed": (
        [("ready", 0), ("opened", 1_000), ("submitted", 2_000), ("started", 2_500), ("user", 3_000),
         ("agent", 20_500), ("user", 30_000), ("agent", 40_000), ("agent", 50_000), ("completed", 92_500),
         ("closed", 93_000)],
        {"opened": T + 1_000, "started": T + 2_500, "completed": T + 92_500, "closed": T + 93_000,
         "numAgents": 1, "agentReached": T + 20_500, "waitingForAgent": 18_000, "elapsed": 90_000,
         "userMessages": 2, "agentMessages": 3, "form": {"firstname": "Ada"}},
        "closed",
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_four_002_scenarios_reproduce_the_documented_metadata(server: Server, scenario: str) -> None:
    steps, expected, state = SCENARIOS[scenario]
    cid = f"{scenario}-{uuid.uuid4().hex[:8]}"
    events = []
    for what, at in steps:
        if what in ("user", "system"):
            events.append(message(what, T + at, cid))
        elif what == "agent":
            if not any(e["type"] == "CONNECT_TO_AGENT" for e in events):
                events.append(agent_joined(T + at, cid))  # the agent joins, then speaks
            events.append(message("agent", T + at, cid))
        else:
            reported: dict[str, Any] = {}
            if what == "submitted" and scenario == "completed":
                reported["form"] = {"firstname": "Ada"}
            if what == "rejected":
                reported["errors"] = ["E_NO_QUEUE"]
            # What the client claims about counters is not what the server uses.
            events.append(stage(what, T + at, cid, userMessages=99, **reported))
    send(server, events)
    r = get_conversation(server, cid)
    assert r.status_code == 200, r.text
    conv = r.json()
    assert conv["metadata"] == {**FALSE_BLOCK, "id": cid, **expected}
    assert conv["state"] == state
    assert [s["stage"] for s in conv["stages"]] == [s for s, _ in steps if s not in ("user", "agent", "system")]
    assert conv["anomalies"] == [] and conv["flagged"] is False
    assert conv["used"] is any(s == "user" for s, _ in steps)
    assert conv["visitor_id"] == "visitor-1" and conv["session_id"] == "s-1"
    expected_result = "CHAT_ATTENDED" if scenario == "completed" else "START"
    assert conv["result"]["dataKey"] == expected_result


def test_out_of_order_arrival_and_impossible_transitions_are_kept_and_flagged(server: Server) -> None:
    cid = "flagged-" + uuid.uuid4().hex[:8]
    send(server, [stage("ready", T, cid), stage("opened", T + 1000, cid), stage("cancelled", T + 5000, cid)])
    # The submitted event was held back by the client and arrives after cancelled.
    send(server, [stage("submitted", T + 2000, cid), stage("started", T + 500, cid)])
    conv = get_conversation(server, cid).json()
    assert conv["flagged"] is True
    reasons = [(a["to"], a["reason"]) for a in conv["anomalies"]]
    assert ("started", "impossible_transition") in reasons  # before opened, by time
    assert ("submitted", "late") in reasons
    # By time: ready, started (impossible), opened, submitted, cancelled (not after submitted)
    assert [s["stage"] for s in conv["stages"]] == ["ready", "opened", "submitted"]
    assert ("cancelled", "impossible_transition") in reasons
    stored = server.all_events(conversation_id=cid)
    assert len(stored) == 5  # every event is stored, flagged or not


def test_list_filters_by_state_used_result_flagged_and_visitor(server: Server) -> None:
    a, b, c = (f"{n}-{uuid.uuid4().hex[:6]}" for n in "abc")
    send(server, [stage("ready", T, a), stage("opened", T + 1, a), message("user", T + 2, a)], session="s-a")
    send(server, [stage("ready", T + 10, b)], session="s-b")
    r = server.post(server.envelope([stage("ready", T + 20, c), stage("closed", T + 21, c)], visitor_id="other"))
    assert r.status_code == 200

    def ids(**params: Any) -> list[str]:
        r = list_conversations(server, **params)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["conversations"]]

    assert ids() == [c, b, a]  # newest first
    assert ids(state="ready") == [c, b]  # c: ready, then a flagged close
    assert ids(used="true") == [a]
    assert ids(used="false") == [c, b]
    assert ids(flagged="true") == [c]
    assert ids(visitor_id="other") == [c]
    assert ids(result="START") == [c, b, a]
    first = list_conversations(server, limit=2).json()
    assert [x["id"] for x in first["conversations"]] == [c, b]
    rest = list_conversations(server, limit=2, cursor=first["next_cursor"]).json()
    assert [x["id"] for x in rest["conversations"]] == [a]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"state": "waiting"}, "state: must be one of ready"),
        ({"used": "yes"}, "used: must be true or false"),
        ({"limit": "0"}, "limit: must be an integer from 1 to 1000"),
        ({"cursor": "nope"}, "cursor: not a cursor returned by this API"),
        ({"colour": "red"}, "colour: unknown parameter"),
    ],
)
def test_bad_list_parameters_are_named(server: Server, params: dict[str, str], message: str) -> None:
    r = list_conversations(server, **params)
    assert r.status_code == 400 and r.json()["message"].startswith(message), r.text


def test_unknown_conversation_and_wrong_key(server: Server) -> None:
    r = get_conversation(server, "never-seen")
    assert r.status_code == 404 and "never-seen" in r.json()["message"]
    for headers in ({}, {"Authorization": "Bearer ags_" + "0" * 32 + "_000000"}, {"Authorization": f"Bearer {server.keys['public_key']}"}):
        r = httpx.get(f"{server.url}/v1/conversations/x", headers=headers, timeout=30)
        assert r.status_code == 401, r.text


# -- POST /v1/server/batch -------------------------------------------------------------


def server_batch(srv: Server, events: list[dict[str, Any]], key: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{srv.url}/v1/server/batch",
        json={"events": events},
        headers={"Authorization": f"Bearer {key or srv.keys['secret_key']}"},
        timeout=30,
    )


def test_server_batch_checks_the_conversation_exists_and_keeps_valid_siblings(server: Server) -> None:
    cid = "srv-" + uuid.uuid4().hex[:8]
    r = server_batch(
        server,
        [
            {"type": "message", "conversationId": cid, "sender": "user", "content": "too early"},
            {"type": "conversation", "conversationId": cid, "visitorId": "v-9", "customerIp": "198.51.100.7"},
            {"type": "message", "conversationId": cid, "sender": "user", "content": "hello"},
            {"type": "message", "conversationId": "nobody", "sender": "user", "content": "lost?"},
            {"type": "message", "conversationId": cid, "sender": "bot", "content": "hi"},
            {"type": "rating", "conversationId": cid, "rateCode": "5", "comment": "quick"},
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 3
    errors = {x["index"]: x["errors"] for x in body["rejected"]}
    assert errors[0] == [f"events[0].conversationId: unknown conversation {cid!r}; send a conversation event for it first"]
    assert errors[3][0].startswith("events[3].conversationId: unknown conversation 'nobody'")
    assert errors[4] == ["events[4].sender: must be one of 'user', 'agent', 'system', got 'bot'"]
    # Known now: a later request may refer to it.
    assert server_batch(server, [{"type": "message", "conversationId": cid, "sender": "agent", "content": "hi"}]).json()["accepted"] == 1
    conv = get_conversation(server, cid).json()
    assert [m["content"] for m in conv["messages"]] == ["hello", "hi"]
    assert conv["visitor_id"] == "v-9" and conv["used"] is True
    assert conv["ratings"][0]["rateCode"] == "5"
    raw = json.dumps(server.all_events(conversation_id=cid))
    assert "198.51.100.7" not in raw


def test_server_batch_errors(server: Server) -> None:
    r = server_batch(server, [{"type": "conversation", "conversationId": "x"}], key="ags_" + "1" * 32 + "_111111")
    assert r.status_code == 401
    r = httpx.post(f"{server.url}/v1/server/batch", content=b"{", headers=auth(server), timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    r = httpx.post(f"{server.url}/v1/server/batch", json={"events": []}, headers=auth(server), timeout=30)
    assert r.status_code == 400 and r.json()["message"].startswith("events: required")
    r = server_batch(server, [{"type": "conversation", "conversationId": "x", "visitorId": 7}])
    assert r.json()["rejected"] == [{"index": 0, "errors": ["events[0].visitorId: must be a string of 1 to 128 characters"]}]


def test_large_attachments_keep_their_description_only(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "c.duckdb", "--max-attachment", "16")
    try:
        cid = "files-" + uuid.uuid4().hex[:6]
        small, large = "aGVsbG8=", "A" * 400  # 5 bytes; 300 bytes
        r = server_batch(
            srv,
            [
                {"type": "conversation", "conversationId": cid},
                {"type": "attachment", "conversationId": cid, "filename": "a.txt", "mimeType": "text/plain", "content": small},
                {"type": "attachment", "conversationId": cid, "filename": "b.bin", "mimeType": "application/octet-stream", "content": large},
            ],
        )
        assert r.json()["accepted"] == 3, r.text
        files = get_conversation(srv, cid).json()["attachments"]
        assert [(f["filename"], f["hasContent"]) for f in files] == [("a.txt", True), ("b.bin", False)]
        assert files[1]["contentOmitted"] == "larger than the server's attachment limit (16 bytes)"
        assert metadata_files(srv, cid) == 2
    finally:
        srv.stop()


def metadata_files(srv: Server, cid: str) -> int:
    return get_conversation(srv, cid).json()["metadata"]["filesUploaded"]


def test_custom_data_key_priorities_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "chatlens.toml"
    config.write_text('[session_results.priorities]\nPURCHASE = 1\n[session_results.paths]\nPURCHASE = "Sale > Purchase"\n')
    srv = start_server(tmp_path / "c.duckdb", "--config", str(config))
    try:
        cid = "sale-" + uuid.uuid4().hex[:6]
        r = server_batch(
            srv,
            [
                {"type": "conversation", "conversationId": cid},
                {"type": "session_log", "conversationId": cid, "dataKey": "CHAT_ESCALATION_REJECTED"},
                {"type": "session_log", "conversationId": cid, "dataKey": "PURCHASE", "value": {"order": "A-1"}},
            ],
        )
        assert r.json()["accepted"] == 3
        conv = get_conversation(srv, cid).json()
        assert conv["result"] == {"dataKey": "PURCHASE", "priority": 1, "path": "Sale > Purchase"}
        assert [log["dataKey"] for log in conv["session_logs"]] == ["START", "CHAT_ESCALATION_REJECTED", "PURCHASE"]
    finally:
        srv.stop()


def test_session_logs_endpoint_decides_the_result(server: Server) -> None:
    """`POST /v1/conversations/{id}/logs`: reference 004's example, posted by a backend."""
    cid = "logs-" + uuid.uuid4().hex[:6]
    assert server_batch(server, [{"type": "conversation", "conversationId": cid}]).json()["accepted"] == 1

    def post_logs(body: Any, conversation_id: str = cid) -> httpx.Response:
        return httpx.post(f"{server.url}/v1/conversations/{conversation_id}/logs", json=body, headers=auth(server), timeout=30)

    r = post_logs({"logs": [
        {"dataKey": "SEARCH", "logType": "SEARCH", "value": "refund policy"},
        {"dataKey": "CHAT_ESCALATION_REJECTED"},
        {"dataKey": "CHAT_ATTENDED"},
        {"logType": "SEARCH"},
    ]})
    assert r.status_code == 200
    assert r.json()["accepted"] == 3
    assert r.json()["rejected"] == [{"index": 3, "errors": ["events[3].dataKey: required, must be a string"]}]
    conv = get_conversation(server, cid).json()
    assert conv["result"]["path"] == "Escalated > Accepted > Available Agents > Chat Attended"
    assert [(log["dataKey"], log["priority"]) for log in conv["session_logs"]] == [
        ("START", 10), ("SEARCH", 9), ("CHAT_ESCALATION_REJECTED", 2), ("CHAT_ATTENDED", 1)
    ]
    assert conv["session_logs"][1]["value"] == "refund policy"
    assert post_logs({"logs": [{"dataKey": "SEARCH"}]}, "never-made").json()["rejected"][0]["errors"][0].startswith(
        "events[0].conversationId: unknown conversation 'never-made'"
    )
    assert post_logs({"logs": []}).status_code == 400
    assert post_logs([1]).status_code == 400
    r = httpx.post(f"{server.url}/v1/conversations/{cid}/logs", json={"logs": [{"dataKey": "X"}]}, timeout=30)
    assert r.status_code == 401
