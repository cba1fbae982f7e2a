"""`GET /v1/visitors/{id}/context`: what an agent reads about a visitor before a chat.

A visitor's browsing is played through `POST /v1/batch` as the browser SDK sends it, with
known times, and the context the server computes must equal the one written out here by
hand. `decision` events cannot come from a client (the intent engine writes them), so
intents are checked on the pure fold with rows as the store returns them, and once
through a real DuckDB store loaded with a journal segment, as the writer would.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import Server, create_site, start_server

from chatlens.store.duckdb_store import DuckDBStore
from chatlens.store.rows import RowEncoder
from chatlens.store.schema import COLUMN_NAMES
from chatlens.visitors import SUMMARY_CHARS, VisitorContextReader, visitor_context

NOW_S = int(time.time())
T0_S = NOW_S - 3 * 3600 - 1800  # the browsing started 3 h 30 min ago, on a whole second
SONY = "https://shop.example/products/sony-wh1000xm5"
BOSE = "https://shop.example/products/bose-qc-ultra"
APMAX = "https://shop.example/products/airpods-max"


def at(offset_s: float, base_s: int = T0_S) -> str:
    """The ISO time `offset_s` seconds after the scenario's start, as the API writes it."""
    moment = datetime.fromtimestamp(base_s + offset_s, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}" if moment.microsecond else "") + "Z"


def ev(kind: str, offset_s: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "id": str(uuid.uuid4()), "timestamp": int((T0_S + offset_s) * 1000), **fields}


def send(srv: Server, events: list[dict[str, Any]], visitor: str, session: str, key: str | None = None) -> None:
    # No sent_at: the stored time is then the event's own timestamp (it is in the past).
    body = srv.envelope(events, visitor_id=visitor, session_id=session, sent_at=None)
    if key is not None:
        body["key"] = key
    r = srv.post(body)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


