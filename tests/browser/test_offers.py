"""Proactive offers in the page (docs/engagement.md): from a `track()` call to the
PROACTIVE_OFFER bus event, the page's answer back to the server, and a dwell threshold that
fires while the visitor is still reading (the server's check-in)."""

from __future__ import annotations

from typing import Any

from chatlens.engine.engine import held_out

# The SDK's default flush interval (docs/sdk.md), not the suite's quick 200 ms.
DEFAULTS = {"flush-interval": None}
CATCH_OFFERS = """() => {
    window.__offers = [];
    chatlens.subscribe(m => { if (m.type === 'PROACTIVE_OFFER') window.__offers.push([performance.now(), m]); });
}"""


def pin_visitor(browse: Any, skill: str, prefix: str) -> Any:
    """A context whose visitor is outside the skill's holdout (the shipped 10%, seed
    'chatlens'): the visitor id is set before the SDK makes one."""
    site_id = browse.site.keys["site_id"]
    visitor = next(f"{prefix}-{i}" for i in range(1000) if not held_out("chatlens", site_id, skill, f"{prefix}-{i}", 0.1))
    context = browse.context()
    # (about:blank has no storage: the script runs there too)
    context.add_init_script(f"try {{ localStorage.setItem('chatlens.visitor', {visitor!r}) }} catch (e) {{}}")
    return context, visitor


def test_a_tracked_signal_becomes_a_proactive_offer_in_the_page(browse) -> None:
    context, visitor = pin_visitor(browse, "value_seeking", "page")
    page = browse.open(DEFAULTS, context=context)
    page.evaluate(CATCH_OFFERS)
    started = page.evaluate(
        """() => { const t = performance.now();
        chatlens.track([{type: 'filter_usage', category: 'kettles', filterType: 'price', filterValue: 'low_to_high'}]);
        return t; }"""
    )
    page.wait_for_function("() => window.__offers.length === 1", timeout=5000)
    [[arrived, message]] = page.evaluate("() => window.__offers")
    assert message["type"] == "PROACTIVE_OFFER"
    offer = message["data"]
    assert offer["skill"] == "value_seeking"
    assert offer["message"] == "Looking for the best value in kettles? Tell me your budget and I will shortlist a few."
    # well within the 2 s the issue allows with default settings (benchmarks/offer_latency.py
    # measures the distribution); generous here for a loaded CI machine
    assert arrived - started < 2000, f"{arrived - started:.0f} ms from track() to the offer"

    # A late subscriber gets it too (the bus replays), and the widget reports back.
    replayed = page.evaluate(
        "() => { const got = []; chatlens.subscribe(m => m.type === 'PROACTIVE_OFFER' && got.push(m.data.id)); return got; }"
    )
    assert replayed == [offer["id"]]
    page.evaluate("id => { chatlens.offer(id, 'shown'); chatlens.offer(id, 'accepted'); chatlens.flush(); }", offer["id"])
    answers = browse.wait_events(2, lambda e: e["type"] == "offer")
    assert sorted(e["data"]["status"] for e in answers) == ["accepted", "shown"]
    assert {e["data"]["offerId"] for e in answers} == {offer["id"]}
    assert {e["visitor_id"] for e in answers} == {visitor}
    [decision] = browse.site.events(type="decision")
    assert decision["data"]["offerId"] == offer["id"] and decision["data"]["decision"] == "offered"


def test_a_dwell_threshold_fires_while_the_visitor_is_still_on_the_page(browse, tmp_path) -> None:
    """A custom threshold the SDK's own dwell steps (15, 30, 60 ... s) do not hit: the server
    tells the page when to report its dwell."""
    context, _ = pin_visitor(browse, "out_of_stock", "stock")
    page = browse.open(DEFAULTS, context=context)
    page.bring_to_front()
    page.evaluate(CATCH_OFFERS)
    opened = page.evaluate("() => performance.now()")
    # the shipped out_of_stock skill: this product is out of stock, then 20 s on its page
    page.evaluate("() => chatlens.track([{type: 'product_status', productId: 'SKU-OOS', status: 'out_of_stock'}])")
    page.wait_for_function("() => window.__offers.length === 1", timeout=30_000)
    [[arrived, message]] = page.evaluate("() => window.__offers")
    assert message["data"]["skill"] == "out_of_stock"
    assert message["data"]["message"].startswith("SKU-OOS is out of stock right now.")
    assert 19_000 <= arrived - opened <= 24_000, f"offered {arrived - opened:.0f} ms after the page opened"
    dwells = [e for e in browse.events(type="dwell") if e["data"]["url"] == page.url]
    assert dwells and 20 <= max(e["data"]["durationSeconds"] for e in dwells) < 22
