"""`AsyncClient`: the asyncio SDK, for ASGI apps and async agent frameworks.

The tracking methods are the same plain (non-async) methods as `Client`'s: they only
validate and queue, and an agent should not have to `await` its analytics. What does
I/O is async: `flush`, `close`, `send_tracked_data`, `async with`. Use one AsyncClient
per event loop, from that loop's thread.
"""

from __future__ import annotations

import logging
import weakref
from types import TracebackType

import httpx

from chatlens_client import _config
from chatlens_client._async_worker import AsyncOnError, AsyncWorker
from chatlens_client._delivery import RetryPolicy
from chatlens_client._events import WireEvent
from chatlens_client._ledger import DeliveryStats, summary
from chatlens_client._tracking import ConversationTracking
from chatlens_client.errors import DeliveryError

log = logging.getLogger("chatlens_client")


class AsyncClient(ConversationTracking):
    """Send conversation events of an AI agent to a Chatlens server, from asyncio code.

    The options are `Client`'s; `on_error` may also be an async function, and
    `transport` is an `httpx.AsyncBaseTransport`. Use `async with AsyncClient() as c:` or
    `await c.close()`: an asyncio task cannot be flushed after its loop has stopped, so
    an unclosed AsyncClient loses its queue (a warning is logged if that happens).
    """

    def __init__(
        self,
        secret_key: str | None = None,
        endpoint: str | None = None,
        *,
        flush_interval: float = 1.0,
        max_batch: int = 500,
        max_queue: int = 10_000,
        max_retries: int | None = None,
        timeout: float = 10.0,
        on_error: AsyncOnError | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        settings = _config.resolve(
            secret_key,
            endpoint,
            flush_interval=flush_interval,
            max_batch=max_batch,
            max_queue=max_queue,
            max_retries=max_retries,
            timeout=timeout,
        )
        self._worker = AsyncWorker(settings, on_error, transport, RetryPolicy(max_retries))
        self._finalizer = weakref.finalize(self, _warn_if_unsent, self._worker)

    def _enqueue(self, events: list[WireEvent]) -> None:
        self._worker.enqueue(events)

    @property
    def endpoint(self) -> str:
        return self._worker.settings.endpoint

    @property
    def errors(self) -> list[DeliveryError]:
        """The most recent delivery errors (up to 1000), oldest first."""
        return self._worker.ledger.errors

    @property
    def stats(self) -> DeliveryStats:
        """Counts of accepted, duplicate, rejected, failed and pending events."""
        return self._worker.ledger.stats(self._worker.pending)

    async def flush(self, timeout: float | None = None) -> None:
        """Send everything queued so far and wait until the server has answered for all of it
        (stored, or refused and reported). Raises `FlushTimeoutError` after `timeout`."""
        await self._worker.flush(timeout)

    async def send_tracked_data(self, timeout: float | None = None) -> dict[str, object]:
        """agentsight's name for `flush()`; returns what happened to the events meanwhile:
        {"accepted", "duplicates", "rejected", "failed", "pending", "errors"}."""
        ledger = self._worker.ledger
        before, errors_before = self.stats, ledger.errors_total
        await self.flush(timeout)
        return summary(before, self.stats, ledger.errors_since(errors_before))

    async def close(self, timeout: float | None = _config.DEFAULT_CLOSE_TIMEOUT) -> None:
        """Send what is queued, then stop. After `timeout` seconds (None: no limit) what is
        still unsent is reported as a `ChatlensAPIError` with status None. Idempotent."""
        self._finalizer.detach()
        await self._worker.shutdown(timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _warn_if_unsent(worker: AsyncWorker) -> None:
    if worker.pending:
        log.warning("chatlens: an AsyncClient was never closed; %d event(s) were not sent", worker.pending)
