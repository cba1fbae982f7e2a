"""`Client`: the synchronous SDK, for WSGI apps, scripts and worker processes.

Tracking calls validate and queue, then return at once; a background thread sends
batches. Nothing is lost quietly: what the server refuses is reported through `on_error`
and `errors`, a full queue raises, and an unclosed client is flushed (with a timeout) when
the interpreter exits.
"""

from __future__ import annotations

import weakref
from types import TracebackType

import httpx

from chatlens_client import _config
from chatlens_client._delivery import RetryPolicy
from chatlens_client._events import WireEvent
from chatlens_client._ledger import DeliveryStats, summary
from chatlens_client._sync_worker import OnError, SyncWorker
from chatlens_client._tracking import ConversationTracking
from chatlens_client.errors import DeliveryError


class Client(ConversationTracking):
    """Send conversation events of an AI agent to a Chatlens server.

    `secret_key` defaults to $CHATLENS_SECRET_KEY, `endpoint` to $CHATLENS_ENDPOINT or
    http://127.0.0.1:8000. Events are sent every `flush_interval` seconds or as soon as
    `max_batch` are queued; at most `max_queue` wait at once (then `QueueFullError`).
    Failed requests (network, 429, 5xx) are retried with backoff `max_retries` times
    (None: until closed). `on_error` receives every `ChatlensAPIError` and
    `RejectedEvent`, on the delivery thread. `transport` is an `httpx.BaseTransport`
    (proxies, custom TLS, tests).

    Use it as a context manager, or call `close()`, to send what is queued before exit.
    One client can serve many threads and conversations; pass `conversation_id=`
    explicitly when threads handle different conversations at once.
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
        on_error: OnError | None = None,
        transport: httpx.BaseTransport | None = None,
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
        self._worker = SyncWorker(settings, on_error, transport, RetryPolicy(max_retries))
        # Flush at interpreter exit (or when the client is garbage-collected unclosed).
        # The callback holds the worker, not the client, so the client can be collected.
        self._finalizer = weakref.finalize(self, self._worker.shutdown, _config.DEFAULT_CLOSE_TIMEOUT)

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

    def flush(self, timeout: float | None = None) -> None:
        """Send everything queued so far and wait until the server has answered for all of it.

        Returns once every such event is stored, or refused and reported; delivery errors
        are not raised here (see `errors`, `on_error`). Raises `FlushTimeoutError` after
        `timeout` seconds; the events stay queued and keep being retried.
        """
        self._worker.flush(timeout)

    def send_tracked_data(self, timeout: float | None = None) -> dict[str, object]:
        """agentsight's name for `flush()`; returns what happened to the events meanwhile:
        {"accepted", "duplicates", "rejected", "failed", "pending", "errors"}."""
        ledger = self._worker.ledger
        before, errors_before = self.stats, ledger.errors_total
        self.flush(timeout)
        return summary(before, self.stats, ledger.errors_since(errors_before))

    def close(self, timeout: float | None = _config.DEFAULT_CLOSE_TIMEOUT) -> None:
        """Send what is queued, then stop. After `timeout` seconds (None: no limit) what is
        still unsent is reported as a `ChatlensAPIError` with status None. Idempotent."""
        self._finalizer.detach()
        self._worker.shutdown(timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
