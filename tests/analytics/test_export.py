"""Raw event exports (GET /v1/export/events): CSV with formula cells neutralized, Parquet
with values exactly as stored, the same scope as the reports."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from chatlens.analytics.export import neutralize
from tests.analytics.test_engagement_report import BROWSER_UA, MOBILE_UA, _iso, post_visit, view
from tests.conftest import Server, start_server

FORMULA = '=HYPERLINK("http://evil.test","click")'


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("export") / "x.duckdb")
    try:
        post_visit(server, "v1", "s1", [
            view("/p/1", "product", productId="p1"),
            {"type": "search_event", "query": FORMULA},
            {"type": "cart_action", "action": "add", "productId": "p1", "productName": "+1 trick"},
        ], BROWSER_UA, "en-US")
        post_visit(server, "v2", "s2", [view("/blog/a", "blog"), {"type": "search_event", "query": "@SUM(A1)"}], MOBILE_UA, "de")
        yield server
    finally:
        server.stop()


def export(srv: Server, **params: str) -> httpx.Response:
    return httpx.get(
        f"{srv.url}/v1/export/events",
        params={"from": _iso(int(time.time() * 1000) - 3_600_000), **params},
        headers={"Authorization": f"Bearer {srv.keys['secret_key']}"},
        timeout=30,
    )


def test_neutralize() -> None:
    for cell in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert neutralize(cell) == "'" + cell
    assert neutralize("plain") == "plain" and neutralize(-1) == -1 and neutralize(None) is None


def test_csv_export_neutralizes_formulas(srv: Server) -> None:
    r = export(srv, format="csv", type="search_event,cart_action")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["type"] for row in rows] == ["search_event", "cart_action", "search_event"]
    assert rows[0]["query"] == "'" + FORMULA and rows[2]["query"] == "'@SUM(A1)"
    assert '"productName":"+1 trick"' in rows[1]["properties"]  # JSON text starts with {: safe as is
    assert "ip_hash" not in rows[0]  # hashes stay in the store


def test_parquet_export_keeps_values(srv: Server, tmp_path: Path) -> None:
    r = export(srv, format="parquet", device="desktop")
    assert r.status_code == 200 and r.content[:4] == b"PAR1"
    path = tmp_path / "e.parquet"
    path.write_bytes(r.content)
    rows = duckdb.sql(f"SELECT type, query, device, language FROM '{path}' ORDER BY ts").fetchall()
    assert rows == [("page_view", None, "desktop", "en-US"), ("search_event", FORMULA, "desktop", "en-US"),
                    ("cart_action", None, "desktop", "en-US")]


def test_export_errors(srv: Server) -> None:
    assert export(srv, format="xlsx").json()["message"] == "format: must be csv or parquet"
    assert export(srv, type="page_view,nope").json()["message"] == "type: unknown event type 'nope'"
    assert export(srv, to="2000-01-01").json()["message"] == "from: must be before to"
    assert httpx.get(f"{srv.url}/v1/export/events", timeout=30).status_code == 401
