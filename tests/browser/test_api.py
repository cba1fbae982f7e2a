"""The page-facing API (docs/sdk.md): the stub, `track()`'s validation, `identify`, custom
events."""

from __future__ import annotations

import re
from .helpers import STUB

DELAYED_SDK = """<script>
window.__calls = [];
window.__sdkPresent = () => !!document.querySelector('script[src$="/sdk.js"]') || !Array.isArray(window.chatlens.q);
window.__calls.push(['sdk present before the calls', window.__sdkPresent()]);
chatlens.track([{type: 'custom', name: 'stub-first', properties: {n: 1}}]);
chatlens.identify('customer-42', {plan: 'pro', language: 'en'});
window.__fromStubSubscribe = chatlens.subscribe(e => window.__calls.push(['bus', e.type, e.data && e.data.name]));
chatlens.track([{type: 'search_event', query: 'range hood 90cm'}, {type: 'custom', name: 'stub-second', properties: {n: 2}}]);
chatlens.ready().then(() => window.__calls.push(['ready', typeof window.chatlens.track]));
chatlens.track([{type: 'custom', name: 'stub-third', properties: {n: 3}}]);
setTimeout(() => {
    const s = document.createElement('script');
    s.src = %(src)s;
    s.async = true;
    s.dataset.site = %(key)s;
    s.dataset.flushInterval = '200';
    document.head.appendChild(s);
}, 400);
</script>"""


def test_stub_calls_before_load_are_replayed_in_order(browse) -> None:
    import json

    before = DELAYED_SDK % {"src": json.dumps(browse.chatlens.url + "/sdk.js"), "key": json.dumps(browse.site.public_key)}
    url = browse.publish(browse.html(sdk=False, stub=True, before_sdk=before))
    page = browse.default_context.new_page()
    page.goto(url)
    page.wait_for_function("() => window.__calls.some(c => c[0] === 'ready')", timeout=8000)
    calls = page.evaluate("() => window.__calls")
    assert calls[0] == ["sdk present before the calls", False]
    assert ["ready", "function"] in calls, calls
    assert page.evaluate("() => window.__fromStubSubscribe") is None  # the stub returns nothing

    # the stub's subscriber got the history once the SDK loaded
    bus_names = [c[2] for c in calls if c[0] == "bus" and c[1] == "custom"]
    assert bus_names == ["stub-first", "stub-second", "stub-third"], calls

    wanted = ("custom", "identify", "search_event")
    browse.wait_events(5, lambda e: e["type"] in wanted)
    stored = browse.chronological([e for e in browse.settled() if e["type"] in wanted])
    order = browse.wait_wire([e["id"] for e in stored]).order()
    on_wire = sorted(stored, key=lambda e: order.get(e["id"], 1 << 30))
    summary = [(e["type"], e["data"].get("name")) for e in on_wire]
    assert summary == [
        ("custom", "stub-first"),
        ("identify", None),
        ("search_event", None),
        ("custom", "stub-second"),
        ("custom", "stub-third"),
    ]
    assert [(e["type"], e["data"].get("name")) for e in stored] == summary, "timestamps in call order"
    identify = on_wire[1]
    assert identify["data"] == {"customerId": "customer-42", "traits": {"plan": "pro", "language": "en"}}
    # and after load, ready() resolves at once
    assert page.evaluate("() => chatlens.ready().then(() => 'resolved')") == "resolved"


def test_the_stub_is_the_documented_one() -> None:
    from .conftest import REPO

    assert STUB.removeprefix("<script>\n").removesuffix("\n</script>") in (REPO / "docs" / "sdk.md").read_text()


def test_stub_after_the_sdk_loaded_changes_nothing(browse) -> None:
    page = browse.open()
    snippet = STUB.removeprefix("<script>").removesuffix("</script>")
    page.evaluate("code => (0, eval)(code)", snippet)
    assert page.evaluate("() => chatlens.track([{type: 'custom', name: 'after-second-stub'}])") is True
    assert page.evaluate("() => chatlens.ready().then(() => true)") is True
    browse.wait_events(1, type="custom")


