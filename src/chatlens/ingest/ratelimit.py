"""Requests per minute per session (reference 000: the same 30/minute as messages).

A token bucket per (site, session): bursts up to the limit, refilled continuously, so a
client that waits `Retry-After` seconds is always let through.
"""

from __future__ import annotations

import math
import time


class RateLimiter:
    def __init__(self, per_minute: int, *, max_keys: int = 200_000) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (tokens, at)
        self._max_keys = max_keys

    def check(self, site_id: str, session_id: str, now: float | None = None) -> int:
        """0 when the request may go, else the whole seconds to wait before retrying."""
        if self.per_minute <= 0:  # disabled
            return 0
        now = time.monotonic() if now is None else now
        key = (site_id, session_id)
        tokens, at = self._buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - at) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self._rate))
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._forget_idle(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely carries no information: drop it.
        full_after = 60.0
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
