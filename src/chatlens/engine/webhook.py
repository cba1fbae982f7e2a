"""Outgoing webhooks: the intent engine tells an agent backend about offers and conversation
starts, with the visitor's context (docs/engagement.md).

One `WebhookSender` per configured URL. `send()` only enqueues (it is called on the event
loop, in the middle of handling a batch); `workers` tasks deliver. Each delivery is:

* a JSON body built once (orjson, compact) with a UUIDv7 id, so every retry carries the same
  bytes and the same `Chatlens-Webhook-Id`, and the receiver can deduplicate on it;
* signed per attempt: `Chatlens-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
  "<t>." + body>`, so a captured request cannot be replayed beyond `verify_signature`'s
  tolerance;
* retried on network errors, timeouts, 5xx, 408 and 429 (up to `max_attempts` in all), after
  exponential backoff with jitter and never sooner than `Retry-After`; any other non-2xx is
  final, because a receiver that rejected the body once will reject the same body again.

A delivery waiting for its retry is a timer, not a sleeping worker, so one receiver hiccup
does not hold up the deliveries behind it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from chatlens._ids import uuid7
from chatlens.metrics import Metrics

log = logging.getLogger("chatlens.webhook")

USER_AGENT = "chatlens-webhook/1"
SIGNATURE_HEADER = "Chatlens-Signature"
ID_HEADER = "Chatlens-Webhook-Id"

ContextReader = Callable[[], dict[str, Any] | None]


# ---- signatures -----------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>." + body`: the timestamp is inside the MAC, so it
    cannot be refreshed by whoever replays a captured request."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, now: float | None = None) -> str:
    """The `Chatlens-Signature` value for `body`, signed at `now` (default: the clock)."""
    timestamp = int(time.time() if now is None else now)
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: float = 300, now: float | None = None
) -> bool:
    """True when `header` (a `Chatlens-Signature` value) signs exactly `body` with `secret`
    and its timestamp is within `tolerance` seconds of `now`.

    For receivers. Never raises: a malformed header is simply not a valid signature. Several
    `v1=` entries are accepted (any match wins), which leaves room for signing with an old
    and a new secret while one is rotated."""
    if not isinstance(header, str):
        return False
    timestamp: int | None = None
    candidates: list[bytes] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            # isascii: str.isdigit accepts "²" and friends, which int() then refuses;
            # the length bound keeps int() away from its huge-number limit.
            if timestamp is not None or not (value.isascii() and value.isdigit() and len(value) <= 15):
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value.encode("utf-8", "replace"))
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).encode()
    # No early exit: every candidate is compared, in constant time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched


# ---- delivery -------------------------------------------------------------------------


@dataclass(slots=True, eq=False)  # eq=False: identity hash, for the `_waiting` set
class _Delivery:
    id: str
    kind: str
    created_at: str
    data_json: bytes  # encoded at send() time, so bad data fails in the caller
    context: ContextReader | None
    body: bytes | None = None  # built before the first attempt, then reused by every retry
    attempts: int = 0
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class WebhookSender:
    """Delivers signed webhooks to one URL from a bounded queue, with retries.

    Call `start()` inside the running event loop, `send()` from that loop only, and
    `await stop()` on shutdown. `max_queue` bounds every delivery not yet finished (queued,
    in flight or waiting for a retry), so memory stays bounded while a receiver is down."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        metrics: Metrics | None = None,
        max_attempts: int = 8,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        timeout: float = 10.0,
        max_queue: int = 10_000,
        workers: int = 4,
    ) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"webhook URL must be http(s)://host/...: {url!r}")
        if not secret:
            raise ValueError("webhook secret must not be empty")
        if max_attempts < 1 or workers < 1 or max_queue < 1:
            raise ValueError("max_attempts, workers and max_queue must be at least 1")
        self.url = url
        self._secret = secret
        # For logs: no query string or user info, where a token might hide.
        self._where = f"{parsed.scheme}://{parsed.netloc.decode()}{parsed.path}"
        self._metrics = metrics
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.max_queue = max_queue
        self.workers = workers
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue()  # bounded by `_pending`
        self._pending = 0  # deliveries accepted and not yet finished
        self._idle = asyncio.Event()
        self._idle.set()
        self._waiting: set[_Delivery] = set()  # deliveries whose retry timer is running
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._closing = False
        if metrics is not None:
            metrics.describe(
                "chatlens_webhooks_total", "counter", "Webhooks by outcome: delivered, failed, dropped"
            )
            metrics.describe("chatlens_webhook_attempts_total", "counter", "Webhook HTTP requests made")

    def __repr__(self) -> str:  # never the secret
        return f"WebhookSender({self._where!r})"

    @property
    def pending(self) -> int:
        """Deliveries accepted and not finished yet (queued, in flight or waiting to retry)."""
        return self._pending

    def start(self) -> None:
        if self._tasks:
            raise RuntimeError("WebhookSender already started")
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,  # a redirect would re-send the signed body somewhere else
        )
        self._tasks = [
            asyncio.create_task(self._work(), name=f"webhook-worker-{n}") for n in range(self.workers)
        ]

    def send(self, kind: str, data: dict[str, Any], context: ContextReader | None = None) -> bool:
        """Enqueue one webhook; False (counted as dropped) when the queue is full or the
        sender is stopping. Raises TypeError when `data` cannot be encoded as JSON.

        `context`, when given, is a blocking callable (it may read the database); it runs
        once on a thread before the first attempt and its result becomes the body's
        "context" (null when it returns None or raises)."""
        data_json = orjson.dumps(data)
        if self._closing or self._pending >= self.max_queue:
            self._count("dropped")
            log.warning("webhook %s to %s dropped: %s", kind, self._where,
                        "the sender is stopping" if self._closing else f"{self._pending} already queued")
            return False
        created_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._pending += 1
        self._idle.clear()
        self._queue.put_nowait(_Delivery(uuid7(), kind, created_at, data_json, context))
        return True

    async def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is pending for up to `timeout` seconds, then cancel the rest (counted
        as failed) and close the HTTP client. Deliveries waiting for a retry that would come
        after the deadline are not sped up: they end up in the cancelled rest."""
        self._closing = True
        if self._tasks:
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                pass
        for delivery in self._waiting:
            if delivery.timer is not None:
                delivery.timer.cancel()
        self._waiting.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._pending:
            log.warning("%d webhook(s) to %s not delivered before shutdown", self._pending, self._where)
            self._count("failed", self._pending)
            self._pending = 0
            self._idle.set()
        self._queue = asyncio.Queue()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ---- the workers ----

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._attempt(delivery)
            except Exception:  # a worker must survive anything one delivery does
                log.exception("webhook %s to %s: unexpected error", delivery.id, self._where)
                self._finish(delivery, "failed")

    async def _attempt(self, delivery: _Delivery) -> None:
        if delivery.body is None:
            delivery.body = await self._build_body(delivery)
        assert self._client is not None
        delivery.attempts += 1
        self._count_attempt()
        headers = {
            "Content-Type": "application/json",
            ID_HEADER: delivery.id,
            SIGNATURE_HEADER: signature_header(self._secret, delivery.body),
        }
        retry_after: float | None = None
        try:
            # httpx's timeout is per phase (connect, each read, ...); this bounds the whole
            # request, so a receiver that trickles its answer cannot hold a worker forever.
            async with asyncio.timeout(self.timeout):
                response = await self._client.post(self.url, content=delivery.body, headers=headers)
        except (httpx.TransportError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            status = response.status_code
            if 200 <= status <= 299:
                self._finish(delivery, "delivered")
                return
            reason = f"HTTP {status}: {response.text[:200]!r}"
            if not (status in (408, 429) or 500 <= status <= 599):
                log.error("webhook %s (%s) to %s rejected, not retrying: %s",
                          delivery.id, delivery.kind, self._where, reason)
                self._finish(delivery, "failed")
                return
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        if delivery.attempts >= self.max_attempts:
            log.error("webhook %s (%s) to %s failed after %d attempts: %s",
                      delivery.id, delivery.kind, self._where, delivery.attempts, reason)
            self._finish(delivery, "failed")
            return
        delay = self._delay(delivery.attempts, retry_after)
        log.warning("webhook %s (%s) to %s: %s; retrying in %.2f s (attempt %d of %d)",
                    delivery.id, delivery.kind, self._where, reason, delay,
                    delivery.attempts + 1, self.max_attempts)
        self._waiting.add(delivery)
        delivery.timer = asyncio.get_running_loop().call_later(delay, self._requeue, delivery)

    def _requeue(self, delivery: _Delivery) -> None:
        self._waiting.discard(delivery)
        delivery.timer = None
        self._queue.put_nowait(delivery)

    async def _build_body(self, delivery: _Delivery) -> bytes:
        context_json = b"null"
        if delivery.context is not None:
            try:
                # A thread: the callable reads the database, which must not stall the loop.
                context = await asyncio.to_thread(delivery.context)
                context_json = orjson.dumps(context)
            except Exception:
                log.warning("webhook %s (%s): reading the visitor context failed; sending null",
                            delivery.id, delivery.kind, exc_info=True)
        return orjson.dumps({
            "id": delivery.id,
            "type": delivery.kind,
            "created_at": delivery.created_at,
            "data": orjson.Fragment(delivery.data_json),
            "context": orjson.Fragment(context_json),
        })

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        """Seconds before attempt `attempts + 1`: base * 2**(attempts-1), capped, with equal
        jitter (half fixed, half random: retries from many deliveries spread out, yet each
        still backs off), and never sooner than Retry-After (itself capped)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempts - 1, 64))
        delay = ceiling / 2 + random.random() * ceiling / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay

    def _finish(self, delivery: _Delivery, result: str) -> None:
        self._count(result)
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    def _count(self, result: str, value: int = 1) -> None:
        if self._metrics is not None:
            self._metrics.inc("chatlens_webhooks_total", value, result=result)

    def _count_attempt(self) -> None:
        if self._metrics is not None:
            self._metrics.inc("chatlens_webhook_attempts_total")


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds; None for absent, negative or HTTP-date values (the backoff
    applies then)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 and seconds == seconds else None  # rejects NaN
