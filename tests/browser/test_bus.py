"""The event bus: reference 001's `saEvents.subscribe` (run verbatim) and `chatlens.subscribe`.

Subscribers get the history since page load, in order, then every new event, each as
`{type, data, timestamp}` with the timestamp in epoch ms.
"""

from __future__ import annotations

from typing import Any

from .helpers import WIDGET_TYPES

# Reference 001's subscriber, character for character.
SA_SUBSCRIBER = """if (window.saEvents) { window.saEvents.subscribe(event => { console.log(`Chat event: ${event.type}`, event.data); // do something useful here
});}"""

CONTACT_ID = "9960459a-233f-4963-95f9-dde57ac4d9c5"

# A second subscriber that keeps the whole events, to check their schema.
RECORDER = """(name) => {
    window[name] = [];
    return window.%s.subscribe(event => window[name].push({
        keys: Object.keys(event).sort(),
        type: event.type,
        data: JSON.parse(JSON.stringify(event.data === undefined ? null : event.data)),
        timestamp: event.timestamp,
        integer: Number.isInteger(event.timestamp),
    }));
}"""


def chat_event_logs(browse: Any) -> list[tuple[str, Any]]:
    out = []
    for entry in browse.messages("log"):
        if entry.text.startswith("Chat event: "):
            args = entry.message.args
            data = args[1].json_value() if len(args) > 1 else None
            out.append((entry.text.split()[2], data))
    return out


def test_sa_events_subscriber_gets_history_then_live_events(browse) -> None:
    page = browse.open()
    page.evaluate("() => { chatlens.chat.loaded('help_faq_bot'); chatlens.chat.visible('help_faq_bot'); }")
    page.wait_for_timeout(300)

    # subscribed after CHAT_LOADED and CHAT_VISIBLE happened
    subscribed_at = page.evaluate("() => Date.now()")
    page.evaluate("code => (0, eval)(code)", SA_SUBSCRIBER)
    page.evaluate(RECORDER % "saEvents", "__sa")
    page.wait_for_function("() => window.__sa.length >= 2", timeout=3000)
    page.wait_for_timeout(100)
    history = page.evaluate("() => window.__sa")
    assert [e["type"] for e in history] == ["CHAT_LOADED", "CHAT_VISIBLE"], history

    page.evaluate(
        f"""async () => {{
            const pause = () => new Promise(r => setTimeout(r, 30));
            chatlens.chat.opened(); await pause();
            chatlens.chat.submitted({{name: 'Ada'}}); await pause();
            chatlens.chat.started('{CONTACT_ID}'); await pause();
            chatlens.chat.queued(); await pause();
            chatlens.chat.agentJoined(); await pause();
            chatlens.chat.message('agent'); await pause();
            chatlens.chat.completed(); await pause();
            chatlens.chat.closed();
        }}"""
    )
    page.wait_for_function("() => window.__sa.length >= 6", timeout=3000)
    page.wait_for_timeout(200)
    events = page.evaluate("() => window.__sa")

    expected = [
        ("CHAT_LOADED", {"chatInstanceName": "help_faq_bot"}),
        ("CHAT_VISIBLE", {"chatInstanceName": "help_faq_bot"}),
        ("CONTACT_STARTED", {"contactId": CONTACT_ID}),
        ("TRANSFER_TO_QUEUE", {"contactId": CONTACT_ID}),
        ("CONNECT_TO_AGENT", {"contactId": CONTACT_ID}),
        ("CONTACT_ENDED", {"contactId": CONTACT_ID}),
    ]
    # saEvents carries reference 001's widget events only, with reference 001's data
    assert [(e["type"], e["data"]) for e in events] == expected
    for event in events:
        assert event["keys"] == ["data", "timestamp", "type"], event
        assert event["integer"], f"timestamp must be a number of epoch ms: {event}"
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps), stamps
    assert all(t < subscribed_at for t in stamps[:2]), (stamps, subscribed_at)  # accurate history timestamps
    assert all(t >= subscribed_at for t in stamps[2:]), (stamps, subscribed_at)

    # the verbatim subscriber logged the same, in the same order
    assert chat_event_logs(browse) == expected


