"""Group commit: many requests' rows become one durable write.

Requests hand their rows to `WriteBuffer.submit` on the event loop and await the returned
future. One writer thread takes everything queued since its last commit and stores it in
a single transaction; while that commit runs, the next group builds up. So commits get
larger, not more frequent, as load grows (a commit per request would cap throughput at
the cost of a WAL sync), and the event loop never waits on the disk. The future resolves
only after the commit returned: an acknowledgement means the rows are durable.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

from chatlens.metrics import Metrics
from chatlens.store.base import EventStore


class WriteBufferFull(Exception):
    """Too many rows are waiting for the disk; the client should retry later."""


class WriteBuffer:
    def __init__(self, store: EventStore, metrics: Metrics, *, max_pending_rows: int = 200_000):
        self._store = store
        self._metrics = metrics
        self._max_pending = max_pending_rows
        self._cond = threading.Condition()
        self._rows: list[tuple[Any, ...]] = []
        self._group: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        metrics.gauge_callback(
            "chatlens_write_queue_depth", "Rows waiting for the next commit", lambda: len(self._rows)
        )

    @property
    def depth(self) -> int:
        return len(self._rows)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="chatlens-writer", daemon=True)
        self._thread.start()

    def submit(self, rows: Sequence[tuple[Any, ...]]) -> asyncio.Future[None]:
        """Queue rows; the future completes when they are durable (or the write failed)."""
        assert self._loop is not None, "WriteBuffer.start() was not called"
        with self._cond:
            if self._stopping:
                raise WriteBufferFull("the server is shutting down")
            if len(self._rows) + len(rows) > self._max_pending:
                raise WriteBufferFull(f"{len(self._rows)} rows are waiting to be written")
            if self._group is None:
                self._group = self._loop.create_future()
                self._cond.notify()
            self._rows.extend(rows)
            return self._group

    def stop(self) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        commit_seconds = self._metrics.histogram(
            "chatlens_store_commit_seconds", "Time to write and sync one group commit"
        )
        group_rows = self._metrics.histogram(
            "chatlens_store_commit_rows",
            "Rows per group commit",
            buckets=(1, 10, 50, 100, 500, 1000, 5000, 20000, 100000),
        )
        while True:
            with self._cond:
                while self._group is None and not self._stopping:
                    self._cond.wait()
                if self._group is None:
                    return  # stopping and nothing left
                rows, group = self._rows, self._group
                self._rows, self._group = [], None
            started = time.perf_counter()
            try:
                self._store.append_events(rows)
            except Exception as exc:  # disk full, I/O error: fail this group, keep serving
                self._metrics.inc("chatlens_store_commit_failures_total")
                self._resolve(group, exc)
                continue
            commit_seconds.observe(time.perf_counter() - started)
            group_rows.observe(len(rows))
            self._resolve(group, None)

    def _resolve(self, group: asyncio.Future[None], error: BaseException | None) -> None:
        assert self._loop is not None

        def settle() -> None:
            if group.done():
                return
            if error is None:
                group.set_result(None)
            else:
                group.set_exception(error)

        try:
            self._loop.call_soon_threadsafe(settle)
        except RuntimeError:  # loop already closed during shutdown: nobody is waiting
            pass
