"""`POST /v1/batch`: how the real server accepts, rejects, stores and answers event batches.

Every test talks HTTP to a `chatlens serve` subprocess and checks what it stored through
`GET /v1/events`. Expected values come from the event model (`chatlens.model.events`, the
single source of truth for types, fields and their kinds) or from the reference documents
in /work/shared/reference (000 behaviour events, 001 widget events, 002 lifecycle metadata).

Most tests share one server per module; each test writes under its own session_id and
reads back only that session, so tests do not see each other's events.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BROWSER_UA, Server, create_site, new_id, start_server, utc_now_iso

from chatlens.model.events import (
    EVENT_TYPES,
    SERVER_ONLY_TYPES,
    LIFECYCLE_TYPES,
    METADATA_FIELDS,
    EventType,
    Field,
    Kind,
)

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def fresh(prefix: str = "s") -> str:
    """A session/visitor id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso_ms(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC text with milliseconds, as the SDK sends it."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


METADATA_EXAMPLE_ID = "7f3c2a10-webchat-session"


def valid_value(field: Field) -> Any:
    """A value of the field's kind that the model says is valid."""
    if field.choices:
        return field.choices[0]
    if field.name == "metadata":
        return full_metadata()
    return {
        Kind.STRING: f"{field.name}-value",
        Kind.URL: "https://yourstore.com/products/wireless-headphones",
        Kind.NUMBER: 120.5,
        Kind.BOOLEAN: True,
        Kind.INT_OR_FALSE: 3,
        Kind.ARRAY_OR_FALSE: ["E_TIMEOUT"],
        Kind.OBJECT: {"plan": "pro", "seats": 3, "tags": ["a", "b"]},
        Kind.OBJECT_OR_FALSE: {"name": "Ada", "email": "ada@example.org"},
        Kind.TEXT: f"{field.name}: a longer text\nwith a second line",
        Kind.ANY: ["any", 1, {"json": True}],
    }[field.kind]


def full_metadata() -> dict[str, Any]:
    """A reference-002 metadata block with every field set to a valid, non-false value."""
    block = {f.name: valid_value(f) for f in METADATA_FIELDS}
    block["id"] = METADATA_EXAMPLE_ID
    return block


def example_event(spec: EventType, *, optional: bool) -> dict[str, Any]:
    """An event of `spec` with its required fields (and every optional one if asked)."""
    event: dict[str, Any] = {"type": spec.name}
    for field in spec.fields:
        if field.required or optional:
            event[field.name] = valid_value(field)
    if spec.name.startswith("chat.") and not optional:
        event["metadata"] = {"id": METADATA_EXAMPLE_ID}
    return event


def sibling() -> dict[str, Any]:
    """A valid event placed before the one under test, so its index is 1, not 0."""
    return {"type": "page_view", "url": "https://yourstore.com/"}


def expected_data(event: dict[str, Any]) -> dict[str, Any]:
    """What GET /v1/events shows under `data`: every field as sent except the common ones."""
    return {k: v for k, v in event.items() if k not in ("type", "id", "timestamp") and v is not None}


def post_raw(
    srv: Server, body: bytes, headers: dict[str, str] | None = None, *, client: httpx.Client | None = None
) -> httpx.Response:
    """POST bytes with exactly the headers given (plus a browser User-Agent)."""
    all_headers = {"User-Agent": BROWSER_UA, **(headers or {})}
    sender = client or httpx
    return sender.post(f"{srv.url}/v1/batch", content=body, headers=all_headers, timeout=30)


def one_rejection(response: httpx.Response, index: int) -> str:
    """The single error of the single rejected event at `index`."""
    assert response.status_code == 200, response.text
    rejected = response.json()["rejected"]
    assert [r["index"] for r in rejected] == [index], rejected
    errors = rejected[0]["errors"]
    assert len(errors) == 1, errors
    return errors[0]


JSON_TYPE_NAMES = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}