def test_invalid_events_are_skipped_with_a_warning_naming_the_field(browse) -> None:
    page = browse.open()
    result = page.evaluate(
        """() => chatlens.track([
            {type: 'search_event', query: 'range hood 90cm'},
            {type: 'dwell', url: location.href},
            {type: 'cart_action', action: 'purchase', productId: 'SKU-1'},
            {type: 'page_view', url: '/relative/path'},
            {type: 'filter_usage', filterType: 'price'},
            {type: 'dwell', url: location.href, pageType: 'product', durationSeconds: 'long'},
            {type: 'custom', name: 'still-sent', properties: {ok: true}},
        ])"""
    )
    assert result is True, "at least one event was valid"
    browse.wait_events(2, lambda e: e["type"] in ("search_event", "custom"))
    stored = [e for e in browse.settled() if e["type"] not in ("page_view",)]
    assert sorted((e["type"], e["data"].get("name")) for e in stored) == [("custom", "still-sent"), ("search_event", None)]

    warnings = browse.warnings()
    for path in ("events[1].durationSeconds", "events[2].action", "events[3].url", "events[4].filterValue", "events[5].durationSeconds"):
        assert any(path in w for w in warnings), f"no console.warn naming {path}: {warnings}"
    assert any(re.match(r"^chatlens: events\[1\]\.durationSeconds: required, must be a number", w) for w in warnings), warnings


def test_track_returns_false_when_nothing_is_valid(browse) -> None:
    page = browse.open()
    results = page.evaluate(
        """() => {
            const cases = {
                'no argument': () => chatlens.track(),
                'null': () => chatlens.track(null),
                'a string': () => chatlens.track('page_view'),
                'an event, not an array': () => chatlens.track({type: 'custom', name: 'lonely'}),
                'an empty array': () => chatlens.track([]),
                'a missing required field': () => chatlens.track([{type: 'dwell', url: location.href}]),
                'an unknown type': () => chatlens.track([{type: 'purchase', value: 10}]),
                'no type': () => chatlens.track([{url: location.href}]),
                'not objects': () => chatlens.track([null, 5, 'x', []]),
            };
            const out = {};
            for (const [name, call] of Object.entries(cases)) {
                try { out[name] = call(); } catch (e) { out[name] = 'threw ' + e; }
            }
            return out;
        }"""
    )
    assert results == {name: False for name in results}, results
    assert any("events[0].type" in w for w in browse.warnings()), browse.warnings()
    # The automatic page view arrives; anything wrongly queued would travel with it.
    browse.wait_events(1, type="page_view")
    page.wait_for_timeout(600)
    assert [e["type"] for e in browse.events()] == ["page_view"]


def test_track_never_throws(browse) -> None:
    page = browse.open()
    results = page.evaluate(
        """() => {
            const circular = {name: 'loop'}; circular.self = circular;
            const trap = new Proxy({}, {get() { throw new Error('trap'); }, ownKeys() { throw new Error('trap'); }});
            const cases = {
                'a getter that throws': [{get type() { throw new Error('boom'); }}],
                'circular properties': [{type: 'custom', name: 'circular', properties: circular}],
                'a BigInt property': [{type: 'custom', name: 'bigint', properties: {n: 10n}}],
                'a symbol type': [{type: Symbol('page_view')}],
                'a hostile proxy': [trap],
                'a sparse array': [, , {type: 'custom', name: 'sparse-ok'}],
                'a null-prototype event': [Object.assign(Object.create(null), {type: 'custom', name: 'bare-ok'})],
                'a valid sibling after a hostile event': [trap, {type: 'custom', name: 'sibling-ok'}],
            };
            const out = {};
            for (const [name, events] of Object.entries(cases)) {
                try { out[name] = typeof chatlens.track(events); } catch (e) { out[name] = 'threw ' + e; }
            }
            return out;
        }"""
    )
    assert results == {name: "boolean" for name in results}, results
    wanted = {"sparse-ok", "bare-ok", "sibling-ok"}
    browse.wait_events(3, lambda e: e["type"] == "custom" and e["data"]["name"] in wanted, timeout=5)


def test_identify_and_custom_events(browse) -> None:
    page = browse.open()
    page.evaluate("() => { chatlens.identify('customer-7', {plan: 'pro'}); }")
    assert page.evaluate(
        "() => chatlens.track([{type: 'custom', name: 'purchase', properties: {value: 349.0, currency: 'EUR', items: ['SKU-1']}}])"
    ) is True
    browse.wait_events(2, lambda e: e["type"] in ("identify", "custom"))
    stored = {e["type"]: e["data"] for e in browse.settled() if e["type"] in ("identify", "custom")}
    assert stored == {
        "identify": {"customerId": "customer-7", "traits": {"plan": "pro"}},
        "custom": {"name": "purchase", "properties": {"value": 349.0, "currency": "EUR", "items": ["SKU-1"]}},
    }


def test_data_endpoint_sets_where_events_go(browse) -> None:
    # the script from one address of the server, the events to another one of it
    endpoint = browse.chatlens.url.replace("127.0.0.1", "localhost")
    page = browse.open({"endpoint": endpoint})
    (view,) = browse.wait_events(1, type="page_view")
    (request,) = browse.wait_wire([view["id"]]).posts()
    assert request.url == endpoint + "/v1/batch"
    assert view["data"]["url"] == page.url
