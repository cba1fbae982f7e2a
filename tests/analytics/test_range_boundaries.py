"""Which range a visit and a conversation count in, when they cross midnight.

A visit counts in the range where its chat first loaded (engagement, the chat funnel), and
is used there only when the visitor engaged before the range's end. A conversation counts
in the range where it began (as `GET /v1/conversations` lists it), with all its events,
also those after the range's end (chat KPIs, session results). Day 1 is 2026-11-10.

    visit  chat loaded     engaged          conversation
    K      day 1 23:59:50  day 1 23:59:55   ck: started 23:59:58, agent day 2 00:00:10,
                                            completed day 2 00:03:00, session_log
                                            CLICK_MATCH day 2 00:01:00
    L      day 1 23:59:00  day 2 00:01:00   cl: submitted day 2 00:01:00
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import BROWSER_UA, Server, start_server

DAY_1 = {"from": "2026-11-10T00:00:00Z", "to": "2026-11-11T00:00:00Z", "interval": "day"}
DAY_2 = {"from": "2026-11-11T00:00:00Z", "to": "2026-11-12T00:00:00Z", "interval": "day"}
BOTH = {"from": "2026-11-10T00:00:00Z", "to": "2026-11-12T00:00:00Z", "interval": "day"}


def at(day: int, clock: str) -> int:
    return int(dt.datetime.fromisoformat(f"2026-11-{9 + day:02d}T{clock}+00:00").timestamp() * 1000)


def stage(name: str, cid: str, ms: int) -> dict[str, Any]:
    return {"type": f"chat.{name}", "timestamp": ms, "metadata": {"id": cid}}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("boundaries") / "b.duckdb", "--rate-limit", "100000")
    visits = {
        "sk": [
            {"type": "CHAT_LOADED", "timestamp": at(1, "23:59:50")}, stage("ready", "ck", at(1, "23:59:51")),
            stage("opened", "ck", at(1, "23:59:53")), stage("submitted", "ck", at(1, "23:59:55")),
            stage("started", "ck", at(1, "23:59:58")),
            {"type": "CONNECT_TO_AGENT", "contactId": "ck", "timestamp": at(2, "00:00:10")},
            {"type": "session_log", "conversationId": "ck", "dataKey": "CLICK_MATCH", "timestamp": at(2, "00:01:00")},
            stage("completed", "ck", at(2, "00:03:00")),
        ],
        "sl": [
            {"type": "CHAT_LOADED", "timestamp": at(1, "23:59:00")}, stage("ready", "cl", at(1, "23:59:01")),
            stage("opened", "cl", at(2, "00:00:30")), stage("submitted", "cl", at(2, "00:01:00")),
        ],
    }
    try:
        for session, events in visits.items():
            for event in events:
                event["id"] = str(uuid.uuid4())
            body = {"key": server.keys["public_key"], "visitor_id": f"v-{session}", "session_id": session, "events": events}
            r = httpx.post(f"{server.url}/v1/batch", json=body, headers={"User-Agent": BROWSER_UA}, timeout=30)
            assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text
        yield server
    finally:
        server.stop()


def metrics(srv: Server, report: str, params: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(f"{srv.url}/v1/analytics/{report}", params=params,
                  headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)
    assert r.status_code == 200, r.text
    return {m["key"]: m["value"] for m in r.json()["metrics"]}


def test_engagement_counts_a_visit_where_its_chat_loaded_and_uses_only_before_the_end(srv: Server) -> None:
    day_1 = metrics(srv, "engagement", DAY_1)
    assert (day_1["initialized"], day_1["used"], day_1["abandoned"]) == (2, 1, 1)  # L engaged after midnight
    assert metrics(srv, "engagement", DAY_2)["initialized"] == 0
    both = metrics(srv, "engagement", BOTH)
    assert (both["initialized"], both["used"]) == (2, 2)


def test_chat_counts_a_conversation_where_it_began_with_its_later_events(srv: Server) -> None:
    day_1 = metrics(srv, "chat", DAY_1)
    assert day_1["loaded"] == 2 and day_1["conversations"] == 2
    assert (day_1["started"], day_1["completed"], day_1["agent_connected"]) == (1, 1, 1)
    assert day_1["wait_p50"] == 12_000  # 23:59:58 -> 00:00:10
    assert day_1["elapsed_p50"] == 182_000  # 23:59:58 -> 00:03:00
    day_2 = metrics(srv, "chat", DAY_2)
    assert day_2["loaded"] == 0 and day_2["conversations"] == 0 and day_2["completed"] == 0


def test_results_decide_a_conversation_where_it_began_with_its_later_keys(srv: Server) -> None:
    day_1 = metrics(srv, "results", DAY_1)
    # ck: CHAT_ATTENDED (priority 1, day 2) beats CLICK_MATCH (3); cl: START
    assert (day_1["conversations"], day_1["attended"]) == (2, 1)
    assert metrics(srv, "results", DAY_2)["conversations"] == 0
