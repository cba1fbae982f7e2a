"""`GET /v1/events`: a site's stored events, read with its secret key, filtered and paged.

One server holds two sites, "alpha" and "beta", created before it starts. The module
fixture sends a known set of events through `POST /v1/batch`; the tests then read them
back. Times are chosen through the documented skew correction
(time = received_at - (sent_at - timestamp)), so the order of `time` is known in advance.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from conftest import Server, create_site, new_id, start_server

from chatlens.model.events import EVENT_TYPES


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def epoch_ms_floor(text: str) -> int:
    moment = parse_iso(text)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


@dataclass
class World:
    srv: Server
    alpha: dict[str, str]
    beta: dict[str, str]
    # Session name -> the events sent for it, in the order of their `time`.
    sessions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    beta_events: list[dict[str, Any]] = field(default_factory=list)

    def get(self, params: Any = None, *, key: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """GET /v1/events; `params` may be a list of pairs to repeat a parameter."""
        all_headers = {"Authorization": f"Bearer {key or self.alpha['secret_key']}", **(headers or {})}
        return httpx.get(f"{self.srv.url}/v1/events", params=params, headers=all_headers, timeout=30)

    def ids(self, *sessions: str, types: tuple[str, ...] = ()) -> list[str]:
        return [e["id"] for s in sessions for e in self.sessions[s] if not types or e["type"] in types]

    @property
    def all_alpha_ids(self) -> set[str]:
        return {e["id"] for events in self.sessions.values() for e in events}


S1_TYPES = ["page_view", "dwell", "cart_action", "page_view", "search_event", "CHAT_LOADED", "custom"]
EXAMPLE_FIELDS: dict[str, dict[str, Any]] = {
    "page_view": {"url": "https://yourstore.com/products/1", "pageType": "product", "productId": "SKU-1"},
    "dwell": {"url": "https://yourstore.com/blog/guide", "durationSeconds": 120},
    "cart_action": {"action": "add", "productId": "SKU-1"},
    "search_event": {"query": "range hood 90cm"},
    "CHAT_LOADED": {"chatInstanceName": "help_faq_bot"},
    "custom": {"name": "purchase", "properties": {"total": 99.5}},
}


def event(type_name: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_name, "id": new_id(), **EXAMPLE_FIELDS[type_name], **extra}


def send(srv: Server, public_key: str, visitor: str, session: str, events: list[dict[str, Any]], sent_at: Any) -> None:
    r = srv.post(srv.envelope(events, key=public_key, visitor_id=visitor, session_id=session, sent_at=sent_at))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(events), r.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db = tmp_path_factory.mktemp("read") / "chatlens.duckdb"
    alpha = create_site(db, "alpha")
    beta = create_site(db, "beta")
    srv = start_server(db, "--rate-limit", "100000", keys=alpha)
    w = World(srv, alpha, beta)
    try:
        client_now = now_ms()
        # s1: seven events one minute apart, the last one a minute before sending.
        w.sessions["s1"] = [event(t, timestamp=iso_ms(client_now - (7 - i) * 60_000)) for i, t in enumerate(S1_TYPES)]
        send(srv, alpha["public_key"], "v1", "s1", w.sessions["s1"], client_now)
        # s2: a client whose clock says 2001; the events happened 30 s and 20 s before sending.
        skewed_now = int(datetime(2001, 1, 1, 0, 10, tzinfo=timezone.utc).timestamp() * 1000)
        w.sessions["s2"] = [
            event("page_view", timestamp=skewed_now - 30_000),
            event("dwell", timestamp=skewed_now - 20_000),
        ]
        send(srv, alpha["public_key"], "v2", "s2", w.sessions["s2"], skewed_now)
        # s3: same visitor as s1, an older visit (90 and 80 minutes ago).
        w.sessions["s3"] = [
            event("page_view", timestamp=iso_ms(client_now - 90 * 60_000)),
            event("custom", timestamp=iso_ms(client_now - 80 * 60_000)),
        ]
        send(srv, alpha["public_key"], "v1", "s3", w.sessions["s3"], client_now)
        # s4: five events without a timestamp: all placed at the same arrival time.
        w.sessions["s4"] = [event("custom") for _ in range(5)]
        send(srv, alpha["public_key"], "v3", "s4", w.sessions["s4"], None)
        # beta: the same visitor and session names as alpha's s1.
        w.beta_events = [event("page_view") for _ in range(3)]
        send(srv, beta["public_key"], "v1", "s1", w.beta_events, now_ms())
        # s3's events are oldest, then s1's, s2's and s4's (by time, not timestamp).
        yield w
    finally:
        srv.stop()


def read_all(w: World, params: list[tuple[str, Any]] | None = None, *, key: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Every page, following next_cursor; asserts each page's size and the last cursor."""
    out: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        page_params = [*(params or []), ("limit", limit)] + ([("cursor", cursor)] if cursor else [])
        r = w.get(page_params, key=key)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["events"]) <= limit
        out.extend(page["events"])
        cursor = page["next_cursor"]
        if cursor is None:
            return out
        assert len(page["events"]) == limit, "a page followed by a cursor is full"
    raise AssertionError("pagination did not end")


