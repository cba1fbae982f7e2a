"""The behaviour report (reference 000) over real HTTP, against numbers worked out by hand.

Events are sent without `sent_at`, so each event's `ts` is exactly its `timestamp` (there
is no delay to correct for); everything happens on 2026-11-02 (UTC) and the report is
asked for 09:00-13:00, in hour buckets (09, 10, 11, 12). Products are the demo shop's.

    A  visitor va, session sa, desktop, en-US; hour 10
       10:00:00 view /c/headphones (category)      10:00:10 filter price=low_to_high
       10:00:20 view hp-aurora                      10:00:30 dwell /p/hp-aurora 40 s
       10:00:40 view hp-aurora-pro                  10:00:50 view hp-aurora
       10:01:00 add hp-aurora "Aurora ANC Headphones"
       10:01:10 search "  Range   HOOD "            10:01:20 view hood-60
       10:02:00 chat.opened (not a behaviour event)
    B  visitor vb, session sb, mobile, de-DE; hour 11
       11:00:00 view stove-5b    11:00:01 stove-5b out_of_stock    11:00:30 dwell /p/stove-5b 25 s
       11:01:00 search "range hood"    11:01:10 search "<script>alert(1)</script>"
       11:01:20 view stove-2b    11:01:30 add stove-2b '=HYPERLINK("http://evil","x")'
       11:01:40 view stove-5b    11:01:50 stove-5b out_of_stock    11:02:00 dwell /p/stove-5b 35 s
       11:02:10 remove stove-2b (no name)    11:02:20 dwell /p/stove-5b 90 s
       11:02:30 search "Range hood"
    C  visitor va (again), session sc, desktop, en-US; hour 12
       12:00:00 view hp-aurora-pro    12:00:10 view hp-aurora
       12:00:20 add hp-aurora-pro "Aurora Pro ANC Headphones"
       12:00:30 add hp-aurora "Aurora ANC Headphones (new)"    12:00:40 remove hp-aurora (a variant, no name)
       12:00:50 search "range hood"   12:01:00 filter price=low_to_high
       12:01:10 filter brand=aurora   12:01:15 filter brand=aurora
       12:01:20 view /blog/guide (blog)    12:01:30 view /about (no pageType)
       12:01:40 ac-split out_of_stock (never viewed in C)
    D  visitor vd, session sd, mobile, en-US; hour 10
       10:30:00 view ac-split    10:30:01 ac-split out_of_stock    10:31:00 dwell /p/ac-split 100 s
       10:31:10 dwell /p/stove-5b 500 s (D never viewed stove-5b: not attributed)
       10:32:00 stove-5b in_stock    10:33:00 view hp-aurora
    E  visitor ve, session se, 08:30, before the range: view hood-90, add hood-90
    F  visitor vf, session sf, 10:40: chat.opened only (no behaviour: not a visit here)
    G  visitor vg, session sg, 14:00, after the range (QUICK_VIEW below): p1 and p2 on one URL
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import BROWSER_UA, Server, new_id, start_server

MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
SHOP = "https://shop.example"
DAY = "2026-11-02"
RANGE = {"from": f"{DAY}T09:00:00Z", "to": f"{DAY}T13:00:00Z"}
QUICK_VIEW = {"from": f"{DAY}T14:00:00Z", "to": f"{DAY}T15:00:00Z"}
SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil","x")'


def view(at: str, path: str, page_type: str | None = None, product: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "page_view", "timestamp": at, "url": SHOP + path}
    if page_type:
        event["pageType"] = page_type
    if product:
        event["productId"] = product
    return event


def product(at: str, product_id: str) -> dict[str, Any]:
    return view(at, f"/p/{product_id}", "product", product_id)


def dwell(at: str, path: str, seconds: float) -> dict[str, Any]:
    return {"type": "dwell", "timestamp": at, "url": SHOP + path, "durationSeconds": seconds}


def status(at: str, product_id: str, value: str) -> dict[str, Any]:
    return {"type": "product_status", "timestamp": at, "productId": product_id, "status": value}


def cart(at: str, action: str, product_id: str, name: str | None = None, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "cart_action", "timestamp": at, "action": action, "productId": product_id, **fields}
    if name is not None:
        event["productName"] = name
    return event


def search(at: str, text: str) -> dict[str, Any]:
    return {"type": "search_event", "timestamp": at, "query": text, "pageContext": f"{SHOP}/search"}


def filter_(at: str, kind: str, value: str) -> dict[str, Any]:
    return {"type": "filter_usage", "timestamp": at, "category": "headphones", "filterType": kind, "filterValue": value}


def post_visit(srv: Server, visitor: str, session: str, hour_events: list[dict[str, Any]], ua: str, language: str) -> None:
    """One browser batch without sent_at: ts = timestamp."""
    for event in hour_events:
        event["timestamp"] = f"{DAY}T{event['timestamp']}.000Z"
        event["id"] = new_id()
    envelope = {"key": srv.keys["public_key"], "visitor_id": visitor, "session_id": session, "events": hour_events}
    r = httpx.post(f"{srv.url}/v1/batch", json=envelope, headers={"User-Agent": ua, "Accept-Language": language}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == len(hour_events), r.text


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("behaviour") / "b.duckdb", "--rate-limit", "100000")
    try:
        post_visit(server, "va", "sa", [
            view("10:00:00", "/c/headphones", "category"), filter_("10:00:10", "price", "low_to_high"),
            product("10:00:20", "hp-aurora"), dwell("10:00:30", "/p/hp-aurora", 40),
            product("10:00:40", "hp-aurora-pro"), product("10:00:50", "hp-aurora"),
            cart("10:01:00", "add", "hp-aurora", "Aurora ANC Headphones"),
            search("10:01:10", "  Range   HOOD "), product("10:01:20", "hood-60"),
            {"type": "chat.opened", "timestamp": "10:02:00", "metadata": {"id": "chat-a"}},
        ], BROWSER_UA, "en-US")
        post_visit(server, "vb", "sb", [
            product("11:00:00", "stove-5b"), status("11:00:01", "stove-5b", "out_of_stock"),
            dwell("11:00:30", "/p/stove-5b", 25), search("11:01:00", "range hood"), search("11:01:10", SCRIPT),
            product("11:01:20", "stove-2b"), cart("11:01:30", "add", "stove-2b", FORMULA),
            product("11:01:40", "stove-5b"), status("11:01:50", "stove-5b", "out_of_stock"),
            dwell("11:02:00", "/p/stove-5b", 35), cart("11:02:10", "remove", "stove-2b"),
            dwell("11:02:20", "/p/stove-5b", 90), search("11:02:30", "Range hood"),
        ], MOBILE_UA, "de-DE")
        post_visit(server, "va", "sc", [
            product("12:00:00", "hp-aurora-pro"), product("12:00:10", "hp-aurora"),
            cart("12:00:20", "add", "hp-aurora-pro", "Aurora Pro ANC Headphones"),
            cart("12:00:30", "add", "hp-aurora", "Aurora ANC Headphones (new)"), cart("12:00:40", "remove", "hp-aurora", variantId="black"),
            search("12:00:50", "range hood"), filter_("12:01:00", "price", "low_to_high"),
            filter_("12:01:10", "brand", "aurora"), filter_("12:01:15", "brand", "aurora"),
            view("12:01:20", "/blog/guide", "blog"), view("12:01:30", "/about"),
            status("12:01:40", "ac-split", "out_of_stock"),
        ], BROWSER_UA, "en-US")
        post_visit(server, "vd", "sd", [
            product("10:30:00", "ac-split"), status("10:30:01", "ac-split", "out_of_stock"),
            dwell("10:31:00", "/p/ac-split", 100), dwell("10:31:10", "/p/stove-5b", 500),
            status("10:32:00", "stove-5b", "in_stock"), product("10:33:00", "hp-aurora"),
        ], MOBILE_UA, "en-US")
        post_visit(server, "ve", "se", [product("08:30:00", "hood-90"), cart("08:30:10", "add", "hood-90", "Island hood")],
                   BROWSER_UA, "en-US")
        post_visit(server, "vf", "sf", [{"type": "chat.opened", "timestamp": "10:40:00", "metadata": {"id": "chat-f"}}],
                   MOBILE_UA, "en-US")
        post_visit(server, "vg", "sg", [  # after the range (QUICK_VIEW): two products on one URL
            dwell("14:00:00", "/p/shared", 5), view("14:00:10", "/p/shared", "product", "p1"),
            status("14:00:11", "p1", "out_of_stock"), dwell("14:00:30", "/p/shared", 10),
            view("14:01:00", "/p/shared", "product", "p2"), status("14:01:01", "p2", "out_of_stock"),
            dwell("14:01:30", "/p/shared", 20), view("14:02:00", "/p/shared", "product", "p1"),
            dwell("14:02:15", "/p/shared", 15), dwell("14:02:30", "/p/shared", 40),
        ], BROWSER_UA, "en-US")
        yield server
    finally:
        server.stop()


def get(srv: Server, **params: str) -> httpx.Response:
    return httpx.get(f"{srv.url}/v1/analytics/behaviour", params={**RANGE, **params},
                     headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)


def report(srv: Server, **params: str) -> dict[str, Any]:
    r = get(srv, **params)
    assert r.status_code == 200, r.text
    return r.json()


def metrics(body: dict[str, Any]) -> dict[str, Any]:
    return {m["key"]: m["value"] for m in body["metrics"]}


def table(body: dict[str, Any], key: str) -> list[list[Any]]:
    return next(t["rows"] for t in body["tables"] if t["key"] == key)


def test_headline_metrics(srv: Server) -> None:
    body = report(srv)
    assert body["report"] == "behaviour" and body["interval"] == "hour"
    assert metrics(body) == {
        "page_views": 14,  # A 5 (category + 4 products), B 3, C 4 (2 products, blog, /about), D 2; E is out of range
        "visits": 4,  # A, B, C, D (F has no behaviour event, E is out of range)
        "visitors": 3,  # va (A and C), vb, vd
        "product_views": 11,  # A 4, B 3, C 2, D 2
        "searches": 5,  # A 1, B 3, C 1
        "cart_adds": 4,  # A hp-aurora, B stove-2b, C hp-aurora-pro and hp-aurora
        "cart_removes": 2,  # B stove-2b, C hp-aurora
        "out_of_stock_views": 4,  # B stove-5b twice, C ac-split, D ac-split (D's in_stock is not one)
    }
    assert [t["key"] for t in body["tables"]] == [
        "products", "out_of_stock", "searches", "filters", "cart", "cart_trend", "comparisons", "trend", "page_types",
    ]


def test_most_viewed_products(srv: Server) -> None:
    # product, latest productName of a cart action, views, unique visitors, adds, removes;
    # by views, then product id.
    assert table(report(srv), "products") == [
        # A twice, C, D; visitors va, vd; adds A and C, remove C; C's 12:00:30 name is the
        # latest carried (its 12:00:40 remove has none)
        ["hp-aurora", "Aurora ANC Headphones (new)", 4, 2, 2, 1],
        ["hp-aurora-pro", "Aurora Pro ANC Headphones", 2, 1, 1, 0],  # A and C, both va
        ["stove-5b", None, 2, 1, 0, 0],  # B twice; never in a cart: no name
        ["ac-split", None, 1, 1, 0, 0],  # D
        ["hood-60", None, 1, 1, 0, 0],  # A
        ["stove-2b", FORMULA, 1, 1, 1, 1],  # B; the name exactly as sent
    ]
    # top 2: hp-aurora-pro and stove-5b tie on views; the product id decides. The rows are
    # whole (unique visitors are counted for the shown rows only), and the cart table's
    # own top 2 holds stove-2b, which is not among the most viewed two.
    top2 = report(srv, limit="2")
    assert table(top2, "products") == table(report(srv), "products")[:2]
    assert [r[0] for r in table(top2, "products")] == ["hp-aurora", "hp-aurora-pro"]
    assert table(top2, "cart") == [["hp-aurora", "Aurora ANC Headphones (new)", 2, 1, 1], ["stove-2b", FORMULA, 1, 1, 0]]


def test_out_of_stock_demand(srv: Server) -> None:
    # product, visits that saw it out of stock, its page views in those visits, total and
    # median dwell on its pages in those visits
    assert table(report(srv), "out_of_stock") == [
        # C and D saw it out of stock; only D viewed its page (1 view, 100 s dwell)
        ["ac-split", 2, 1, 100.0, 100.0],
        # B (two status events, one visit): 2 views, stayed on 25 s (its one dwell) and 90 s
        # (the largest of 35 and 90: the SDK reports a growing total): 115, median 57.5;
        # D's 500 s on /p/stove-5b is not counted: D never viewed stove-5b (and saw it in stock)
        ["stove-5b", 1, 2, 115.0, 57.5],
    ]


def test_a_dwell_belongs_to_the_last_view_of_its_url_before_it_and_a_view_lasts_its_largest_dwell(srv: Server) -> None:
    # G, one URL: dwell 5 s (no product viewed there yet: nobody's); p1, dwell 10 s (p1's);
    # a quick view of p2, dwell 20 s (p2's); p1 again, dwells 15 and 40 s (one stay of
    # 40 s: the SDK reports a growing total). Both seen out of stock.
    assert table(report(srv, **QUICK_VIEW), "out_of_stock") == [
        ["p1", 1, 2, 50.0, 25.0],
        ["p2", 1, 1, 20.0, 20.0],
    ]


def test_top_searches(srv: Server) -> None:
    # normalized query, searches, visits, visits that viewed a product after their first
    # search for it, their share
    assert table(report(srv), "searches") == [
        # A "  Range   HOOD " (then viewed hood-60), B twice (then viewed stove-2b), C (viewed
        # products only before searching)
        ["range hood", 4, 3, 2, 66.67],
        [SCRIPT, 1, 1, 1, 100.0],  # B, then viewed stove-2b; the text exactly as sent
    ]


def test_filters_used(srv: Server) -> None:
    # filter type, value, uses, visits
    assert table(report(srv), "filters") == [
        ["price", "low_to_high", 2, 2],  # A and C
        ["brand", "aurora", 2, 1],  # C twice
    ]


def test_cart_and_cart_trend(srv: Server) -> None:
    body = report(srv)
    # product, name, adds, removes, net; by adds, then removes
    assert table(body, "cart") == [
        ["hp-aurora", "Aurora ANC Headphones (new)", 2, 1, 1],  # A add, C add and remove
        ["stove-2b", FORMULA, 1, 1, 0],  # B
        ["hp-aurora-pro", "Aurora Pro ANC Headphones", 1, 0, 1],  # C
    ]
    # hour, adds, removes: 10 A's add; 11 B's add and remove; 12 C's two adds and a remove
    assert table(body, "cart_trend") == [
        [f"{DAY}T09:00:00Z", 0, 0], [f"{DAY}T10:00:00Z", 1, 0], [f"{DAY}T11:00:00Z", 1, 1], [f"{DAY}T12:00:00Z", 2, 1],
    ]


def test_comparisons(srv: Server) -> None:
    # Consecutive product views: A aurora, aurora-pro, aurora, hood-60; B stove-5b, stove-2b,
    # stove-5b; C aurora-pro, aurora; D ac-split, hp-aurora.
    assert table(report(srv), "comparisons") == [
        ["hp-aurora", "hp-aurora-pro", 2, 3],  # A (2 switches) and C (1)
        ["stove-2b", "stove-5b", 1, 2],  # B
        ["ac-split", "hp-aurora", 1, 1],  # D
        ["hood-60", "hp-aurora", 1, 1],  # A
    ]


def test_page_view_trend_and_page_types(srv: Server) -> None:
    body = report(srv)
    # 10: A 5 + D 2; 11: B 3; 12: C 4
    assert table(body, "trend") == [[f"{DAY}T09:00:00Z", 0], [f"{DAY}T10:00:00Z", 7], [f"{DAY}T11:00:00Z", 3],
                                    [f"{DAY}T12:00:00Z", 4]]
    # product 11; A's category, C's blog and C's /about without a page type
    assert table(body, "page_types") == [["product", 11], ["blog", 1], ["category", 1], ["(none)", 1]]
    day = report(srv, interval="day")
    assert table(day, "trend") == [[DAY, 14]] and table(day, "cart_trend") == [[DAY, 4, 2]]


def test_a_filter_scopes_every_table(srv: Server) -> None:
    body = report(srv, device="mobile")  # B and D
    assert metrics(body) == {"page_views": 5, "visits": 2, "visitors": 2, "product_views": 5, "searches": 3,
                             "cart_adds": 1, "cart_removes": 1, "out_of_stock_views": 3}
    assert table(body, "products") == [
        ["stove-5b", None, 2, 1, 0, 0],
        ["ac-split", None, 1, 1, 0, 0],
        ["hp-aurora", None, 1, 1, 0, 0],  # D only: no cart action of it among mobile visits, so no name
        ["stove-2b", FORMULA, 1, 1, 1, 1],
    ]
    assert table(body, "out_of_stock") == [["ac-split", 1, 1, 100.0, 100.0], ["stove-5b", 1, 2, 115.0, 57.5]]
    assert table(body, "searches") == [["range hood", 2, 1, 1, 100.0], [SCRIPT, 1, 1, 1, 100.0]]
    assert table(body, "filters") == []
    assert table(body, "comparisons") == [["stove-2b", "stove-5b", 1, 2], ["ac-split", "hp-aurora", 1, 1]]
    assert table(body, "trend")[1:] == [[f"{DAY}T10:00:00Z", 2], [f"{DAY}T11:00:00Z", 3], [f"{DAY}T12:00:00Z", 0]]
    # url glob: visits that viewed a category page: A only
    a_only = report(srv, url="/c/*")
    assert metrics(a_only)["page_views"] == 5 and metrics(a_only)["visits"] == 1
    assert table(a_only, "comparisons") == [["hp-aurora", "hp-aurora-pro", 1, 2], ["hood-60", "hp-aurora", 1, 1]]


def test_breakdown_by_device(srv: Server) -> None:
    body = report(srv, breakdown="device")
    # segment, page views, visits, visitors, product views, searches, adds, removes, out-of-stock views
    assert table(body, "breakdown") == [
        ["desktop", 9, 2, 1, 6, 2, 3, 1, 1],  # A and C (both va)
        ["mobile", 5, 2, 2, 5, 3, 1, 1, 3],  # B and D
    ]
    assert metrics(body)["page_views"] == 14 and metrics(body)["visits"] == 4  # the totals stay the headline
    assert table(body, "searches") == table(report(srv), "searches")  # tables are over the whole scope
    # a breakdown with a filter: German-speaking visits only (B)
    body = report(srv, breakdown="device", language="de")
    assert table(body, "breakdown") == [["mobile", 3, 1, 1, 3, 3, 1, 1, 2]]
    assert metrics(body)["visits"] == 1
    assert table(body, "searches") == [["range hood", 2, 1, 1, 100.0], [SCRIPT, 1, 1, 1, 100.0]]
    assert table(body, "out_of_stock") == [["stove-5b", 1, 2, 115.0, 57.5]]
    assert table(body, "comparisons") == [["stove-2b", "stove-5b", 1, 2]]


def test_empty_range(srv: Server) -> None:
    body = report(srv, **{"from": "2020-01-01", "to": "2020-01-02", "interval": "day"})
    assert metrics(body) == dict.fromkeys(
        ("page_views", "visits", "visitors", "product_views", "searches", "cart_adds", "cart_removes", "out_of_stock_views"), 0
    )
    for key in ("products", "out_of_stock", "searches", "filters", "cart", "comparisons", "page_types"):
        assert table(body, key) == [], key
    assert table(body, "trend") == [["2020-01-01", 0]] and table(body, "cart_trend") == [["2020-01-01", 0, 0]]
    # the hour before the first event of the fixture's day: nothing either
    body = report(srv, **{"from": f"{DAY}T09:00:00Z", "to": f"{DAY}T10:00:00Z"})
    assert metrics(body)["page_views"] == 0 and table(body, "trend") == [[f"{DAY}T09:00:00Z", 0]]


def test_events_without_a_visit(srv: Server) -> None:
    """An agent backend may send behaviour events without a session: they are counted as
    events, but belong to no visit (no visits, visitors, comparisons or out-of-stock visits)."""
    day = "2026-11-03"
    events = [
        product("09:10:00", "hood-90"), product("09:11:00", "hood-60"), search("09:12:00", "Hood"),
        status("09:13:00", "hood-90", "out_of_stock"), cart("09:14:00", "add", "hood-90", "Island"),
        filter_("09:15:00", "price", "low"),
        # two names at the same instant: the greater wins
        cart("09:16:00", "add", "hood-60", "Alpha"), cart("09:16:00", "remove", "hood-60", "Beta"),
    ]
    for event in events:
        event["timestamp"] = f"{day}T{event['timestamp']}Z"
    r = httpx.post(f"{srv.url}/v1/server/batch", json={"events": events},
                   headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == 8, r.text
    body = report(srv, **{"from": f"{day}T09:00:00Z", "to": f"{day}T10:00:00Z"})
    assert metrics(body) == {"page_views": 2, "visits": 0, "visitors": 0, "product_views": 2, "searches": 1,
                             "cart_adds": 2, "cart_removes": 1, "out_of_stock_views": 1}
    # no visitor ids: no unique visitors; the name from the cart action all the same
    assert table(body, "products") == [["hood-60", "Beta", 1, 0, 1, 1], ["hood-90", "Island", 1, 0, 1, 0]]
    assert table(body, "searches") == [["hood", 1, 0, 0, None]]  # no visit: no share either
    assert table(body, "filters") == [["price", "low", 1, 0]]
    assert table(body, "comparisons") == [] and table(body, "out_of_stock") == []
    assert table(body, "trend") == [[f"{day}T09:00:00Z", 2]]
    # a breakdown (like a filter) splits visits: these events match none, and are left
    # out of the headline and of the trends
    split = report(srv, **{"from": f"{day}T09:00:00Z", "to": f"{day}T10:00:00Z", "breakdown": "device"})
    assert metrics(split)["page_views"] == 0 and metrics(split)["cart_adds"] == 0
    assert table(split, "trend") == [[f"{day}T09:00:00Z", 0]] and table(split, "page_types") == []
    # the tables are over the whole scope, which a breakdown does not narrow
    assert table(split, "searches") == table(body, "searches") and table(split, "filters") == table(body, "filters")
    # a filter does: these events match no visit
    assert table(report(srv, **{"from": f"{day}T09:00:00Z", "to": f"{day}T10:00:00Z", "device": "desktop"}),
                 "filters") == []
    # and when most visits match the filter (the events are then tested against the
    # visits that do not: here the mobile one), these events still match none
    visits = {
        ("vx", "sx", BROWSER_UA): [product("10:20:00", "hood-90"), search("10:21:00", "hood"),
                                   filter_("10:22:00", "price", "low"), cart("10:23:00", "add", "hood-90", "Island")],
        ("vz", "sz", BROWSER_UA): [product("10:30:00", "hood-60")],
        ("vy", "sy", MOBILE_UA): [product("10:40:00", "stove-5b"), cart("10:41:00", "add", "stove-5b", "Stove")],
    }
    for (visitor, session, ua), visit in visits.items():
        for event in visit:
            event["timestamp"], event["id"] = f"{day}T{event['timestamp']}.000Z", new_id()
        envelope = {"key": srv.keys["public_key"], "visitor_id": visitor, "session_id": session, "events": visit}
        r = httpx.post(f"{srv.url}/v1/batch", json=envelope, headers={"User-Agent": ua}, timeout=30)
        assert r.status_code == 200 and r.json()["accepted"] == len(visit), r.text
    most = report(srv, **{"from": f"{day}T09:00:00Z", "to": f"{day}T11:00:00Z", "device": "desktop"})
    assert metrics(most) == {"page_views": 2, "visits": 2, "visitors": 2, "product_views": 2, "searches": 1,
                             "cart_adds": 1, "cart_removes": 0, "out_of_stock_views": 0}
    assert table(most, "products") == [["hood-60", None, 1, 1, 0, 0], ["hood-90", "Island", 1, 1, 1, 0]]
    assert table(most, "cart") == [["hood-90", "Island", 1, 0, 1]]
    assert table(most, "searches") == [["hood", 1, 1, 0, 0.0]] and table(most, "filters") == [["price", "low", 1, 1]]
    assert [row[1] for row in table(most, "trend")] == [0, 2]
    # up to 10:35 every visit matches (none to test against): the same
    every = report(srv, **{"from": f"{day}T09:00:00Z", "to": f"{day}T10:35:00Z", "device": "desktop"})
    assert metrics(every) == metrics(most) and table(every, "products") == table(most, "products")


def test_visitor_text_comes_back_unchanged_and_csv_neutralizes_formulas(srv: Server) -> None:
    body = report(srv)
    assert [SCRIPT, 1, 1, 1, 100.0] in table(body, "searches")
    assert ["stove-2b", FORMULA, 1, 1, 1, 1] in table(body, "products")

    r = get(srv, format="csv", table="products")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["Product", "Name", "Views", "Unique visitors", "Cart adds", "Cart removes"]
    assert rows[-1] == ["stove-2b", "'" + FORMULA, "1", "1", "1", "1"]  # the formula is neutralized
    assert rows[1] == ["hp-aurora", "Aurora ANC Headphones (new)", "4", "2", "2", "1"]

    r = get(srv, format="csv", table="cart")
    assert list(csv.reader(io.StringIO(r.text)))[2] == ["stove-2b", "'" + FORMULA, "1", "1", "0"]
    r = get(srv, format="csv", table="searches")
    # not a formula: kept as it is (the CSV is data, not HTML)
    assert list(csv.reader(io.StringIO(r.text)))[2] == [SCRIPT, "1", "1", "1", "100.0"]
    r = get(srv, format="csv", table="nope")
    assert r.status_code == 400 and "out_of_stock" in r.json()["message"]