def json_type_name(value: Any) -> str:
    return JSON_TYPE_NAMES[type(value)]


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one Prometheus sample, or None when absent."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        assert match, f"not a Prometheus sample line: {line!r}"
        sample, inner, value = match.groups()
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', inner or ""))
        if sample == name and found == labels:
            return float(value)
    return None


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared server: first-start default site (any origin), bots dropped,
    a rate limit high enough never to be met."""
    server = start_server(tmp_path_factory.mktemp("batch") / "chatlens.duckdb", "--rate-limit", "100000")
    yield server
    server.stop()


# --------------------------------------------------------------------------------------
# Every event type is accepted and read back as sent
# --------------------------------------------------------------------------------------

# What clients may send: every type but those only the server writes (engine decisions).
CLIENT_TYPES = {name: spec for name, spec in EVENT_TYPES.items() if name not in SERVER_ONLY_TYPES}
ALL_TYPES = list(CLIENT_TYPES)


@pytest.mark.parametrize("optional", [False, True], ids=["required-only", "all-fields"])
@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_every_event_type_is_accepted_and_read_back_as_sent(srv: Server, type_name: str, optional: bool) -> None:
    """One valid event of each type in the model (required fields only, then every
    optional field too) is accepted; GET /v1/events gives back its type, its id, its
    timestamp, and under `data` exactly the fields that were sent (typed columns and
    JSON properties merged back together)."""
    session = fresh()
    event = example_event(CLIENT_TYPES[type_name], optional=optional)
    event["id"] = new_id()
    stamp = now_ms() - 5_000
    event["timestamp"] = iso_ms(stamp)
    sent_at = utc_now_iso()

    r = srv.post(srv.envelope([event], session_id=session, sent_at=sent_at))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "duplicates": 0, "rejected": [], "instructions": {}}

    [stored] = srv.all_events(session_id=session)
    assert stored["type"] == type_name
    assert stored["id"] == event["id"]  # the client's id is kept
    assert stored["visitor_id"] == "visitor-1" and stored["session_id"] == session
    assert stored["data"] == expected_data(event)
    assert parse_iso(stored["timestamp"]) == parse_iso(event["timestamp"])
    assert parse_iso(stored["sent_at"]) == parse_iso(sent_at)
    assert stored["time"] and stored["received_at"]
    assert stored["bot"] is False


def test_event_without_id_gets_a_uuid7_assigned_on_arrival(srv: Server) -> None:
    """An event sent without `id` is stored under a fresh UUIDv7 (RFC 9562): version
    nibble 7, RFC 4122 variant, and its 48-bit millisecond time is the arrival time."""
    session = fresh()
    before = now_ms()
    r = srv.post(srv.envelope([sibling(), {"type": "dwell", "url": "https://yourstore.com/a", "durationSeconds": 3}], session_id=session))
    after = now_ms()
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text

    stored = srv.all_events(session_id=session)
    assert len(stored) == 2
    ids = [uuid.UUID(e["id"]) for e in stored]
    assert len(set(ids)) == 2, "every event gets its own id"
    for assigned in ids:
        assert assigned.version == 7
        assert assigned.variant == uuid.RFC_4122
        unix_ms = assigned.int >> 80
        assert before - 1 <= unix_ms <= after + 1
    for e in stored:
        assert e["timestamp"] and e["sent_at"] and e["time"]


def test_client_id_in_upper_case_is_stored_in_canonical_lower_case(srv: Server) -> None:
    """UUIDs are case-insensitive (RFC 9562); the stored id is the canonical lower case."""
    session = fresh()
    client_id = new_id().upper()
    r = srv.post(srv.envelope([{"type": "custom", "name": "x", "id": client_id}], session_id=session))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    [stored] = srv.all_events(session_id=session)
    assert stored["id"] == client_id.lower()


# -- the reference documents' own examples ---------------------------------------------

# Reference 000, code samples of each behaviour event type.
REFERENCE_000_EXAMPLES = [
    {"type": "page_view", "url": "https://yourstore.com/products/sony-wh1000xm5", "pageType": "product", "productId": "SKU-WH1000XM5"},
    {"type": "dwell", "url": "https://yourstore.com/blog/best-headphones-2025", "pageType": "blog", "durationSeconds": 120},
    {"type": "product_status", "productId": "SKU-APMAX2", "status": "out_of_stock"},
    {"type": "filter_usage", "category": "Air Conditioners", "filterType": "price", "filterValue": "low_to_high"},
    {"type": "cart_action", "action": "add", "productId": "SKU-WH1000XM5", "productName": "Sony WH-1000XM5", "category": "Headphones"},
    {"type": "search_event", "query": "range hood 90cm", "pageContext": "https://yourstore.com/search", "categoryContext": "Kitchen Appliances"},
]

# Reference 000's field tables: (required, optional) per behaviour type.
REFERENCE_000_FIELDS = {
    "page_view": ({"url"}, {"pageType", "productId"}),
    "dwell": ({"url", "durationSeconds"}, {"pageType"}),
    "product_status": ({"productId", "status"}, set()),
    "filter_usage": ({"filterType", "filterValue"}, {"category"}),
    "cart_action": ({"action", "productId"}, {"variantId", "productName", "category"}),
    "search_event": ({"query"}, {"pageContext", "categoryContext"}),
}


def test_reference_000_examples_are_accepted_and_stored_verbatim(srv: Server) -> None:
    """The six code samples of reference 000, sent as one batch, are all accepted and
    read back field for field (numbers compare as numbers: 120 == 120.0)."""
    session = fresh()
    r = srv.post(srv.envelope(REFERENCE_000_EXAMPLES, session_id=session))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(REFERENCE_000_EXAMPLES) and r.json()["rejected"] == []
    # (the intent engine's decisions about these signals are stored beside them)
    stored = [e for e in srv.all_events(session_id=session) if e["type"] != "decision"]
    by_type = {e["type"]: e["data"] for e in stored}
    assert by_type == {ex["type"]: expected_data(ex) for ex in REFERENCE_000_EXAMPLES}


@pytest.mark.parametrize("example", REFERENCE_000_EXAMPLES, ids=lambda e: e["type"])
def test_reference_000_required_and_optional_fields(srv: Server, example: dict[str, Any]) -> None:
    """Per reference 000's field tables: leaving out a field marked 'Required: Yes' rejects
    the event naming that field; leaving out an optional one still stores it."""
    required, optional = REFERENCE_000_FIELDS[example["type"]]
    assert set(example) - {"type"} <= required | optional
    variants = [(name, {k: v for k, v in example.items() if k != name}) for name in sorted(required)]
    variants += [(name, {k: v for k, v in example.items() if k != name}) for name in sorted(optional)]
    r = srv.post(srv.envelope([v for _, v in variants], session_id=fresh()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == len(optional)
    rejected = {item["index"]: item["errors"] for item in body["rejected"]}
    assert sorted(rejected) == list(range(len(required)))
    for index, (name, _) in enumerate(variants[: len(required)]):
        assert len(rejected[index]) == 1 and rejected[index][0].startswith(f"events[{index}].{name}: required")


def test_reference_001_widget_examples_with_epoch_ms_timestamps(srv: Server) -> None:
    """Reference 001's widget events carry `timestamp` as epoch milliseconds
    (1637147056035 = 2021-11-17T11:04:16.035Z); they are stored with that time."""
    session = fresh()
    events = [
        {"type": "CHAT_LOADED", "chatInstanceName": "help_faq_bot", "timestamp": 1637147056035},
        {"type": "CHAT_VISIBLE", "chatInstanceName": "help_faq_bot", "timestamp": 1637147056035},
        *(
            {"type": t, "contactId": "9960459a-233f-4963-95f9-dde57ac4d9c5", "timestamp": 1637147056035}
            for t in ("CONTACT_STARTED", "TRANSFER_TO_QUEUE", "CONNECT_TO_AGENT", "CONTACT_ENDED")
        ),
    ]
    r = srv.post(srv.envelope(events, session_id=session))
    assert r.status_code == 200 and r.json()["accepted"] == 6, r.text
    stored = srv.all_events(session_id=session)
    assert sorted(e["type"] for e in stored) == sorted(e["type"] for e in events)
    for e in stored:
        assert parse_iso(e["timestamp"]) == datetime(2021, 11, 17, 11, 4, 16, 35_000, tzinfo=timezone.utc)
        assert e["data"] == expected_data(next(x for x in events if x["type"] == e["type"]))


def test_reference_002_completed_chat_scenario_is_stored_in_lifecycle_order(srv: Server) -> None:
    """Reference 002's 'met an agent, ended normally' scenario
    (ready -> opened -> submitted -> started -> completed -> closed), its metadata block
    starting all-false and filling in, is stored and read back in that order."""
    session = fresh()
    t0 = now_ms() - 60_000
    metadata: dict[str, Any] = {f.name: False for f in METADATA_FIELDS}
    metadata["id"] = "chat-42"
    stages = ["ready", "opened", "submitted", "started", "completed", "closed"]
    updates = {
        "opened": {"opened": t0 + 1000},
        "submitted": {"form": {"firstname": "Ada"}, "autoSubmitted": False},
        "started": {"started": t0 + 3000},
        "completed": {"completed": t0 + 9000, "numAgents": 1, "userMessages": 2, "agentMessages": 3,
                      "agentReached": t0 + 5000, "elapsed": 6000, "waitingForAgent": 2000},
        "closed": {"closed": t0 + 10_000},
    }
    events = []
    for i, stage in enumerate(stages):
        metadata = {**metadata, **updates.get(stage, {})}
        events.append({"type": f"chat.{stage}", "id": new_id(), "timestamp": iso_ms(t0 + i * 2000), "metadata": metadata})
    r = srv.post(srv.envelope(events, session_id=session))
    assert r.status_code == 200 and r.json()["accepted"] == len(stages), r.text
    stored = srv.all_events(session_id=session)
    assert [e["type"] for e in stored] == [f"chat.{s}" for s in stages]
    assert [e["data"]["metadata"] for e in stored] == [e["metadata"] for e in events]


# --------------------------------------------------------------------------------------
# Validation: each problem is reported as "events[i].<path>: ..."
# --------------------------------------------------------------------------------------

REQUIRED_CASES = [
    (spec.name, field.name, field.kind) for spec in CLIENT_TYPES.values() for field in spec.fields if field.required
]


@pytest.mark.parametrize("how", ["absent", "null"])
@pytest.mark.parametrize(("type_name", "field_name", "kind"), REQUIRED_CASES, ids=[f"{t}.{f}" for t, f, _ in REQUIRED_CASES])
def test_missing_required_field_is_rejected_with_its_kind(srv: Server, type_name: str, field_name: str, kind: Kind, how: str) -> None:
    """A required field left out (or null: the same thing) rejects the event with exactly
    'events[i].<field>: required, must be <kind phrase>'; its valid sibling is stored."""
    event = example_event(CLIENT_TYPES[type_name], optional=True)
    if how == "absent":
        del event[field_name]
    else:
        event[field_name] = None
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    assert one_rejection(r, 1) == f"events[1].{field_name}: required, must be {kind.value}"
    assert r.json()["accepted"] == 1


@pytest.mark.parametrize("type_name", [t.name for t in LIFECYCLE_TYPES])
def test_lifecycle_event_without_metadata_id_is_rejected(srv: Server, type_name: str) -> None:
    """Reference 002: every lifecycle event's metadata block has an `id`; without it the
    event is rejected with 'events[i].metadata.id: required, must be a string'."""
    metadata = full_metadata()
    del metadata["id"]
    r = srv.post(srv.envelope([sibling(), {"type": type_name, "metadata": metadata}], session_id=fresh()))
    assert one_rejection(r, 1) == "events[1].metadata.id: required, must be a string"


def test_missing_type_is_rejected_naming_the_known_types(srv: Server) -> None:
    """An event with no `type` is rejected; the message says a string is required and
    lists the types that exist."""
    r = srv.post(srv.envelope([sibling(), {"url": "https://yourstore.com/"}], session_id=fresh()))
    message = one_rejection(r, 1)
    assert message.startswith("events[1].type: required, must be a string")
    for name in CLIENT_TYPES:
        assert name in message


EMPTY_CASES = [
    (spec.name, field.name)
    for spec in CLIENT_TYPES.values()
    for field in spec.fields
    if field.required and field.kind in (Kind.STRING, Kind.URL) and not field.choices
]


@pytest.mark.parametrize(("type_name", "field_name"), EMPTY_CASES, ids=[f"{t}.{f}" for t, f in EMPTY_CASES])
def test_required_string_must_not_be_empty(srv: Server, type_name: str, field_name: str) -> None:
    """An empty string does not satisfy a required string field."""
    event = example_event(CLIENT_TYPES[type_name], optional=False)
    event[field_name] = ""
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    assert one_rejection(r, 1) == f"events[1].{field_name}: required, must not be empty"


TEXT_CASES = [(spec.name, f.name) for spec in CLIENT_TYPES.values() for f in spec.fields if f.kind is Kind.TEXT]


@pytest.mark.parametrize(("type_name", "field_name"), TEXT_CASES, ids=[f"{t}.{f}" for t, f in TEXT_CASES])
@pytest.mark.parametrize("blank", ["", "  \n"])
def test_text_must_not_be_blank(srv: Server, type_name: str, field_name: str, blank: str) -> None:
    """A message, tool response or attachment text, when given, is not blank."""
    event = example_event(CLIENT_TYPES[type_name], optional=True)
    event[field_name] = blank
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    assert one_rejection(r, 1) == f"events[1].{field_name}: must not be empty"


# A value of a different JSON type for each kind.
WRONG_TYPE = {
    Kind.STRING: 12345,
    Kind.URL: 12345,
    Kind.NUMBER: "120",
    Kind.BOOLEAN: "yes",
    Kind.INT_OR_FALSE: "3",
    Kind.ARRAY_OR_FALSE: 5,
    Kind.OBJECT: "not an object",
    Kind.OBJECT_OR_FALSE: "not an object",
    Kind.TEXT: 12345,
}

WRONG_TYPE_CASES = [
    (spec.name, field.name, field.kind)
    for spec in CLIENT_TYPES.values()
    for field in spec.fields
    if field.kind is not Kind.ANY
] + [("chat.started", f"metadata.{field.name}", field.kind) for field in METADATA_FIELDS]


@pytest.mark.parametrize(
    ("type_name", "path", "kind"), WRONG_TYPE_CASES, ids=[f"{t}.{p}" for t, p, _ in WRONG_TYPE_CASES]
)
def test_field_of_the_wrong_json_type_is_rejected(srv: Server, type_name: str, path: str, kind: Kind) -> None:
    """Every field of every type (and every lifecycle metadata field), given a value of
    another JSON type, rejects the event with 'events[i].<path>: must be <kind phrase>,
    got <json type>'."""
    event = example_event(CLIENT_TYPES[type_name], optional=True)
    wrong = WRONG_TYPE[kind]
    if path.startswith("metadata."):
        event["metadata"][path.removeprefix("metadata.")] = wrong
    else:
        event[path] = wrong
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    message = one_rejection(r, 1)
    assert message.startswith(f"events[1].{path}: must be {kind.value}, got {json_type_name(wrong)}"), message