# --------------------------------------------------------------------------------------
# Authentication and site isolation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer sk_wrong", "Bearer", "Basic {secret}", "{secret}", "Bearer {public}"],
    ids=["missing", "wrong-secret", "empty-token", "basic-scheme", "no-scheme", "public-key"],
)
def test_reading_requires_the_sites_secret_key(world: World, authorization: str | None) -> None:
    """Only `Authorization: Bearer <secret key>` reads events; no header, another
    scheme, an unknown secret or the (page-visible) public key is 401 with a JSON error."""
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(secret=world.alpha["secret_key"], public=world.alpha["public_key"])
    r = httpx.get(f"{world.srv.url}/v1/events", headers=headers, timeout=30)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    body = r.json()
    assert body["error"] == "unauthorized" and body["message"].startswith("Authorization:")
    assert "events" not in body


def test_each_secret_key_sees_only_its_own_sites_events(world: World) -> None:
    """Two sites' events never mix, even with the same visitor and session ids."""
    alpha_events = read_all(world)
    assert {e["id"] for e in alpha_events} == world.all_alpha_ids
    assert len(alpha_events) == len(world.all_alpha_ids)

    beta_events = read_all(world, key=world.beta["secret_key"])
    assert len(beta_events) == len(world.beta_events)
    assert {e["id"] for e in beta_events} == {e["id"] for e in world.beta_events}

    beta_s1 = read_all(world, [("session_id", "s1"), ("visitor_id", "v1")], key=world.beta["secret_key"])
    assert {e["id"] for e in beta_s1} == {e["id"] for e in world.beta_events}
    alpha_s1 = read_all(world, [("session_id", "s1")])
    assert {e["id"] for e in alpha_s1} == set(world.ids("s1"))


def test_events_are_shown_with_their_envelope_and_data(world: World) -> None:
    """Each event carries its id, type, visitor and session, the client's timestamp and
    sent_at, the server's received_at, the corrected time, device, bot flag and data."""
    page = world.get({"session_id": "s1", "limit": 1000}).json()
    shown = {e["id"]: e for e in page["events"]}
    for sent in world.sessions["s1"]:
        e = shown[sent["id"]]
        assert set(e) == {"id", "type", "visitor_id", "session_id", "timestamp", "sent_at", "received_at", "time", "device", "bot", "data"}
        assert (e["type"], e["visitor_id"], e["session_id"]) == (sent["type"], "v1", "s1")
        assert parse_iso(e["timestamp"]) == parse_iso(sent["timestamp"])
        assert e["data"] == {k: v for k, v in sent.items() if k not in ("type", "id", "timestamp")}
        assert e["device"] == "desktop" and e["bot"] is False


# --------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------


def shown_ids(world: World, params: Any) -> list[str]:
    r = world.get(params)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return [e["id"] for e in r.json()["events"]]


def test_filter_by_one_type(world: World) -> None:
    expected = world.ids("s3", "s1", "s2", types=("page_view",))
    assert sorted(shown_ids(world, {"type": "page_view"})) == sorted(expected)
    assert len(expected) == 4


