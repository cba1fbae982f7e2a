"""The bounded in-memory queue between the tracking calls and the background worker.

A plain data structure, deliberately without locks or waiting: the sync client guards it
with a `threading.Condition`, the async client uses it from its event loop only, and both
get the same batching rules from here.

Events are numbered in queue order (`seq`). Batches are taken from the head and
completed in that order, one at a time, so "every event up to seq N has a final answer"
is a single number (`acked_seq`) that `flush()` can wait on, and an event is never sent
before one queued earlier (a conversation before the messages that reference it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from chatlens_client import _wire
from chatlens_client._events import WireEvent
from chatlens_client.errors import InvalidEventError, QueueFullError


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    seq: int
    event: WireEvent
    encoded: bytes  # the event's JSON, fixed at queue time: retries resend these bytes
    queued_at: float  # time.monotonic()


class Outbox:
    def __init__(self, max_queue: int, max_batch: int) -> None:
        self.max_queue = max_queue
        self.max_batch = max_batch
        self._queued: deque[QueuedEvent] = deque()
        self._last_seq = 0  # the seq of the newest event queued
        self.acked_seq = 0  # every event up to this seq has a final outcome
        self._flush_target = 0  # send without waiting for flush_interval up to this seq

    @property
    def queued(self) -> int:
        """Events waiting to be sent (not counting the batch in flight)."""
        return len(self._queued)

    @property
    def pending(self) -> int:
        """Events without a final outcome: queued or in flight."""
        return self._last_seq - self.acked_seq

    def put(self, events: Sequence[WireEvent], now: float) -> int:
        """Queue all of `events` or none of them; return the seq of the last one."""
        encoded = [_wire.encode_event(e) for e in events]
        for event, data in zip(events, encoded):
            if len(data) > _wire.MAX_EVENT_BYTES:
                raise InvalidEventError(
                    f"{event.get('type')} event",
                    f"is {len(data)} bytes as JSON, more than the {_wire.MAX_EVENT_BYTES} one request may carry",
                )
        if self.pending + len(events) > self.max_queue:
            raise QueueFullError(
                f"{self.pending} events are waiting for the server (max_queue={self.max_queue}); "
                "it may be unreachable: flush, retry later, or raise max_queue"
            )
        for event, data in zip(events, encoded):
            self._last_seq += 1
            self._queued.append(QueuedEvent(self._last_seq, event, data, now))
        return self._last_seq

    def request_flush(self) -> int:
        """Mark everything queued so far as due now; return the seq to wait for."""
        self._flush_target = self._last_seq
        return self._last_seq

    def wait_time(self, now: float, flush_interval: float, closing: bool) -> float | None:
        """0 when a batch is due, else how long until one is (None: nothing queued)."""
        if not self._queued:
            return None
        head = self._queued[0]
        if closing or len(self._queued) >= self.max_batch or head.seq <= self._flush_target:
            return 0.0
        return max(0.0, head.queued_at + flush_interval - now)

    def take_batch(self) -> list[QueuedEvent]:
        """The next batch from the head: at most `max_batch` events and one request body."""
        batch: list[QueuedEvent] = []
        size = 0
        while self._queued and len(batch) < self.max_batch:
            item = self._queued[0]
            if batch and _wire.body_size(len(batch) + 1, size + len(item.encoded)) > _wire.MAX_BODY_BYTES:
                break
            batch.append(self._queued.popleft())
            size += len(item.encoded)
        return batch

    def complete(self, batch: Sequence[QueuedEvent]) -> None:
        """The batch has a final outcome (stored, refused or given up on)."""
        if batch:
            self.acked_seq = max(self.acked_seq, batch[-1].seq)

    def drain(self) -> list[QueuedEvent]:
        """Take every queued event out, to report it undelivered when closing."""
        rest = list(self._queued)
        self._queued.clear()
        return rest

    def acked(self, seq: int) -> bool:
        return self.acked_seq >= seq