# More wrong values per kind, each on one representative field.
KIND_VARIANTS = [
    ("page_view", "url", Kind.URL, True),
    ("page_view", "url", Kind.URL, ["https://yourstore.com/"]),
    ("product_status", "status", Kind.STRING, {"value": "in_stock"}),
    ("product_status", "status", Kind.STRING, False),
    ("dwell", "durationSeconds", Kind.NUMBER, True),
    ("dwell", "durationSeconds", Kind.NUMBER, [120]),
    ("dwell", "durationSeconds", Kind.NUMBER, {"seconds": 120}),
    ("custom", "properties", Kind.OBJECT, ["a", "b"]),
    ("custom", "properties", Kind.OBJECT, 7),
    ("chat.started", "metadata", Kind.OBJECT, [{"id": "x"}]),
    ("chat.started", "metadata", Kind.OBJECT, False),
    ("chat.started", "metadata.userMessages", Kind.INT_OR_FALSE, "2"),
    ("chat.started", "metadata.userMessages", Kind.INT_OR_FALSE, True),
    ("chat.started", "metadata.userMessages", Kind.INT_OR_FALSE, -1),
    ("chat.started", "metadata.userMessages", Kind.INT_OR_FALSE, 1.5),
    ("chat.started", "metadata.opened", Kind.INT_OR_FALSE, "2026-11-21T12:00:00Z"),
    ("chat.started", "metadata.errors", Kind.ARRAY_OR_FALSE, 3),
    ("chat.started", "metadata.errors", Kind.ARRAY_OR_FALSE, True),
    ("chat.started", "metadata.errors", Kind.ARRAY_OR_FALSE, "E_TIMEOUT"),
    ("chat.started", "metadata.proactive", Kind.BOOLEAN, "true"),
    ("chat.started", "metadata.proactive", Kind.BOOLEAN, 1),
    ("chat.started", "metadata.form", Kind.OBJECT_OR_FALSE, True),
    ("chat.started", "metadata.form", Kind.OBJECT_OR_FALSE, ["firstname"]),
    ("chat.started", "metadata.id", Kind.STRING, 42),
    ("chat.started", "metadata.id", Kind.STRING, False),
]


@pytest.mark.parametrize(
    ("type_name", "path", "kind", "wrong"),
    KIND_VARIANTS,
    ids=[f"{t}.{p}={json.dumps(w)}" for t, p, _, w in KIND_VARIANTS],
)
def test_wrong_values_per_kind(srv: Server, type_name: str, path: str, kind: Kind, wrong: Any) -> None:
    """Booleans are not numbers or integers, arrays are not objects, negative or
    fractional numbers are not counters, timestamps are not ISO text in metadata
    (reference 002: integer timestamps): each is rejected naming the path."""
    event = example_event(CLIENT_TYPES[type_name], optional=True)
    if path.startswith("metadata."):
        event["metadata"][path.removeprefix("metadata.")] = wrong
    else:
        event[path] = wrong
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    message = one_rejection(r, 1)
    assert message.startswith(f"events[1].{path}: must be "), message


@pytest.mark.parametrize("action", ["buy", "ADD", "Remove", "delete", " add"])
def test_cart_action_must_be_add_or_remove(srv: Server, action: str) -> None:
    """Reference 000: cart_action.action is 'add' or 'remove', nothing else."""
    event = {"type": "cart_action", "action": action, "productId": "SKU-1"}
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    message = one_rejection(r, 1)
    assert message.startswith("events[1].action: must be one of 'add', 'remove'"), message


def test_cart_action_add_and_remove_are_both_accepted(srv: Server) -> None:
    session = fresh()
    events = [{"type": "cart_action", "action": a, "productId": "SKU-1"} for a in ("add", "remove")]
    r = srv.post(srv.envelope(events, session_id=session))
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    assert sorted(e["data"]["action"] for e in srv.all_events(session_id=session)) == ["add", "remove"]


NOT_ABSOLUTE = ["/products/1", "yourstore.com/products/1", "ftp://yourstore.com/x", "https://", "javascript:alert(1)", "//yourstore.com/x"]


@pytest.mark.parametrize("field_name", ["url", "pageContext"])
@pytest.mark.parametrize("value", NOT_ABSOLUTE)
def test_urls_must_be_absolute(srv: Server, field_name: str, value: str) -> None:
    """Reference 000: `url` (and search_event's `pageContext`) is an absolute page URL."""
    if field_name == "url":
        event = {"type": "page_view", "url": value}
    else:
        event = {"type": "search_event", "query": "q", "pageContext": value}
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    assert one_rejection(r, 1).startswith(f"events[1].{field_name}: must be an absolute URL")


@pytest.mark.parametrize("seconds", [-1, -0.5, -1e308])
def test_negative_duration_is_rejected(srv: Server, seconds: float) -> None:
    """A dwell cannot last a negative number of seconds."""
    event = {"type": "dwell", "url": "https://yourstore.com/", "durationSeconds": seconds}
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    assert one_rejection(r, 1).startswith("events[1].durationSeconds: must be a finite number >= 0")


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"Infinity", b"NaN"])
def test_infinite_duration_is_never_stored(srv: Server, literal: bytes) -> None:
    """JSON has no infinity: a number that overflows a double (1e400) or an Infinity/NaN
    literal makes the body malformed JSON (400), and nothing is stored."""
    session = fresh()
    body = json.dumps(srv.envelope([{"type": "dwell", "url": "https://yourstore.com/", "durationSeconds": 0}], session_id=session))
    body_bytes = body.replace('"durationSeconds": 0', '"durationSeconds": ' + literal.decode()).encode()
    r = post_raw(srv, body_bytes, {"Content-Type": "text/plain"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "malformed_json"
    assert srv.all_events(session_id=session) == []


@pytest.mark.parametrize("seconds", [0, 0.25, 86_400, 1.7e308, 2**53 + 1, 2**63 - 1, 2**64 - 1])
def test_large_finite_duration_is_accepted_and_stored(srv: Server, seconds: float) -> None:
    """Any finite number >= 0 is a valid durationSeconds (the model's rule), however
    large, and the request never fails with a server error."""
    session = fresh()
    event = {"type": "dwell", "url": "https://yourstore.com/", "durationSeconds": seconds}
    r = srv.post(srv.envelope([event], session_id=session))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    [stored] = srv.all_events(session_id=session)
    assert stored["data"]["durationSeconds"] == pytest.approx(seconds)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", "1234", "0b6e3a1e9d2c4f0e8a7b6c5d4e3f2a1b0", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", 42, True, ["x"]])
def test_event_id_must_be_a_uuid(srv: Server, bad_id: Any) -> None:
    """A client-sent `id` must be a UUID string; the error shows the text it got."""
    event = {"type": "custom", "name": "x", "id": bad_id}
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    if isinstance(bad_id, str):
        assert one_rejection(r, 1) == f"events[1].id: must be a UUID (8-4-4-4-12 hex digits), got {bad_id!r}"
    else:
        assert one_rejection(r, 1) == f"events[1].id: must be a UUID string, got {json_type_name(bad_id)}"


