"""The in-memory dedupe index: exact while it remembers, honest when it forgets."""

from __future__ import annotations

from chatlens.ingest.dedupe import DedupeIndex, Seen

MINUTE = 60_000_000
SECOND = 1_000_000


def test_a_new_id_is_new_and_a_remembered_id_is_a_duplicate() -> None:
    index = DedupeIndex(capacity=100)
    assert index.lookup("site", "a", 5 * MINUTE)[0] is Seen.NEW
    index.add("site", "a", 5 * MINUTE, None)
    assert index.lookup("site", "a", 5 * MINUTE)[0] is Seen.DUPLICATE
    assert index.lookup("other-site", "a", 5 * MINUTE)[0] is Seen.NEW, "ids are per site"


def test_when_full_it_forgets_the_oldest_minutes_and_asks_the_store_below_the_horizon() -> None:
    index = DedupeIndex(capacity=10)
    for minute in range(11):  # one id per minute; the 11th overflows
        index.add("s", f"id{minute}", minute * MINUTE + 1, None)
    assert len(index) <= 10
    # The oldest minute went: an id from then can no longer be answered from memory.
    assert index.lookup("s", "id0", 0 * MINUTE + 1)[0] is Seen.ASK_STORE
    assert index.horizon_us >= MINUTE - 1
    # Everything after the horizon is still exact.
    assert index.lookup("s", "id10", 10 * MINUTE + 1)[0] is Seen.DUPLICATE
    assert index.lookup("s", "never-seen", 10 * MINUTE + 1)[0] is Seen.NEW


def test_discarded_ids_are_new_again_and_the_size_stays_right() -> None:
    index = DedupeIndex(capacity=100)
    index.add("s", "a", MINUTE, None)
    index.add("s", "b", MINUTE, None)
    index.discard("s", ["a"])
    assert len(index) == 1
    assert index.lookup("s", "a", MINUTE)[0] is Seen.NEW
    index.add("s", "a", MINUTE, None)
    assert len(index) == 2


def test_preload_of_a_partial_history_sets_the_horizon_at_its_oldest_time() -> None:
    index = DedupeIndex(capacity=100)
    index.preload([("s", "new", 9 * MINUTE), ("s", "old", 3 * MINUTE)], complete=False)
    assert index.lookup("s", "old", 3 * MINUTE)[0] is Seen.DUPLICATE
    assert index.lookup("s", "unknown", 3 * MINUTE)[0] is Seen.ASK_STORE
    assert index.lookup("s", "unknown", 4 * MINUTE)[0] is Seen.NEW
    complete = DedupeIndex(capacity=100)
    complete.preload([("s", "x", 3 * MINUTE)], complete=True)
    assert complete.lookup("s", "unknown", 1)[0] is Seen.NEW


def test_at_high_rates_forgetting_never_reaches_the_current_second() -> None:
    """A full index forgets the oldest seconds, not the oldest minute: events of the
    last seconds are still answered from memory (NEW), not sent to the store."""
    index = DedupeIndex(capacity=100)
    for n in range(150):  # 150 events over 15 seconds of the same minute
        index.add("s", f"id{n}", 10 * MINUTE + (n // 10) * SECOND, None)
    assert len(index) <= 100
    assert index.horizon_us < 10 * MINUTE + 14 * SECOND
    assert index.lookup("s", "fresh", 10 * MINUTE + 14 * SECOND)[0] is Seen.NEW
    assert index.lookup("s", "id149", 10 * MINUTE + 14 * SECOND)[0] is Seen.DUPLICATE


def test_a_full_index_keeps_the_seconds_whose_ids_are_not_in_the_store_yet() -> None:
    settled = [0]  # the writer's rows in the store
    index = DedupeIndex(capacity=10, settled=lambda: settled[0])
    for n in range(20):  # row n + 1 of the writer, one second each
        index.add("s", f"id{n}", n * SECOND + 1, None, position=n + 1)
    assert len(index) == 20, "nothing is forgotten while only journaled"
    assert index.horizon_us == -1
    settled[0] = 5  # the first five rows loaded
    index.add("s", "id20", 20 * SECOND + 1, None, position=21)
    assert len(index) == 16 and index.horizon_us == 5 * SECOND - 1, "only the loaded seconds went"
    assert index.lookup("s", "id4", 4 * SECOND + 1)[0] is Seen.ASK_STORE
    assert index.lookup("s", "id5", 5 * SECOND + 1)[0] is Seen.DUPLICATE
    settled[0] = 21
    index.add("s", "id21", 21 * SECOND + 1, None, position=22)
    assert len(index) <= 10
