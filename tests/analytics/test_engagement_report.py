"""The engagement report (reference 003) over real HTTP, against numbers worked out by hand.

The fixture, five visits:

    A  desktop en-US  trait plan=pro  /p/1 (product), widget loads, chat opened,
                                      submitted, started (used), then /blog/x
    B  mobile  de-DE                  /blog/x, widget loads (abandoned)
    C  desktop en-GB                  /c/shoes (category), widget loads, /p/2,
                                      chat opened only (abandoned: opening is not engaging)
    D  mobile  en-US                  /p/1 only: no widget, not initialized
    E  (no session)                   an agent backend's conversation, used, source
                                      mobile_app, language fr, deviceType mobile
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from tests.conftest import BROWSER_UA, Server, start_server

MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
BASE = "https://shop.test"


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def post_visit(srv: Server, visitor: str, session: str, events: list[dict[str, Any]], ua: str, language: str) -> None:
    """One browser batch; events 1 s apart, ending now (sent_at = the last one)."""
    now = int(time.time() * 1000)
    for i, event in enumerate(events):
        event["timestamp"] = _iso(now - (len(events) - 1 - i) * 1000)
        event["id"] = str(uuid.uuid4())
    envelope = {"key": srv.keys["public_key"], "visitor_id": visitor, "session_id": session,
                "sent_at": events[-1]["timestamp"], "events": events}
    r = httpx.post(f"{srv.url}/v1/batch", json=envelope, headers={"User-Agent": ua, "Accept-Language": language}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


def chat(stage: str, cid: str) -> dict[str, Any]:
    return {"type": f"chat.{stage}", "metadata": {"id": cid}}


def view(path: str, page_type: str, **more: Any) -> dict[str, Any]:
    return {"type": "page_view", "url": BASE + path, "pageType": page_type, **more}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("engagement") / "e.duckdb")
    try:
        post_visit(server, "va", "sa", [
            {"type": "identify", "customerId": "cust-a", "traits": {"plan": "pro"}},
            view("/p/1?ref=mail", "product", productId="p1"),
            {"type": "CHAT_LOADED"}, chat("ready", "c1"), chat("opened", "c1"), chat("submitted", "c1"),
            chat("started", "c1"),
            view("/blog/x", "blog"),
        ], BROWSER_UA, "en-US,en;q=0.8")
        post_visit(server, "vb", "sb", [view("/blog/x", "blog"), {"type": "CHAT_LOADED"}], MOBILE_UA, "de-DE")
        post_visit(server, "vc", "sc", [
            view("/c/shoes", "category"), {"type": "CHAT_LOADED"}, view("/p/2", "product", productId="p2"),
            chat("opened", "c2"),
        ], BROWSER_UA, "en-GB")
        post_visit(server, "vd", "sd", [view("/p/1", "product", productId="p1")], MOBILE_UA, "en-US")
        r = httpx.post(
            f"{server.url}/v1/server/batch",
            json={"events": [{"type": "conversation", "conversationId": "c3", "used": True, "source": "mobile_app",
                              "language": "fr", "deviceType": "mobile"}]},
            headers={"Authorization": f"Bearer {server.keys['secret_key']}"},
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        yield server
    finally:
        server.stop()


def report(srv: Server, **params: str) -> dict[str, Any]:
    r = httpx.get(
        f"{srv.url}/v1/analytics/engagement",
        params={"from": _iso(int(time.time() * 1000) - 3_600_000), **params},
        headers={"Authorization": f"Bearer {srv.keys['secret_key']}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()


def metrics(body: dict[str, Any]) -> dict[str, Any]:
    return {m["key"]: m["value"] for m in body["metrics"]}


def table(body: dict[str, Any], key: str) -> list[list[Any]]:
    return next(t["rows"] for t in body["tables"] if t["key"] == key)


def test_headline_metrics(srv: Server) -> None:
    # initialized: A, B, C, E (D never saw the widget); used: A (started), E (used=true)
    assert metrics(report(srv)) == {
        "initialized": 4, "used": 2, "interaction_rate": 50.0, "abandoned": 2, "abandonment_rate": 50.0,
    }


@pytest.mark.parametrize(
    ("params", "initialized", "used"),
    [
        ({"device": "mobile"}, 2, 1),  # B (mobile browser), E (deviceType mobile); E used
        ({"device": "desktop,tablet"}, 2, 1),  # A, C
        ({"language": "en"}, 2, 1),  # A en-US, C en-GB (D is en-US but not initialized)
        ({"language": "en-gb"}, 1, 0),  # C only, case-insensitive
        ({"source": "web"}, 3, 1),  # the browser visits A, B, C
        ({"source": "mobile_app"}, 1, 1),  # E
        ({"page_type": "blog"}, 2, 1),  # A (viewed /blog/x after chatting) and B
        ({"page_type": "category,blog"}, 3, 1),  # either: A and B (blog), C (category)
        ({"url": "/p/*"}, 2, 1),  # A (/p/1?ref=mail), C (/p/2); D is not initialized
        ({"url": "https://shop.test/c/*"}, 1, 0),  # C
        ({"trait.plan": "pro"}, 1, 1),  # A
        ({"trait.plan": "free"}, 0, 0),
        ({"device": "mobile", "language": "de"}, 1, 0),  # B
    ],
)
def test_filters(srv: Server, params: dict[str, str], initialized: int, used: int) -> None:
    m = metrics(report(srv, **params))
    assert (m["initialized"], m["used"]) == (initialized, used)
    assert report(srv, **params)["filters"] == {k: (v.split(",") if k in ("device", "source", "language", "page_type") else v) for k, v in params.items()}


def test_breakdown_by_language_and_trait(srv: Server) -> None:
    body = report(srv, breakdown="language")
    # columns: segment, initialized, used, interaction_rate, abandoned, abandonment_rate
    assert table(body, "breakdown") == [
        ["de-DE", 1, 0, 0.0, 1, 100.0],
        ["en-GB", 1, 0, 0.0, 1, 100.0],
        ["en-US", 1, 1, 100.0, 0, 0.0],
        ["fr", 1, 1, 100.0, 0, 0.0],
    ]
    assert metrics(body)["initialized"] == 4  # the total row is still the headline
    body = report(srv, breakdown="trait.plan")
    assert table(body, "breakdown") == [["pro", 1, 1, 100.0, 0, 0.0], ["(none)", 3, 1, 33.33, 2, 66.67]]
    body = report(srv, breakdown="page_type", device="desktop")  # landing page type, desktop only
    assert table(body, "breakdown") == [["category", 1, 0, 0.0, 1, 100.0], ["product", 1, 1, 100.0, 0, 0.0]]


def test_content_effectiveness_and_placement(srv: Server) -> None:
    body = report(srv)
    # page (query stripped), page type, visits that viewed it, visits that engaged after viewing it
    assert table(body, "content") == [
        [f"{BASE}/p/1", "product", 2, 1, 50.0],  # A (engaged after) and D
        [f"{BASE}/blog/x", "blog", 2, 0, 0.0],  # A viewed it after engaging; B never engaged
        [f"{BASE}/c/shoes", "category", 1, 0, 0.0],
        [f"{BASE}/p/2", "product", 1, 0, 0.0],
    ]
    # Where the widget first loaded / the visitor first engaged: A product/product, B blog,
    # C category, E has no page at all.
    assert table(body, "placement") == [
        ["(unknown)", 1, 1, 100.0],
        ["blog", 1, 0, 0.0],
        ["category", 1, 0, 0.0],
        ["product", 1, 1, 100.0],
    ]
    assert len(table(report(srv, limit="2"), "content")) == 2


def test_trend_and_timing(srv: Server) -> None:
    body = report(srv)
    assert body["interval"] == "hour"  # a range of one hour
    trend = table(body, "trend")
    assert sum(r[1] for r in trend) == 4 and sum(r[2] for r in trend) == 2
    assert len(trend) in (1, 2)  # the hour buckets the range touches
    timing = table(body, "timing")
    assert sum(r[3] for r in timing) == 4 and sum(r[4] for r in timing) == 2
    today = dt.datetime.now(dt.UTC)
    assert {r[0] for r in timing} <= {today.isoweekday(), (today - dt.timedelta(hours=1)).isoweekday()}
    week = report(srv, **{"from": (today - dt.timedelta(days=7)).strftime("%Y-%m-%d")})
    assert week["interval"] == "day" and len(table(week, "trend")) == 8  # 7 whole days and today


def test_empty_range(srv: Server) -> None:
    body = report(srv, **{"from": "2020-01-01", "to": "2020-01-02", "interval": "day"})
    assert metrics(body) == {"initialized": 0, "used": 0, "interaction_rate": None, "abandoned": 0, "abandonment_rate": None}
    assert table(body, "content") == [] and table(body, "timing") == []
    assert table(body, "trend") == [["2020-01-01", 0, 0, None]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "from: must be ISO 8601 text"),
        ({"from": "2026-01-02", "to": "2026-01-01"}, "from: must be before to"),
        ({"breakdown": "colour"}, "breakdown: must be one of device, source, language, page_type or trait.NAME"),
        ({"interval": "week"}, "interval: must be hour or day"),
        ({"limit": "0"}, "limit: must be an integer from 1 to 1000"),
        ({"trait.a b": "x"}, "trait.a b: trait names are"),
        ({"format": "xml"}, "format: must be json, csv or parquet"),
        ({"format": "csv", "table": "nope"}, "table: 'nope' is not a table of engagement (metrics, trend, timing, content, placement)"),
    ],
)
def test_bad_parameters_name_the_field(srv: Server, params: dict[str, str], message: str) -> None:
    r = httpx.get(f"{srv.url}/v1/analytics/engagement", params=params,
                  headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)
    assert r.status_code == 400 and r.json()["message"].startswith(message), r.text


def test_auth_and_unknown_report(srv: Server) -> None:
    assert httpx.get(f"{srv.url}/v1/analytics/engagement", timeout=30).status_code == 401
    r = httpx.get(f"{srv.url}/v1/analytics/engagement", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert r.status_code == 401
    r = httpx.get(f"{srv.url}/v1/analytics/nope", headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)
    assert r.status_code == 404 and r.json()["error"] == "unknown_report"


def test_csv_and_parquet_of_a_table(srv: Server, tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {srv.keys['secret_key']}"}
    since = _iso(int(time.time() * 1000) - 3_600_000)
    r = httpx.get(f"{srv.url}/v1/analytics/engagement", params={"from": since, "format": "csv", "table": "placement"}, headers=auth, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="chatlens-default-engagement-placement.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows == [["Page type", "Loaded on", "Used on", "Used / loaded"], ["(unknown)", "1", "1", "100.0"],
                    ["blog", "1", "0", "0.0"], ["category", "1", "0", "0.0"], ["product", "1", "1", "100.0"]]
    r = httpx.get(f"{srv.url}/v1/analytics/engagement", params={"from": since, "format": "csv"}, headers=auth, timeout=30)
    assert list(csv.reader(io.StringIO(r.text)))[1] == ["initialized", "Interactions initialized", "4"]
    r = httpx.get(f"{srv.url}/v1/analytics/engagement", params={"from": since, "format": "parquet", "table": "content"}, headers=auth, timeout=30)
    assert r.status_code == 200 and r.content[:4] == b"PAR1"
    (tmp_path / "c.parquet").write_bytes(r.content)
    rows = duckdb.sql(f"SELECT page, visits, engaged_after, rate FROM '{tmp_path / 'c.parquet'}'").fetchall()
    assert rows[0] == (f"{BASE}/p/1", 2, 1, 50.0)
