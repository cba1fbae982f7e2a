"""The async client's background task: the same outbox and delivery policy as the sync
worker, driven with httpx.AsyncClient on the caller's event loop.

Everything runs on one loop, so the outbox needs no lock: tracking calls (plain methods)
change it between the task's awaits. The task starts with the first event queued inside
a running loop, or at the latest in `flush()` / `close()` / `async with`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

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

AsyncOnError = Callable[[DeliveryError], object | Awaitable[object]]


class AsyncWorker:
    def __init__(
        self,
        settings: Settings,
        on_error: AsyncOnError | None,
        transport: httpx.AsyncBaseTransport | None,
        policy: RetryPolicy,
    ) -> None:
        self.settings = settings
        self.ledger = Ledger()
        self._on_error = on_error
        self._policy = policy
        self._outbox = Outbox(settings.max_queue, settings.max_batch)
        self._http = httpx.AsyncClient(headers=settings.headers, timeout=settings.timeout, transport=transport)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # the outbox changed in a way the task cares about
        self._progress = asyncio.Condition()  # a batch completed (flush waits on it)
        self._closing = False
        self._close_requested = asyncio.Event()
        self._deadline: float | None = None

    @property
    def pending(self) -> int:
        return self._outbox.pending

    # ---- called by user code on the loop ----------------------------------------------

    def enqueue(self, events: list[WireEvent]) -> None:
        if self._closing:
            raise ClientClosedError("the client is closed; make a new one to send more events")
        was_empty = self._outbox.queued == 0
        self._outbox.put(events, time.monotonic())
        self._start_task(required=False)
        if was_empty or self._outbox.queued >= self._outbox.max_batch:
            self._wake.set()

    async def flush(self, timeout: float | None) -> None:
        if asyncio.current_task() is self._task:
            raise RuntimeError("flush() cannot be awaited by the delivery task (e.g. inside on_error)")
        target = self._outbox.request_flush()
        if self._outbox.acked(target):
            return
        self._start_task(required=True)
        self._wake.set()

        async def acknowledged() -> None:
            async with self._progress:
                await self._progress.wait_for(lambda: self._outbox.acked(target))

        try:
            await asyncio.wait_for(acknowledged(), timeout)
        except TimeoutError:
            assert timeout is not None
            raise FlushTimeoutError(target - self._outbox.acked_seq, timeout) from None

    async def shutdown(self, timeout: float | None) -> None:
        if not self._closing:
            self._closing = True
            self._deadline = None if timeout is None else time.monotonic() + timeout
            self._close_requested.set()
            self._wake.set()
        if self._outbox.queued:
            self._start_task(required=True)
        task = self._task
        if task is None:
            await self._http.aclose()
        elif task is not asyncio.current_task():
            await asyncio.shield(task)  # the task closes the HTTP client on its way out

    # ---- the delivery task ------------------------------------------------------------

    def _start_task(self, *, required: bool) -> None:
        if self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if required:
                raise
            return  # queued outside a loop: the task starts at the next flush/close
        self._task = loop.create_task(self._run(), name="chatlens-client")

    async def _run(self) -> None:
        try:
            while True:
                batch = await self._next_batch()
                if batch is None:
                    return
                try:
                    result = await self._deliver(batch)
                except Exception as exc:  # a bug here must not wedge flush() forever
                    log.exception("chatlens: unexpected error while delivering a batch")
                    result = undelivered(batch, f"unexpected client error: {exc!r}")
                await self._report(result)
                await self._complete(batch)
        finally:
            await self._http.aclose()

    async def _complete(self, batch: Sequence[QueuedEvent]) -> None:
        self._outbox.complete(batch)
        async with self._progress:
            self._progress.notify_all()

    async def _next_batch(self) -> list[QueuedEvent] | None:
        while True:
            self._wake.clear()
            now = time.monotonic()
            if self._closing and self._deadline is not None and now >= self._deadline:
                rest = self._outbox.drain()
                if rest:  # out of time: report, never drop silently
                    await self._report(undelivered(rest, "the client was closed before they were sent"))
                    await self._complete(rest)
                return None
            if self._closing and self._outbox.queued == 0:
                return None
            wait = self._outbox.wait_time(now, self.settings.flush_interval, self._closing)
            if wait == 0:
                return self._outbox.take_batch()
            if self._closing and self._deadline is not None:
                wait = min(wait, self._deadline - now) if wait is not None else self._deadline - now
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass

    async def _deliver(self, batch: Sequence[QueuedEvent]) -> BatchResult:
        steps = deliver(batch, self._policy)
        step = next(steps)
        while True:
            reply: Reply = await self._post(step.body) if isinstance(step, Post) else await self._sleep(step.seconds)
            try:
                step = steps.send(reply)
            except StopIteration as done:
                result: BatchResult = done.value
                return result

    async def _post(self, body: bytes) -> HTTPAnswer | NoAnswer:
        timeout = self.settings.timeout
        if self._deadline is not None:
            timeout = min(timeout, self._deadline - time.monotonic())
        if timeout <= 0:
            return NoAnswer("the client is closing")
        try:
            response = await self._http.post(self.settings.batch_url, content=body, timeout=timeout)
        except httpx.HTTPError as exc:
            return NoAnswer(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        return HTTPAnswer(response.status_code, response.content, response.headers.get("retry-after"))

    async def _sleep(self, seconds: float) -> bool:
        """Back off; False when the close deadline comes first (give up the batch)."""
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if self._deadline is not None and now >= self._deadline:
                return False
            if now >= end:
                return True
            until = end if self._deadline is None else min(end, self._deadline)
            if self._closing:
                await asyncio.sleep(until - now)
            else:  # wake early if close() sets a deadline sooner than the backoff
                try:
                    await asyncio.wait_for(self._close_requested.wait(), until - now)
                except TimeoutError:
                    pass

    async def _report(self, result: BatchResult) -> None:
        for error in self.ledger.record(result):
            if self._on_error is None:
                continue
            try:
                outcome = self._on_error(error)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("chatlens: the on_error callback raised")
