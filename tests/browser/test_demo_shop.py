"""The demo shop in headless Chromium against the real server: the shop's tracking calls
reach the server, and the reference widget shows offers and reports the chat it starts.

One server for the module (its first-start default site is the demo's site); each test
gets a fresh browser context, so a new visitor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import BROWSER_UA, Server, start_server  # tests/conftest.py

@pytest.fixture(scope="module")
def shop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("demo") / "chatlens.duckdb", "--rate-limit", "100000")
    yield srv
    srv.stop()


@pytest.fixture
def browser(chromium: Any) -> Any:
    """The suite's one Chromium (tests/browser/conftest.py): Playwright's sync API allows
    one instance per process."""
    return chromium.browser


class Visitor:
    """One browser context (a new visitor) whose pages must log no errors."""

    def __init__(self, browser: Any, server: Server) -> None:
        self.server = server
        self.context = browser.new_context(user_agent=BROWSER_UA)
        self.context.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))

    def goto(self, path: str) -> Any:
        self.page.goto(self.server.url + path)
        # the SDK initialized (chatlens.ready() resolved) and the widget is on the page
        self.page.evaluate("() => window.chatlens.ready()")
        self.page.wait_for_selector(".clw-launcher")
        return self.page

    def wait_events(self, what: str, where: Callable[[dict[str, Any]], bool], timeout: float = 10.0, **filters: Any) -> list[dict[str, Any]]:
        """Poll GET /v1/events (secret key) until a matching event is stored."""
        found: list[dict[str, Any]] = []
        waited = 0.0
        while waited <= timeout:
            found = [e for e in self.server.all_events(**filters) if where(e)]
            if found:
                return found
            self.page.wait_for_timeout(200)  # not time.sleep: keeps Playwright dispatching
            waited += 0.2
        stored = [(e["type"], e["data"]) for e in self.server.all_events(**filters)]
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; stored: {stored}")

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors


@pytest.fixture
def visitor(browser: Any, shop_server: Server) -> Iterator[Visitor]:
    instance = Visitor(browser, shop_server)
    yield instance
    instance.close()


def test_sorting_low_to_high_sends_filter_usage(visitor: Visitor) -> None:
    page = visitor.goto("/demo/category/headphones")
    page.get_by_role("button", name="price low to high").click()
    prices = page.eval_on_selector_all("#grid > li", "cards => cards.map(c => Number(c.dataset.price))")
    assert prices == sorted(prices)
    vid = page.evaluate("() => chatlens._state().visitor_id")
    stored = visitor.wait_events(
        "filter_usage",
        lambda e: e["visitor_id"] == vid,
        type="filter_usage",
    )
    assert stored[0]["data"] == {"category": "headphones", "filterType": "price", "filterValue": "low_to_high"}


def test_product_cart_search_and_guide_pages_send_the_skills_signals(visitor: Visitor) -> None:
    """The bundle path (add a stove, search "range hood") plus the signals of the
    out-of-stock and research skills: what each page sends, as stored by the server."""
    visitor.goto("/demo/product/ac-split")
    assert visitor.page.is_disabled("button.buy")  # out of stock: nothing to add
    page = visitor.goto("/demo/product/stove-4b")
    page.get_by_role("button", name="Add to cart").click()
    assert page.text_content("#cart-count") == "Cart: 1"
    visitor.goto("/demo/search?q=range+hood")
    page = visitor.goto("/demo/guide/range-hood-buying-guide")
    vid = page.evaluate("() => chatlens._state().visitor_id")
    mine = lambda e: e["visitor_id"] == vid  # noqa: E731

    search = visitor.wait_events("search_event", mine, type="search_event")[0]["data"]
    assert search["query"] == "range hood" and search["categoryContext"] == "range hoods"
    assert search["pageContext"].endswith("/demo/search?q=range+hood")
    cart = visitor.wait_events("cart_action", mine, type="cart_action")[0]["data"]
    assert cart == {"action": "add", "productId": "stove-4b", "productName": "Flamecraft 4-Burner Gas Range", "category": "gas stoves"}
    visitor.wait_events("stove-4b's product_status", lambda e: mine(e) and e["data"]["productId"] == "stove-4b", type="product_status")
    statuses = {e["data"]["productId"]: e["data"]["status"] for e in visitor.wait_events("product_status", mine, type="product_status")}
    assert statuses == {"ac-split": "out_of_stock", "stove-4b": "in_stock"}
    views = visitor.wait_events("the guide's page_view", lambda e: mine(e) and e["data"].get("pageType") == "guide", type="page_view")
    assert views[0]["data"]["url"].endswith("/demo/guide/range-hood-buying-guide")
    # Each page's events are flushed on their own schedule: wait for the second product view too.
    visitor.wait_events("stove-4b's page_view", lambda e: mine(e) and e["data"].get("productId") == "stove-4b", type="page_view")
    products = [e["data"] for e in visitor.server.all_events(type="page_view") if mine(e) and e["data"].get("pageType") == "product"]
    assert {p["productId"] for p in products} == {"ac-split", "stove-4b"}


def test_widget_shows_an_offer_as_text_and_reports_the_proactive_chat(visitor: Visitor) -> None:
    """The widget's offer path, fed by hand (window.chatlensWidget.showOffer, the same code
    as a PROACTIVE_OFFER from the bus), with the real SDK and server underneath."""
    page = visitor.goto("/demo/product/hp-aurora")
    message = '<img src=x onerror="window.__injected=1">Compare the Aurora and the Aurora Pro?'
    shown = page.evaluate(
        """message => window.chatlensWidget.showOffer({id: 'offer-test-1', skill: 'comparison', message,
             data: {productIds: ['hp-aurora', 'hp-aurora-pro']}, expiresAt: new Date(Date.now() + 600000).toISOString()})""",
        message,
    )
    assert shown is True
    bubble = page.locator(".clw-bubble")
    bubble.wait_for(state="visible")
    assert page.text_content(".clw-offer-message") == message  # as text: no markup made
    assert page.locator(".clw-bubble img").count() == 0
    # the bus replays history: an offer already handled is never shown twice
    assert page.evaluate("() => window.chatlensWidget.showOffer({id: 'offer-test-1', message: 'again'})") is False

    page.get_by_role("button", name="Accept").click()
    assert bubble.is_hidden()
    page.locator(".clw-agent").first.wait_for()  # the simulated agent joined and spoke
    page.fill(".clw-form input", "Which one is lighter?")
    page.press(".clw-form input", "Enter")
    page.get_by_role("button", name="End chat").click()
    assert page.evaluate("() => window.__injected") is None

    vid = page.evaluate("() => chatlens._state().visitor_id")
    opened = visitor.wait_events("chat.opened", lambda e: e["visitor_id"] == vid, type="chat.opened")[0]
    assert opened["data"]["metadata"]["proactive"] is True
    conversation = opened["data"]["metadata"]["id"]
    closed = visitor.wait_events("chat.closed", lambda e: e["visitor_id"] == vid, type="chat.closed")[0]["data"]["metadata"]
    assert closed["id"] == conversation
    assert closed["proactive"] is True and closed["numAgents"] == 1 and closed["completed"]
    assert closed["userMessages"] == 1 and closed["agentMessages"] >= 1
    assert closed["form"] == {"source": "proactive_offer", "skill": "comparison"}

    if page.evaluate("() => typeof chatlens.offer") == "function":  # the SDK's offer(): issue 5's integration
        statuses = visitor.wait_events(
            "offer events",
            lambda e: e["visitor_id"] == vid and e["data"]["status"] == "accepted",
            type="offer",
        )
        assert statuses[0]["data"]["offerId"] == "offer-test-1"


def test_engine_offer_after_sorting_shows_in_the_widget(browser: Any, shop_server: Server) -> None:
    """INTEGRATION (issue 5): needs the SDK to put the batch answer's offers on the bus as
    PROACTIVE_OFFER and to have chatlens.offer(). Until then it fails waiting for the
    bubble, after the engine's 'offered' decision is stored.

    The value-seeking skill: sort by price low to high; the engine decides, the SDK puts
    the offer on the bus, the widget shows it; "Not now" is reported back."""
    for _ in range(3):  # the engine holds out 10% of qualified visitors: try a new one then
        visitor = Visitor(browser, shop_server)
        try:
            page = visitor.goto("/demo/category/gas-stoves")
            page.get_by_role("button", name="price low to high").click()
            vid = page.evaluate("() => chatlens._state().visitor_id")
            decision = visitor.wait_events(
                "the engine's value_seeking decision",
                lambda e: e["visitor_id"] == vid and e["data"]["skill"] == "value_seeking",
                type="decision",
            )[0]["data"]
            if decision["decision"] == "held_out":
                continue
            assert decision["decision"] == "offered", decision
            bubble = page.locator(".clw-bubble")
            try:
                bubble.wait_for(state="visible", timeout=8_000)
            except Exception:
                bus = page.evaluate("() => Array.from(document.querySelectorAll('#event-log b'), b => b.textContent)")
                raise AssertionError(f"the engine offered {decision} but the widget showed nothing; bus: {bus}") from None
            assert page.text_content(".clw-offer-message") == decision["message"]
            page.get_by_role("button", name="Not now").click()
            stored = visitor.wait_events(
                "the offer's dismissal",
                lambda e: e["visitor_id"] == vid and e["data"]["status"] == "dismissed",
                type="offer",
            )
            assert stored[0]["data"]["offerId"] == decision["offerId"]
            return
        finally:
            visitor.close()
    pytest.fail("three visitors in a row were held out")
