"""Bulk background work yields the CPU to the event loop.

The event loop answers every request and is what limits ingestion; loading the journal
into DuckDB is bulk work that can wait some milliseconds. On a busy machine the kernel
shared the cores evenly between them: the loop, always ready to run, spent about 15 % of
its time waiting for a core held by the loader or DuckDB's workers. On Linux every thread
has its own nice value, so these run at a lower priority (as Cassandra and RocksDB run
their compactions): they get whatever the loop leaves, and all of the machine when it is
idle. docs/benchmarks.md, "Background work at a lower priority".
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable

log = logging.getLogger("chatlens.server")


def threads_not_started_by_python() -> list[int]:
    """The ids of this process's threads that Python did not start (DuckDB's workers)."""
    if sys.platform != "linux":
        return []
    python = {t.native_id for t in threading.enumerate()}
    return [tid for tid in map(int, os.listdir("/proc/self/task")) if tid not in python]


def lower_priority(thread_ids: Iterable[int], nice: int) -> int:
    """Give these threads the nice value `nice`, if that is lower than the calling thread's
    priority (Linux only: elsewhere a nice value is the whole process's). Returns how many
    were changed; a thread that is gone is skipped."""
    if sys.platform != "linux" or nice <= os.getpriority(os.PRIO_PROCESS, 0):
        return 0  # never raise a thread above the event loop's priority
    changed = 0
    for tid in thread_ids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
            changed += 1
        except ProcessLookupError:
            continue
        except PermissionError as exc:  # only lowering is ever asked for; never fatal
            log.warning("could not lower the priority of thread %d: %s", tid, exc)
    return changed