def test_widget_events_are_stored(browse) -> None:
    page = browse.open()
    page.evaluate(
        f"""async () => {{
            const pause = () => new Promise(r => setTimeout(r, 30));
            chatlens.chat.loaded('help_faq_bot'); await pause();
            chatlens.chat.visible('help_faq_bot'); await pause();
            chatlens.chat.opened(); await pause();
            chatlens.chat.started('{CONTACT_ID}'); await pause();
            chatlens.chat.queued(); await pause();
            chatlens.chat.agentJoined(); await pause();
            chatlens.chat.completed();
        }}"""
    )
    browse.wait_events(6, lambda e: e["type"] in WIDGET_TYPES)
    stored = browse.chronological([e for e in browse.settled() if e["type"] in WIDGET_TYPES])
    assert [(e["type"], e["data"]) for e in stored] == [
        ("CHAT_LOADED", {"chatInstanceName": "help_faq_bot"}),
        ("CHAT_VISIBLE", {"chatInstanceName": "help_faq_bot"}),
        ("CONTACT_STARTED", {"contactId": CONTACT_ID}),
        ("TRANSFER_TO_QUEUE", {"contactId": CONTACT_ID}),
        ("CONNECT_TO_AGENT", {"contactId": CONTACT_ID}),
        ("CONTACT_ENDED", {"contactId": CONTACT_ID}),
    ]


def test_chatlens_subscribe_replays_behaviour_events_and_unsubscribes(browse) -> None:
    page = browse.open()
    page.evaluate(
        """() => {
            chatlens.track([{type: 'custom', name: 'newsletter_signup', properties: {list: 'weekly'}}]);
            chatlens.track([{type: 'search_event', query: 'range hood 90cm'}]);
        }"""
    )
    page.wait_for_timeout(100)
    subscribed_at = page.evaluate("() => Date.now()")
    kind = page.evaluate(f"() => {{ window.__unsubscribe = ({RECORDER % 'chatlens'})('__got'); return typeof window.__unsubscribe; }}")
    assert kind == "function", "subscribe() must return an unsubscribe function"
    page.wait_for_function("() => window.__got.length >= 3", timeout=3000)
    page.evaluate("() => chatlens.track([{type: 'filter_usage', filterType: 'price', filterValue: 'low_to_high'}])")
    page.wait_for_function("() => window.__got.some(e => e.type === 'filter_usage')", timeout=3000)
    page.evaluate("() => { window.__unsubscribe(); chatlens.track([{type: 'custom', name: 'after_unsubscribe'}]); }")
    page.wait_for_timeout(300)
    got = page.evaluate("() => window.__got")

    behaviour = [e for e in got if e["type"] in ("page_view", "custom", "search_event", "filter_usage")]
    assert [e["type"] for e in behaviour] == ["page_view", "custom", "search_event", "filter_usage"], got
    page_view, custom, search, usage = behaviour
    assert page_view["data"]["url"] == page.url
    assert custom["data"]["name"] == "newsletter_signup" and custom["data"]["properties"] == {"list": "weekly"}
    assert search["data"]["query"] == "range hood 90cm"
    assert usage["data"]["filterType"] == "price" and usage["data"]["filterValue"] == "low_to_high"
    for event in got:
        assert event["keys"] == ["data", "timestamp", "type"], event
        assert event["integer"], event
    assert [e["timestamp"] for e in got] == sorted(e["timestamp"] for e in got)
    assert all(e["timestamp"] < subscribed_at for e in behaviour[:3])
    assert usage["timestamp"] >= subscribed_at
    assert not any(e["data"] and e["data"].get("name") == "after_unsubscribe" for e in got), "unsubscribe did not work"
