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

Behaviour counts each event in the range it happened in, also for visits that cross
midnight (the report reads a visit wholly inside the range from its rollup, one that
crosses an end of it from its events):

    visit  visitor  product views                               other behaviour
    M      v-sm     A 23:58, B 23:59, A day 2 00:01, C 00:02    search "sofa" 23:59:30, "tv" day 2 00:03;
                                                                A out of stock 23:58:10 and day 2 00:01:10,
                                                                dwell on A's page 23:58:30 (20 s) and day 2
                                                                00:01:30 (40 s); filter price=low 23:59:40
                                                                and day 2 00:02:30, brand=acme day 2 00:04;
                                                                cart: add A "Armchair" 23:58:20, add A
                                                                "Armchair II" day 2 00:01:20, remove B
                                                                (no name) day 2 00:02:10
    N      v-sn     A 22:00, B 22:01                            search "lamp" 22:00:30; B out of stock
                                                                22:01:10, dwell on B's page 22:01:30 (15 s);
                                                                filter price=low 22:00:40
    O      v-sm     -                                           dwell day 2 00:05, filter price=low 00:05:10
    P      v-sp     D 23:59:10, E 23:59:15                      search "desk" 23:59:20 (inside day 1, near
                                                                its end, where M's events are read)
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
        "sm": [view(at(1, "23:58:00"), "A"), out_of_stock(at(1, "23:58:10"), "A"), dwell(at(1, "23:58:30"), "A", 20),
               view(at(1, "23:59:00"), "B"),
               {"type": "search_event", "timestamp": at(1, "23:59:30"), "query": "sofa"}, view(at(2, "00:01:00"), "A"),
               out_of_stock(at(2, "00:01:10"), "A"), dwell(at(2, "00:01:30"), "A", 40),
               view(at(2, "00:02:00"), "C"), {"type": "search_event", "timestamp": at(2, "00:03:00"), "query": "tv"},
               filter_(at(1, "23:59:40"), "price", "low"), filter_(at(2, "00:02:30"), "price", "low"),
               filter_(at(2, "00:04:00"), "brand", "acme"), cart(at(1, "23:58:20"), "add", "A", "Armchair"),
               cart(at(2, "00:01:20"), "add", "A", "Armchair II"), cart(at(2, "00:02:10"), "remove", "B")],
        "sn": [view(at(1, "22:00:00"), "A"), {"type": "search_event", "timestamp": at(1, "22:00:30"), "query": "lamp"},
               filter_(at(1, "22:00:40"), "price", "low"),
               view(at(1, "22:01:00"), "B"), out_of_stock(at(1, "22:01:10"), "B"), dwell(at(1, "22:01:30"), "B", 15)],
        "sp": [view(at(1, "23:59:10"), "D"), view(at(1, "23:59:15"), "E"),
               {"type": "search_event", "timestamp": at(1, "23:59:20"), "query": "desk"}],
        "so": [{"type": "dwell", "timestamp": at(2, "00:05:00"), "url": "https://shop.example/", "durationSeconds": 5},
               filter_(at(2, "00:05:10"), "price", "low")],
    }
    visitors = {"so": "v-sm"}
    try:
        for session, events in visits.items():
            for event in events:
                event["id"] = str(uuid.uuid4())
            body = {"key": server.keys["public_key"], "visitor_id": visitors.get(session, f"v-{session}"),
                    "session_id": session, "events": events}
            r = httpx.post(f"{server.url}/v1/batch", json=body, headers={"User-Agent": BROWSER_UA}, timeout=30)
            assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text
        yield server
    finally:
        server.stop()


def view(ms: int, product: str) -> dict[str, Any]:
    return {"type": "page_view", "timestamp": ms, "url": f"https://shop.example/p/{product}", "pageType": "product",
            "productId": product}


def out_of_stock(ms: int, product: str) -> dict[str, Any]:
    return {"type": "product_status", "timestamp": ms, "productId": product, "status": "out_of_stock"}


def cart(ms: int, action: str, product: str, name: str | None = None) -> dict[str, Any]:
    return {"type": "cart_action", "timestamp": ms, "action": action, "productId": product,
            **({"productName": name} if name else {})}


def filter_(ms: int, kind: str, value: str) -> dict[str, Any]:
    return {"type": "filter_usage", "timestamp": ms, "filterType": kind, "filterValue": value}


def dwell(ms: int, product: str, seconds: float) -> dict[str, Any]:
    return {"type": "dwell", "timestamp": ms, "url": f"https://shop.example/p/{product}", "durationSeconds": seconds}


