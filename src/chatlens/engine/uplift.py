"""Did offers help? Conversion of offered visitors against held-out ones, with 95% intervals.

Absolute lift is the difference of two proportions with a Wald interval; relative lift is
their ratio minus one, with the interval of the log ratio (delta method). Both are the
textbook large-sample intervals: with a handful of conversions they are wide, and the
relative one is left out (None) when either group has no conversion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Lift:
    offered: int
    offered_converted: int
    held_out: int
    held_out_converted: int

    @property
    def offered_rate(self) -> float | None:
        return self.offered_converted / self.offered if self.offered else None

    @property
    def held_out_rate(self) -> float | None:
        return self.held_out_converted / self.held_out if self.held_out else None

    def absolute(self) -> tuple[float, float, float] | None:
        """(lift, low, high) in rate points (0.05 = five percentage points)."""
        p1, p0 = self.offered_rate, self.held_out_rate
        if p1 is None or p0 is None:
            return None
        se = math.sqrt(p1 * (1 - p1) / self.offered + p0 * (1 - p0) / self.held_out)
        diff = p1 - p0
        return diff, diff - Z95 * se, diff + Z95 * se

    def relative(self) -> tuple[float, float, float] | None:
        """(lift, low, high) as a share of the held-out rate (0.2 = 20% more)."""
        p1, p0 = self.offered_rate, self.held_out_rate
        if not p1 or not p0:
            return None
        log_ratio = math.log(p1 / p0)
        se = math.sqrt((1 - p1) / self.offered_converted + (1 - p0) / self.held_out_converted)
        return (
            math.exp(log_ratio) - 1,
            math.exp(log_ratio - Z95 * se) - 1,
            math.exp(log_ratio + Z95 * se) - 1,
        )

    def as_json(self) -> dict[str, Any]:
        def interval(value: tuple[float, float, float] | None) -> dict[str, float] | None:
            if value is None:
                return None
            return {"value": round(value[0], 6), "low": round(value[1], 6), "high": round(value[2], 6)}

        return {
            "offeredVisitors": self.offered,
            "offeredConverted": self.offered_converted,
            "offeredRate": self.offered_rate,
            "heldOutVisitors": self.held_out,
            "heldOutConverted": self.held_out_converted,
            "heldOutRate": self.held_out_rate,
            "absoluteLift": interval(self.absolute()),
            "relativeLift": interval(self.relative()),
        }
