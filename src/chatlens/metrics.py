"""Counters, gauges and histograms rendered in the Prometheus text format (`GET /metrics`).

Deliberately tiny: the hot path only does a dict lookup and an add. Updates happen on the
event loop or under the GIL in the writer thread, so plain ints are safe enough for
monitoring (a metric is never used for correctness).
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Callable
from typing import Any

Labels = tuple[tuple[str, str], ...]

DEFAULT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value


class Metrics:
    def __init__(self) -> None:
        self._help: dict[str, tuple[str, str]] = {}  # name -> (type, help)
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, Histogram]] = {}
        self._hist_buckets: dict[str, tuple[float, ...]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def describe(self, name: str, kind: str, help_text: str) -> None:
        self._help[name] = (kind, help_text)

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        series = self._counters.setdefault(name, {})
        key = tuple(sorted(labels.items()))
        series[key] = series.get(key, 0) + value

    def value(self, name: str, **labels: str) -> float:
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0)

    def histogram(
        self, name: str, help_text: str, buckets: tuple[float, ...] = DEFAULT_BUCKETS, **labels: str
    ) -> Histogram:
        self._help.setdefault(name, ("histogram", help_text))
        self._hist_buckets.setdefault(name, buckets)
        series = self._histograms.setdefault(name, {})
        key = tuple(sorted(labels.items()))
        if key not in series:
            series[key] = Histogram(self._hist_buckets[name])
        return series[key]

    def gauge_callback(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self._help[name] = ("gauge", help_text)
        self._gauges[name] = read

    def render(self) -> str:
        out: list[str] = []
        for name in sorted(self._help.keys() | self._counters.keys()):
            kind, help_text = self._help.get(name, ("counter", name))
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            if name in self._gauges:
                out.append(f"{name} {_num(self._gauges[name]())}")
            for labels, value in sorted(self._counters.get(name, {}).items()):
                out.append(f"{name}{_fmt(labels)} {_num(value)}")
            for labels, hist in sorted(self._histograms.get(name, {}).items()):
                cumulative = 0
                for bound, count in zip((*hist.buckets, float("inf")), hist.counts):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    out.append(f"{name}_bucket{_fmt((*labels, ('le', le)))} {cumulative}")
                out.append(f"{name}_sum{_fmt(labels)} {hist.total!r}")
                out.append(f"{name}_count{_fmt(labels)} {cumulative}")
        return "\n".join(out) + "\n"


class GcPauses:
    """The garbage collector's pauses by generation (`chatlens_gc_pause_seconds`): in a
    Python server under load, a collection of the older generations stops every thread,
    and is often what the slowest requests waited for. `start()` hooks into `gc.callbacks`
    (process-wide), `stop()` unhooks."""

    def __init__(self, metrics: Metrics) -> None:
        self._pauses = {
            generation: metrics.histogram(
                "chatlens_gc_pause_seconds", "Garbage collector pauses, by generation", generation=str(generation)
            )
            for generation in (0, 1, 2)
        }
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        # A collection holds the GIL from start to stop: the pairs never interleave.
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses[info["generation"]].observe(time.perf_counter() - self._started)

    def start(self) -> None:
        gc.callbacks.append(self)

    def stop(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def _fmt(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
