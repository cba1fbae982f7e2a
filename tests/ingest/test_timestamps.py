"""Client timestamps become exact UTC microseconds, in every accepted form."""

import random
from datetime import datetime, timedelta, timezone

from chatlens.ingest.validate import parse_timestamp

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_iso_8601_is_exact_to_the_microsecond_across_the_accepted_range() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        micros = rng.randrange(946_684_800_000_000, 4_102_444_800_000_000)
        assert parse_timestamp((EPOCH + timedelta(microseconds=micros)).isoformat()) == micros


def test_accepted_forms() -> None:
    assert parse_timestamp("2026-11-21T12:00:00.123Z") == 1_795_262_400_123_000
    assert parse_timestamp("2026-11-21T13:00:00.123+01:00") == 1_795_262_400_123_000
    assert parse_timestamp("2026-11-21T12:00:00.123") == 1_795_262_400_123_000  # no offset: UTC
    assert parse_timestamp(1_795_262_400_123) == 1_795_262_400_123_000  # epoch milliseconds


def test_wrong_units_and_junk_are_refused() -> None:
    assert parse_timestamp(1_795_262_400) is None  # seconds, not milliseconds: 1970
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(True) is None
    assert parse_timestamp(float("nan")) is None
