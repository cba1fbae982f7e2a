"""The compiled fast path must agree with the Python validator wherever it says yes.

Seeded random batches of behaviour events, mixing valid values with every kind of edge
case, go through both. When the fast path accepts a batch, each event must come out
exactly as the Python validator makes it; when any event is invalid, the fast path must
decline (so that the Python validator explains the problem).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import orjson

from chatlens.ingest._fastpath import decode_batch
from chatlens.ingest.validate import ValidEvent, parse_timestamp, validate_event
from chatlens.model.events import BEHAVIOUR_TYPES, Field, Kind

MISSING = object()

GOOD = {
    Kind.STRING: ["SKU-1", "Kitchen", "ünïcode ✓", "a" * 4096, "with\nnewline"],
    Kind.URL: ["https://shop.example/p/1", "http://x", "HTTPS://SHOP.EXAMPLE/", "https://" + "a" * 4000],
    Kind.NUMBER: [0, 1.5, 120, 2**53 + 1, 1e300],
}
BAD = {
    Kind.STRING: [5, True, [], {}, "a" * 4097, ""],
    Kind.URL: ["ftp://x", "https://", "/relative", "https://\n", 3, "a" * 5000],
    Kind.NUMBER: [-1, "5", True, [], -0.5],
}
IDS_GOOD = [None, lambda: str(uuid.uuid4()), lambda: str(uuid.uuid4()).upper()]
IDS_BAD = ["not-a-uuid", 5, "", "0190a0b0-0000-7000-8000-00000000000g"]
TS_GOOD = [None, "2026-11-21T12:00:00.123Z", "2026-11-21T12:00:00", "2026-11-21T13:00:00+01:00", 1637147056035, 1637147056035.5]
TS_BAD = ["bad", True, 1e20, "1999-01-01T00:00:00Z", 1637147056]


def pick(rng: random.Random, options: list[Any]) -> Any:
    value = rng.choice(options)
    return value() if callable(value) else value


def field_value(rng: random.Random, field: Field, bad: bool) -> Any:
    if field.choices:
        return rng.choice(["Add", "", None, 1] if bad else list(field.choices))
    if bad:
        return rng.choice(BAD[field.kind] + ([None] if field.required else []) + [MISSING] * field.required)
    return rng.choice(GOOD[field.kind] + ([None, MISSING] if not field.required else []))


def random_event(rng: random.Random, bad: bool) -> dict[str, Any]:
    spec = rng.choice(BEHAVIOUR_TYPES)
    event: dict[str, Any] = {"type": spec.name}
    broken = rng.randrange(len(spec.fields) + 3) if bad else -1
    for i, field in enumerate(spec.fields):
        value = field_value(rng, field, bad=i == broken)
        if value is not MISSING:
            event[field.name] = value
    event["id"] = pick(rng, IDS_BAD if broken == len(spec.fields) else IDS_GOOD)
    event["timestamp"] = pick(rng, TS_BAD if broken == len(spec.fields) + 1 else TS_GOOD)
    if broken == len(spec.fields) + 2:
        event["somethingElse"] = "an unknown field"  # valid, but only Python keeps it
    return {k: v for k, v in event.items() if v is not None or rng.random() < 0.3}


def comparable(event: ValidEvent) -> tuple[Any, ...]:
    props = orjson.loads(event.properties_json) if event.properties_json else None
    return (event.index, event.type, event.event_id, event.client_ts_us, event.columns, props)


def test_fast_path_agrees_with_the_python_validator() -> None:
    rng = random.Random(20261121)
    taken = 0
    for n in range(3000):
        bad = rng.random() < 0.5
        events = [random_event(rng, bad=bad and rng.random() < 0.3) for _ in range(rng.randint(1, 8))]
        sent_at = rng.choice([None, "2026-11-21T12:00:05Z", 1637147056035])
        body = orjson.dumps({"key": "pk", "visitor_id": "v", "session_id": f"s{n}", "sent_at": sent_at, "events": events})
        slow = [validate_event(orjson.loads(orjson.dumps(e)), i) for i, e in enumerate(events)]
        all_valid = all(isinstance(r, ValidEvent) for r in slow)
        has_unknown = any("somethingElse" in e for e in events)
        fast = decode_batch(body, 1000)
        if fast is None:
            continue
        taken += 1
        envelope, valid = fast
        assert all_valid, f"fast path accepted a batch the validator rejects: {events}"
        assert not has_unknown
        assert envelope["sent_at"] == (parse_timestamp(sent_at) if sent_at is not None else None)
        assert [comparable(v) for v in valid] == [comparable(r) for r in slow if isinstance(r, ValidEvent)]
    assert taken > 1000, f"the fast path took only {taken} of 3000 batches"


def test_fast_path_takes_the_common_batch_and_declines_other_groups() -> None:
    common = {"key": "pk", "visitor_id": "v", "session_id": "s", "events": [
        {"type": "page_view", "url": "https://a.example/", "id": str(uuid.uuid4()), "timestamp": "2026-11-21T12:00:00.000Z"},
        {"type": "cart_action", "action": "add", "productId": "SKU", "productName": "Stove"},
    ]}
    assert decode_batch(orjson.dumps(common), 1000) is not None
    widget = {**common, "events": [{"type": "CHAT_LOADED"}]}
    assert decode_batch(orjson.dumps(widget), 1000) is None
    too_many = {**common, "events": common["events"] * 3}
    assert decode_batch(orjson.dumps(too_many), 5) is None