def context(srv: Server, visitor: str, key: str | None = None, **params: Any) -> httpx.Response:
    secret = key or srv.keys["secret_key"]
    return httpx.get(
        f"{srv.url}/v1/visitors/{quote(visitor, safe='')}/context",
        params=params,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """A server with two sites (made before start: the running server locks the database);
    the server's keys are site A's, the second item site B's. Ada's browsing is stored."""
    db: Path = tmp_path_factory.mktemp("visitors") / "chatlens.duckdb"
    site_a = create_site(db, "shop A")
    site_b = create_site(db, "shop B")
    srv = start_server(db, "--rate-limit", "100000", keys=site_a)
    play_ada(srv, site_b)
    yield srv, site_b
    srv.stop()


def play_ada(srv: Server, site_b: dict[str, str]) -> None:
    # Ten days ago: outside the default window of 7 days.
    send(srv, [ev("page_view", -10 * 86400, url="https://shop.example/old", pageType="home")], "v-ada", "s0")
    # Session 1: searches, filters, then compares two headphones.
    send(
        srv,
        [
            ev("page_view", 0, url="https://shop.example/", pageType="home"),
            ev("search_event", 10, query="range hood", pageContext="https://shop.example/"),
            ev("filter_usage", 20, category="kitchen", filterType="price", filterValue="low_to_high"),
            ev("page_view", 30, url=SONY, pageType="product", productId="SKU-WH1000XM5"),
            ev("product_status", 31, productId="SKU-WH1000XM5", status="in_stock"),
            ev("dwell", 45, url=SONY, pageType="product", durationSeconds=15),
            ev("dwell", 60, url=SONY, pageType="product", durationSeconds=30),
            ev("page_view", 70, url=BOSE, pageType="product", productId="SKU-QCULTRA"),
            ev("product_status", 71, productId="SKU-QCULTRA", status="in_stock"),
            ev("dwell", 85, url=BOSE, pageType="product", durationSeconds=15),
        ],
        "v-ada",
        "s1",
    )
    # Session 2, an hour later: back to the Sony, cart, an unavailable product, identify, chat.
    send(
        srv,
        [
            ev("page_view", 3600, url=SONY, pageType="product", productId="SKU-WH1000XM5"),
            ev("dwell", 3615, url=SONY, pageType="product", durationSeconds=12.5),
            ev("cart_action", 3620, action="add", productId="SKU-WH1000XM5", productName="Sony WH-1000XM5", category="headphones"),
            ev("cart_action", 3625, action="add", productId="SKU-WH1000XM5", productName="Sony WH-1000XM5", category="headphones"),
            ev("page_view", 3630, url=APMAX, pageType="product", productId="SKU-APMAX2"),
            ev("product_status", 3631, productId="SKU-APMAX2", status="out_of_stock"),
            ev("cart_action", 3640, action="add", productId="SKU-STOVE", productName="Gas stove", category="kitchen"),
            ev("cart_action", 3650, action="remove", productId="SKU-WH1000XM5"),
            ev("identify", 3660, customerId="C-42", traits={"plan": "gold", "language": "en"}),
            ev("identify", 3670, customerId="C-42", traits={"language": "fr"}),
            ev("search_event", 3680, query="sony headphones"),
            ev("chat.started", 3690, metadata={"id": "conv-1"}),
            # What the page did with an offer: nothing to show without the engine's decision.
            ev("offer", 3695, offerId="o-unknown", status="shown"),
        ],
        "v-ada",
        "s2",
    )
    # Another visitor of site A, and a visitor of site B with the same id as Ada.
    send(srv, [ev("search_event", 100, query="someone else")], "v-bob", "s9")
    send(srv, [ev("search_event", 200, query="site B only")], "v-ada", "sb", key=site_b["public_key"])
    send(srv, [ev("search_event", 300, query="only on B")], "v-carol", "sc", key=site_b["public_key"])


ADA_PAGES = [
    {"url": APMAX, "pageType": "product", "productId": "SKU-APMAX2", "at": at(3630), "dwellSeconds": None},
    {"url": SONY, "pageType": "product", "productId": "SKU-WH1000XM5", "at": at(3600), "dwellSeconds": 12.5},
    {"url": BOSE, "pageType": "product", "productId": "SKU-QCULTRA", "at": at(70), "dwellSeconds": 15},
    {"url": SONY, "pageType": "product", "productId": "SKU-WH1000XM5", "at": at(30), "dwellSeconds": 30},
    {"url": "https://shop.example/", "pageType": "home", "productId": None, "at": at(0), "dwellSeconds": None},
]
ADA_SUMMARY = (
    "Returning visitor (2 sessions), known customer C-42, last active 2 h ago. "
    "Viewed SKU-QCULTRA, Sony WH-1000XM5 and SKU-APMAX2, back and forth. "
    "Cart: 2 items (Sony WH-1000XM5, Gas stove). "
    "Searched 'sony headphones' and 'range hood'. "
    "Filtered by price=low_to_high. "
    "Saw unavailable: SKU-APMAX2 (out_of_stock). "
    "Detected intents: value_seeking (offered). "
    "Chatted before (1 conversation)."
)


def test_context_of_a_browsing_visitor(two_sites: tuple[Server, dict[str, str]]) -> None:
    srv, _ = two_sites
    r = context(srv, "v-ada")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    # The live intent engine saw the price sort of session 1 (value seeking; this visitor is
    # not in its holdout): the decision is made when the batch arrives, so its time is now.
    [intent] = body.pop("intents")
    assert intent.pop("at") and intent.pop("offerId")
    assert intent.pop("evidence") == [
        {"type": "filter_usage", "at": at(20), "summary": "filter price=low_to_high"}
    ]
    assert intent == {
        "skill": "value_seeking", "decision": "offered", "reason": None, "status": None,
        "message": "Looking for the best value in kitchen? Tell me your budget and I will shortlist a few.",
    }
    assert body == {
        "visitorId": "v-ada",
        "customerId": "C-42",
        "traits": {"plan": "gold", "language": "fr"},
        "firstSeen": at(0),
        "lastSeen": at(3695),
        "sessions": 2,
        "currentSession": "s2",
        "recentPages": ADA_PAGES,
        "products": [
            {"productId": "SKU-WH1000XM5", "productName": "Sony WH-1000XM5", "views": 2, "dwellSeconds": 42.5,
             "status": "in_stock", "inCart": True},
            {"productId": "SKU-STOVE", "productName": "Gas stove", "views": 0, "dwellSeconds": 0,
             "status": None, "inCart": True},
            {"productId": "SKU-APMAX2", "productName": None, "views": 1, "dwellSeconds": 0,
             "status": "out_of_stock", "inCart": False},
            {"productId": "SKU-QCULTRA", "productName": None, "views": 1, "dwellSeconds": 15,
             "status": "in_stock", "inCart": False},
        ],
        "cart": [
            {"productId": "SKU-WH1000XM5", "productName": "Sony WH-1000XM5", "category": "headphones", "quantity": 1},
            {"productId": "SKU-STOVE", "productName": "Gas stove", "category": "kitchen", "quantity": 1},
        ],
        "searches": [{"query": "sony headphones", "at": at(3680)}, {"query": "range hood", "at": at(10)}],
        "filters": [{"category": "kitchen", "filterType": "price", "filterValue": "low_to_high", "at": at(20)}],
        "stockIssues": [{"productId": "SKU-APMAX2", "status": "out_of_stock", "at": at(3631)}],
        "conversations": [{"conversationId": "conv-1", "at": at(3690)}],
        "summary": ADA_SUMMARY,
    }


def test_days_widens_or_narrows_the_window(two_sites: tuple[Server, dict[str, str]]) -> None:
    srv, _ = two_sites
    wide = context(srv, "v-ada", days=30).json()
    assert wide["firstSeen"] == at(-10 * 86400) and wide["sessions"] == 3
    assert wide["recentPages"] == ADA_PAGES + [
        {"url": "https://shop.example/old", "pageType": "home", "productId": None, "at": at(-10 * 86400),
         "dwellSeconds": None}
    ]
    assert wide["summary"].startswith("Returning visitor (3 sessions)")
    assert context(srv, "v-ada", days=7).json()["firstSeen"] == at(0)
    # Ada's last event was 2 h 30 min ago and her first today 3 h 30 min ago: within one
    # day they are all seen; Bob's search (3 h 28 min ago) too.
    assert context(srv, "v-bob", days=1).json()["searches"] == [{"query": "someone else", "at": at(100)}]


def test_another_visitor_or_site_is_not_visible(two_sites: tuple[Server, dict[str, str]]) -> None:
    srv, site_b = two_sites
    bob = context(srv, "v-bob").json()
    assert bob["searches"] == [{"query": "someone else", "at": at(100)}]
    assert bob["recentPages"] == [] and bob["customerId"] is None and bob["sessions"] == 1
    assert bob["summary"] == "Single session, last active 3 h ago. Searched 'someone else'."
    # Site B's Ada is another visitor: site A's key sees only site A's, and the reverse.
    assert "site B only" not in json.dumps(context(srv, "v-ada").json())
    ada_b = context(srv, "v-ada", key=site_b["secret_key"]).json()
    assert ada_b["searches"] == [{"query": "site B only", "at": at(200)}] and ada_b["currentSession"] == "sb"
    r = context(srv, "v-carol")
    assert r.status_code == 404, r.text
    assert context(srv, "v-carol", key=site_b["secret_key"]).status_code == 200


def test_unknown_visitor_is_404(two_sites: tuple[Server, dict[str, str]]) -> None:
    srv, _ = two_sites
    r = context(srv, "never-seen")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "message": "visitor 'never-seen': no events in the last 7 days"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"days": "0"}, "days: must be an integer from 1 to 90, got '0'"),
        ({"days": "91"}, "days: must be an integer from 1 to 90, got '91'"),
        ({"days": "7.5"}, "days: must be an integer from 1 to 90, got '7.5'"),
        ({"days": "-1"}, "days: must be an integer from 1 to 90, got '-1'"),
        ({"days": ""}, "days: must be an integer from 1 to 90, got ''"),
        ({"since": "2026-01-01"}, "since: unknown parameter (use days)"),
    ],
)
def test_bad_parameters_are_named(two_sites: tuple[Server, dict[str, str]], params: dict[str, str], message: str) -> None:
    srv, _ = two_sites
    r = context(srv, "v-ada", **params)
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "bad_parameter", "message": message}