@pytest.mark.parametrize(
    "stamp",
    [
        "yesterday",
        "2026-13-45T00:00:00Z",
        "21/11/2026 12:00",
        "",
        True,
        {"ms": 1637147056035},
        1637147056,  # seconds sent where milliseconds are expected: 1970
        "1999-12-31T23:59:59Z",  # before 2000
        "2100-01-01T00:00:00Z",  # 2100 or later
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59.999999-14:00",
    ],
)
def test_unparseable_or_out_of_range_timestamp_is_rejected(srv: Server, stamp: Any) -> None:
    """`timestamp` is ISO 8601 text or epoch milliseconds, between 2000 and 2100."""
    event = {"type": "custom", "name": "x", "timestamp": stamp}
    r = srv.post(srv.envelope([sibling(), event], session_id=fresh()))
    assert one_rejection(r, 1).startswith("events[1].timestamp: must be ISO 8601 text or epoch milliseconds")


@pytest.mark.parametrize(
    "stamp",
    [
        "2000-01-01T00:00:00.000001Z",
        "2038-01-19T03:14:08.000001Z",
        "2026-11-21T12:00:01.123457+05:30",
        "2099-12-31T23:59:59.999999Z",
        "2087-06-15T08:30:45.654321-07:00",
        "2026-11-21T12:00:01",  # no offset: UTC
    ],
)
def test_iso_timestamp_is_stored_to_the_microsecond(srv: Server, stamp: str) -> None:
    """ISO 8601 text is kept exactly (the store has microsecond resolution), whatever
    the year (2000..2100) or offset; text without an offset is UTC."""
    session = fresh()
    r = srv.post(srv.envelope([{"type": "custom", "name": "precise", "timestamp": stamp}], session_id=session))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    [stored] = srv.all_events(session_id=session)
    expected = datetime.fromisoformat(stamp)
    if expected.tzinfo is None:
        expected = expected.replace(tzinfo=timezone.utc)
    assert parse_iso(stored["timestamp"]) == expected


@pytest.mark.parametrize("stamp", [1.7e308, -1.7e308, 1e300])
def test_absurd_numeric_timestamp_is_rejected_not_a_server_error(srv: Server, stamp: float) -> None:
    """A finite but absurd epoch-ms timestamp is an invalid event (200, rejected), not a
    crash of the whole batch."""
    session = fresh()
    r = srv.post(srv.envelope([sibling(), {"type": "custom", "name": "x", "timestamp": stamp}], session_id=session))
    assert r.status_code == 200, r.text
    assert one_rejection(r, 1).startswith("events[1].timestamp: must be ISO 8601 text or epoch milliseconds")
    assert len(srv.all_events(session_id=session)) == 1


@pytest.mark.parametrize("depth", [50, 300])
def test_deeply_nested_properties_never_fail_the_batch(srv: Server, depth: int) -> None:
    """Custom properties are 'any JSON object'. However deep one is (within what the JSON
    parser accepts), the answer is 200: the event is stored or rejected on its own, and
    its valid sibling is stored either way."""
    session = fresh()
    deep: Any = "leaf"
    for _ in range(depth):
        deep = {"child": deep}
    r = srv.post(srv.envelope([sibling(), {"type": "custom", "name": "deep", "properties": deep}], session_id=session))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] + len(body["rejected"]) == 2
    assert all(e.startswith("events[1].properties") for item in body["rejected"] for e in item["errors"])
    stored = srv.all_events(session_id=session)
    assert len(stored) == body["accepted"] >= 1
    for e in stored:
        if e["type"] == "custom":
            assert e["data"]["properties"] == deep


@pytest.mark.parametrize("name", ["page_viewed", "PAGE_VIEW", "chat.unknown", "ready", ""])
def test_unknown_event_type_is_rejected(srv: Server, name: str) -> None:
    """Only the model's types exist (lifecycle stages are spelled chat.<stage>)."""
    r = srv.post(srv.envelope([sibling(), {"type": name}], session_id=fresh()))
    assert one_rejection(r, 1).startswith(f"events[1].type: unknown event type {name!r}")


@pytest.mark.parametrize("value", [42, True, ["page_view"], {"name": "page_view"}])
def test_type_must_be_a_string(srv: Server, value: Any) -> None:
    r = srv.post(srv.envelope([sibling(), {"type": value}], session_id=fresh()))
    assert one_rejection(r, 1) == f"events[1].type: must be a string, got {json_type_name(value)}"


@pytest.mark.parametrize("value", ["page_view", 7, None, ["page_view"], True])
def test_event_that_is_not_an_object_is_rejected(srv: Server, value: Any) -> None:
    r = srv.post(srv.envelope([sibling(), value], session_id=fresh()))
    assert one_rejection(r, 1) == f"events[1]: must be an object, got {json_type_name(value)}"


def test_every_problem_of_one_event_is_reported(srv: Server) -> None:
    """An event with several problems gets every one of them listed, not just the first."""
    event = {"type": "dwell", "id": "nope", "timestamp": "later", "url": "/relative", "durationSeconds": -3}
    r = srv.post(srv.envelope([event], session_id=fresh()))
    assert r.status_code == 200
    [item] = r.json()["rejected"]
    paths = sorted(e.split(":")[0] for e in item["errors"])
    assert paths == ["events[0].durationSeconds", "events[0].id", "events[0].timestamp", "events[0].url"]


def test_string_longer_than_the_limit_is_rejected(srv: Server) -> None:
    from chatlens.model.events import MAX_STRING_LENGTH

    event = {"type": "search_event", "query": "q" * (MAX_STRING_LENGTH + 1)}
    ok = {"type": "search_event", "query": "q" * MAX_STRING_LENGTH}
    r = srv.post(srv.envelope([ok, event], session_id=fresh()))
    assert one_rejection(r, 1).startswith("events[1].query: too long")
    assert r.json()["accepted"] == 1


# --------------------------------------------------------------------------------------
# Partial acceptance
# --------------------------------------------------------------------------------------


def test_valid_siblings_of_invalid_events_are_stored(srv: Server) -> None:
    """A batch mixing valid and invalid events answers 200: `accepted` counts the valid
    ones, `rejected` lists each bad index with its errors, and the valid ones are stored."""
    session = fresh()
    good = [
        {"type": "page_view", "id": new_id(), "url": "https://yourstore.com/a"},
        {"type": "product_status", "id": new_id(), "productId": "SKU-1", "status": "in_stock"},
        {"type": "custom", "id": new_id(), "name": "purchase", "properties": {"total": 99.5}},
    ]
    events = [good[0], {"type": "dwell", "url": "https://yourstore.com/a"}, good[1], "junk", good[2], {"type": "nope"}]
    r = srv.post(srv.envelope(events, session_id=session))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 3 and body["duplicates"] == 0
    assert body["rejected"] == [
        {"index": 1, "errors": ["events[1].durationSeconds: required, must be a number"]},
        {"index": 3, "errors": ["events[3]: must be an object, got string"]},
        {"index": 5, "errors": [body["rejected"][2]["errors"][0]]},
    ]
    assert body["rejected"][2]["errors"][0].startswith("events[5].type: unknown event type 'nope'")
    stored = {e["id"]: e for e in srv.all_events(session_id=session)}
    assert set(stored) == {g["id"] for g in good}
    for g in good:
        assert stored[g["id"]]["data"] == expected_data(g)


def test_batch_of_only_invalid_events_is_200_with_nothing_accepted(srv: Server) -> None:
    session = fresh()
    r = srv.post(srv.envelope([{"type": "page_view"}, {"type": "page_view", "url": 1}], session_id=session))
    assert r.status_code == 200
    assert r.json()["accepted"] == 0 and [x["index"] for x in r.json()["rejected"]] == [0, 1]
    assert srv.all_events(session_id=session) == []


def test_unknown_extra_fields_are_kept(srv: Server) -> None:
    """Fields the model does not know are kept (stored as properties, shown in data)."""
    session = fresh()
    event = {"type": "page_view", "url": "https://yourstore.com/", "referrer": "https://google.com/", "ab": {"variant": "B"}}
    r = srv.post(srv.envelope([event], session_id=session))
    assert r.status_code == 200 and r.json()["accepted"] == 1
    [stored] = srv.all_events(session_id=session)
    assert stored["data"] == expected_data(event)


def test_null_optional_field_is_the_same_as_absent(srv: Server) -> None:
    session = fresh()
    r = srv.post(srv.envelope([{"type": "page_view", "url": "https://yourstore.com/", "pageType": None, "productId": None}], session_id=session))
    assert r.status_code == 200 and r.json()["accepted"] == 1
    [stored] = srv.all_events(session_id=session)
    assert stored["data"] == {"url": "https://yourstore.com/"}


# --------------------------------------------------------------------------------------
# Duplicates
# --------------------------------------------------------------------------------------


