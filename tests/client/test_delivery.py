"""Delivery guarantees against a real server: a server that dies and comes back loses
and duplicates nothing; a resent batch is counted as duplicates, not stored twice; an
unreachable server fills the queue with an error rather than blocking or dropping; what
is still queued at close or at interpreter exit is sent or reported."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from async_helpers import run_async
from conftest import Server, free_port, start_server

from chatlens_client import (
    AsyncClient,
    ChatlensAPIError,
    Client,
    DeliveryError,
    DeliveryStats,
    FlushTimeoutError,
    QueueFullError,
)
from chatlens_client import _events


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_server_killed_and_restarted_loses_and_duplicates_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chatlens_client")
    db, port = tmp_path / "chatlens.duckdb", free_port()
    first = start_server(db, "--rate-limit", "100000", port=port)
    keys = first.keys
    errors: list[DeliveryError] = []
    client = Client(keys["secret_key"], first.url, flush_interval=0.05, max_batch=10, on_error=errors.append)
    second: Server | None = None
    try:
        client.get_or_create_conversation("conv-outage")
        ids = [client.track_question(f"before {i}") for i in range(25)]
        client.flush(timeout=10)
        assert client.stats.accepted == 26

        first.kill()  # SIGKILL: no goodbye, connections refused from now on
        ids += [client.track_answer(f"during {i}") for i in range(30)]
        # The worker tries, fails and backs off: the events wait, nothing is reported lost.
        wait_until(lambda: sum("retrying" in r.getMessage() for r in caplog.records) >= 2, timeout=10)
        assert client.stats.pending == 30 and client.stats.failed == 0 and errors == []

        second = start_server(db, "--rate-limit", "100000", port=port, keys=keys)
        ids += [client.track_question(f"after {i}") for i in range(5)]
        client.flush(timeout=40)
        stats = client.stats
        assert stats.pending == 0 and stats.failed == 0 and stats.rejected == 0
        assert stats.accepted + stats.duplicates == 61
        assert errors == []

        messages = second.all_events(type="message")
        assert len(messages) == 60
        assert sorted(m["id"] for m in messages) == sorted(ids)
        contents = sorted(m["data"]["content"] for m in messages)
        expected = sorted([*(f"before {i}" for i in range(25)), *(f"during {i}" for i in range(30)), *(f"after {i}" for i in range(5))])
        assert contents == expected
        assert {m["data"]["conversationId"] for m in messages} == {"conv-outage"}
        assert len(second.all_events(type="conversation")) == 1
    finally:
        client.close(timeout=5)
        if second is not None:
            second.stop()


def test_resending_a_stored_batch_counts_duplicates_and_stores_nothing_twice(server: Server) -> None:
    """What a retry after a lost answer does: the same events (same ids) a second time."""
    with Client(server.keys["secret_key"], server.url, flush_interval=0.05) as client:
        events = [
            _events.conversation_event("conv-dup", used=True),
            *(_events.message_event("conv-dup", "user", f"q{i}", None) for i in range(9)),
        ]
        client._enqueue(events)
        client.flush(timeout=10)
        assert client.stats == DeliveryStats(accepted=10, duplicates=0, rejected=0, failed=0, pending=0)
        client._enqueue(events)  # the very same event dicts, ids included
        client.flush(timeout=10)
        assert client.stats == DeliveryStats(accepted=10, duplicates=10, rejected=0, failed=0, pending=0)
        assert client.errors == []
    stored = server.all_events()
    assert len(stored) == 10
    assert sorted(e["id"] for e in stored) == sorted(e["id"] for e in events)


def test_async_client_resend_is_a_duplicate_too(server: Server) -> None:
    async def main() -> DeliveryStats:
        async with AsyncClient(server.keys["secret_key"], server.url, flush_interval=0.05) as client:
            events = [_events.conversation_event("conv-dup-a", used=False), _events.message_event("conv-dup-a", "agent", "hi", None)]
            client._enqueue(events)
            await client.flush(timeout=10)
            client._enqueue(events)
            await client.flush(timeout=10)
            return client.stats

    assert run_async(main()) == DeliveryStats(accepted=2, duplicates=2, rejected=0, failed=0, pending=0)
    assert len(server.all_events()) == 2


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_full_queue_raises_and_close_reports_what_was_never_sent() -> None:
    errors: list[DeliveryError] = []
    client = Client("ags_whatever", unreachable(), max_queue=3, flush_interval=0.05, on_error=errors.append)
    client.get_or_create_conversation("conv-full")
    client.track_question("one")
    client.track_question("two")
    with pytest.raises(QueueFullError, match="max_queue=3"):
        client.track_question("three")
    with pytest.raises(QueueFullError):  # all or nothing: two files do not fit
        client.track_attachments([{"filename": "a", "mime_type": "text/plain", "data": b"a"}] * 2)
    assert client.stats.pending == 3

    started = time.monotonic()
    client.close(timeout=0.5)
    assert time.monotonic() - started < 5
    assert client.stats == DeliveryStats(accepted=0, duplicates=0, rejected=0, failed=3, pending=0)
    assert errors == client.errors
    assert all(isinstance(e, ChatlensAPIError) and e.status is None for e in errors)
    lost = [event["id"] for e in errors for event in e.events]  # type: ignore[union-attr]
    assert len(lost) == 3 and len(set(lost)) == 3
    assert "closed" in str(errors[-1])


def test_max_retries_gives_up_and_reports() -> None:
    errors: list[DeliveryError] = []
    with Client("ags_whatever", unreachable(), max_retries=2, on_error=errors.append) as client:
        client.track_question("anyone?", conversation_id="conv-x")
        client.flush(timeout=20)  # two backoffs of at most 0.5 s and 1 s
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, ChatlensAPIError) and error.status is None
    assert "gave up after 2 retries" in error.message
    assert [e["type"] for e in error.events] == ["message"]


def test_flush_timeout_raises_and_keeps_the_events() -> None:
    client = Client("ags_whatever", unreachable())
    client.track_question("anyone?", conversation_id="conv-x")
    with pytest.raises(FlushTimeoutError) as info:
        client.flush(timeout=0.3)
    assert info.value.pending == 1 and isinstance(info.value, TimeoutError)
    assert client.stats.pending == 1 and client.errors == []
    client.close(timeout=0)
    assert client.stats.failed == 1 and client.stats.pending == 0


def test_async_client_survives_a_server_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chatlens_client")
    db, port = tmp_path / "chatlens.duckdb", free_port()
    first = start_server(db, "--rate-limit", "100000", port=port)
    servers = [first]

    async def main() -> tuple[list[str], DeliveryStats, list[DeliveryError]]:
        async with AsyncClient(first.keys["secret_key"], first.url, flush_interval=0.05) as client:
            client.get_or_create_conversation("conv-async-outage")
            ids = [client.track_question(f"before {i}") for i in range(10)]
            await client.flush(timeout=10)
            first.kill()
            ids += [client.track_answer(f"during {i}") for i in range(10)]
            while sum("retrying" in r.getMessage() for r in caplog.records) < 2:
                await asyncio.sleep(0.02)
            assert client.stats.pending == 10
            servers.append(await asyncio.to_thread(start_server, db, "--rate-limit", "100000", port=port, keys=first.keys))
            await client.flush(timeout=40)
            return ids, client.stats, client.errors

    try:
        ids, stats, errors = run_async(main())
        assert errors == [] and stats.pending == 0 and stats.failed == 0
        assert stats.accepted + stats.duplicates == 21
        messages = servers[-1].all_events(type="message")
        assert sorted(m["id"] for m in messages) == sorted(ids) and len(messages) == 20
    finally:
        servers[-1].stop()


def test_async_client_made_outside_a_loop_and_closed_with_a_deadline() -> None:
    def outside_any_loop() -> AsyncClient:
        # On a thread of its own: in the full suite, the main thread has Playwright's loop.
        client = AsyncClient("ags_whatever", unreachable(), flush_interval=0.05)
        client.track_question("queued before any loop runs", conversation_id="conv-x")
        asyncio.run(client.close(timeout=0.3))
        return client

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        client = pool.submit(outside_any_loop).result()
    assert time.monotonic() - started < 5
    assert client.stats == DeliveryStats(accepted=0, duplicates=0, rejected=0, failed=1, pending=0)
    assert [e.status for e in client.errors] == [None]  # type: ignore[union-attr]


def test_an_unclosed_client_is_flushed_at_interpreter_exit(server: Server) -> None:
    script = (
        "import sys\n"
        "from chatlens_client import Client\n"
        "client = Client(sys.argv[1], sys.argv[2], flush_interval=60)\n"
        "client.get_or_create_conversation('conv-exit')\n"
        "print(client.track_question('sent at exit'))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, server.keys["secret_key"], server.url], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    messages = server.all_events(type="message")
    assert [m["id"] for m in messages] == [run.stdout.strip()]
