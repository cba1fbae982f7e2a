"""Wall-clock time in the one format the wire uses."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now_iso() -> str:
    """Now as ISO 8601 UTC with an explicit offset and microseconds.

    The offset is explicit because the server treats offset-less text as UTC only by
    convention; microseconds keep the order of events tracked in the same millisecond.
    """
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
