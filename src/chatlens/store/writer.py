"""Group commit to the journal, bulk load into the store.

Requests hand their rows to `WriteBuffer.submit` on the event loop and await the returned
future. Two threads do the rest:

- the journal writer takes everything queued since its last sync, appends it to the
  journal as one record and syncs it (`chatlens.store.journal`); then the futures resolve.
  Under load the groups grow instead of the syncs multiplying. An acknowledgement means
  the rows are on disk.
- the loader moves journaled rows into the store in large chunks (every `load_interval`
  seconds or `load_rows` rows): one transaction per chunk, which also records the journal
  segment it completes, so a replay after a crash neither loses nor doubles a row.

`flush()` loads everything journaled so far; readers call it first, so a client always
reads what it was told was stored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from chatlens.metrics import Metrics
from chatlens.store.base import EventStore
from chatlens.store.journal import Journal

log = logging.getLogger("chatlens.writer")

class WriteBufferFull(Exception):
    """Too many rows are waiting; the client should retry later."""


def recover(journal: Journal, store: EventStore) -> int:
    """Load journal segments that the store has not taken yet (after a crash). Returns rows."""
    loaded_through = store.journal_position()
    recovered = 0
    for seq in journal.segments():
        if seq == journal.current_segment:
            continue  # just opened by this process: empty
        if seq > loaded_through:
            journal.seal_torn_tail(seq)
            recovered += store.load_segment(journal.path(seq), seq)
        journal.delete(seq)
    return recovered


class WriteBuffer:
    def __init__(
        self,
        store: EventStore,
        journal: Journal,
        metrics: Metrics,
        *,
        max_pending_rows: int = 1_000_000,
        load_interval: float = 5.0,
        load_rows: int = 250_000,
    ) -> None:
        self._store = store
        self.journal = journal
        self._metrics = metrics
        self._max_pending = max_pending_rows
        self._load_interval = load_interval
        self._load_rows = load_rows
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        # Journal lines waiting to be written, and the future their requests await.
        self._queue_cond = threading.Condition()
        self._queued_rows = 0
        self._encoded: list[bytes] = []
        self._group: asyncio.Future[None] | None = None
        # Rows in the current journal segment, waiting for the store. The journal lock makes
        # "append and count" atomic against "seal the segment and reset the count".
        self._journal_lock = threading.Lock()
        self._load_cond = threading.Condition()
        self._unloaded = 0
        self._first_unloaded_at = 0.0
        self._loads_requested = 0
        self._loads_done = 0
        # Rows journaled and rows in the store, since start: a reader waits for the second
        # to reach the first as it was when it asked (rows the loader has taken from the
        # segment count as unloaded until its load commits).
        self._journaled = 0
        self._loaded = 0
        # Rows submitted so far. Submission order is journal and load order, so a row is in
        # the store (or never will be: its journal write failed) once `settled_rows()`
        # reaches the count it was submitted at.
        self.submitted_rows = 0
        self._threads: list[threading.Thread] = []
        metrics.gauge_callback(
            "chatlens_write_queue_depth", "Rows waiting for the journal", lambda: self._queued_rows
        )
        metrics.gauge_callback(
            "chatlens_load_queue_depth", "Journaled rows waiting for the store", lambda: self._unloaded
        )
        self._sync_seconds = metrics.histogram("chatlens_journal_sync_seconds", "Append and sync one group")
        self._group_rows = metrics.histogram(
            "chatlens_journal_group_rows", "Rows per journal group commit",
            buckets=(1, 10, 50, 100, 500, 1000, 5000, 20000, 100000),
        )
        self._load_seconds = metrics.histogram(
            "chatlens_store_load_seconds", "Time to load one chunk into the store",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )

    @property
    def depth(self) -> int:
        return self._queued_rows + self._unloaded

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for target, name in ((self._write_loop, "chatlens-journal"), (self._load_loop, "chatlens-loader")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def journal_thread_id(self) -> int | None:
        """The journal thread's native id once started (`chatlens._priority`)."""
        return self._threads[0].native_id if self._threads else None

    @property
    def loader_thread_id(self) -> int | None:
        """The loader thread's native id once started (`chatlens._priority`)."""
        return self._threads[1].native_id if self._threads else None

    def submit(self, rows: int, encoded: bytes) -> asyncio.Future[None]:
        """Queue `rows` rows, encoded as journal lines (`chatlens.store.rows`); the future
        completes when they are durable (or the write failed)."""
        assert self._loop is not None, "WriteBuffer.start() was not called"
        with self._queue_cond:
            if self._stopping:
                raise WriteBufferFull("the server is shutting down")
            if self.depth + rows > self._max_pending:
                raise WriteBufferFull(f"{self.depth} rows are waiting to be written")
            if self._group is None:
                self._group = self._loop.create_future()
                self._queue_cond.notify()
            self._queued_rows += rows
            self._encoded.append(encoded)
            self.submitted_rows += rows
            return self._group

    def settled_rows(self) -> int:
        """How many submitted rows are in the store, or failed (see `submitted_rows`)."""
        return self._loaded

    def flush(self) -> None:
        """Block until every row journaled so far is in the store (call from a thread)."""
        with self._load_cond:
            target = self._journaled
            if self._loaded >= target:
                return
            if self._unloaded:  # else the loader already holds them all: wait for its load
                self._loads_requested += 1
                self._load_cond.notify_all()
            while self._loaded < target and not self._stopping:
                if not self._threads[1].is_alive():
                    raise RuntimeError("the loader thread is not running")
                self._load_cond.wait(timeout=1.0)

    def stop(self) -> None:
        """Journal and load whatever is queued, then stop both threads."""
        with self._queue_cond:
            self._stopping = True
            self._queue_cond.notify_all()
        self._threads[0].join()
        with self._load_cond:
            self._load_cond.notify_all()
        self._threads[1].join()

    # -- journal writer thread ---------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._queue_cond:
                while self._group is None and not self._stopping:
                    self._queue_cond.wait()
                if self._group is None:
                    return  # stopping, nothing queued
                rows, encoded, group = self._queued_rows, self._encoded, self._group
                self._queued_rows, self._encoded, self._group = 0, [], None
            started = time.perf_counter()
            try:
                with self._journal_lock:
                    self.journal.append(b"".join(encoded))
                    with self._load_cond:
                        if not self._unloaded:
                            self._first_unloaded_at = time.monotonic()
                        self._unloaded += rows
                        self._journaled += rows
                        if self._unloaded >= self._load_rows:
                            self._load_cond.notify_all()
            except Exception as exc:  # disk full, I/O error: fail this group, keep serving
                with self._journal_lock, self._load_cond:
                    # Never stored; counted as loaded with the rows journaled before them,
                    # so that `settled_rows` keeps submission order.
                    if not self._unloaded:
                        self._first_unloaded_at = time.monotonic()
                    self._unloaded += rows
                    self._journaled += rows
                log.exception("journal write failed")
                self._metrics.inc("chatlens_journal_failures_total")
                self._resolve(group, exc)
                continue
            self._sync_seconds.observe(time.perf_counter() - started)
            self._group_rows.observe(rows)
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
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    # -- loader thread -----------------------------------------------------------------

    def _load_loop(self) -> None:
        while True:
            try:
                if not self._load_when_due():
                    return
            except Exception:  # a bug must not silently stop loading: log, wait, go on
                log.exception("the loader failed; retrying")
                self._metrics.inc("chatlens_store_load_failures_total")
                time.sleep(1.0)

    def _load_when_due(self) -> bool:
        """Wait until a load is due and do it; False once stopped with nothing left."""
        with self._load_cond:
            while not self._should_load():
                if self._stopping and not self._threads[0].is_alive() and not self._unloaded:
                    return False
                self._load_cond.wait(timeout=self._wait_time())
            requested = self._loads_requested
        self._load_once()
        with self._load_cond:
            self._loads_done = max(self._loads_done, requested)
            self._load_cond.notify_all()
        return True

    def _should_load(self) -> bool:
        if not self._unloaded:
            return False
        if self._loads_requested > self._loads_done or self._unloaded >= self._load_rows:
            return True
        if self._stopping and not self._threads[0].is_alive():
            return True
        return time.monotonic() - self._first_unloaded_at >= self._load_interval

    def _wait_time(self) -> float:
        if not self._unloaded:
            return self._load_interval
        return max(0.001, self._load_interval - (time.monotonic() - self._first_unloaded_at))

    def _load_once(self) -> None:
        with self._journal_lock:
            with self._load_cond:
                rows, self._unloaded = self._unloaded, 0
            sealed = self.journal.rotate()
        started = time.perf_counter()
        while True:
            try:
                self._store.load_segment(self.journal.path(sealed), sealed)
                break
            except Exception:  # the rows are safe in the journal: try again
                log.exception("loading journal segment %d into the store failed; retrying", sealed)
                self._metrics.inc("chatlens_store_load_failures_total")
                time.sleep(1.0)
        with self._load_cond:
            self._loaded += rows
            self._load_cond.notify_all()
        self.journal.delete(sealed)
        self._load_seconds.observe(time.perf_counter() - started)
        self._metrics.inc("chatlens_store_loaded_rows_total", rows)
