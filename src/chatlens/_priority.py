"""The event loop gets the CPU first; the threads around it wait their turn.

The event loop answers every request and is what limits ingestion. Under load it was
ready to run nearly all the time, yet waited for a core 14-15 % of it, taken by the
threads that work for it (`perf sched`):

- the loads into DuckDB (the loader thread and DuckDB's workers): bulk work that can
  wait some milliseconds. They run under SCHED_IDLE, on CPU time nothing else wants:
  as Cassandra and RocksDB lower their compactions, but stricter;
- the journal thread, which requests do wait for, but whose wake-ups (a sync done, the
  GIL handed over) took the loop's core 1,100-2,300 times a second, only to wait for
  the GIL the loop held. Under SCHED_BATCH its wake-ups no longer preempt the loop (it
  runs on the other core, or when the loop blocks), while it still preempts the loads.

Linux gives each thread its own policy; elsewhere nothing changes. docs/benchmarks.md,
"Background work at a lower priority".
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable

log = logging.getLogger("chatlens.server")

_SCHED_IDLE = getattr(os, "SCHED_IDLE", None)
_SCHED_BATCH = getattr(os, "SCHED_BATCH", None)


def threads_not_started_by_python() -> list[int]:
    """The ids of this process's threads that Python did not start (DuckDB's workers)."""
    if sys.platform != "linux":
        return []
    python = {t.native_id for t in threading.enumerate()}
    return [tid for tid in map(int, os.listdir("/proc/self/task")) if tid not in python]


def yield_to_event_loop(bulk: Iterable[int | None], helpers: Iterable[int | None]) -> int:
    """Run the `bulk` threads only on otherwise idle CPU time (SCHED_IDLE), and let the
    `helpers` the loop waits on no longer preempt it (SCHED_BATCH). Linux only; returns
    how many threads changed (None, a thread not started, and a thread gone are skipped)."""
    if sys.platform != "linux" or _SCHED_IDLE is None or _SCHED_BATCH is None:
        return 0
    changed = 0
    for policy, thread_ids in ((_SCHED_IDLE, bulk), (_SCHED_BATCH, helpers)):
        for tid in thread_ids:
            if tid is None:
                continue
            try:
                if os.sched_getscheduler(tid) == os.SCHED_OTHER:  # never raise a thread's priority
                    os.sched_setscheduler(tid, policy, os.sched_param(0))
                    changed += 1
            except ProcessLookupError:
                continue
            except PermissionError as exc:  # only lowering is asked for; never fatal
                log.warning("could not change the scheduling policy of thread %d: %s", tid, exc)
    return changed
