"""The write buffer's promise to readers: once `flush()` returns, every row acknowledged
before it was called is in the store, even when the loader had already taken those rows
and was still loading them."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from chatlens.metrics import Metrics
from chatlens.store.duckdb_store import DuckDBStore
from chatlens.store.journal import Journal
from chatlens.store.writer import WriteBuffer
from tests.store.test_journal import lines


def test_flush_waits_for_a_load_already_under_way(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "db.duckdb")
    # Loads start 50 ms after the first unloaded row; this many rows take the loader
    # several times that to load, so the reader below calls flush() mid-load.
    rows = 60_000
    writer = WriteBuffer(store, Journal(tmp_path / "db.duckdb.journal"), Metrics(), load_interval=0.05, load_rows=10**9)

    async def acknowledge() -> None:
        writer.start()
        await writer.submit(rows, lines(rows))

    # in a thread of its own: the test session may already run an event loop in this one;
    # the loop may end once the rows are acknowledged, the writer's threads go on
    acknowledging = threading.Thread(target=lambda: asyncio.run(acknowledge()))
    acknowledging.start()
    acknowledging.join(30)
    deadline = time.monotonic() + 10
    while writer.depth and time.monotonic() < deadline:
        time.sleep(0.001)  # until the loader has taken the rows (depth 0), its load under way
    assert writer.depth == 0, "the loader never took the rows"
    writer.flush()
    seen = store.count_events()
    stopped = threading.Thread(target=writer.stop)
    stopped.start()
    stopped.join(30)
    store.close()
    assert seen == rows, f"flush() returned with {seen} of {rows} acknowledged rows in the store"
