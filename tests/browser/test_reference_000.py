"""Every code sample of reference 000 (the tracking API), run verbatim on a shop page.

`window.filumChat.track` is `chatlens.track` (docs/sdk.md, Compatibility). The samples
below are copied character for character from the reference (its extraction lost the
indentation, which JavaScript does not need); they are evaluated as scripts of the page
with an indirect `eval`, whose completion value is what `track` returned.
"""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import ISO_8601, assert_uuid7_near, iso_ms, now_ms, uuid7_ms

QUICK_START = """// Track a page view
window.filumChat.track([{
type: 'page_view',
url: 'https://yourstore.com/products/wireless-headphones',
pageType: 'product',
productId: 'SKU-001',
}]);"""

PAGE_VIEW = """window.filumChat.track([{
type: 'page_view',
url: 'https://yourstore.com/products/sony-wh1000xm5',
pageType: 'product', // 'blog' | 'category' | 'product' | any string
productId: 'SKU-WH1000XM5', // only for product pages
}]);"""

DWELL = """window.filumChat.track([{
type: 'dwell',
url: 'https://yourstore.com/blog/best-headphones-2025',
pageType: 'blog',
durationSeconds: 120,
}]);"""

PRODUCT_STATUS = """window.filumChat.track([{
type: 'product_status',
productId: 'SKU-APMAX2',
status: 'out_of_stock',
}]);"""

FILTER_USAGE = """window.filumChat.track([{
type: 'filter_usage',
category: 'Air Conditioners',
filterType: 'price',
filterValue: 'low_to_high',
}]);"""

CART_ACTION = """window.filumChat.track([{
type: 'cart_action',
action: 'add',
productId: 'SKU-WH1000XM5',
productName: 'Sony WH-1000XM5',
category: 'Headphones',
}]);"""

SEARCH_EVENT = """window.filumChat.track([{
type: 'search_event',
query: 'range hood 90cm',
pageContext: 'https://yourstore.com/search',
categoryContext: 'Kitchen Appliances',
}]);"""

BATCHING = """window.filumChat.track([
{
type: 'page_view',
url: 'https://yourstore.com/products/airpods-max-2',
pageType: 'product',
productId: 'SKU-APMAX2',
},
{
type: 'product_status',
productId: 'SKU-APMAX2',
status: 'out_of_stock',
},
]);"""

SHOPIFY_PRODUCT_PAGE = """// On every product page
window.filumChat.track([{
type: 'page_view',
url: window.location.href,
pageType: 'product',
productId: document.querySelector('[data-product-id]')?.dataset.productId,
}]);"""

SHOPIFY_ADD_TO_CART = """// Listen for Shopify's add-to-cart event
document.addEventListener('cart:item-added', (event) => {
const item = event.detail;
window.filumChat.track([{
type: 'cart_action',
action: 'add',
productId: String(item.product_id),
variantId: String(item.variant_id),
productName: item.product_title,
}]);
});"""

DWELL_TIMER = """let dwellStart = Date.now();
window.addEventListener('beforeunload', () => {
const durationSeconds = Math.round((Date.now() - dwellStart) / 1000);
if (durationSeconds > 5) {
window.filumChat?.track([{
type: 'dwell',
url: window.location.href,
pageType: 'product', // adjust based on your page
durationSeconds,
}]);
}
});"""

# sample -> the events it must store, in order: (type, data)
SAMPLES: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "quick_start": (
        QUICK_START,
        [("page_view", {"url": "https://yourstore.com/products/wireless-headphones", "pageType": "product", "productId": "SKU-001"})],
    ),
    "page_view": (
        PAGE_VIEW,
        [("page_view", {"url": "https://yourstore.com/products/sony-wh1000xm5", "pageType": "product", "productId": "SKU-WH1000XM5"})],
    ),
    "dwell": (
        DWELL,
        [("dwell", {"url": "https://yourstore.com/blog/best-headphones-2025", "pageType": "blog", "durationSeconds": 120})],
    ),
    "product_status": (PRODUCT_STATUS, [("product_status", {"productId": "SKU-APMAX2", "status": "out_of_stock"})]),
    "filter_usage": (
        FILTER_USAGE,
        [("filter_usage", {"category": "Air Conditioners", "filterType": "price", "filterValue": "low_to_high"})],
    ),
    "cart_action": (
        CART_ACTION,
        [("cart_action", {"action": "add", "productId": "SKU-WH1000XM5", "productName": "Sony WH-1000XM5", "category": "Headphones"})],
    ),
    "search_event": (
        SEARCH_EVENT,
        [("search_event", {"query": "range hood 90cm", "pageContext": "https://yourstore.com/search", "categoryContext": "Kitchen Appliances"})],
    ),
    "batching": (
        BATCHING,
        [
            ("page_view", {"url": "https://yourstore.com/products/airpods-max-2", "pageType": "product", "productId": "SKU-APMAX2"}),
            ("product_status", {"productId": "SKU-APMAX2", "status": "out_of_stock"}),
        ],
    ),
}

RUN_VERBATIM = "code => (0, eval)(code)"  # a global script; its completion value comes back


def sample_events(events: list[dict[str, Any]], page_url: str) -> list[dict[str, Any]]:
    """The stored events that the sample made (not the SDK's own page_view/dwell of the
    page, nor the intent engine's decisions about them)."""
    return [
        e for e in events
        if e["type"] != "decision" and not (e["type"] in ("page_view", "dwell") and e["data"].get("url") == page_url)
    ]


