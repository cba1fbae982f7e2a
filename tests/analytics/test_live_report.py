"""The live report (analytics/live.py) over real HTTP, against numbers worked out by hand.

Events are placed minutes before now (timestamp = now - offset, sent_at = now, so their
`ts` is the arrival time minus the offset); offsets stay well away from the 5- and
30-minute edges, so the few seconds a test takes do not move anything across them.

    V1 desktop s1   page /p/1 -20m, chat.started c1 -10m (open: no end, no agent),
                    page /p/2?x=1 -2m, dwell -1m
    V1 desktop s1b  custom -30s                   (a second visit of V1)
    V2 mobile  s2   CONTACT_STARTED c2 -4m, CONNECT_TO_AGENT c2 -3m (open, an agent),
                    page /p/2 -3m
    V3 desktop s3   chat.started c3 -12m, page /blog -8m, chat.completed c3 -7m (ended)
    V4 desktop s4   page /p/1 -40m, chat.started c6 -40m (no activity for 30 min),
                    custom -1m
    c5 (agent backend, no session, deviceType desktop): conversation -50m,
                    a user message -6m (open: started within 24 h, active, no agent)
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import BROWSER_UA, Server, start_server

MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
BASE = "https://shop.test"
MIN = 60_000  # ms
SENT: list[tuple[int, str, str | None]] = []  # (timestamp ms, type, visitor or None) of everything sent


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def post(srv: Server, visitor: str, session: str, events: list[tuple[int, dict[str, Any]]], ua: str = BROWSER_UA) -> None:
    """A browser batch; each event `offset` ms before now."""
    now = int(time.time() * 1000)
    body = [{**e, "id": str(uuid.uuid4()), "timestamp": _iso(now - offset)} for offset, e in events]
    SENT.extend((now - offset, e["type"], visitor) for offset, e in events)
    r = httpx.post(f"{srv.url}/v1/batch", json={"key": srv.keys["public_key"], "visitor_id": visitor, "session_id": session,
                                                 "sent_at": _iso(now), "events": body}, headers={"User-Agent": ua}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


def server_post(srv: Server, events: list[tuple[int, dict[str, Any]]]) -> None:
    now = int(time.time() * 1000)
    body = [{**e, "id": str(uuid.uuid4()), "timestamp": _iso(now - offset)} for offset, e in events]
    SENT.extend((now - offset, e["type"], None) for offset, e in events)
    r = httpx.post(f"{srv.url}/v1/server/batch", json={"sent_at": _iso(now), "events": body},
                   headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


def view(path: str) -> dict[str, Any]:
    return {"type": "page_view", "url": BASE + path, "pageType": "product"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("live") / "l.duckdb")
    try:
        post(server, "V1", "s1", [(20 * MIN, view("/p/1")), (10 * MIN, {"type": "chat.started", "metadata": {"id": "c1"}}),
                                  (2 * MIN, view("/p/2?x=1")),
                                  (1 * MIN, {"type": "dwell", "url": BASE + "/p/2?x=1", "durationSeconds": 60})])
        post(server, "V1", "s1b", [(30_000, {"type": "custom", "name": "back"})])
        post(server, "V2", "s2", [(4 * MIN, {"type": "CONTACT_STARTED", "contactId": "c2"}),
                                  (3 * MIN, {"type": "CONNECT_TO_AGENT", "contactId": "c2"}), (3 * MIN, view("/p/2"))], MOBILE_UA)
        post(server, "V3", "s3", [(12 * MIN, {"type": "chat.started", "metadata": {"id": "c3"}}), (8 * MIN, view("/blog")),
                                  (7 * MIN, {"type": "chat.completed", "metadata": {"id": "c3"}})])
        post(server, "V4", "s4", [(40 * MIN, view("/p/1")), (40 * MIN, {"type": "chat.started", "metadata": {"id": "c6"}}),
                                  (1 * MIN, {"type": "custom", "name": "still here"})])
        server_post(server, [(50 * MIN, {"type": "conversation", "conversationId": "c5", "deviceType": "desktop"}),
                             (6 * MIN, {"type": "message", "conversationId": "c5", "sender": "user", "content": "hello?"})])
        yield server
    finally:
        server.stop()


def report(srv: Server, **params: str) -> dict[str, Any]:
    r = httpx.get(f"{srv.url}/v1/analytics/live", params=params,
                  headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def metrics(body: dict[str, Any]) -> dict[str, Any]:
    return {m["key"]: m["value"] for m in body["metrics"]}


def table(body: dict[str, Any], key: str) -> list[list[Any]]:
    return next(t["rows"] for t in body["tables"] if t["key"] == key)


def test_headline(srv: Server) -> None:
    # visitors with a browser event in the last 5 min: V1 (-2m, -1m, -30s), V2 (-4m, -3m), V4 (-1m);
    # not V3 (latest -7m). Visits: s1, s1b, s2, s4. Page views: V1 /p/2 (-2m), V2 /p/2 (-3m).
    # Open: c1 (started -10m), c2 (CONTACT_STARTED -4m), c5 (started -50m, message -6m); not c3
    # (completed), not c6 (nothing for 40 min). Waiting: c1 and c5 (c2 has CONNECT_TO_AGENT).
    assert metrics(report(srv)) == {"visitors": 3, "visits": 4, "page_views": 2, "open_conversations": 3, "waiting": 2}


def test_current_pages(srv: Server) -> None:
    # V1's latest page is /p/2?x=1 (query dropped), V2's /p/2; V4's only page is 40 min old
    assert table(report(srv), "pages") == [[f"{BASE}/p/2", 2]]


def test_the_last_30_minutes_by_minute(srv: Server) -> None:
    body = report(srv)
    rows = table(body, "minutes")
    assert len(rows) == 30
    now = dt.datetime.fromisoformat(body["to"].replace("Z", "+00:00"))
    assert rows[-1][0] == now.strftime("%Y-%m-%dT%H:%M:00Z")  # the current, partial minute last
    # In the window (from the start of the minute 29 minutes ago): page views at -20m, -8m,
    # -3m, -2m (not -40m) = 4; starts c1 -10m, c3 -12m, c2 -4m (not c6 -40m, c5 -50m) = 3.
    assert sum(r[3] for r in rows) == 4 and sum(r[4] for r in rows) == 3
    # Per minute, from what was sent: the browser events' visitors and visits in each minute.
    expected: dict[str, set[str]] = {}
    for ms, _, visitor in SENT:
        if visitor is not None:
            expected.setdefault(dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:00Z"), set()).add(visitor)
    assert {r[0]: r[1] for r in rows if r[1]} == {k: len(v) for k, v in expected.items() if k >= rows[0][0]}


def test_filter_and_breakdown_by_device(srv: Server) -> None:
    # mobile: V2 only - one visitor, visit and page view; c2 open with an agent
    body = report(srv, device="mobile")
    assert metrics(body) == {"visitors": 1, "visits": 1, "page_views": 1, "open_conversations": 1, "waiting": 0}
    assert table(body, "pages") == [[f"{BASE}/p/2", 1]]
    # desktop: V1 and V4 (visits s1, s1b, s4), page view V1 /p/2; open c1 and c5 (deviceType desktop), both waiting
    body = report(srv, breakdown="device")
    assert table(body, "breakdown") == [["desktop", 2, 3, 1, 2, 2], ["mobile", 1, 1, 1, 1, 0]]
    assert metrics(body)["visitors"] == 3


def test_from_and_to_are_ignored_and_nothing_matches_an_unknown_trait(srv: Server) -> None:
    body = report(srv, **{"from": "2020-01-01", "to": "2020-01-02"})
    assert metrics(body)["visitors"] == 3
    to = dt.datetime.fromisoformat(body["to"].replace("Z", "+00:00"))
    assert to - dt.datetime.fromisoformat(body["from"].replace("Z", "+00:00")) == dt.timedelta(minutes=30)
    assert abs((dt.datetime.now(dt.UTC) - to).total_seconds()) < 30
    empty = report(srv, **{"trait.plan": "gold"})
    assert metrics(empty) == {"visitors": 0, "visits": 0, "page_views": 0, "open_conversations": 0, "waiting": 0}
    assert table(empty, "pages") == [] and len(table(empty, "minutes")) == 30
    assert all(r[1:] == [0, 0, 0, 0] for r in table(empty, "minutes"))


def test_bad_parameters_are_still_refused(srv: Server) -> None:
    r = httpx.get(f"{srv.url}/v1/analytics/live", params={"breakdown": "colour"},
                  headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)
    assert r.status_code == 400 and r.json()["message"].startswith("breakdown: must be one of")