@pytest.mark.parametrize(
    "params",
    [
        {"type": "page_view,dwell"},
        {"type": "page_view, dwell"},
        [("type", "page_view"), ("type", "dwell")],
        [("type", "page_view,dwell"), ("type", "dwell")],
    ],
    ids=["comma", "comma-space", "repeated", "both"],
)
def test_filter_by_several_types(world: World, params: Any) -> None:
    """Several types: comma-separated, repeated, or both (any of them matches)."""
    expected = world.ids("s1", "s2", "s3", types=("page_view", "dwell"))
    assert sorted(shown_ids(world, params)) == sorted(expected)


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_every_model_type_is_a_valid_filter(world: World, type_name: str) -> None:
    expected = [e["id"] for s in world.sessions.values() for e in s if e["type"] == type_name]
    assert sorted(shown_ids(world, {"type": type_name})) == sorted(expected)


def test_filter_by_visitor_and_session(world: World) -> None:
    assert sorted(shown_ids(world, {"visitor_id": "v1"})) == sorted(world.ids("s1", "s3"))
    assert sorted(shown_ids(world, {"session_id": "s3"})) == sorted(world.ids("s3"))
    assert shown_ids(world, {"visitor_id": "v1", "session_id": "s2"}) == []
    assert shown_ids(world, {"visitor_id": "nobody"}) == []
    assert sorted(shown_ids(world, {"visitor_id": "v1", "type": "custom"})) == sorted(world.ids("s1", "s3", types=("custom",)))


def s1_times(world: World) -> list[str]:
    events = world.get({"session_id": "s1"}).json()["events"]
    assert [e["id"] for e in events] == world.ids("s1"), "s1 is listed in time order"
    return [e["time"] for e in events]


def test_since_is_inclusive_and_until_exclusive_in_iso(world: World) -> None:
    """since and until bound the corrected `time`: since includes, until excludes."""
    times = s1_times(world)
    ids = shown_ids(world, {"session_id": "s1", "since": times[2], "until": times[5]})
    assert ids == world.ids("s1")[2:5]


def test_since_and_until_in_epoch_milliseconds(world: World) -> None:
    times = s1_times(world)
    since, until = epoch_ms_floor(times[2]), epoch_ms_floor(times[5])
    ids = shown_ids(world, {"session_id": "s1", "since": str(since), "until": str(until)})
    assert ids == world.ids("s1")[2:5]


def test_time_filters_use_the_corrected_time_not_the_client_timestamp(world: World) -> None:
    """s2's client clock said 2001, but its events happened seconds ago: they are inside
    'the last hour' and outside 'before 2002'."""
    last_hour = iso_ms(now_ms() - 3_600_000)
    recent = shown_ids(world, {"since": last_hour})
    assert set(recent) == set(world.ids("s1", "s2", "s4"))
    assert shown_ids(world, {"until": "2002-01-01T00:00:00Z"}) == []
    s2 = world.get({"session_id": "s2"}).json()["events"]
    assert all(parse_iso(e["timestamp"]).year == 2001 for e in s2)
    # The skew formula places them 30 s and 20 s before arrival.
    for e, seconds in zip(s2, (30, 20)):
        gap = parse_iso(e["received_at"]) - parse_iso(e["time"])
        assert abs(gap - timedelta(seconds=seconds)) <= timedelta(milliseconds=1)


def test_older_visit_is_before_the_since_bound(world: World) -> None:
    last_hour = iso_ms(now_ms() - 3_600_000)
    assert shown_ids(world, {"visitor_id": "v1", "until": last_hour}) == world.ids("s3")


# --------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------


