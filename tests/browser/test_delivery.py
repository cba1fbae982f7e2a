"""Delivery (docs/sdk.md): nothing is lost when the network or the server fails or the tab
goes away, nothing is stored twice, and the limits of the wire are kept."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from .conftest import Browse, Chatlens, start_chatlens
from .helpers import custom_named, route_headers, wait_until

FAILED_FETCH = r"Failed to load resource|net::ERR_|status of (500|429)"


def track_customs(page: Any, names: list[str]) -> None:
    page.evaluate(
        """names => { for (const name of names) {
            if (chatlens.track([{type: 'custom', name, properties: {n: name}}]) !== true) throw new Error('track refused ' + name);
        } }""",
        names,
    )


def assert_stored_once(events: list[dict[str, Any]], names: list[str]) -> None:
    counts = Counter(e["data"]["name"] for e in events if e["type"] == "custom")
    assert {name: counts.get(name, 0) for name in names} == {name: 1 for name in names}
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))


def test_offline_then_online_loses_nothing(browse: Browse) -> None:
    browse.allow_console_errors(FAILED_FETCH)
    context = browse.default_context
    page = browse.open()
    browse.wait_events(1, type="page_view")
    context.set_offline(True)
    names = [f"offline-{i}" for i in range(3)]
    for name in names:
        track_customs(page, [name])
        page.wait_for_timeout(150)
    page.wait_for_timeout(1500)
    assert not [e for e in browse.events() if e["type"] == "custom"], "stored while offline?"
    context.set_offline(False)
    browse.wait_events(3, type="custom", timeout=20)
    assert_stored_once(browse.settled(1.0), names)


def test_server_errors_are_retried_without_loss_or_duplicates(browse: Browse, chatlens: Chatlens) -> None:
    browse.allow_console_errors(FAILED_FETCH)
    context = browse.default_context
    seen: list[tuple[float, list[str]]] = []

    def handler(route: Any) -> None:
        events = route.request.post_data_json.get("events", []) if route.request.post_data else []
        seen.append((time.monotonic(), [e.get("id") for e in events]))
        if len(seen) <= 2:
            route.fulfill(status=500, headers=route_headers(browse.shop.origin), body='{"error": "internal"}')
        else:
            route.continue_()

    context.route(chatlens.batch_url, handler)
    page = browse.open()
    names = [f"retry-{i}" for i in range(3)]
    track_customs(page, names)
    browse.wait_events(4, lambda e: e["type"] in ("page_view", "custom"), timeout=20)
    stored = browse.settled(1.5)
    assert_stored_once(stored, names)
    assert len([e for e in stored if e["type"] == "page_view"]) == 1

    assert len(seen) >= 3, seen
    first_ids = set(seen[0][1])
    stored_ids = {e["id"] for e in stored}
    assert first_ids <= stored_ids, "a retry must resend the same events (same ids)"
    # after the success nothing was sent again
    delivered = [i for _, ids in seen[2:] for i in ids]
    assert len(delivered) == len(set(delivered)), Counter(delivered).most_common(3)
    # backoff: about 1 s, then about 2 s (with jitter)
    gap1, gap2 = seen[1][0] - seen[0][0], seen[2][0] - seen[1][0]
    assert gap1 >= 0.5, f"first retry after {gap1:.2f} s"
    assert gap2 >= 1.0, f"second retry after {gap2:.2f} s"
    assert len(seen) <= 6, f"{len(seen)} requests for 4 events"


def test_429_waits_for_retry_after(browse: Browse, chatlens: Chatlens) -> None:
    browse.allow_console_errors(FAILED_FETCH)
    context = browse.default_context
    seen: list[float] = []

    def handler(route: Any) -> None:
        seen.append(time.monotonic())
        if len(seen) == 1:
            route.fulfill(
                status=429,
                headers=route_headers(browse.shop.origin, {"Retry-After": "2"}),
                body='{"error": "rate_limited", "message": "over 30 requests a minute"}',
            )
        else:
            route.continue_()

    context.route(chatlens.batch_url, handler)
    page = browse.open()
    wait_until(lambda: seen, timeout=5, sleep=browse.sleep, message="the page view sent")
    track_customs(page, ["during-retry-after"])  # must not be sent before Retry-After either
    browse.wait_events(2, lambda e: e["type"] in ("page_view", "custom"), timeout=10)
    assert len(seen) >= 2
    waited = seen[1] - seen[0]
    assert waited >= 1.9, f"retried {waited:.2f} s after a 429 with Retry-After: 2"
    assert_stored_once(browse.settled(), ["during-retry-after"])


def test_other_4xx_is_not_retried_and_the_events_are_dropped(browse: Browse, chatlens: Chatlens) -> None:
    browse.allow_console_errors(r"Failed to load resource|status of 400")
    seen: list[list[str]] = []

    def handler(route: Any) -> None:
        seen.append([e.get("id") for e in route.request.post_data_json.get("events", [])])
        if len(seen) == 1:
            body = '{"error": "bad_envelope", "message": "visitor_id: required, must be a non-empty string"}'
            route.fulfill(status=400, headers=route_headers(browse.shop.origin), body=body)
        else:
            route.continue_()

    browse.default_context.route(chatlens.batch_url, handler)
    page = browse.open()
    browse.sleep(2.0)  # a retry would come after about 1 s
    assert len(seen) == 1, f"a 400 must not be retried: {seen}"
    assert any("400" in w or "dropped" in w for w in browse.warnings()), browse.warnings()
    track_customs(page, ["after-400"])
    browse.wait_events(1, type="custom")
    stored = browse.settled()
    assert [e["type"] for e in stored] == ["custom"], "the refused page view is dropped, later events still go"
    assert not set(seen[0]) & {i for ids in seen[1:] for i in ids}


def test_closed_tab_events_are_delivered(browse: Browse) -> None:
    """Events still queued when the tab closes go out by beacon, or with the next page
    of the same origin; either way each is stored once."""
    context = browse.default_context
    page = browse.open({"flush-interval": "10000"})
    names = [f"closing-{i}" for i in range(3)]
    track_customs(page, names)
    page.close()
    try:
        browse.wait_events(3, type="custom", timeout=3)
    except AssertionError:  # not by beacon: the next page load of the origin sends them
        browse.open(context=context)
        browse.wait_events(3, type="custom", timeout=10)
    stored = browse.settled(1.0)
    assert_stored_once(stored, names)
    assert len([e for e in stored if e["type"] == "page_view"]) in (1, 2)


@pytest.mark.parametrize("how", ["navigation-to-another-site", "tab-hidden"])
def test_queue_goes_out_when_the_page_is_left_or_hidden(browse: Browse, how: str) -> None:
    page = browse.open({"flush-interval": "10000"})
    names = [f"{how}-{i}" for i in range(3)]
    track_customs(page, names)
    page.wait_for_timeout(100)
    assert not browse.events(type="custom")
    if how == "tab-hidden":
        page.evaluate(
            """() => {
                Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
                Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
    else:
        page.goto("about:blank")  # another site: no next page of the shop
    browse.wait_events(3, type="custom", timeout=4, what=f"events sent on {how} (well before the 10 s flush interval)")
    assert_stored_once(browse.settled(), names)


def test_two_tabs_send_every_event_exactly_once(browse: Browse, tmp_path, shop) -> None:
    own = start_chatlens(tmp_path / "tabs.duckdb", shop, 1, "--rate-limit", "0")
    try:
        site = own.take_site()
        context = browse.default_context
        tabs = []
        for name in ("tab-a", "tab-b"):
            page = context.new_page()
            page.goto(browse.publish(browse.html(site=site), name))
            browse.ready(page)
            tabs.append(page)
        duplicates_before = own.metric("chatlens_events_dropped_total", reason="duplicate")
        script = """tab => { window.__done = (async () => {
            for (let i = 0; i < 25; i++) {
                chatlens.track([{type: 'custom', name: 'tab-event', properties: {tab, i}}]);
                await new Promise(r => setTimeout(r, 12));
            }
        })(); }"""
        tabs[0].evaluate(script, "a")
        tabs[1].evaluate(script, "b")
        for tab in tabs:
            tab.evaluate("() => window.__done")

        def stored() -> list[dict[str, Any]]:
            return [e for e in site.events() if e["type"] == "custom"]

        deadline = time.monotonic() + 15
        while len(stored()) < 50 and time.monotonic() < deadline:
            browse.sleep(0.2)
        browse.sleep(1.5)
        events = stored()
        keys = Counter((e["data"]["properties"]["tab"], e["data"]["properties"]["i"]) for e in events)
        assert keys == Counter({(t, i): 1 for t in "ab" for i in range(25)})
        assert len({e["id"] for e in events}) == 50
        duplicates = own.metric("chatlens_events_dropped_total", reason="duplicate") - duplicates_before
        assert duplicates == 0, f"the tabs sent {duplicates:.0f} events twice (one tab at a time must send)"
        wire = browse.wait_wire([e["id"] for e in events])
        sent = Counter(e["id"] for r in wire.posts() if r.url.startswith(own.url) for e in r.events if e.get("type") == "custom")
        assert sent and max(sent.values()) == 1, f"event ids sent more than once: {sent.most_common(3)}"
    finally:
        browse.close()
        own.server.stop()


def test_full_queue_keeps_the_newest_and_reports_the_drop(browse: Browse, chatlens: Chatlens) -> None:
    browse.allow_console_errors(FAILED_FETCH)
    context = browse.default_context
    context.route(chatlens.batch_url, lambda route: route.abort())
    page = browse.open({"max-queue": "5", "auto-page-views": "false", "dwell": "false"})
    names = [f"queued-{i}" for i in range(8)]
    for name in names:
        track_customs(page, [name])
    page.wait_for_timeout(800)
    warned = [w for w in browse.warnings() if "chatlens" in w.lower() and ("drop" in w.lower() or "queue" in w.lower())]
    assert warned, f"dropping queued events must be warned about; warnings: {browse.warnings()}"
    context.unroute(chatlens.batch_url)
    browse.wait_events(1, lambda e: e["type"] == "custom" and e["data"]["name"] == "sdk_queue_dropped", timeout=15)
    stored = browse.settled(1.0)
    kept = sorted(e["data"]["name"] for e in stored if e["type"] == "custom" and e["data"]["name"].startswith("queued-"))
    assert kept == names[3:], "the newest 5 are kept"
    reports = custom_named(stored, "sdk_queue_dropped")
    assert [r["data"].get("properties") for r in reports] == [{"count": 3}]


def test_opt_out_stops_everything_and_persists(browse: Browse) -> None:
    context = browse.default_context
    page = browse.open({"flush-interval": "1500"})
    browse.wait_events(1, type="page_view", timeout=5)
    wire = browse.wire()
    result = page.evaluate(
        """() => {
            const queued = chatlens.track([{type: 'custom', name: 'queued-before-optout'}]);
            chatlens.optOut();
            const after = chatlens.track([{type: 'custom', name: 'while-opted-out'}]);
            chatlens.identify('customer-1', {plan: 'pro'});
            chatlens.chat.loaded('help_faq_bot');
            return [queued, after];
        }"""
    )
    assert result == [True, False], "track() returns false when opted out"
    requests_at_optout = len(wire.posts())
    page.wait_for_timeout(2000)
    page.reload()
    browse.ready(page)
    assert page.evaluate("() => chatlens.track([{type: 'custom', name: 'after-reload'}])") is False
    page.wait_for_timeout(1200)
    assert len(wire.posts()) == requests_at_optout, [r.body for r in wire.posts()[requests_at_optout:]]
    assert [e["type"] for e in browse.events()] == ["page_view"], "the queue is cleared and nothing is sent"

    assert page.evaluate("() => { chatlens.optIn(); return chatlens.track([{type: 'custom', name: 'after-optin'}]); }") is True
    browse.wait_events(1, type="custom", timeout=6)
    stored = browse.settled()
    assert [e["data"]["name"] for e in stored if e["type"] == "custom"] == ["after-optin"]
    assert not [e for e in stored if e["type"] in ("identify", "CHAT_LOADED", "chat.ready")]


@pytest.mark.parametrize("signal", ["globalPrivacyControl", "doNotTrack"])
def test_honor_dnt_sends_nothing(browse: Browse, signal: str) -> None:
    init = (
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {configurable: true, get: () => true});"
        if signal == "globalPrivacyControl"
        else "Object.defineProperty(Navigator.prototype, 'doNotTrack', {configurable: true, get: () => '1'});"
    )
    honoring = browse.default_context
    honoring.add_init_script(init)
    page = browse.open({"honor-dnt": "true"}, context=honoring)
    page.evaluate("() => chatlens.track([{type: 'custom', name: 'with-dnt'}])")
    page.wait_for_timeout(1500)
    assert browse.wire(honoring).posts() == []
    assert browse.events() == []

    # without data-honor-dnt the same browser is tracked (the default is false)
    default = browse.context()
    default.add_init_script(init)
    browse.open(context=default)
    browse.wait_events(1, type="page_view")


