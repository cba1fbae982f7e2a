"""How one batch gets delivered: what to send, when to retry, when to give up.

Written "sans I/O", as a generator that yields steps (`Post` this body, `Wait` this long)
and receives what happened, so the sync worker (a thread, httpx.Client) and the async
worker (a task, httpx.AsyncClient) drive exactly the same policy:

* network errors, 429 and 5xx: retry the SAME events (same ids, so the server counts
  what it already stored as duplicates) after exponential backoff with full jitter
  (base 0.5 s, cap 30 s), never sooner than `Retry-After`; up to `max_retries` retries
  (None: until the worker is told to give up, which only closing does);
* 413: split the batch in two and deliver each half (a server configured with a smaller
  body limit than the contract's must not wedge the queue);
* any other status: a final answer, reported, never retried (a wrong key stays wrong).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

from chatlens_client import _wire
from chatlens_client._clock import utc_now_iso
from chatlens_client._outbox import QueuedEvent
from chatlens_client.errors import ChatlensAPIError, RejectedEvent

log = logging.getLogger("chatlens_client")

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int | None = None
    base: float = BACKOFF_BASE
    cap: float = BACKOFF_CAP
    random: Callable[[], float] = random.random

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**n)], but at least Retry-After.

        Jitter spreads the retries of many clients after an outage instead of having
        them all hit the recovering server at the same instants.
        """
        ceiling = min(self.cap, self.base * 2.0 ** min(retry_number, 64))
        jittered = self.random() * ceiling
        return jittered if retry_after is None else max(jittered, retry_after)


# ---- the steps the generator yields, and the replies it receives --------------------


@dataclass(frozen=True, slots=True)
class Post:
    """POST this body to the batch endpoint; reply with `HTTPAnswer` or `NoAnswer`."""

    body: bytes


@dataclass(frozen=True, slots=True)
class Wait:
    """Sleep before retrying; reply True to go on, False to give up (the client is closing)."""

    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class HTTPAnswer:
    status: int
    content: bytes
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """The request failed without an HTTP answer (connection refused, timeout, ...)."""

    reason: str


Step = Post | Wait
Reply = HTTPAnswer | NoAnswer | bool


@dataclass(slots=True)
class BatchResult:
    """The final outcome of one batch; `failures` hold the events that were not stored."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[RejectedEvent] = field(default_factory=list)
    failures: list[ChatlensAPIError] = field(default_factory=list)
    gave_up: bool = False  # stopped because the client is closing

    @property
    def failed(self) -> int:
        return sum(len(f.events) for f in self.failures)

    def add(self, other: BatchResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.failures.extend(other.failures)
        self.gave_up = self.gave_up or other.gave_up


def undelivered(items: Sequence[QueuedEvent], why: str, status: int | None = None) -> BatchResult:
    error = ChatlensAPIError(status, why, events=[i.event for i in items])
    return BatchResult(failures=[error] if items else [])


def deliver(
    items: Sequence[QueuedEvent], policy: RetryPolicy, *, offset: int = 0
) -> Generator[Step, Reply, BatchResult]:
    """Deliver `items` as one request, retrying per `policy`; return the outcome.

    `offset` is the position of `items[0]` in the batch as first taken from the queue,
    so that `RejectedEvent.index` always means the same thing even after a split.
    """
    retries = 0
    while True:
        reply = yield Post(_wire.encode_body([i.encoded for i in items], utc_now_iso()))
        if isinstance(reply, HTTPAnswer) and reply.status == 200:
            return _acknowledged(items, reply, offset)
        if isinstance(reply, HTTPAnswer) and reply.status == 413 and len(items) > 1:
            return (yield from _split(items, policy, offset))
        if isinstance(reply, HTTPAnswer) and not _retryable(reply.status):
            code, message = _wire.parse_error(reply.content, f"HTTP {reply.status}")
            log.error("chatlens: batch of %d event(s) refused: HTTP %d %s", len(items), reply.status, message)
            error = ChatlensAPIError(reply.status, message, code=code, events=[i.event for i in items])
            return BatchResult(failures=[error])

        status = reply.status if isinstance(reply, HTTPAnswer) else None
        reason = f"HTTP {status}" if isinstance(reply, HTTPAnswer) else getattr(reply, "reason", "no answer")
        if policy.max_retries is not None and retries >= policy.max_retries:
            log.error("chatlens: giving up on %d event(s) after %d retries: %s", len(items), retries, reason)
            return undelivered(items, f"gave up after {retries} retries; last: {reason}", status)
        retry_after = _wire.parse_retry_after(reply.retry_after) if isinstance(reply, HTTPAnswer) else None
        seconds = policy.delay(retries, retry_after)
        retries += 1
        log.warning("chatlens: %s; retrying %d event(s) in %.2f s (retry %d)", reason, len(items), seconds, retries)
        go_on = yield Wait(seconds, reason)
        if not go_on:
            result = undelivered(items, f"the client was closed before the server acknowledged them; last: {reason}", status)
            result.gave_up = True
            return result


def _retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def _acknowledged(items: Sequence[QueuedEvent], answer: HTTPAnswer, offset: int) -> BatchResult:
    ack = _wire.parse_ack(answer.content)
    if ack is None:
        # Not the batch endpoint's answer (a proxy or another service at this URL):
        # retrying would not help, and nothing says the events were stored.
        _, text = _wire.parse_error(answer.content, "empty body")
        return undelivered(items, f"the answer is not a Chatlens batch answer: {text}", 200)
    rejected = []
    for index, errors in ack.rejected:
        event = items[index].event if index < len(items) else {}
        rejected.append(RejectedEvent(offset + index, event, errors))
        log.warning("chatlens: event rejected: %s", "; ".join(errors))
    return BatchResult(accepted=ack.accepted, duplicates=ack.duplicates, rejected=rejected)


def _split(items: Sequence[QueuedEvent], policy: RetryPolicy, offset: int) -> Generator[Step, Reply, BatchResult]:
    middle = len(items) // 2
    log.warning("chatlens: batch of %d events too large for the server; splitting it", len(items))
    result = yield from deliver(items[:middle], policy, offset=offset)
    if result.gave_up:  # closing: do not start the second half
        result.add(undelivered(items[middle:], "the client was closed before they were sent"))
        return result
    result.add((yield from deliver(items[middle:], policy, offset=offset + middle)))
    return result