def test_event_resent_in_a_later_batch_is_a_duplicate_stored_once(srv: Server) -> None:
    """Retrying a batch is safe: an id already stored is counted in `duplicates`, not
    stored again, and the first copy is the one kept."""
    session = fresh()
    event_id = new_id()
    first = {"type": "page_view", "id": event_id, "url": "https://yourstore.com/first", "timestamp": iso_ms(now_ms() - 1000)}
    r1 = srv.post(srv.envelope([first], session_id=session))
    assert r1.json()["accepted"] == 1 and r1.json()["duplicates"] == 0
    retry = {**first, "url": "https://yourstore.com/retry"}
    r2 = srv.post(srv.envelope([retry, {"type": "custom", "name": "new"}], session_id=session))
    assert r2.status_code == 200
    assert r2.json()["accepted"] == 1 and r2.json()["duplicates"] == 1 and r2.json()["rejected"] == []
    stored = srv.all_events(session_id=session)
    assert [e["id"] for e in stored].count(event_id) == 1
    assert next(e for e in stored if e["id"] == event_id)["data"]["url"] == "https://yourstore.com/first"
    assert len(stored) == 2


def test_resent_id_in_another_case_or_session_is_still_a_duplicate(srv: Server) -> None:
    """Dedupe is by the site's event id: letter case and the envelope do not matter."""
    session = fresh()
    event_id = new_id()
    r1 = srv.post(srv.envelope([{"type": "custom", "name": "a", "id": event_id}], session_id=session))
    assert r1.json()["accepted"] == 1
    r2 = srv.post(srv.envelope([{"type": "custom", "name": "a", "id": event_id.upper()}], session_id=fresh(), visitor_id="other"))
    assert r2.json()["accepted"] == 0 and r2.json()["duplicates"] == 1
    assert len(srv.all_events(session_id=session)) == 1


def test_same_id_twice_in_one_batch_is_stored_once(srv: Server) -> None:
    session = fresh()
    event = {"type": "custom", "name": "double", "id": new_id()}
    r = srv.post(srv.envelope([event, dict(event)], session_id=session))
    assert r.status_code == 200
    assert r.json()["accepted"] == 1 and r.json()["duplicates"] == 1
    assert [e["id"] for e in srv.all_events(session_id=session)] == [event["id"]]


def test_event_without_id_is_never_a_duplicate(srv: Server) -> None:
    """Without a client id there is nothing to recognize a retry by: identical events are
    all stored, each under its own assigned id."""
    session = fresh()
    event = {"type": "page_view", "url": "https://yourstore.com/same", "timestamp": iso_ms(now_ms() - 1000)}
    r1 = srv.post(srv.envelope([event, dict(event)], session_id=session))
    r2 = srv.post(srv.envelope([dict(event)], session_id=session))
    assert (r1.json()["accepted"], r1.json()["duplicates"]) == (2, 0)
    assert (r2.json()["accepted"], r2.json()["duplicates"]) == (1, 0)
    stored = srv.all_events(session_id=session)
    assert len(stored) == 3 and len({e["id"] for e in stored}) == 3


def test_invalid_event_does_not_reserve_its_id(srv: Server) -> None:
    """A rejected event was never stored, so sending it again fixed is not a duplicate."""
    session = fresh()
    event_id = new_id()
    r1 = srv.post(srv.envelope([{"type": "page_view", "id": event_id}], session_id=session))
    assert r1.json()["accepted"] == 0
    r2 = srv.post(srv.envelope([{"type": "page_view", "id": event_id, "url": "https://yourstore.com/"}], session_id=session))
    assert r2.json()["accepted"] == 1 and r2.json()["duplicates"] == 0


# --------------------------------------------------------------------------------------
# Time: skew correction
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_clock_offset_s", [-3600, 86_400, 0], ids=["1h-behind", "1day-ahead", "exact"])
def test_skew_correction_uses_the_delay_measured_on_the_client_clock(srv: Server, client_clock_offset_s: int) -> None:
    """docs/events.md: time = received_at - (sent_at - timestamp). An event created 10 s
    before its batch was sent is placed 10 s before arrival, however wrong the client's
    clock is; `timestamp` and `sent_at` are kept as the client sent them."""
    session = fresh()
    client_now = now_ms() + client_clock_offset_s * 1000
    stamp = client_now - 10_000
    before = datetime.now(timezone.utc)
    r = srv.post(srv.envelope([{"type": "custom", "name": "skew", "timestamp": iso_ms(stamp)}], session_id=session, sent_at=client_now))
    after = datetime.now(timezone.utc)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    [stored] = srv.all_events(session_id=session)
    received = parse_iso(stored["received_at"])
    assert before - timedelta(seconds=1) <= received <= after + timedelta(seconds=1)
    assert abs(parse_iso(stored["time"]) - (received - timedelta(seconds=10))) <= timedelta(milliseconds=1)
    assert parse_iso(stored["timestamp"]) == parse_iso(iso_ms(stamp))
    assert parse_iso(stored["sent_at"]) == parse_iso(iso_ms(client_now))


def test_corrected_time_is_never_after_arrival(srv: Server) -> None:
    """An event stamped after its own batch was sent (a broken client) is placed at the
    arrival time, never in the future."""
    session = fresh()
    client_now = now_ms()
    r = srv.post(srv.envelope([{"type": "custom", "name": "future", "timestamp": client_now + 60_000}], session_id=session, sent_at=client_now))
    assert r.json()["accepted"] == 1
    [stored] = srv.all_events(session_id=session)
    assert parse_iso(stored["time"]) <= parse_iso(stored["received_at"])


def test_without_sent_at_the_client_time_is_kept_but_never_after_arrival(srv: Server) -> None:
    """Without `sent_at` the client's clock cannot be measured (docs/events.md): `time` is
    the event's own `timestamp`, as PostHog does, but never after arrival; an
    event without a timestamp is placed at its arrival."""
    session = fresh()
    day_ago, hour_ahead = now_ms() - 86_400_000, now_ms() + 3_600_000
    body = srv.envelope(
        [
            {"type": "custom", "name": "day-ago", "timestamp": iso_ms(day_ago)},
            {"type": "custom", "name": "hour-ahead", "timestamp": hour_ahead},
            {"type": "custom", "name": "no-timestamp"},
        ],
        session_id=session,
    )
    del body["sent_at"]
    r = srv.post(body)
    assert r.json()["accepted"] == 3, r.text
    stored = {e["data"]["name"]: e for e in srv.all_events(session_id=session)}
    assert all(e["sent_at"] is None for e in stored.values())
    assert parse_iso(stored["day-ago"]["time"]) == parse_iso(iso_ms(day_ago))
    for name in ("hour-ahead", "no-timestamp"):
        assert parse_iso(stored[name]["time"]) == parse_iso(stored[name]["received_at"])
    assert parse_iso(stored["no-timestamp"]["timestamp"]) == parse_iso(stored["no-timestamp"]["received_at"])


def test_bad_sent_at_is_a_bad_envelope(srv: Server) -> None:
    r = srv.post(srv.envelope([sibling()], session_id=fresh(), sent_at="soon"))
    assert r.status_code == 400 and r.json()["message"].startswith("sent_at:")


@pytest.mark.parametrize("sent_at", [1.7e308, -1.7e308])
def test_absurd_numeric_sent_at_is_a_bad_envelope_not_a_server_error(srv: Server, sent_at: float) -> None:
    """sent_at is checked like a timestamp: a finite but absurd number is a 400."""
    r = srv.post(srv.envelope([sibling()], session_id=fresh(), sent_at=sent_at))
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith("sent_at:")


# --------------------------------------------------------------------------------------
# Status codes for whole-batch problems
# --------------------------------------------------------------------------------------


def assert_error(response: httpx.Response, status: int, message_prefix: str = "") -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}
    assert isinstance(body["error"], str) and isinstance(body["message"], str)
    assert body["message"].startswith(message_prefix), body
    return body


@pytest.mark.parametrize("body", [b"{", b"not json", b"", b'{"key": "pk", "events": [}', b"\xff\xfe{}", b'{"a":1}{"b":2}'])
def test_malformed_json_is_400(srv: Server, body: bytes) -> None:
    assert_error(post_raw(srv, body, {"Content-Type": "text/plain"}), 400)


@pytest.mark.parametrize("body", [[], [{"type": "page_view"}], "a string", 42, None, True])
def test_body_that_is_not_a_json_object_is_400(srv: Server, body: Any) -> None:
    assert_error(post_raw(srv, json.dumps(body).encode(), {"Content-Type": "text/plain"}), 400, "body:")


@pytest.mark.parametrize("field_name", ["key", "visitor_id", "session_id", "events"])
@pytest.mark.parametrize("how", ["absent", "null", "empty", "wrong-type"])
def test_bad_envelope_field_is_400_naming_it(srv: Server, field_name: str, how: str) -> None:
    """The envelope's key, visitor_id, session_id and events are required; a missing,
    null, empty or mistyped one refuses the batch with a message starting with its name."""
    body = srv.envelope([sibling()], session_id=fresh())
    if how == "absent":
        del body[field_name]
    elif how == "null":
        body[field_name] = None
    elif how == "empty":
        body[field_name] = [] if field_name == "events" else ""
    else:
        body[field_name] = {"type": "page_view"} if field_name == "events" else 123
    assert_error(srv.post(body), 400, f"{field_name}:")


