"""The results report (reference 004) over real HTTP, against numbers worked out by hand.

Every event has an explicit past `timestamp` and the batches carry no `sent_at`, so each
event's `ts` is its timestamp. Day 1 is 2026-11-10, day 2 is 2026-11-11 (UTC). Data keys
are posted as `session_log` events, in this order within each conversation:

    conv   device   day  data keys (priority)                                    result
    r1     desktop  1    SEARCH (9), CLICK_MATCH (3), CHAT_ESCALATION_REJECTED (2),  CHAT_ATTENDED
                         then CONNECT_TO_AGENT (derived CHAT_ATTENDED, 1)
    r2     mobile   1    SEARCH (9), CLICK_CONTENT (6), CLICK_RELATED (7)            CLICK_CONTENT
    r7     desktop  1    CLICK_MATCH (3), SEARCH (9)                                 CLICK_MATCH
    r3     (none)   2    an agent backend's: USER_INFO (0), MY_CUSTOM_KEY (0)        START (derived, 10)
    r4     desktop  2    SEARCH (9)                                                  SEARCH
    r5     desktop  2    CHAT_UNATTENDED (2), then CHAT_NO_AGENTS (2): a tie          CHAT_UNATTENDED (earliest)
    r6     mobile   2    SEARCH (9)                                                  SEARCH
    ghost  desktop  1    a session_log CLICK_MATCH and a rating, but no lifecycle or  (not a conversation)
                         conversation event

Ratings (rateCode, contentId, comment):
    r1: 5 ans-1 "great"; 4 ans-1        r2: THUMBS_UP ans-2; 1 ans-2 "wrong"
    r4: 5 (no content id)               ghost: 5 ans-1
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BROWSER_UA, Server, start_server

from chatlens.analytics.results import results_report
from chatlens.analytics.scope import parse_report_query
from chatlens.ingest.validate import parse_timestamp
from chatlens.model.session_results import DataKeys
from chatlens.store.duckdb_store import DuckDBStore

MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
RANGE = {"from": "2026-11-10T00:00:00Z", "to": "2026-11-12T00:00:00Z", "interval": "day"}


def at(day: int, clock: str) -> int:
    t = dt.datetime.fromisoformat(f"2026-11-{9 + day:02d}T{clock}+00:00")
    return int(t.timestamp() * 1000)


def log(cid: str, key: str, ms: int) -> dict[str, Any]:
    return {"type": "session_log", "conversationId": cid, "dataKey": key, "timestamp": ms}


def rating(cid: str, code: str, ms: int, content: str | None = None, comment: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "rating", "conversationId": cid, "rateCode": code, "timestamp": ms}
    if content:
        event["contentId"] = content
    if comment:
        event["comment"] = comment
    return event


def ready(cid: str, ms: int) -> dict[str, Any]:
    return {"type": "chat.ready", "metadata": {"id": cid}, "timestamp": ms}


def post_visit(srv: Server, session: str, ua: str, events: list[dict[str, Any]]) -> None:
    for event in events:
        event["id"] = str(uuid.uuid4())
    body = {"key": srv.keys["public_key"], "visitor_id": f"v-{session}", "session_id": session, "events": events}
    r = httpx.post(f"{srv.url}/v1/batch", json=body, headers={"User-Agent": ua}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("results") / "r.duckdb", "--rate-limit", "100000")
    try:
        post_visit(server, "s1", BROWSER_UA, [
            ready("r1", at(1, "10:00:00")), log("r1", "SEARCH", at(1, "10:00:10")), log("r1", "CLICK_MATCH", at(1, "10:00:20")),
            log("r1", "CHAT_ESCALATION_REJECTED", at(1, "10:00:30")),
            {"type": "CONNECT_TO_AGENT", "contactId": "r1", "timestamp": at(1, "10:01:00")},
            rating("r1", "5", at(1, "10:05:00"), "ans-1", "great"), rating("r1", "4", at(1, "10:05:10"), "ans-1"),
        ])
        post_visit(server, "s2", MOBILE_UA, [
            ready("r2", at(1, "11:00:00")), log("r2", "SEARCH", at(1, "11:00:10")), log("r2", "CLICK_CONTENT", at(1, "11:00:20")),
            log("r2", "CLICK_RELATED", at(1, "11:00:30")),
            rating("r2", "THUMBS_UP", at(1, "11:01:00"), "ans-2"), rating("r2", "1", at(1, "11:01:10"), "ans-2", "wrong"),
        ])
        post_visit(server, "s7", BROWSER_UA, [
            ready("r7", at(1, "12:00:00")), log("r7", "CLICK_MATCH", at(1, "12:00:10")), log("r7", "SEARCH", at(1, "12:00:20")),
        ])
        post_visit(server, "sg", BROWSER_UA, [
            log("ghost", "CLICK_MATCH", at(1, "13:00:00")), rating("ghost", "5", at(1, "13:00:10"), "ans-1"),
        ])
        r = httpx.post(
            f"{server.url}/v1/server/batch",
            json={"events": [
                {"type": "conversation", "conversationId": "r3", "timestamp": at(2, "08:00:00")},
                {**log("r3", "USER_INFO", at(2, "08:00:10")), "id": str(uuid.uuid4())},
                {**log("r3", "MY_CUSTOM_KEY", at(2, "08:00:20")), "id": str(uuid.uuid4())},
            ]},
            headers={"Authorization": f"Bearer {server.keys['secret_key']}"},
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
        post_visit(server, "s4", BROWSER_UA, [
            ready("r4", at(2, "09:00:00")), log("r4", "SEARCH", at(2, "09:00:10")), rating("r4", "5", at(2, "09:01:00")),
        ])
        post_visit(server, "s5", BROWSER_UA, [
            ready("r5", at(2, "10:00:00")), log("r5", "CHAT_UNATTENDED", at(2, "10:00:10")),
            log("r5", "CHAT_NO_AGENTS", at(2, "10:00:20")),
        ])
        post_visit(server, "s6", MOBILE_UA, [ready("r6", at(2, "11:00:00")), log("r6", "SEARCH", at(2, "11:00:10"))])
        yield server
    finally:
        server.stop()


def get(srv: Server, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{srv.url}{path}", params=params, headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)


def report(srv: Server, **params: str) -> dict[str, Any]:
    r = get(srv, "/v1/analytics/results", **{**RANGE, **params})
    assert r.status_code == 200, r.text
    return r.json()


def metrics(body: dict[str, Any]) -> dict[str, Any]:
    return {m["key"]: m["value"] for m in body["metrics"]}


def table(body: dict[str, Any], key: str) -> dict[str, Any]:
    return next(t for t in body["tables"] if t["key"] == key)


TOTAL = {
    "conversations": 7,  # r1..r7; ghost has no lifecycle or conversation event
    "with_result": 7,  # START decides at least
    "no_result": 0,
    "attended": 1,  # r1
    "attended_rate": 14.29,  # 1 / 7
    "ratings": 6,  # r1 2, r2 2, r4 1, ghost 1 (ratings count whatever their conversation)
    "rated_conversations": 4,  # r1, r2, r4, ghost
    "rating_mean": 4.0,  # numeric codes 5, 4, 1, 5, 5 (THUMBS_UP is not a number): 20 / 5
    "comments": 2,  # "great", "wrong"
}


def test_headline_metrics(srv: Server) -> None:
    assert metrics(report(srv)) == TOTAL


def test_results_distribution(srv: Server) -> None:
    results = table(report(srv), "results")
    assert [c["key"] for c in results["columns"]] == ["data_key", "path", "priority", "conversations", "share"]
    # most conversations first, then by priority
    assert results["rows"] == [
        ["SEARCH", "Search", 9, 2, 28.57],  # r4, r6: 2 / 7
        ["CHAT_ATTENDED", "Escalated > Accepted > Available Agents > Chat Attended", 1, 1, 14.29],  # r1
        ["CHAT_UNATTENDED", "Escalated > Accepted > Available Agents > Chat Unattended", 2, 1, 14.29],  # r5: tie, earliest
        ["CLICK_MATCH", "Clicked > Match", 3, 1, 14.29],  # r7
        ["CLICK_CONTENT", "Clicked > Content", 6, 1, 14.29],  # r2
        ["START", "Start", 10, 1, 14.29],  # r3: only priority-0 keys
    ]


def test_agrees_with_the_conversation_fold(srv: Server) -> None:
    listed = get(srv, "/v1/conversations", limit="100").json()["conversations"]
    folded = Counter(c["result"]["dataKey"] for c in listed)
    rows = table(report(srv), "results")["rows"]
    assert folded == Counter({r[0]: r[3] for r in rows}) and sum(folded.values()) == 7


def test_trend_has_the_top_five_results_as_columns(srv: Server) -> None:
    trend = table(report(srv), "trend")
    assert trend["chart"] == "line"
    assert [c["key"] for c in trend["columns"]] == [
        "bucket", "SEARCH", "CHAT_ATTENDED", "CHAT_UNATTENDED", "CLICK_MATCH", "CLICK_CONTENT", "other",
    ]
    assert trend["rows"] == [
        ["2026-11-10", 0, 1, 0, 1, 1, 0],  # r1 CHAT_ATTENDED, r7 CLICK_MATCH, r2 CLICK_CONTENT
        ["2026-11-11", 2, 0, 1, 0, 0, 1],  # r4 r6 SEARCH, r5 CHAT_UNATTENDED, r3 START (the sixth: other)
    ]


def test_ratings(srv: Server) -> None:
    body = report(srv)
    # content, ratings, numeric ratings, mean, comments, most given code (ties: smallest), its ratings
    assert table(body, "ratings_by_content")["rows"] == [
        ["ans-1", 3, 3, 4.67, 1, "5", 2],  # 5, 4, 5 (ghost): 14 / 3
        ["ans-2", 2, 1, 1.0, 1, "1", 1],  # THUMBS_UP, 1: tie, "1" < "THUMBS_UP"
        ["(none)", 1, 1, 5.0, 0, "5", 1],  # r4
    ]
    assert table(body, "rate_codes")["rows"] == [
        ["5", 3, 50.0, 1],  # 3 / 6; "great"
        ["1", 1, 16.67, 1],  # "wrong"
        ["4", 1, 16.67, 0],
        ["THUMBS_UP", 1, 16.67, 0],
    ]
    assert [r[0] for r in table(report(srv, limit="2"), "ratings_by_content")["rows"]] == ["ans-1", "ans-2"]


def test_filter_by_device(srv: Server) -> None:
    body = report(srv, device="mobile")  # r2, r6
    assert metrics(body) == {
        "conversations": 2, "with_result": 2, "no_result": 0, "attended": 0, "attended_rate": 0.0,
        "ratings": 2, "rated_conversations": 1, "rating_mean": 1.0, "comments": 1,
    }
    # a tie of one conversation each: the higher priority first
    assert table(body, "results")["rows"] == [["CLICK_CONTENT", "Clicked > Content", 6, 1, 50.0], ["SEARCH", "Search", 9, 1, 50.0]]
    assert table(body, "trend")["rows"] == [["2026-11-10", 1, 0], ["2026-11-11", 0, 1]]


def test_breakdown_by_device(srv: Server) -> None:
    body = report(srv, breakdown="device")
    assert metrics(body) == TOTAL
    # segment, conversations, with_result, no_result, attended, attended_rate, ratings, rated, mean, comments
    assert table(body, "breakdown")["rows"] == [
        ["desktop", 4, 4, 0, 1, 25.0, 4, 3, 4.75, 1],  # r1 r4 r5 r7; ratings r1 x2, r4, ghost: (5+4+5+5) / 4
        ["mobile", 2, 2, 0, 0, 0.0, 2, 1, 1.0, 1],  # r2 r6; ratings THUMBS_UP, 1
        ["(none)", 1, 1, 0, 0, 0.0, 0, 0, None, 0],  # r3
    ]


def test_an_empty_range(srv: Server) -> None:
    body = report(srv, **{"from": "2020-01-01", "to": "2020-01-02"})
    assert metrics(body) == {
        "conversations": 0, "with_result": 0, "no_result": 0, "attended": 0, "attended_rate": None,
        "ratings": 0, "rated_conversations": 0, "rating_mean": None, "comments": 0,
    }
    assert table(body, "results")["rows"] == [] and table(body, "rate_codes")["rows"] == []
    assert table(body, "ratings_by_content")["rows"] == []
    assert table(body, "trend")["rows"] == [["2020-01-01"]]


def test_bad_parameters(srv: Server) -> None:
    r = get(srv, "/v1/analytics/results", breakdown="colour")
    assert r.status_code == 400 and r.json()["message"].startswith("breakdown: must be one of"), r.text
    r = get(srv, "/v1/analytics/results", format="csv", table="nope")
    assert r.json()["message"] == "table: 'nope' is not a table of results (metrics, results, trend, ratings_by_content, rate_codes)"


def test_configured_data_keys_decide(tmp_path: Path) -> None:
    """The report takes the server's data keys (Settings.data_keys): a custom key with a
    priority decides, and START configured to 0 leaves conversations without a result.
    The server writes the events; once it has stopped, the report runs on its file."""
    server = start_server(tmp_path / "k.duckdb", "--rate-limit", "100000")
    try:
        post_visit(server, "k1", BROWSER_UA, [
            ready("k1", at(1, "10:00:00")), log("k1", "SEARCH", at(1, "10:00:10")), log("k1", "PURCHASE", at(1, "10:00:20")),
        ])
        post_visit(server, "k2", BROWSER_UA, [ready("k2", at(1, "11:00:00")), log("k2", "USER_INFO", at(1, "11:00:10"))])
    finally:
        server.stop()
    store = DuckDBStore(tmp_path / "k.duckdb")
    try:
        query = parse_report_query(server.keys["site_id"], RANGE, parse_timestamp)
        report = results_report(store, query, DataKeys({"PURCHASE": (1, "Converted > Purchase"), "START": 0}))
        # k1: PURCHASE (1) beats SEARCH (9); k2: USER_INFO (0) and START (now 0): no result
        assert report.table("results").rows == [
            ["PURCHASE", "Converted > Purchase", 1, 1, 50.0], ["(no result)", "", None, 1, 50.0],
        ]
        assert (report.metric("with_result"), report.metric("no_result")) == (1, 1)
        assert [c.key for c in report.table("trend").columns] == ["bucket", "PURCHASE", "no_result"]
        assert report.table("trend").rows == [["2026-11-10", 1, 1], ["2026-11-11", 0, 0]]
        # the defaults: k1 SEARCH, k2 START
        default = results_report(store, query)
        assert [r[0] for r in default.table("results").rows] == ["SEARCH", "START"]
    finally:
        store.close()
