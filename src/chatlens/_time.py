"""Times as the APIs show them."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(micros: int) -> str:
    """UTC microseconds as ISO 8601 text with a Z (`2026-11-21T10:00:00.123456Z`)."""
    moment = datetime.fromtimestamp(micros // 1_000_000, timezone.utc).replace(microsecond=micros % 1_000_000)
    return moment.isoformat().replace("+00:00", "Z")
