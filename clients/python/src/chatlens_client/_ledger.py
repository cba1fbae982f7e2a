"""What became of the events: counters and the recent errors, for `stats` and `errors`.

Shared by both clients so that their reports cannot drift apart. Thread-safe because
the sync client's worker writes while user threads read.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from chatlens_client._delivery import BatchResult
from chatlens_client.errors import DeliveryError

# Enough to see what went wrong; bounded so a long-running process that never reads
# `errors` does not grow without limit.
MAX_KEPT_ERRORS = 1000


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Event counts since the client was made."""

    accepted: int = 0  # stored by this client's requests
    duplicates: int = 0  # already stored (a retry of a batch the server had kept)
    rejected: int = 0  # refused one by one in an accepted batch (see RejectedEvent)
    failed: int = 0  # in batches refused as a whole or never delivered (see ChatlensAPIError)
    pending: int = 0  # queued or in flight, without a final outcome yet


class Ledger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = DeliveryStats()
        self._errors: deque[DeliveryError] = deque(maxlen=MAX_KEPT_ERRORS)
        self._errors_total = 0

    def record(self, result: BatchResult) -> list[DeliveryError]:
        """Count the outcome; return its errors, in order, for the on_error callback."""
        new: list[DeliveryError] = [*result.rejected, *result.failures]
        with self._lock:
            c = self._counts
            self._counts = DeliveryStats(
                accepted=c.accepted + result.accepted,
                duplicates=c.duplicates + result.duplicates,
                rejected=c.rejected + len(result.rejected),
                failed=c.failed + result.failed,
            )
            self._errors.extend(new)
            self._errors_total += len(new)
        return new

    def stats(self, pending: int) -> DeliveryStats:
        with self._lock:
            c = self._counts
        return DeliveryStats(c.accepted, c.duplicates, c.rejected, c.failed, pending)

    @property
    def errors(self) -> list[DeliveryError]:
        with self._lock:
            return list(self._errors)

    @property
    def errors_total(self) -> int:
        with self._lock:
            return self._errors_total

    def errors_since(self, total_before: int) -> list[DeliveryError]:
        """The errors recorded after `errors_total` was `total_before` (those still kept)."""
        with self._lock:
            count = min(self._errors_total - total_before, len(self._errors))
            return list(self._errors)[len(self._errors) - count :] if count > 0 else []


def summary(before: DeliveryStats, after: DeliveryStats, errors: list[DeliveryError]) -> dict[str, object]:
    """What happened between two snapshots, as send_tracked_data() returns it."""
    return {
        "accepted": after.accepted - before.accepted,
        "duplicates": after.duplicates - before.duplicates,
        "rejected": after.rejected - before.rejected,
        "failed": after.failed - before.failed,
        "pending": after.pending,
        "errors": errors,
    }
