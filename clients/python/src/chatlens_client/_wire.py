"""The HTTP contract of `POST /v1/server/batch`, without doing any I/O.

Request bodies are assembled from events encoded once, at queue time: the size of each
event is then known for batching by bytes, a retry resends byte-identical events, and a
value that cannot be encoded fails at the call site rather than in the worker. Answers
are parsed leniently: whatever the server says, the worker gets a decision, never an
exception.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

BATCH_PATH = "/v1/server/batch"
MAX_EVENTS_PER_REQUEST = 1000
MAX_BODY_BYTES = 8 * 1024 * 1024
# `{"sent_at":"<32 chars>","events":[]}` plus slack for a longer sent_at.
_ENVELOPE_BYTES = 128
# The largest single event that fits in a request on its own.
MAX_EVENT_BYTES = MAX_BODY_BYTES - _ENVELOPE_BYTES


def encode_event(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def body_size(event_count: int, event_bytes: int) -> int:
    """An upper bound of the body holding `event_count` events of `event_bytes` in total."""
    return _ENVELOPE_BYTES + event_bytes + max(0, event_count - 1)


def encode_body(encoded_events: Sequence[bytes], sent_at: str) -> bytes:
    head = b'{"sent_at":' + json.dumps(sent_at).encode("ascii") + b',"events":['
    return head + b",".join(encoded_events) + b"]}"


@dataclass(frozen=True, slots=True)
class Ack:
    """A 200 answer: counts, and per-event rejections by index in the batch sent."""

    accepted: int
    duplicates: int
    rejected: tuple[tuple[int, tuple[str, ...]], ...]


def parse_ack(content: bytes) -> Ack | None:
    """The 200 body, or None when it is not a batch answer (a proxy page, say)."""
    try:
        body = json.loads(content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    accepted, duplicates = _count(body.get("accepted")), _count(body.get("duplicates", 0))
    if accepted is None or duplicates is None:
        return None
    rejected: list[tuple[int, tuple[str, ...]]] = []
    raw_rejected = body.get("rejected") or []
    if not isinstance(raw_rejected, list):
        return None
    for item in raw_rejected:
        index = _count(item.get("index")) if isinstance(item, dict) else None
        if index is None:
            return None
        errors = item.get("errors")
        reasons = tuple(str(e) for e in errors) if isinstance(errors, list) else (str(errors),)
        rejected.append((index, reasons))
    return Ack(accepted, duplicates, tuple(rejected))


def _count(value: Any) -> int | None:
    """A JSON count (an int >= 0), or None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def parse_error(content: bytes, fallback: str) -> tuple[str | None, str]:
    """(code, message) of an error answer.

    Accepts `{"error": {"code", "message"}}` and the flat `{"error": code, "message"}`,
    and falls back to the start of the raw text, so the report always says something.
    """
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
        else:
            code, message = error, body.get("message")
        if isinstance(message, str) and message:
            return (code if isinstance(code, str) else None), message
        if isinstance(code, str) and code:
            return code, code
    text = content[:200].decode("utf-8", "replace").strip()
    return None, text or fallback


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