def test_pages_of_two_list_every_event_once_in_time_order(world: World) -> None:
    """limit=2 over s1's seven events: pages of 2, 2, 2 and 1; the last next_cursor is
    null; together every event exactly once, in time order."""
    pages = []
    cursor = None
    while True:
        params: dict[str, Any] = {"session_id": "s1", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = world.get(params).json()
        pages.append([e["id"] for e in page["events"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [i for p in pages for i in p] == world.ids("s1")


def test_a_last_full_page_has_no_cursor(world: World) -> None:
    page = world.get({"session_id": "s1", "limit": 7}).json()
    assert len(page["events"]) == 7 and page["next_cursor"] is None


def test_pagination_through_equal_times_loses_and_repeats_nothing(world: World) -> None:
    """s4's five events share one arrival time; pages of 2 still list each exactly once."""
    events = read_all(world, [("session_id", "s4")], limit=2)
    assert len({e["time"] for e in events}) == 1
    assert sorted(e["id"] for e in events) == sorted(world.ids("s4"))
    assert len(events) == 5


@pytest.mark.parametrize("limit", [1, 3])
def test_paging_the_whole_site_lists_every_event_once_in_time_order(world: World, limit: int) -> None:
    events = read_all(world, limit=limit)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == len(world.all_alpha_ids)
    assert set(ids) == world.all_alpha_ids
    times = [parse_iso(e["time"]) for e in events]
    assert times == sorted(times)


def test_pagination_keeps_the_filters(world: World) -> None:
    events = read_all(world, [("type", "page_view,custom")], limit=2)
    assert sorted(e["id"] for e in events) == sorted(world.ids("s1", "s2", "s3", "s4", types=("page_view", "custom")))


# --------------------------------------------------------------------------------------
# Bad parameters
# --------------------------------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


SOME_UUID = "0190d7c8-5a1b-7c2d-8e3f-a0b1c2d3e4f5"

# (parameter, value, test id)
BAD_PARAMETERS = [
    ("limit", "0", "limit=0"),
    ("limit", "1001", "limit=1001"),
    ("limit", "x", "limit=x"),
    ("limit", "-1", "limit=-1"),
    ("limit", "2.5", "limit=2.5"),
    ("limit", "", "limit=empty"),
    ("limit", "\u00b2", "limit=superscript-two"),  # a Unicode digit that is not a decimal number
    ("cursor", "garbage!!", "cursor=garbage"),
    ("cursor", "", "cursor=empty"),
    ("cursor", b64(b'{"ts": 1}'), "cursor=object"),
    ("cursor", b64(b'["1", "x"]'), "cursor=string-time"),
    ("cursor", b64(b'[1, "not-a-uuid"]'), "cursor=id-not-a-uuid"),
    ("cursor", b64(f'[1e30, "{SOME_UUID}"]'.encode()), "cursor=float-time"),
    ("cursor", b64(f'[99999999999999999999, "{SOME_UUID}"]'.encode()), "cursor=time-over-uint64"),
    ("cursor", b64(f'[9223372036854775807, "{SOME_UUID}"]'.encode()), "cursor=time-int64-max"),
    ("type", "nope", "type=nope"),
    ("type", "page_view,nope", "type=one-unknown-of-two"),
    ("type", "PAGE_VIEW", "type=wrong-case"),
    ("since", "yesterday", "since=yesterday"),
    ("since", "\u00b2", "since=superscript-two"),
    ("since", "1", "since=1970"),  # epoch ms 1 is 1970, outside 2000..2100
    ("until", "2026-13-01", "until=month-13"),
    ("until", "-5", "until=negative"),
    ("foo", "1", "unknown=foo"),
    ("offset", "10", "unknown=offset"),
    ("Type", "page_view", "unknown=Type"),
]


@pytest.mark.parametrize(("name", "value"), [p[:2] for p in BAD_PARAMETERS], ids=[p[2] for p in BAD_PARAMETERS])
def test_bad_parameter_is_400_naming_it(world: World, name: str, value: str) -> None:
    """A bad limit (outside 1..1000 or not an integer), a cursor this API did not return,
    an unknown type or time, or an unknown parameter: 400, the message starts with the
    parameter's name."""
    r = world.get({name: value})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "bad_parameter"
    assert body["message"].startswith(f"{name}:"), body


@pytest.mark.parametrize("limit", ["1", "1000"])
def test_limit_bounds_are_accepted(world: World, limit: str) -> None:
    r = world.get({"limit": limit})
    assert r.status_code == 200
    assert len(r.json()["events"]) == min(int(limit), len(world.all_alpha_ids))


def test_forged_cursor_at_a_real_event_time_is_400(world: World) -> None:
    """A cursor is the (time, id) of the last event shown. One with a real time but an id
    that is not a UUID was not returned by this API: 400, not a server error."""
    cursor = world.get({"limit": 1}).json()["next_cursor"]
    real_time = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[0]
    r = world.get({"cursor": b64(json.dumps([real_time, "not-a-uuid"]).encode())})
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith("cursor:")


def test_a_cursor_is_not_a_key_to_another_site(world: World) -> None:
    """A cursor from alpha's listing used with beta's key still lists only beta's events."""
    cursor = world.get({"limit": 1}).json()["next_cursor"]
    assert cursor
    r = world.get({"cursor": cursor, "limit": 1000}, key=world.beta["secret_key"])
    assert r.status_code == 200
    assert {e["id"] for e in r.json()["events"]} <= {e["id"] for e in world.beta_events}