@pytest.mark.parametrize("field_name", ["visitor_id", "session_id"])
def test_ids_longer_than_128_characters_are_400(srv: Server, field_name: str) -> None:
    ok = srv.post(srv.envelope([sibling()], **{field_name: "x" * 128}))
    assert ok.status_code == 200
    assert_error(srv.post(srv.envelope([sibling()], **{field_name: "x" * 129})), 400, f"{field_name}: too long")


def test_more_than_1000_events_is_400(srv: Server) -> None:
    """docs/events.md: a batch holds 1 to 1000 events."""
    events = [{"type": "custom", "name": "n"}] * 1001
    assert_error(srv.post(srv.envelope(events, session_id=fresh())), 400, "events: too many")


def test_unknown_public_key_is_401(srv: Server) -> None:
    session = fresh()
    body = assert_error(srv.post(srv.envelope([sibling()], key="pk_does_not_exist", session_id=session)), 401, "key:")
    assert body["error"] == "unknown_key"
    assert srv.all_events(session_id=session) == []


def test_secret_key_is_not_a_public_key(srv: Server) -> None:
    assert_error(srv.post(srv.envelope([sibling()], key=srv.keys["secret_key"])), 401)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/html", "application/xml"])
def test_other_content_types_are_415(srv: Server, content_type: str) -> None:
    session = fresh()
    r = srv.post(srv.envelope([sibling()], session_id=session), content_type=content_type)
    assert_error(r, 415)
    assert srv.all_events(session_id=session) == []


@pytest.mark.parametrize(
    "content_type", ["text/plain;charset=UTF-8", "text/plain", "application/json", "application/json; charset=utf-8", "TEXT/PLAIN"]
)
def test_text_plain_and_json_bodies_are_accepted(srv: Server, content_type: str) -> None:
    """Browsers send text/plain (no CORS preflight needed); application/json works too."""
    session = fresh()
    r = srv.post(srv.envelope([sibling()], session_id=session), content_type=content_type)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    assert len(srv.all_events(session_id=session)) == 1


def test_missing_content_type_is_accepted(srv: Server) -> None:
    """navigator.sendBeacon with a plain string may send no Content-Type at all."""
    session = fresh()
    r = post_raw(srv, json.dumps(srv.envelope([sibling()], session_id=session)).encode())
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    assert len(srv.all_events(session_id=session)) == 1


def test_other_methods_are_405(srv: Server) -> None:
    r = httpx.put(f"{srv.url}/v1/batch", content=b"{}", headers={"User-Agent": BROWSER_UA})
    assert r.status_code == 405


# -- body size limit ---------------------------------------------------------------------

MAX_BODY = 2048


@pytest.fixture(scope="module")
def small_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("small") / "chatlens.duckdb", "--max-body", str(MAX_BODY), "--rate-limit", "100000"
    )
    yield server
    server.stop()


def body_of_size(srv: Server, size: int, session: str) -> bytes:
    """A valid batch serialized to exactly `size` bytes (padded in a custom property)."""
    body = srv.envelope([{"type": "custom", "name": "pad", "properties": {"pad": ""}}], session_id=session)
    raw = json.dumps(body, separators=(",", ":")).encode()
    body["events"][0]["properties"]["pad"] = "x" * (size - len(raw))
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert len(raw) == size
    return raw


def test_body_of_exactly_the_limit_is_accepted(small_srv: Server) -> None:
    """--max-body is the largest body accepted."""
    session = fresh()
    r = post_raw(small_srv, body_of_size(small_srv, MAX_BODY, session), {"Content-Type": "text/plain"})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_body_over_the_limit_with_content_length_is_413(small_srv: Server) -> None:
    session = fresh()
    r = post_raw(small_srv, body_of_size(small_srv, MAX_BODY + 1, session), {"Content-Type": "text/plain"})
    assert_error(r, 413)
    assert small_srv.all_events(session_id=session) == []


def test_chunked_body_over_the_limit_is_413(small_srv: Server) -> None:
    """Without Content-Length the limit still holds: the body is cut off while read."""
    session = fresh()
    raw = body_of_size(small_srv, 4 * MAX_BODY, session)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 512):
            yield raw[start : start + 512]

    r = httpx.post(
        f"{small_srv.url}/v1/batch",
        content=chunks(),
        headers={"Content-Type": "text/plain", "User-Agent": BROWSER_UA},
        timeout=30,
    )
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert_error(r, 413)
    assert small_srv.all_events(session_id=session) == []


def test_chunked_body_under_the_limit_is_accepted(small_srv: Server) -> None:
    session = fresh()
    raw = body_of_size(small_srv, MAX_BODY - 100, session)
    r = httpx.post(
        f"{small_srv.url}/v1/batch",
        content=iter([raw[:700], raw[700:1400], raw[1400:]]),
        headers={"Content-Type": "text/plain", "User-Agent": BROWSER_UA},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


# -- rate limit ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("limited") / "chatlens.duckdb", "--rate-limit", "3")
    yield server
    server.stop()


def test_rate_limit_per_session(limited_srv: Server) -> None:
    """With --rate-limit 3, the 4th request of a session within the minute is 429 with an
    integer Retry-After (seconds, at least 1) and a JSON error, and its events are not
    stored; another session of the same visitor is not affected."""
    session = fresh()
    for _ in range(3):
        r = limited_srv.post(limited_srv.envelope([sibling()], session_id=session))
        assert r.status_code == 200, r.text
    r = limited_srv.post(limited_srv.envelope([sibling(), sibling()], session_id=session))
    body = assert_error(r, 429)
    assert body["error"] == "rate_limited"
    retry_after = r.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    assert len(limited_srv.all_events(session_id=session)) == 3

    other = limited_srv.post(limited_srv.envelope([sibling()], session_id=fresh()))
    assert other.status_code == 200 and other.json()["accepted"] == 1
    metrics = httpx.get(f"{limited_srv.url}/metrics", timeout=10).text
    assert metric_value(metrics, "chatlens_events_dropped_total", reason="rate_limited") == 2


# -- the default limits, end to end ---------------------------------------------------


@pytest.fixture(scope="module")
def default_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with no limit flags at all: 30 requests per minute per session, 256 KiB."""
    server = start_server(tmp_path_factory.mktemp("defaults") / "chatlens.duckdb")
    yield server
    server.stop()


def test_default_rate_limit_is_30_requests_a_minute_per_session(default_srv: Server) -> None:
    """Reference 000's limit: the 31st request of a session within the minute is 429."""
    session = fresh()
    with httpx.Client(headers={"User-Agent": BROWSER_UA, "Content-Type": "text/plain"}, timeout=30) as http:
        for n in range(30):
            r = http.post(f"{default_srv.url}/v1/batch", content=json.dumps(default_srv.envelope([sibling()], session_id=session)))
            assert r.status_code == 200, (n, r.text)
        r = http.post(f"{default_srv.url}/v1/batch", content=json.dumps(default_srv.envelope([sibling()], session_id=session)))
    assert_error(r, 429)
    assert int(r.headers["retry-after"]) >= 1
    assert len(default_srv.all_events(session_id=session)) == 30


def test_default_body_limit_is_256_kib(default_srv: Server) -> None:
    at_limit, over = fresh(), fresh()
    r = post_raw(default_srv, body_of_size(default_srv, 256 * 1024, at_limit), {"Content-Type": "text/plain"})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    r = post_raw(default_srv, body_of_size(default_srv, 256 * 1024 + 1, over), {"Content-Type": "text/plain"})
    assert_error(r, 413)
    assert default_srv.all_events(session_id=over) == []


# --------------------------------------------------------------------------------------
# Bots
# --------------------------------------------------------------------------------------

BOT_AGENTS = [
    "curl/8.0",
    "Googlebot",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "python-requests/2.32",
]


@pytest.mark.parametrize("user_agent", BOT_AGENTS)
def test_bot_traffic_is_dropped_by_default(srv: Server, user_agent: str) -> None:
    """Crawlers, headless browsers and HTTP libraries get 200 (no retries) with the
    events counted under dropped.bot; nothing is stored."""
    session = fresh()
    r = srv.post(srv.envelope([sibling(), sibling(), sibling()], session_id=session), headers={"User-Agent": user_agent})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dropped"] == {"bot": 3}
    assert body["accepted"] == 0
    assert srv.all_events(session_id=session) == []


def test_bot_drops_are_counted_in_metrics(server: Server) -> None:
    r = server.post(server.envelope([sibling(), sibling()]), headers={"User-Agent": "curl/8.0"})
    assert r.json()["dropped"] == {"bot": 2}
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert metric_value(metrics, "chatlens_events_dropped_total", reason="bot") == 2
    assert metric_value(metrics, "chatlens_events_accepted_total") is None


# --------------------------------------------------------------------------------------
# Privacy and devices
# --------------------------------------------------------------------------------------


def test_no_raw_ip_is_stored_even_behind_a_trusted_proxy(tmp_path: Path) -> None:
    """The address a request came from (here X-Forwarded-For, with --trust-proxy) is kept
    only as a short keyed hash: no column of any stored row holds it, and two visitors
    behind different addresses get different hashes."""
    import duckdb

    db = tmp_path / "ip.duckdb"
    server = start_server(db, "--trust-proxy", "--rate-limit", "100000")
    try:
        for ip, session in (("203.0.113.77", "ip-a"), ("198.51.100.23", "ip-b")):
            r = server.post(
                server.envelope([sibling(), {"type": "custom", "name": "x"}], session_id=session),
                headers={"X-Forwarded-For": f"{ip}, 10.0.0.1"},
            )
            assert r.json()["accepted"] == 2, r.text
        assert len(server.all_events()) == 4  # loaded into the store
    finally:
        server.stop()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT COLUMNS(*)::VARCHAR FROM events").fetchall()
        hashes = dict(con.execute("SELECT DISTINCT session_id, ip_hash FROM events").fetchall())
    assert len(rows) == 4
    for row in rows:
        text = repr(row)
        assert "203.0.113" not in text and "198.51.100" not in text and "10.0.0.1" not in text, text
    assert all(re.fullmatch(r"[0-9a-f]{16}", h) for h in hashes.values()), hashes
    assert hashes["ip-a"] != hashes["ip-b"]


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (BROWSER_UA, "desktop"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1", "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
         "Mobile Safari/537.36", "mobile"),
        ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1", "tablet"),
        ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
         "Safari/537.36", "tablet"),
    ],
    ids=["desktop", "iphone", "android-phone", "ipad", "android-tablet"],
)
def test_device_type_comes_from_the_user_agent(srv: Server, user_agent: str, device: str) -> None:
    session = fresh()
    r = srv.post(srv.envelope([sibling()], session_id=session), headers={"User-Agent": user_agent})
    assert r.json()["accepted"] == 1, r.text
    [stored] = srv.all_events(session_id=session)
    assert (stored["device"], stored["bot"]) == (device, False)