def test_batch_size_and_request_rate_limits(browse: Browse) -> None:
    page = browse.open({"max-batch": "3", "rate-limit": "2", "auto-page-views": "false", "dwell": "false"})
    names = [f"limited-{i}" for i in range(7)]
    assert page.evaluate(
        "names => chatlens.track(names.map(name => ({type: 'custom', name})))", names
    ) is True
    page.wait_for_timeout(3000)
    posts = browse.wire().posts()
    assert len(posts) == 2, f"data-rate-limit=2: at most 2 requests a minute, saw {len(posts)}"
    assert [len(r.events) for r in posts] == [3, 3]
    assert len(browse.events(type="custom")) == 6


def test_envelope_identity_and_no_cookies(browse: Browse, chatlens: Chatlens) -> None:
    from .helpers import ISO_8601, is_uuid7

    context = browse.default_context
    page = browse.open()
    (view,) = browse.wait_events(1, type="page_view")
    (request,) = browse.wait_wire([view["id"]]).posts()
    assert request.url == chatlens.batch_url
    assert request.headers.get("content-type", "").startswith("text/plain"), request.headers
    body = request.body
    assert body is not None and {"key", "visitor_id", "session_id", "sent_at", "events"} <= set(body)
    assert body["key"] == browse.site.public_key
    assert is_uuid7(body["visitor_id"]) and is_uuid7(body["session_id"]), body
    assert ISO_8601.match(body["sent_at"]), body["sent_at"]
    assert (view["visitor_id"], view["session_id"]) == (body["visitor_id"], body["session_id"])

    page.reload()
    browse.ready(page)
    views = browse.wait_events(2, type="page_view")
    again = browse.wait_wire([e["id"] for e in views]).posts()[-1].body
    assert (again["visitor_id"], again["session_id"]) == (body["visitor_id"], body["session_id"])

    other = browse.context()
    browse.open(context=other)
    views = browse.wait_events(3, type="page_view")
    (third_view,) = [e for e in views if e["visitor_id"] != body["visitor_id"]]
    third = browse.wait_wire([third_view["id"]], context=other).posts()[-1].body
    assert third["visitor_id"] != body["visitor_id"] and third["session_id"] != body["session_id"]

    assert context.cookies() == [] and page.evaluate("() => document.cookie") == ""


