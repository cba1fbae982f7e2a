"""Metrics that are not about one component: the garbage collector's pauses."""

from __future__ import annotations

import gc
import re

from chatlens.metrics import GcPauses, Metrics


def _count(text: str, generation: int) -> int:
    match = re.search(rf'^chatlens_gc_pause_seconds_count{{generation="{generation}"}} (\d+)$', text, re.M)
    assert match, text
    return int(match.group(1))


def test_gc_pauses_are_counted_by_generation_while_started_only() -> None:
    metrics = Metrics()
    pauses = GcPauses(metrics)
    text = metrics.render()
    assert "# TYPE chatlens_gc_pause_seconds histogram" in text
    assert [_count(text, g) for g in (0, 1, 2)] == [0, 0, 0]  # every generation shows, before any pause

    pauses.start()
    try:
        gc.collect(0)
        gc.collect(2)
        gc.collect(2)
    finally:
        pauses.stop()
    text = metrics.render()
    assert _count(text, 0) >= 1 and _count(text, 2) >= 2  # (the interpreter may collect on its own too)
    total = float(re.search(r'^chatlens_gc_pause_seconds_sum{generation="2"} (\S+)$', text, re.M).group(1))
    assert 0 < total < 10

    before = [_count(text, g) for g in (0, 1, 2)]
    gc.collect(2)
    assert [_count(metrics.render(), g) for g in (0, 1, 2)] == before  # stopped: no longer hooked
    assert pauses not in gc.callbacks