def check_ids_and_timestamps(browse: Any, stored: list[dict[str, Any]], started_ms: int, *, wire_required: bool = True) -> None:
    wire = browse.wait_wire([e["id"] for e in stored]).event_by_id() if wire_required else {}
    for event in stored:
        assert_uuid7_near(event["id"], around_ms=started_ms)
        assert event["timestamp"], event
        if not wire_required:
            continue
        sent = wire.get(event["id"])
        assert sent is not None, f"event {event['id']} ({event['type']}) was stored but not seen on the wire"
        assert isinstance(sent.get("timestamp"), str) and ISO_8601.match(sent["timestamp"]), (
            f"the SDK must add an ISO 8601 timestamp at call time, got {sent.get('timestamp')!r}"
        )
        # id and timestamp are both made when track() is called
        assert abs(iso_ms(sent["timestamp"]) - uuid7_ms(event["id"])) < 1000, sent
        assert abs(iso_ms(sent["timestamp"]) - started_ms) < 60_000, sent


@pytest.mark.parametrize("name", list(SAMPLES))
def test_event_type_sample_runs_verbatim(browse, name: str) -> None:
    code, expected = SAMPLES[name]
    page = browse.open()
    started = now_ms()
    returned = page.evaluate(RUN_VERBATIM, code)
    assert returned is True, f"track() must return true when the events were queued, got {returned!r}"

    browse.wait_events(len(expected), lambda e: bool(sample_events([e], page.url)))
    stored = browse.chronological(sample_events(browse.settled(), page.url))
    assert [(e["type"], e["data"]) for e in stored] == expected
    check_ids_and_timestamps(browse, stored, started)


def test_shopify_product_page_sample(browse) -> None:
    # The SDK's own page_view is off here: the sample tracks the same URL itself, and
    # consecutive page views of one URL are sent once (docs/sdk.md).
    page = browse.open(
        {"auto-page-views": "false"},
        body='<div class="product" data-product-id="7623451">Sony WH-1000XM5</div>',
    )
    started = now_ms()
    returned = page.evaluate(RUN_VERBATIM, SHOPIFY_PRODUCT_PAGE)
    assert returned is True
    browse.wait_events(1, type="page_view")
    stored = of_types(browse.settled(), "page_view")
    assert [(e["type"], e["data"]) for e in stored] == [
        ("page_view", {"url": page.url, "pageType": "product", "productId": "7623451"})
    ]
    check_ids_and_timestamps(browse, stored, started)


def test_shopify_product_page_sample_with_automatic_page_views_counts_the_view_once(browse) -> None:
    """With the SDK's own page views on (the default), the sample's page_view for the same
    URL is not a second view: one page_view, with the product."""
    page = browse.open(body='<div class="product" data-product-id="7623451">Sony WH-1000XM5</div>')
    assert page.evaluate(RUN_VERBATIM, SHOPIFY_PRODUCT_PAGE) is True
    page.evaluate("() => chatlens.flush()")
    browse.wait_events(1, type="page_view")
    page.evaluate("() => chatlens.track([{type: 'custom', name: 'after'}]) && chatlens.flush()")
    browse.wait_events(1, type="custom")  # everything before it was delivered
    stored = of_types(browse.settled(), "page_view")
    assert [(e["type"], e["data"]) for e in stored] == [
        ("page_view", {"url": page.url, "pageType": "product", "productId": "7623451"})
    ]


def test_shopify_add_to_cart_listener_sample(browse) -> None:
    page = browse.open()
    started = now_ms()
    page.evaluate(RUN_VERBATIM, SHOPIFY_ADD_TO_CART)
    page.evaluate(
        """() => document.dispatchEvent(new CustomEvent('cart:item-added', {detail: {
            product_id: 7623451, variant_id: 42998112, product_title: 'Sony WH-1000XM5', quantity: 1}}))"""
    )
    browse.wait_events(1, type="cart_action")
    stored = of_types(browse.settled(), "cart_action")
    assert [(e["type"], e["data"]) for e in stored] == [
        ("cart_action", {"action": "add", "productId": "7623451", "variantId": "42998112", "productName": "Sony WH-1000XM5"})
    ]
    check_ids_and_timestamps(browse, stored, started)


def test_dwell_timer_sample_on_beforeunload(browse) -> None:
    # The SDK's own dwell is off so that the only dwell is the sample's.
    page = browse.open({"dwell": "false"})
    first_url = page.url
    started = now_ms()
    page.evaluate(RUN_VERBATIM, DWELL_TIMER)
    page.wait_for_timeout(6200)  # the sample reports only stays longer than 5 s
    page.goto(browse.publish(browse.html({"dwell": "false"}), "next-page"))  # beforeunload, pagehide
    stored = browse.wait_events(1, type="dwell")
    stored = of_types(browse.settled(), "dwell")
    assert len(stored) == 1, stored
    (dwell,) = stored
    assert dwell["data"]["url"] == first_url
    assert dwell["data"]["pageType"] == "product"
    assert dwell["data"]["durationSeconds"] in (6, 7), dwell
    # sent from pagehide (sendBeacon) or from the next page: not always on the wire
    check_ids_and_timestamps(browse, stored, started, wire_required=False)


def of_types(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] in types]
