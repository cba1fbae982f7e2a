"""Time buckets for trend tables: SQL that buckets a timestamp, and the full list of
buckets of a range so that quiet hours and days show as zeros instead of gaps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from chatlens.analytics.scope import ReportQuery


def bucket_sql(query: ReportQuery, column: str) -> str:
    """SQL: the start of `column`'s bucket as epoch microseconds. Plain arithmetic on UTC
    microseconds: the same whatever the connection's time zone, and cheaper than date_trunc."""
    return f"(epoch_us({column}) // {query.interval_us}) * {query.interval_us}"


def _start(us: int, interval: str) -> dt.datetime:
    t = dt.datetime.fromtimestamp(us / 1e6, dt.UTC)
    return t.replace(minute=0, second=0, microsecond=0) if interval == "hour" else t.replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_label(us: int, interval: str) -> str:
    t = _start(us, interval)
    return t.strftime("%Y-%m-%dT%H:00:00Z") if interval == "hour" else t.strftime("%Y-%m-%d")


def fill_buckets(query: ReportQuery, rows: Iterable[dict[str, Any]], key: str = "bucket") -> list[tuple[str, dict[str, Any]]]:
    """(label, row) for every bucket of the query's range, oldest first; buckets without
    a row get an empty dict."""
    by_label = {bucket_label(r[key], query.interval): r for r in rows if r[key] is not None}
    step = dt.timedelta(hours=1) if query.interval == "hour" else dt.timedelta(days=1)
    t = _start(query.since_us, query.interval)
    end = dt.datetime.fromtimestamp(query.until_us / 1e6, dt.UTC)
    out = []
    while t < end:
        label = bucket_label(int(t.timestamp() * 1e6), query.interval)
        out.append((label, by_label.get(label, {})))
        t += step
    return out