def get(srv: Server, report: str, params: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(f"{srv.url}/v1/analytics/{report}", params=params,
                  headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def metrics(srv: Server, report: str, params: dict[str, str]) -> dict[str, Any]:
    return {m["key"]: m["value"] for m in get(srv, report, params)["metrics"]}


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


def test_behaviour_counts_each_event_in_its_range_when_a_visit_crosses_midnight(srv: Server) -> None:
    def behaviour(params: dict[str, str]) -> tuple[dict[str, Any], list[list[Any]]]:
        body = get(srv, "behaviour", params)
        [pairs] = [t["rows"] for t in body["tables"] if t["key"] == "comparisons"]
        return {m["key"]: m["value"] for m in body["metrics"]}, pairs

    def searches(params: dict[str, str]) -> list[list[Any]]:
        # query, searches, visits, visits that viewed a product after, that share
        [rows] = [t["rows"] for t in get(srv, "behaviour", params)["tables"] if t["key"] == "searches"]
        return rows

    day_1, pairs_1 = behaviour(DAY_1)
    assert (day_1["visits"], day_1["visitors"], day_1["product_views"], day_1["searches"]) == (3, 3, 6, 3)
    assert pairs_1 == [["A", "B", 2, 2], ["D", "E", 1, 1]]  # M (crossing: its day-1 views), N and P (inside)
    # N (inside) viewed B after "lamp"; M (crossing) viewed A and C after "sofa", but on
    # day 2; P searched "desk" after its views
    assert searches(DAY_1) == [["desk", 1, 1, 0, 0.0], ["lamp", 1, 1, 1, 100.0], ["sofa", 1, 1, 0, 0.0]]
    assert searches(BOTH) == [["desk", 1, 1, 0, 0.0], ["lamp", 1, 1, 1, 100.0], ["sofa", 1, 1, 1, 100.0],
                              ["tv", 1, 1, 0, 0.0]]
    day_2, pairs_2 = behaviour(DAY_2)
    assert (day_2["visits"], day_2["visitors"], day_2["product_views"], day_2["searches"]) == (2, 1, 2, 1)  # M, O
    assert pairs_2 == [["A", "C", 1, 1]]  # M's B -> A crossed midnight: B is not in day 2
    both, pairs_both = behaviour(BOTH)
    assert (both["visits"], both["visitors"], both["product_views"]) == (4, 3, 8)
    assert pairs_both == [["A", "B", 2, 3], ["A", "C", 1, 1], ["D", "E", 1, 1]]  # M: A -> B -> A, N: A -> B
    # a filter and a breakdown read the visit's attributes off the rollup on both paths
    assert behaviour({**DAY_1, "device": "desktop"}) == (day_1, pairs_1)
    assert behaviour({**DAY_1, "device": "mobile"})[0]["visits"] == 0
    [breakdown] = [t["rows"] for t in get(srv, "behaviour", {**DAY_2, "breakdown": "device"})["tables"]
                   if t["key"] == "breakdown"]
    assert [row[:4] for row in breakdown] == [["desktop", 2, 2, 1]]  # segment, page views, visits, visitors


def test_behaviour_out_of_stock_demand_counts_what_a_crossing_visit_did_in_the_range(srv: Server) -> None:
    """M crosses midnight: each day counts its out-of-stock sighting, product view and dwell
    of that day; both days together read M (then inside the range) from the store's
    out-of-stock rollup, as N always is."""
    def out_of_stock(params: dict[str, str]) -> list[list[Any]]:
        # product, visits that saw it out of stock, its page views in them, total and median dwell
        [rows] = [t["rows"] for t in get(srv, "behaviour", params)["tables"] if t["key"] == "out_of_stock"]
        return rows

    assert out_of_stock(DAY_1) == [["A", 1, 1, 20.0, 20.0], ["B", 1, 1, 15.0, 15.0]]
    assert out_of_stock(DAY_2) == [["A", 1, 1, 40.0, 40.0]]
    assert out_of_stock(BOTH) == [["A", 1, 2, 60.0, 30.0], ["B", 1, 1, 15.0, 15.0]]
    assert out_of_stock({**DAY_1, "device": "desktop"}) == out_of_stock(DAY_1)
    assert out_of_stock({**BOTH, "device": "mobile"}) == []


def test_behaviour_filters_count_the_uses_in_the_range_when_a_visit_crosses_midnight(srv: Server) -> None:
    """M crosses midnight: each day counts its uses of that day; N (day 1) and O (day 2)
    lie inside one day, read from the store's filter rollup, and count in no other."""
    def filters(params: dict[str, str]) -> list[list[Any]]:
        # filter, value, uses, visits
        [rows] = [t["rows"] for t in get(srv, "behaviour", params)["tables"] if t["key"] == "filters"]
        return rows

    assert filters(DAY_1) == [["price", "low", 2, 2]]  # M 23:59:40, N
    assert filters(DAY_2) == [["price", "low", 2, 2], ["brand", "acme", 1, 1]]  # M 00:02:30, O; M
    assert filters(BOTH) == [["price", "low", 4, 3], ["brand", "acme", 1, 1]]  # M twice (then inside), N, O
    assert filters({**DAY_1, "device": "desktop"}) == filters(DAY_1)
    assert filters({**DAY_2, "device": "desktop"}) == filters(DAY_2)
    assert filters({**BOTH, "device": "mobile"}) == []


def test_behaviour_products_count_whole_days_and_the_partial_days_at_the_ends(srv: Server) -> None:
    """Whole days come from the store's per-day product rollup, the partial days at the
    ends of the range from the events; with a filter, every day from the events."""
    def products(params: dict[str, str]) -> tuple[list[list[Any]], list[list[Any]]]:
        # most viewed: product, name, views, unique visitors, adds, removes; cart: product,
        # name, adds, removes, net
        tables = {t["key"]: t["rows"] for t in get(srv, "behaviour", params)["tables"]}
        return tables["products"], tables["cart"]

    d_e = [["D", None, 1, 1, 0, 0], ["E", None, 1, 1, 0, 0]]  # P's
    assert products(DAY_1) == ([["A", "Armchair", 2, 2, 1, 0], ["B", None, 2, 2, 0, 0], *d_e], [["A", "Armchair", 1, 0, 1]])
    assert products(DAY_2) == ([["A", "Armchair II", 1, 1, 1, 0], ["C", None, 1, 1, 0, 0]],  # B: not viewed
                               [["A", "Armchair II", 1, 0, 1], ["B", None, 0, 1, -1]])
    assert products(BOTH) == ([["A", "Armchair II", 3, 2, 2, 0], ["B", None, 2, 2, 0, 1], ["C", None, 1, 1, 0, 0], *d_e],
                              [["A", "Armchair II", 2, 0, 2], ["B", None, 0, 1, -1]])
    # day 1 whole (N's A and B, M's A, B and first add), then day 2 up to 00:01:30 (M's A
    # and its second add) or 00:01:10 (M's A only)
    late = {"from": "2026-11-09T12:00:00Z", "to": "2026-11-11T00:01:30Z"}
    expected = ([["A", "Armchair II", 3, 2, 2, 0], ["B", None, 2, 2, 0, 0], *d_e], [["A", "Armchair II", 2, 0, 2]])
    assert products(late) == expected
    assert products({**late, "device": "desktop"}) == expected  # from the events alone
    assert products({**late, "to": "2026-11-11T00:01:10Z"}) == (
        [["A", "Armchair", 3, 2, 1, 0], ["B", None, 2, 2, 0, 0], *d_e], [["A", "Armchair", 1, 0, 1]])
    # from 22:00:30 on day 1 (N's B, M's A, B and first add), then day 2 whole
    early = {"from": "2026-11-10T22:00:30Z", "to": "2026-11-12T00:00:00Z"}
    expected = ([["A", "Armchair II", 2, 1, 2, 0], ["B", None, 2, 2, 0, 1], ["C", None, 1, 1, 0, 0], *d_e],
                [["A", "Armchair II", 2, 0, 2], ["B", None, 0, 1, -1]])
    assert products(early) == expected and products({**early, "device": "desktop"}) == expected


def test_behaviour_trend_counts_partial_hours_at_the_ends_of_the_range(srv: Server) -> None:
    """Whole hours come from the store's hourly rollup, the partial hours at the ends of
    the range from the events; with a filter, every hour from the events."""
    def trend(params: dict[str, str]) -> tuple[list[list[Any]], list[list[Any]]]:
        tables = {t["key"]: t["rows"] for t in get(srv, "behaviour", params)["tables"]}
        return tables["trend"], tables["page_types"]

    # N's A at 22:00:00 is before the range, C at 00:02:00 after it
    odd = {"from": "2026-11-10T22:00:30Z", "to": "2026-11-11T00:01:30Z", "interval": "hour"}
    expected = ([["2026-11-10T22:00:00Z", 1], ["2026-11-10T23:00:00Z", 4], ["2026-11-11T00:00:00Z", 1]],
                [["product", 6]])
    # 22:01 N's B; 23:58, 23:59 M's A and B, P's D and E (a whole hour); 00:01 M's A
    assert trend(odd) == expected
    assert trend({**odd, "device": "desktop"}) == expected  # from the events alone
    assert trend({**odd, "breakdown": "device"}) == expected
    # within one hour: no whole hour at all
    assert trend({"from": "2026-11-10T23:58:30Z", "to": "2026-11-10T23:59:30Z", "interval": "hour"}) == (
        [["2026-11-10T23:00:00Z", 3]], [["product", 3]])  # M's B, P's D and E
    # whole hours only
    assert trend({"from": "2026-11-10T22:00:00Z", "to": "2026-11-11T00:00:00Z", "interval": "day"}) == (
        [["2026-11-10", 6]], [["product", 6]])
