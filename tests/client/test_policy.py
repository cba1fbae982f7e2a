"""The SDK's own pure parts, driven directly: UUIDv7 layout, backoff with full jitter and
Retry-After, and the sans-I/O delivery generator (retry the same bytes, split on 413,
give up when closing). No server involved and nothing of Chatlens replaced: these are
the decisions the workers execute, checked step by step."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from conftest import Server

from chatlens_client import ChatlensAPIError, Client, uuid7
from chatlens_client import _events, _wire
from chatlens_client._delivery import BatchResult, HTTPAnswer, NoAnswer, Post, RetryPolicy, Wait, deliver
from chatlens_client._outbox import Outbox, QueuedEvent


def test_uuid7_layout_and_order() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid7() for _ in range(5000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 5000
    assert ids == sorted(ids), "ids of one process sort in creation order"
    for text in ids[:50]:
        value = uuid.UUID(text)
        assert value.version == 7 and value.variant == uuid.RFC_4122
        assert before <= value.int >> 80 <= after + 2
        assert str(value) == text
    assert uuid7(1_700_000_000_000).startswith("018bcfe5-6800-7")


def test_backoff_full_jitter_bounds_and_retry_after() -> None:
    top = RetryPolicy(random=lambda: 1.0)
    assert [top.delay(n, None) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert top.delay(1000, None) == 30
    assert RetryPolicy(random=lambda: 0.0).delay(5, None) == 0
    assert RetryPolicy(random=lambda: 0.0).delay(0, 7.0) == 7.0, "never sooner than Retry-After"
    assert RetryPolicy(random=lambda: 1.0).delay(3, 1.0) == 4.0
    assert _wire.parse_retry_after("3") == 3.0
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert _wire.parse_retry_after("Thu, 01 Jan 2026 00:00:09 GMT", now) == 9.0
    assert _wire.parse_retry_after("soon") is None and _wire.parse_retry_after(None) is None


def queued(count: int, size: int = 10) -> list[QueuedEvent]:
    events = [_events.message_event("c", "user", "x" * size, None) for _ in range(count)]
    return [QueuedEvent(i + 1, e, _wire.encode_event(e), 0.0) for i, e in enumerate(events)]


def ack(accepted: int, duplicates: int = 0, rejected: list[dict[str, object]] | None = None) -> HTTPAnswer:
    return HTTPAnswer(200, json.dumps({"accepted": accepted, "duplicates": duplicates, "rejected": rejected or []}).encode())


def run(steps, replies):  # type: ignore[no-untyped-def]
    """Drive the generator with scripted replies; return (steps seen, result)."""
    seen = [next(steps)]
    try:
        for reply in replies:
            seen.append(steps.send(reply))
    except StopIteration as done:
        return seen, done.value
    raise AssertionError(f"generator still running after {seen}")


def test_retries_resend_the_same_events_until_answered() -> None:
    items = queued(3)
    seen, result = run(
        deliver(items, RetryPolicy(random=lambda: 1.0)),
        [NoAnswer("refused"), True, HTTPAnswer(503, b"", "2"), True, HTTPAnswer(500, b"{}"), True, ack(1, duplicates=2)],
    )
    posts = [s for s in seen if isinstance(s, Post)]
    waits = [s for s in seen if isinstance(s, Wait)]
    assert len(posts) == 4 and [w.seconds for w in waits] == [0.5, 2.0, 2.0]
    bodies = [json.loads(p.body) for p in posts]
    assert all(b["events"] == [i.event for i in items] for b in bodies), "same events, same ids"
    assert result.accepted == 1 and result.duplicates == 2 and not result.failures


def test_4xx_is_final_and_413_splits() -> None:
    _, result = run(deliver(queued(2), RetryPolicy()), [HTTPAnswer(400, b'{"error": {"code": "bad_envelope", "message": "events: nope"}}')])
    assert [(f.status, f.code, f.message, len(f.events)) for f in result.failures] == [(400, "bad_envelope", "events: nope", 2)]

    items = queued(5)
    seen, result = run(
        deliver(items, RetryPolicy()),
        [HTTPAnswer(413, b""), ack(2), ack(2, rejected=[{"index": 0, "errors": ["events[0].x: no"]}])],
    )
    sizes = [len(json.loads(s.body)["events"]) for s in seen if isinstance(s, Post)]
    assert sizes == [5, 2, 3]
    assert result.accepted == 4
    assert [(r.index, r.event["id"]) for r in result.rejected] == [(2, items[2].event["id"])], "index in the whole batch"


def test_max_retries_and_closing_give_up_with_a_report() -> None:
    _, result = run(deliver(queued(1), RetryPolicy(max_retries=1)), [HTTPAnswer(429, b""), True, HTTPAnswer(429, b"")])
    assert [(f.status, "gave up after 1 retries" in f.message) for f in result.failures] == [(429, True)]
    _, result = run(deliver(queued(4), RetryPolicy()), [HTTPAnswer(413, b""), NoAnswer("down"), False])
    assert isinstance(result, BatchResult) and result.gave_up
    assert sum(len(f.events) for f in result.failures) == 4
    assert all(isinstance(f, ChatlensAPIError) and f.status is None for f in result.failures)


def test_outbox_batches_by_count_and_bytes() -> None:
    box = Outbox(max_queue=100, max_batch=4)
    box.put([e.event for e in queued(10)], now=0.0)
    assert [len(box.take_batch()) for _ in range(3)] == [4, 4, 2]
    big = Outbox(max_queue=100, max_batch=500)
    big.put([e.event for e in queued(5, size=3 * 1024 * 1024)], now=0.0)
    batches = [big.take_batch() for _ in range(3)]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert all(_wire.body_size(len(b), sum(len(i.encoded) for i in b)) <= _wire.MAX_BODY_BYTES for b in batches)


def test_large_attachments_are_split_across_requests_and_all_stored(server: Server) -> None:
    """Three 3 MiB files cannot share one 8 MiB body: they go in two requests."""
    files = [bytes([n]) * (3 * 1024 * 1024) for n in range(3)]
    with Client(server.keys["secret_key"], server.url) as client:
        client.get_or_create_conversation("conv-big")
        ids = client.track_attachments([{"filename": f"f{n}.bin", "mime_type": "application/octet-stream", "data": f} for n, f in enumerate(files)])
        client.flush(timeout=30)
        assert (client.stats.accepted, client.stats.failed, client.errors) == (4, 0, [])
    stored = {e["id"]: e["data"] for e in server.all_events(type="attachment")}
    assert set(stored) == set(ids)
    assert [stored[i]["size"] for i in ids] == [3 * 1024 * 1024] * 3
    assert len({stored[i]["sha256"] for i in ids}) == 3


def test_sent_at_is_fresh_on_every_attempt() -> None:
    steps = deliver(queued(1), RetryPolicy(random=lambda: 0.0))
    first = next(steps)
    assert isinstance(first, Post)
    steps.send(NoAnswer("x"))
    time.sleep(0.01)
    second = steps.send(True)
    assert isinstance(second, Post)
    at = [datetime.fromisoformat(json.loads(p.body)["sent_at"]) for p in (first, second)]
    assert at[1] - at[0] >= timedelta(milliseconds=10)
    with pytest.raises(StopIteration):
        steps.send(ack(1))