def test_a_secret_key_is_required(two_sites: tuple[Server, dict[str, str]]) -> None:
    srv, _ = two_sites
    url = f"{srv.url}/v1/visitors/v-ada/context"
    wrong = [
        {},
        {"Authorization": "Bearer ags_" + "0" * 32 + "_000000"},
        {"Authorization": f"Bearer {srv.keys['public_key']}"},  # the page's key reads nothing
        {"Authorization": srv.keys["secret_key"]},  # no scheme
    ]
    for headers in wrong:
        r = httpx.get(url, headers=headers, timeout=30)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"
        assert "C-42" not in r.text


def test_visitor_strings_come_back_verbatim(server: Server) -> None:
    """What a visitor typed is data: returned as sent, never interpreted, in any field."""
    visitor = "team/ü 1"  # a slash and a space in the id: the path still names it
    query = "<script>alert('x')</script> & \"quotes\" {{7*7}} ${env} %s \\n"
    customer = "Robert'); DROP TABLE events;--"
    url = "https://shop.example/search?q=<b>hi</b>&lang=ü"
    send(
        server,
        [
            ev("page_view", 0, url=url, pageType="<i>search</i>"),
            ev("search_event", 5, query=query),
            ev("identify", 6, customerId=customer, traits={"note": "<img src=x onerror=alert(1)>", "n": {"a": [1, None]}}),
            ev("filter_usage", 7, filterType="brand", filterValue="Sony & <Bose>"),
        ],
        visitor,
        "s-<1>",
    )
    r = context(server, visitor)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["visitorId"] == visitor and got["currentSession"] == "s-<1>"
    assert got["searches"] == [{"query": query, "at": at(5)}]
    assert got["customerId"] == customer
    assert got["traits"] == {"note": "<img src=x onerror=alert(1)>", "n": {"a": [1, None]}}
    assert got["recentPages"][0]["url"] == url and got["recentPages"][0]["pageType"] == "<i>search</i>"
    assert got["filters"][0]["filterValue"] == "Sony & <Bose>"
    assert "Robert'); DROP TABLE events;--" in got["summary"]
    assert "Searched '<script>alert('x')</script> & \"quotes\" …'." in got["summary"]  # 39 characters and …
    # The customer id was not SQL: the store still answers.
    assert len(server.all_events(visitor_id=visitor)) == 4