def test_session_changes_after_30_minutes_without_activity(browse: Browse) -> None:
    from .helpers import is_uuid7

    page = browse.default_context.new_page()
    page.clock.install()  # Date and timers of the page, fast-forwarded below
    page.goto(browse.publish(browse.html({"dwell": "false"})))  # no automatic events meanwhile
    browse.ready(page)
    for idle, name in (("20:00", "after-20-idle-minutes"), ("31:00", "after-31-idle-minutes")):
        page.clock.fast_forward(idle)
        page.evaluate("name => chatlens.track([{type: 'custom', name}])", name)
        page.clock.run_for(1000)
    browse.wait_events(3)
    stored = {e["data"].get("name", e["type"]): e for e in browse.settled(0.3)}
    view, twenty, thirty_one = stored["page_view"], stored["after-20-idle-minutes"], stored["after-31-idle-minutes"]
    assert len({view["visitor_id"], twenty["visitor_id"], thirty_one["visitor_id"]}) == 1
    assert twenty["session_id"] == view["session_id"], "20 minutes without activity: the same session"
    assert thirty_one["session_id"] != twenty["session_id"], "31 minutes without activity: a new session"
    assert is_uuid7(thirty_one["session_id"])


def test_flush_resolves_once_the_server_answered(browse: Browse) -> None:
    page = browse.open({"flush-interval": "60000", "auto-page-views": "false"})
    page.evaluate("() => chatlens.track([{type: 'custom', name: 'flushed', properties: {ok: true}}])")
    assert browse.events() == []
    page.evaluate("() => chatlens.flush()")
    stored = browse.events()  # right away: a 200 means stored
    assert [(e["type"], e["data"]) for e in stored] == [("custom", {"name": "flushed", "properties": {"ok": True}})]