@pytest.fixture(scope="module")
def bots_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("bots") / "chatlens.duckdb", "--keep-bots", "--rate-limit", "100000")
    yield server
    server.stop()


def test_keep_bots_stores_bot_traffic_flagged(bots_srv: Server) -> None:
    """With --keep-bots, bot events are stored with bot=true; a browser's with bot=false."""
    bot_session, human_session = fresh(), fresh()
    r = bots_srv.post(bots_srv.envelope([sibling(), sibling()], session_id=bot_session), headers={"User-Agent": "curl/8.0"})
    assert r.status_code == 200 and r.json()["accepted"] == 2 and "dropped" not in r.json(), r.text
    r = bots_srv.post(bots_srv.envelope([sibling()], session_id=human_session))
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert [e["bot"] for e in bots_srv.all_events(session_id=bot_session)] == [True, True]
    assert [e["bot"] for e in bots_srv.all_events(session_id=human_session)] == [False]


# --------------------------------------------------------------------------------------
# CORS
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cors_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose only site accepts https://shop.example and any https subdomain of
    example.org (created before start: the running server locks the database)."""
    db: Path = tmp_path_factory.mktemp("cors") / "chatlens.duckdb"
    keys = create_site(db, "shop", "https://shop.example", "https://*.example.org")
    server = start_server(db, "--rate-limit", "100000", keys=keys)
    yield server
    server.stop()


def preflight(srv: Server, origin: str | None) -> httpx.Response:
    headers = {"Access-Control-Request-Method": "POST", "User-Agent": BROWSER_UA}
    if origin is not None:
        headers["Origin"] = origin
    return httpx.options(f"{srv.url}/v1/batch", headers=headers, timeout=30)


ALLOWED_ORIGINS = ["https://shop.example", "https://www.example.org", "https://a.b.example.org"]
DISALLOWED_ORIGINS = [
    "https://evil.example",
    "http://shop.example",  # another scheme is another origin
    "https://shop.example.evil.com",
    "https://evilshop.example",
    "https://notexample.org",
    "http://www.example.org",
    "null",
]


@pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
def test_preflight_from_an_allowed_origin_is_204(cors_srv: Server, origin: str) -> None:
    r = preflight(cors_srv, origin)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == origin
    assert "POST" in r.headers["access-control-allow-methods"]


@pytest.mark.parametrize("origin", [*DISALLOWED_ORIGINS, None])
def test_preflight_from_another_origin_is_403_without_cors_headers(cors_srv: Server, origin: str | None) -> None:
    r = preflight(cors_srv, origin)
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
def test_post_from_an_allowed_origin_echoes_it(cors_srv: Server, origin: str) -> None:
    """Exact origins and wildcard subdomains are allowed; the answer names the origin and
    exposes Retry-After to the page's script."""
    session = fresh()
    r = cors_srv.post(cors_srv.envelope([sibling()], session_id=session), headers={"Origin": origin})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    assert r.headers["access-control-allow-origin"] == origin
    assert "Retry-After" in r.headers["access-control-expose-headers"]
    assert len(cors_srv.all_events(session_id=session)) == 1


