"""The sync client's background thread: takes batches from the outbox and drives the
delivery policy with httpx.Client.

One thread, one batch in flight: that is what keeps events in order. Every wait is a
`Condition.wait` with a timeout, so `close()` can interrupt a backoff and the thread
never sleeps past the close deadline (a request in flight is bounded by its timeout,
itself cut to what is left of the deadline).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import httpx

from chatlens_client._config import Settings
from chatlens_client._delivery import (
    BatchResult,
    HTTPAnswer,
    NoAnswer,
    Post,
    Reply,
    RetryPolicy,
    deliver,
    undelivered,
)
from chatlens_client._events import WireEvent
from chatlens_client._ledger import Ledger
from chatlens_client._outbox import Outbox, QueuedEvent
from chatlens_client.errors import ClientClosedError, DeliveryError, FlushTimeoutError

log = logging.getLogger("chatlens_client")

OnError = Callable[[DeliveryError], object]


class SyncWorker:
    def __init__(
        self,
        settings: Settings,
        on_error: OnError | None,
        transport: httpx.BaseTransport | None,
        policy: RetryPolicy,
    ) -> None:
        self.settings = settings
        self.ledger = Ledger()
        self._on_error = on_error
        self._policy = policy
        self._outbox = Outbox(settings.max_queue, settings.max_batch)
        self._cond = threading.Condition()
        self._http = httpx.Client(headers=settings.headers, timeout=settings.timeout, transport=transport)
        self._thread: threading.Thread | None = None
        self._closing = False
        self._deadline: float | None = None  # time.monotonic() after which closing gives up

    # ---- called by user threads -------------------------------------------------------

    @property
    def pending(self) -> int:
        with self._cond:
            return self._outbox.pending

    def enqueue(self, events: list[WireEvent]) -> None:
        with self._cond:
            if self._closing:
                raise ClientClosedError("the client is closed; make a new one to send more events")
            was_empty = self._outbox.queued == 0
            self._outbox.put(events, time.monotonic())
            self._start_thread()
            # Wake the worker only when that changes its plan: the first event starts the
            # flush_interval clock, a full batch goes at once.
            if was_empty or self._outbox.queued >= self._outbox.max_batch:
                self._cond.notify_all()

    def flush(self, timeout: float | None) -> None:
        if threading.current_thread() is self._thread:
            raise RuntimeError("flush() cannot be called from the delivery thread (e.g. inside on_error)")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._outbox.request_flush()
            self._cond.notify_all()
            while not self._outbox.acked(target):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    assert timeout is not None
                    raise FlushTimeoutError(target - self._outbox.acked_seq, timeout)
                self._cond.wait(remaining)

    def shutdown(self, timeout: float | None) -> None:
        """Deliver what is queued, giving up `timeout` seconds from now; stop the thread."""
        with self._cond:
            if not self._closing:
                self._closing = True
                self._deadline = None if timeout is None else time.monotonic() + timeout
                self._cond.notify_all()
            thread = self._thread
        if thread is None:
            self._http.close()
        elif thread is not threading.current_thread():
            thread.join()  # the thread closes the HTTP client on its way out

    # ---- the delivery thread ----------------------------------------------------------

    def _start_thread(self) -> None:
        if self._thread is None:
            # A daemon, so a forgotten client cannot keep the process alive; the client's
            # finalizer still flushes it at interpreter exit, bounded by a timeout.
            self._thread = threading.Thread(target=self._run, name="chatlens-client", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._http.close()

    def _loop(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
            if batch is None:
                return
            try:
                result = self._deliver(batch)
            except Exception as exc:  # a bug here must not wedge flush() forever
                log.exception("chatlens: unexpected error while delivering a batch")
                result = undelivered(batch, f"unexpected client error: {exc!r}")
            self._report(result)
            with self._cond:
                self._outbox.complete(batch)
                self._cond.notify_all()

    def _next_batch(self) -> list[QueuedEvent] | None:
        """Wait (holding the condition) until a batch is due; None when closed and done."""
        while True:
            now = time.monotonic()
            if self._closing and self._deadline is not None and now >= self._deadline:
                rest = self._outbox.drain()
                if rest:  # out of time: report, never drop silently
                    self._cond.release()
                    try:
                        self._report(undelivered(rest, "the client was closed before they were sent"))
                    finally:
                        self._cond.acquire()
                    self._outbox.complete(rest)
                    self._cond.notify_all()
                return None
            if self._closing and self._outbox.queued == 0:
                return None
            wait = self._outbox.wait_time(now, self.settings.flush_interval, self._closing)
            if wait == 0:
                return self._outbox.take_batch()
            if self._closing and self._deadline is not None:
                wait = min(wait, self._deadline - now) if wait is not None else self._deadline - now
            self._cond.wait(wait)

    def _deliver(self, batch: Sequence[QueuedEvent]) -> BatchResult:
        steps = deliver(batch, self._policy)
        step = next(steps)
        while True:
            reply: Reply = self._post(step.body) if isinstance(step, Post) else self._sleep(step.seconds)
            try:
                step = steps.send(reply)
            except StopIteration as done:
                result: BatchResult = done.value
                return result

    def _post(self, body: bytes) -> HTTPAnswer | NoAnswer:
        timeout = self.settings.timeout
        with self._cond:
            if self._deadline is not None:
                timeout = min(timeout, self._deadline - time.monotonic())
        if timeout <= 0:
            return NoAnswer("the client is closing")
        try:
            response = self._http.post(self.settings.batch_url, content=body, timeout=timeout)
        except httpx.HTTPError as exc:
            return NoAnswer(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        return HTTPAnswer(response.status_code, response.content, response.headers.get("retry-after"))

    def _sleep(self, seconds: float) -> bool:
        """Back off; False when the close deadline comes first (give up the batch)."""
        end = time.monotonic() + seconds
        with self._cond:
            while True:
                now = time.monotonic()
                if self._deadline is not None and now >= self._deadline:
                    return False
                if now >= end:
                    return True
                until = end if self._deadline is None else min(end, self._deadline)
                self._cond.wait(until - now)

    def _report(self, result: BatchResult) -> None:
        for error in self.ledger.record(result):
            if self._on_error is None:
                continue
            try:
                self._on_error(error)
            except Exception:
                log.exception("chatlens: the on_error callback raised")
