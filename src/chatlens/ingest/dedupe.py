"""Which event ids are already stored (or being stored) for a site.

Retries and two tabs sending the same queued event produce the same id within minutes, so
the recent ids live in memory. The index is bounded: when full it forgets whole seconds of
the oldest client timestamps and raises its `horizon`. Invariant: every stored event whose
client time is after the horizon is in memory. An id with an older time is therefore
either new or forgotten, and only then is the store asked. So dedupe is exact with
constant memory, and the store is only consulted for late stragglers.

An id that is in flight (its commit not yet done) maps to that commit's future: a
duplicate waits for the original's commit before being acknowledged, so "duplicate"
always means "stored".

A second is forgotten only once every id in it is in the store, not merely in the journal
(`settled`: the writer's rows loaded or failed, against each second's latest `position`).
So the store, asked about an older id, can answer at once from what it holds, without
first waiting for a load of the journal (seconds, under heavy ingestion). Memory is bounded
by the capacity plus the rows waiting to be loaded.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
from collections.abc import Callable

# Forget in whole seconds of client time. (Whole minutes were too coarse: at 50k events/s
# a million ids span 20 s, so forgetting "the oldest minute" could forget the current one
# and send every new event to the store.)
_BUCKET_US = 1_000_000


class Seen(enum.Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    ASK_STORE = "ask_store"  # older than the horizon: only the store knows


class DedupeIndex:
    def __init__(self, capacity: int = 1_000_000, settled: Callable[[], int] | None = None) -> None:
        self.capacity = capacity
        # How many of the writer's rows are in the store (or failed); None: every row added
        # counts as stored (an index without a writer, as in tests).
        self._settled = settled
        self.horizon_us = -1  # events with client time <= horizon may have been forgotten
        self._ids: dict[str, dict[str, asyncio.Future[None] | None]] = {}  # site -> id -> commit
        # second of client time -> site -> ids: lists of strings only, so that a million
        # remembered ids are a few thousand objects for the garbage collector to scan
        # (not a tuple per id)
        self._buckets: dict[int, dict[str, list[str]]] = {}
        self._bucket_heap: list[int] = []
        self._bucket_position: dict[int, int] = {}  # second -> writer position of its latest add
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def lookup(self, site_id: str, event_id: str, ts_us: int) -> tuple[Seen, asyncio.Future[None] | None]:
        return self.lookup_many(site_id, [(event_id, ts_us)])[0]

    def lookup_many(
        self, site_id: str, keys: list[tuple[str, int]]
    ) -> list[tuple[Seen, asyncio.Future[None] | None]]:
        """`lookup` for a whole batch of (event_id, ts_us)."""
        ids = self._ids.get(site_id, {})
        horizon = self.horizon_us
        out = []
        for event_id, ts_us in keys:
            if event_id in ids:
                out.append((Seen.DUPLICATE, ids[event_id]))
            elif ts_us <= horizon:
                out.append((Seen.ASK_STORE, None))
            else:
                out.append(_NEW)
        return out

    def add(
        self, site_id: str, event_id: str, ts_us: int, commit: asyncio.Future[None] | None, position: int = 0
    ) -> None:
        self.add_many(site_id, [(event_id, ts_us)], commit, position)

    def add_many(
        self,
        site_id: str,
        entries: list[tuple[str, int]],
        commit: asyncio.Future[None] | None,
        position: int = 0,
    ) -> None:
        """Remember a batch of (event_id, client ts in us), all stored by `commit`; they
        are in the store once the writer has settled `position` rows (positions only grow)."""
        ids = self._ids.setdefault(site_id, {})
        buckets = self._buckets
        positions = self._bucket_position
        added = 0
        for event_id, ts_us in entries:
            if event_id not in ids:
                added += 1
                bucket = ts_us // _BUCKET_US
                sites = buckets.get(bucket)
                if sites is None:
                    sites = buckets[bucket] = {}
                    heapq.heappush(self._bucket_heap, bucket)
                members = sites.get(site_id)
                if members is None:
                    members = sites[site_id] = []
                members.append(event_id)
                positions[bucket] = position
            ids[event_id] = commit
        self._size += added
        if self._size > self.capacity:
            self._evict()

    def discard(self, site_id: str, event_ids: list[str]) -> None:
        """Forget ids whose write failed, so that a retry is stored rather than dropped."""
        ids = self._ids.get(site_id, {})
        for event_id in event_ids:
            if ids.pop(event_id, _MISSING) is not _MISSING:
                self._size -= 1
        # Bucket lists still name them; eviction skips ids that are already gone.

    def preload(self, keys: list[tuple[str, str, int]], *, complete: bool) -> None:
        """Fill from the store at startup with (site_id, event_id, client_ts_us), newest first.

        `complete` is False when the store holds more than was loaded; everything at or
        before the oldest loaded time then has to be asked of the store.
        """
        for site_id, event_id, ts_us in keys:
            self.add(site_id, event_id, ts_us, None)
        if keys and not complete:
            self.horizon_us = max(self.horizon_us, min(k[2] for k in keys))

    def _evict(self) -> None:
        # Drop the oldest seconds until 1% of the capacity is free: short pauses, and
        # not too often.
        target = int(self.capacity * 0.99)
        settled = self._settled() if self._settled is not None else None
        while self._size > target and self._bucket_heap:
            bucket = self._bucket_heap[0]
            if settled is not None and self._bucket_position.get(bucket, 0) > settled:
                break  # some of its ids may be only in the journal yet: kept until loaded
            heapq.heappop(self._bucket_heap)
            self._bucket_position.pop(bucket, None)
            for site_id, members in self._buckets.pop(bucket).items():
                ids = self._ids.get(site_id, {})
                for event_id in members:
                    if ids.pop(event_id, _MISSING) is not _MISSING:
                        self._size -= 1
            self.horizon_us = max(self.horizon_us, (bucket + 1) * _BUCKET_US - 1)


_MISSING = object()
_NEW: tuple[Seen, None] = (Seen.NEW, None)