@pytest.mark.parametrize("origin", DISALLOWED_ORIGINS)
def test_post_from_another_origin_is_403_and_nothing_is_stored(cors_srv: Server, origin: str) -> None:
    session = fresh()
    r = cors_srv.post(cors_srv.envelope([sibling()], session_id=session), headers={"Origin": origin})
    body = assert_error(r, 403)
    assert body["error"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in r.headers
    assert cors_srv.all_events(session_id=session) == []


def test_post_without_origin_is_accepted_as_server_to_server(cors_srv: Server) -> None:
    session = fresh()
    r = cors_srv.post(cors_srv.envelope([sibling()], session_id=session))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    assert "access-control-allow-origin" not in r.headers
    assert len(cors_srv.all_events(session_id=session)) == 1


@pytest.mark.parametrize("origin", ["https://anything.test", "http://localhost:3000"])
def test_site_without_origins_accepts_any_origin(srv: Server, origin: str) -> None:
    """The first-start default site has no origins: every page may send to it."""
    assert preflight(srv, origin).status_code == 204
    session = fresh()
    r = srv.post(srv.envelope([sibling()], session_id=session), headers={"Origin": origin})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert r.headers["access-control-allow-origin"] == origin


# --------------------------------------------------------------------------------------
# Operations endpoints
# --------------------------------------------------------------------------------------


def test_metrics_count_what_was_sent(server: Server) -> None:
    """On a fresh server, /metrics counts exactly the events accepted, rejected as
    invalid and dropped as duplicates, times each request, and shows the queue depth."""
    known = new_id()
    batch1 = [
        {"type": "page_view", "url": "https://yourstore.com/1", "id": known},
        {"type": "page_view", "url": "https://yourstore.com/2"},
        {"type": "page_view"},  # invalid
        {"type": "custom", "name": "c"},
        "junk",  # invalid
    ]
    r1 = server.post(server.envelope(batch1))
    assert (r1.json()["accepted"], len(r1.json()["rejected"])) == (3, 2)
    r2 = server.post(server.envelope([{"type": "page_view", "url": "https://yourstore.com/1", "id": known}, {"type": "custom", "name": "d"}]))
    assert (r2.json()["accepted"], r2.json()["duplicates"]) == (1, 1)

    r = httpx.get(f"{server.url}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert metric_value(text, "chatlens_events_accepted_total") == 4
    assert metric_value(text, "chatlens_events_dropped_total", reason="invalid") == 2
    assert metric_value(text, "chatlens_events_dropped_total", reason="duplicate") == 1
    assert metric_value(text, "chatlens_write_queue_depth") == 0
    assert metric_value(text, "chatlens_http_request_duration_seconds_count", route="/v1/batch") == 2
    assert metric_value(text, "chatlens_http_request_duration_seconds_bucket", route="/v1/batch", le="+Inf") == 2
    assert "chatlens_http_request_duration_seconds_bucket{" in text
    assert 'chatlens_gc_pause_seconds_count{generation="2"}' in text  # the collector's pauses (tests/test_metrics.py)


def test_healthz(srv: Server) -> None:
    r = httpx.get(f"{srv.url}/healthz", timeout=10)
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_queue_depths_show_rows_waiting_for_the_store(tmp_path: Path) -> None:
    """With loads far apart, acknowledged rows wait in the journal: /healthz's
    write_queue_depth and the load queue gauge count them until a read loads them."""
    server = start_server(tmp_path / "q.duckdb", "--load-interval", "600", "--rate-limit", "100000")
    try:
        for n in (3, 4):
            assert server.post(server.envelope([sibling()] * n, session_id=fresh())).json()["accepted"] == n
        assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok", "write_queue_depth": 7}
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert metric_value(metrics, "chatlens_load_queue_depth") == 7
        assert metric_value(metrics, "chatlens_write_queue_depth") == 0  # all journaled
        assert len(server.all_events()) == 7  # a read waits for the rows: they are loaded
        assert httpx.get(f"{server.url}/healthz", timeout=10).json()["write_queue_depth"] == 0
        assert metric_value(httpx.get(f"{server.url}/metrics", timeout=10).text, "chatlens_load_queue_depth") == 0
    finally:
        server.stop()


def test_openapi_describes_both_endpoints(srv: Server) -> None:
    r = httpx.get(f"{srv.url}/openapi.json", timeout=10)
    assert r.status_code == 200
    doc = json.loads(r.content)
    assert doc["openapi"] == "3.1.0"
    assert "/v1/batch" in doc["paths"] and "/v1/events" in doc["paths"]
    assert "post" in doc["paths"]["/v1/batch"] and "get" in doc["paths"]["/v1/events"]
    assert "post" in doc["paths"]["/v1/server/batch"] and "get" in doc["paths"]["/v1/conversations/{conversation_id}"]


# --------------------------------------------------------------------------------------
# Junk never causes a server error
# --------------------------------------------------------------------------------------

JUNK_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 10**19, -(10**19), 1.7e308, "", "x", "\u0000", "🙂" * 50, "\u202ehttps://evil", [], [None], {}, {"a": None}]


def junk_bodies(srv: Server) -> list[tuple[str, bytes]]:
    rng = random.Random(20261121)
    out: list[tuple[str, bytes]] = []

    def add(label: str, body: Any) -> None:
        out.append((label, body if isinstance(body, bytes) else json.dumps(body).encode()))

    for n in range(15):
        add(f"random bytes #{n}", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
    valid = json.dumps(srv.envelope(REFERENCE_000_EXAMPLES, session_id="junk")).encode()
    for n in range(10):
        add(f"truncated JSON #{n}", valid[: rng.randrange(1, len(valid))])
    add("array nested 5000 deep", b"[" * 5000 + b"]" * 5000)
    add("object nested 2000 deep", b'{"a":' * 2000 + b"1" + b"}" * 2000)
    deep = '{"a":' * 300 + "1" + "}" * 300
    add("custom properties nested 300 deep", json.dumps(srv.envelope([{"type": "custom", "name": "deep", "properties": {}}], session_id="junk")).replace('"properties": {}', '"properties": ' + deep).encode())
    add("unknown field nested 300 deep", json.dumps(srv.envelope([sibling()], session_id="junk")).replace('"url"', '"extra": ' + deep + ', "url"').encode())
    sane = {"durationSeconds": "1", "timestamp": str(now_ms() - 1000), "sent_at": str(now_ms())}
    for literal in ("1" + "0" * 400, "1e400", "NaN", "Infinity", "-Infinity", "18446744073709551615", "9007199254740993", "1.7e308", "-0"):
        for place in sane:
            values = {**sane, place: literal}
            text = (
                f'{{"key": "{srv.keys["public_key"]}", "visitor_id": "v", "session_id": "junk", "sent_at": {values["sent_at"]}, '
                f'"events": [{{"type": "dwell", "url": "https://yourstore.com/", '
                f'"durationSeconds": {values["durationSeconds"]}, "timestamp": {values["timestamp"]}}}]}}'
            )
            add(f"{place}={literal[:20]}", text.encode())
    add("lone surrogate escape", b'{"key":"\\ud800","visitor_id":"v","session_id":"s","events":[{}]}')
    add("invalid utf-8 in a string", b'{"key":"\xc3\x28","visitor_id":"v","session_id":"s","events":[{}]}')
    for name in ("key", "visitor_id", "session_id", "sent_at", "events"):
        for value in JUNK_VALUES:
            body = srv.envelope([sibling()], session_id="junk")
            body[name] = value
            add(f"envelope {name}={value!r:.30}", body)
    for spec in CLIENT_TYPES.values():
        event = example_event(spec, optional=True)
        for field in (*spec.fields, *(f for f in METADATA_FIELDS if spec.name.startswith("chat.") and f.name in ("id", "errors", "form", "userMessages"))):
            value = rng.choice(JUNK_VALUES)
            broken = json.loads(json.dumps(event))
            if field in METADATA_FIELDS:
                broken["metadata"][field.name] = value
            else:
                broken[field.name] = value
            add(f"{spec.name}.{field.name}={value!r:.30}", srv.envelope([broken], session_id="junk"))
        add(f"{spec.name} all nulls", srv.envelope([{k: None for k in event} | {"type": spec.name}], session_id="junk"))
    add("every event field a string", srv.envelope([{"type": "chat.ready", "metadata": "{}", "id": "{}", "timestamp": "{}"}], session_id="junk"))
    add("events of every JSON type", srv.envelope(list(JUNK_VALUES), session_id="junk"))
    return out


def test_junk_bodies_never_cause_a_server_error(srv: Server) -> None:
    """~300 malformed or odd bodies (random bytes, truncated and deeply nested JSON, huge
    numbers, unicode, nulls and wrong types in every field): each answer is a 2xx/4xx."""
    bodies = junk_bodies(srv)
    assert len(bodies) >= 200
    failures = []
    with httpx.Client(timeout=30) as client:
        for label, body in bodies:
            r = post_raw(srv, body, {"Content-Type": "text/plain"}, client=client)
            if r.status_code >= 500:
                failures.append(f"{label}: {r.status_code} {r.text[:120]}")
    assert failures == [], f"{len(failures)} junk bodies caused a server error:\n" + "\n".join(failures)
    assert httpx.get(f"{srv.url}/healthz", timeout=10).status_code == 200


def test_widget_events_in_reference_001_bus_shape_are_accepted(srv: Server) -> None:
    """A page forwarding `saEvents` events as they come ({type, data, timestamp}) works:
    the fields inside `data` count as the event's own; top-level fields win."""
    session = f"bus-shape-{uuid.uuid4()}"
    events = [
        {"type": "CHAT_VISIBLE", "data": {"chatInstanceName": "help_faq_bot"}, "timestamp": 1637147056035},
        {"type": "CONTACT_STARTED", "data": {"contactId": "9960459a-233f-4963-95f9-dde57ac4d9c5"},
         "timestamp": 1637147056035},
        {"type": "CONNECT_TO_AGENT", "data": {"contactId": "from-data"}, "contactId": "top-level"},
    ]
    response = srv.post(srv.envelope(events, session_id=session))
    assert response.json()["accepted"] == 3, response.text
    stored = {e["type"]: e["data"] for e in srv.all_events(session_id=session)}
    assert stored["CHAT_VISIBLE"] == {"chatInstanceName": "help_faq_bot"}
    assert stored["CONTACT_STARTED"] == {"contactId": "9960459a-233f-4963-95f9-dde57ac4d9c5"}
    assert stored["CONNECT_TO_AGENT"] == {"contactId": "top-level"}


@pytest.mark.parametrize("data", ["help_faq_bot", ["help_faq_bot"], 42, True])
def test_widget_event_data_must_be_an_object(srv: Server, data: Any) -> None:
    """Reference 001's `data` is an object; anything else is named in the error (it was
    kept as a property before), and the valid sibling is stored."""
    session = fresh()
    event = {"type": "CHAT_LOADED", "data": data, "chatInstanceName": "help_faq_bot"}
    r = srv.post(srv.envelope([sibling(), event], session_id=session))
    assert one_rejection(r, 1) == f"events[1].data: must be an object (reference 001), got {json_type_name(data)}"
    assert [e["type"] for e in srv.all_events(session_id=session)] == ["page_view"]


def test_widget_event_with_null_data_is_accepted(srv: Server) -> None:
    session = fresh()
    r = srv.post(srv.envelope([{"type": "CHAT_LOADED", "data": None, "chatInstanceName": "help_faq_bot"}], session_id=session))
    assert r.json()["accepted"] == 1, r.text
    [stored] = srv.all_events(session_id=session)
    assert stored["data"] == {"chatInstanceName": "help_faq_bot"}


def test_a_client_cannot_send_engine_decisions(srv: Server) -> None:
    """`decision` events are the intent engine's alone: a page that forges one is told the
    type is unknown, and its valid siblings are stored."""
    forged = {"type": "decision", "offerId": "x", "skill": "comparison", "decision": "offered"}
    session = fresh()
    r = srv.post(srv.envelope([forged, {"type": "search_event", "query": "hood"}], session_id=session))
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert rejected["index"] == 0 and "unknown event type 'decision'" in rejected["errors"][0]
    assert [e["type"] for e in srv.all_events(session_id=session)] == ["search_event"]