# -- the pure fold: intents, and the rules that need no server ----------------------------

BASE_US = 1_795_262_400_000_000  # 2026-11-21T12:00:00Z


def row(kind: str, offset_s: float, session: str | None = "s1", properties: dict[str, Any] | None = None,
        event_id: str | None = None, **columns: Any) -> dict[str, Any]:
    """A row as EventStore.query_events returns it: every column, times in microseconds,
    the hot fields in their typed columns and the rest as JSON text."""
    out: dict[str, Any] = dict.fromkeys(COLUMN_NAMES)
    ts = BASE_US + int(offset_s * 1_000_000)
    out.update(event_id=event_id or str(uuid.uuid4()), site_id="site", visitor_id="v-1", session_id=session,
               type=kind, client_ts=ts, sent_at=None, received_at=ts, ts=ts, device="desktop", bot=False,
               properties=json.dumps(properties) if properties else None)
    out.update(columns)
    return out


def when(offset_s: float) -> str:
    return at(offset_s, base_s=BASE_US // 1_000_000)


def comparison_rows() -> list[dict[str, Any]]:
    """A comparison the engine offered (and the visitor accepted), and a cart rescue it
    blocked: decisions keep skill in `name`, decision in `status`, offerId in `offer_id`."""
    pv1 = "11111111-1111-4111-8111-111111111111"
    pv2 = "22222222-2222-4222-8222-222222222222"
    search = "33333333-3333-4333-8333-333333333333"
    return [
        row("page_view", 0, event_id=pv1, url="https://shop.example/products/sony-wh1000xm5", page_type="product",
            product_id="SKU-WH1000XM5"),
        row("search_event", 10, event_id=search, query="range hood"),
        row("page_view", 20, event_id=pv2, url="https://shop.example/products/bose-qc-ultra", page_type="product",
            product_id="SKU-QCULTRA"),
        row("dwell", 50, url="https://shop.example/products/bose-qc-ultra", duration_seconds=30.0),
        row("decision", 51, session=None, offer_id="o-1", name="comparison", status="offered",
            properties={"priority": 2, "message": "Comparing the Sony and the Bose? I can help.",
                        "evidence": [pv1, pv2, search, "44444444-4444-4444-8444-444444444444"],
                        "data": {"productIds": ["SKU-WH1000XM5", "SKU-QCULTRA"]}}),
        row("offer", 52, offer_id="o-1", status="shown"),
        row("offer", 60, offer_id="o-1", status="accepted"),
        row("decision", 70, session=None, offer_id="o-2", name="cart_rescue", status="blocked",
            properties={"reason": "cooldown", "evidence": pv1}),
    ]


COMPARISON_INTENTS = [
    {"skill": "cart_rescue", "decision": "blocked", "reason": "cooldown", "message": None, "at": when(70),
     "offerId": "o-2", "status": None,
     "evidence": [{"type": "page_view", "at": when(0), "summary": "page_view /products/sony-wh1000xm5"}]},
    {"skill": "comparison", "decision": "offered", "reason": None,
     "message": "Comparing the Sony and the Bose? I can help.", "at": when(51), "offerId": "o-1",
     "status": "accepted",
     "evidence": [  # the fourth id is not among the events read: left out
         {"type": "page_view", "at": when(0), "summary": "page_view /products/sony-wh1000xm5"},
         {"type": "page_view", "at": when(20), "summary": "page_view /products/bose-qc-ultra"},
         {"type": "search_event", "at": when(10), "summary": "search 'range hood'"},
     ]},
]


def test_intents_resolve_their_offer_status_and_evidence() -> None:
    got = visitor_context("v-1", comparison_rows(), BASE_US + 130_000_000)
    assert got["intents"] == COMPARISON_INTENTS
    # The engine's decisions are not the visitor's activity.
    assert got["lastSeen"] == when(60) and got["sessions"] == 1
    assert got["summary"] == (
        "Single session, last active 1 min ago. Viewed SKU-WH1000XM5 and SKU-QCULTRA. Searched 'range hood'. "
        "Detected intents: cart_rescue (blocked), comparison (offered, accepted)."
    )


def test_intents_through_a_real_store(tmp_path: Path) -> None:
    """The same decisions written as the engine's rows are: a journal segment loaded by
    DuckDB, then read back through the reader (the columns must be the store's)."""
    store = DuckDBStore(tmp_path / "db.duckdb")
    segment = tmp_path / "segment"
    encoder = RowEncoder({"site_id": "site", "visitor_id": "v-1", "received_at": BASE_US, "bot": False})
    lines = []
    for r in comparison_rows():
        columns = {c: r[c] for c in COLUMN_NAMES if r[c] is not None and c not in
                   ("event_id", "type", "client_ts", "ts", "site_id", "visitor_id", "received_at", "bot",
                    "properties")}
        lines.append(encoder.encode(r["event_id"], r["type"], r["ts"], r["ts"], columns, r["properties"]))
    segment.write_bytes(b"".join(lines))
    assert store.load_segment(segment, 1) == 8
    flushed: list[bool] = []
    reader = VisitorContextReader(store, lambda: flushed.append(True))
    got = reader.get("site", "v-1", now_us=BASE_US + 130_000_000)
    assert flushed == [True], "the journal is loaded before reading"
    assert got is not None and got["intents"] == COMPARISON_INTENTS
    assert reader.get("other-site", "v-1", now_us=BASE_US + 130_000_000) is None
    assert reader.get("site", "v-1", now_us=BASE_US + 8 * 86_400_000_000) is None, "older than 7 days"
    store.close()


def test_a_long_history_keeps_the_most_recent_events(tmp_path: Path) -> None:
    """Past MAX_EVENTS (5000) the oldest events are the ones left out."""
    store = DuckDBStore(tmp_path / "db.duckdb")
    encoder = RowEncoder({"site_id": "site", "visitor_id": "v-1", "session_id": "s", "received_at": BASE_US, "bot": False})
    segment = tmp_path / "segment"
    # 5200 page views a second apart, over 1 h 27 min: the reader walks back a 1 h slice,
    # then a 2 h one, of which it keeps the newest.
    segment.write_bytes(b"".join(
        encoder.encode(str(uuid.uuid4()), "page_view", BASE_US + i * 1_000_000, BASE_US + i * 1_000_000,
                       {"url": f"https://shop.example/p/{i}"}, None)
        for i in range(5200)
    ))
    store.load_segment(segment, 1)
    got = VisitorContextReader(store, lambda: None).get("site", "v-1", now_us=BASE_US + 5200 * 1_000_000)
    assert got is not None
    assert got["firstSeen"] == when(200) and got["lastSeen"] == when(5199)
    assert [p["url"] for p in got["recentPages"]] == [f"https://shop.example/p/{i}" for i in range(5199, 5189, -1)]
    store.close()


def test_dwell_belongs_to_the_view_it_follows() -> None:
    url = "https://shop.example/products/a"
    rows = [
        row("dwell", 0, url=url, duration_seconds=99.0),  # before any view in the window: nobody's
        row("page_view", 10, url=url, product_id="A"),
        row("dwell", 25, url=url, duration_seconds=15.0),
        row("dwell", 40, url=url, duration_seconds=30.0),
        row("dwell", 41, session="s2", url=url, duration_seconds=77.0),  # another session's page
        row("page_view", 50, url=url, product_id="A"),
        row("dwell", 60, url=url, duration_seconds=10.25),
    ]
    got = visitor_context("v-1", rows, BASE_US + 100_000_000)
    assert [p["dwellSeconds"] for p in got["recentPages"]] == [10.25, 30.0]
    assert got["products"] == [
        {"productId": "A", "productName": None, "views": 2, "dwellSeconds": 40.25, "status": None, "inCart": False}
    ]
    assert got["sessions"] == 2 and got["currentSession"] == "s1"


def test_cart_never_goes_below_zero_and_lists_are_capped() -> None:
    rows = [row("cart_action", 0, action="remove", product_id="OLD")]  # its add is before the window
    rows += [row("cart_action", 1, action="add", product_id="OLD", properties={"productName": "Old thing"})]
    rows += [row("search_event", 10 + i, query=f"q{i}") for i in range(15)]
    rows += [row("page_view", 30 + i, url=f"https://shop.example/p/{i}", product_id=f"P{i}") for i in range(15)]
    got = visitor_context("v-1", rows, BASE_US + 100_000_000)
    assert got["cart"] == [{"productId": "OLD", "productName": "Old thing", "category": None, "quantity": 1}]
    assert [s["query"] for s in got["searches"]] == [f"q{i}" for i in range(14, 4, -1)]
    assert [p["productId"] for p in got["recentPages"]] == [f"P{i}" for i in range(14, 4, -1)]
    assert [p["productId"] for p in got["products"]] == [f"P{i}" for i in range(14, 4, -1)]


def test_the_summary_stays_short_whatever_the_visitor_sent() -> None:
    long = "x" * 4096
    rows = [row("identify", 0, customer_id=long)]
    rows += [row("search_event", 1 + i, query=long + str(i)) for i in range(10)]
    rows += [row("cart_action", 20 + i, action="add", product_id=long + str(i), properties={"productName": long})
             for i in range(10)]
    rows += [row("product_status", 40 + i, product_id=long + str(i), status=long) for i in range(10)]
    rows += [row("filter_usage", 60 + i, filter_type=long, filter_value=long + str(i)) for i in range(10)]
    summary = visitor_context("v-1", rows, BASE_US + 100_000_000)["summary"]
    assert len(summary) <= SUMMARY_CHARS
    assert summary.startswith("Single session, known customer " + "x" * 39 + "…, last active just now. ")
    assert summary.endswith(".")
