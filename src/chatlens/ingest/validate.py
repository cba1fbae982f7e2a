"""Validate one wire event against the canonical model, field by field.

Every problem is reported as "<path>: <reason>" where the path names the field the way the
sender wrote it (`events[3].durationSeconds: required, must be a number`), so a developer can
fix the call site without reading our source. Validation never raises on bad input.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from chatlens.model.events import (
    EVENT_TYPES,
    MAX_STRING_LENGTH,
    METADATA_FIELDS,
    EventType,
    Field,
    Kind,
)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TYPE_LIST = ", ".join(EVENT_TYPES)
_RESERVED = frozenset(("type", "id", "timestamp"))

# Client timestamps outside this range are certainly wrong clocks or wrong units
# (seconds sent as milliseconds), not events; rejecting them keeps analytics sane.
MIN_TIMESTAMP_US = 946_684_800_000_000  # 2000-01-01
MAX_TIMESTAMP_US = 4_102_444_800_000_000  # 2100-01-01


@dataclass(slots=True)
class ValidEvent:
    """An event that passed validation, normalized for the later pipeline steps."""

    index: int
    type: str
    event_id: str | None  # canonical lowercase UUID, or None when the client sent none
    client_ts_us: int | None
    columns: dict[str, Any]  # typed store columns (see chatlens.store.schema)
    properties: dict[str, Any]  # every other field, by its wire name


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def check_value(field: Field, value: Any, path: str) -> str | None:
    """Return the reason `value` is not valid for `field`, or None when it is."""
    kind = field.kind
    if kind is Kind.STRING or kind is Kind.URL:
        if not isinstance(value, str):
            return f"{path}: must be {kind.value}, got {json_type(value)}"
        if len(value) > MAX_STRING_LENGTH:
            return f"{path}: too long ({len(value)} characters, at most {MAX_STRING_LENGTH})"
        if field.required and not value:
            return f"{path}: required, must not be empty"
        if kind is Kind.URL and not _is_absolute_url(value):
            return f"{path}: must be an absolute URL (http:// or https://), got {value[:80]!r}"
        if field.choices and value not in field.choices:
            allowed = ", ".join(repr(c) for c in field.choices)
            return f"{path}: must be one of {allowed}, got {value[:80]!r}"
        return None
    if kind is Kind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{path}: must be a number, got {json_type(value)}"
        if not math.isfinite(value) or value < 0:
            return f"{path}: must be a finite number >= 0, got {value}"
        return None
    if kind is Kind.BOOLEAN:
        return None if isinstance(value, bool) else f"{path}: must be a boolean, got {json_type(value)}"
    if kind is Kind.INT_OR_FALSE:
        if value is False or (type(value) is int and value >= 0):
            return None
        return f"{path}: must be {kind.value}, got {json_type(value)} {value!r}"[:200]
    if kind is Kind.ARRAY_OR_FALSE:
        ok = value is False or isinstance(value, list)
        return None if ok else f"{path}: must be {kind.value}, got {json_type(value)}"
    if kind is Kind.OBJECT:
        return None if isinstance(value, dict) else f"{path}: must be an object, got {json_type(value)}"
    if kind is Kind.OBJECT_OR_FALSE:
        ok = value is False or isinstance(value, dict)
        return None if ok else f"{path}: must be {kind.value}, got {json_type(value)}"
    raise AssertionError(f"unhandled kind {kind}")  # a model bug, not bad input


def _is_absolute_url(value: str) -> bool:
    head = value[:8].lower()
    if head.startswith("https://"):
        return len(value) > 8
    return head.startswith("http://") and len(value) > 7


def parse_timestamp(value: Any) -> int | None:
    """ISO 8601 text or epoch milliseconds -> epoch microseconds; None when unparseable."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        micros = (parsed - _EPOCH) // _ONE_MICRO
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        micros = int(value * 1000)
    else:
        return None
    return micros if MIN_TIMESTAMP_US <= micros < MAX_TIMESTAMP_US else None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICRO = datetime.resolution


def validate_event(raw: Any, index: int) -> ValidEvent | list[str]:
    """Check one event; return it normalized, or every problem found in it."""
    prefix = f"events[{index}]"
    if not isinstance(raw, dict):
        return [f"{prefix}: must be an object, got {json_type(raw)}"]
    type_name = raw.get("type")
    if not isinstance(type_name, str):
        if type_name is None:
            return [f"{prefix}.type: required, must be a string (one of {_TYPE_LIST})"]
        return [f"{prefix}.type: must be a string, got {json_type(type_name)}"]
    spec: EventType | None = EVENT_TYPES.get(type_name)
    if spec is None:
        return [f"{prefix}.type: unknown event type {type_name[:80]!r} (expected one of {_TYPE_LIST})"]

    errors: list[str] = []
    event_id = raw.get("id")
    if event_id is not None:
        if not isinstance(event_id, str) or not _UUID.fullmatch(event_id):
            errors.append(f"{prefix}.id: must be a UUID string, got {json_type(event_id)}")
        else:
            event_id = event_id.lower()
    client_ts = None
    stamp = raw.get("timestamp")
    if stamp is not None:
        client_ts = parse_timestamp(stamp)
        if client_ts is None:
            errors.append(
                f"{prefix}.timestamp: must be ISO 8601 text or epoch milliseconds "
                f"between 2000 and 2100, got {str(stamp)[:40]!r}"
            )

    columns: dict[str, Any] = {}
    for field in spec.fields:
        value = raw.get(field.name)
        path = f"{prefix}.{field.name}"
        if value is None:  # absent and null are the same thing for optional fields
            if field.required:
                errors.append(f"{path}: required, must be {field.kind.value}")
            continue
        problem = check_value(field, value, path)
        if problem:
            errors.append(problem)
        elif field.column:
            columns[field.column] = value
    if spec.name.startswith("chat.") and isinstance(raw.get("metadata"), dict):
        errors.extend(_check_metadata(raw["metadata"], f"{prefix}.metadata", columns))
    if errors:
        return errors

    not_properties = _NOT_PROPERTIES[type_name]
    properties = {k: v for k, v in raw.items() if k not in not_properties and v is not None}
    return ValidEvent(index, type_name, event_id, client_ts, columns, properties)


def _check_metadata(metadata: dict[str, Any], path: str, columns: dict[str, Any]) -> list[str]:
    errors = []
    for field in METADATA_FIELDS:
        value = metadata.get(field.name)
        if value is None:
            if field.required:
                errors.append(f"{path}.{field.name}: required, must be {field.kind.value}")
            continue
        problem = check_value(field, value, f"{path}.{field.name}")
        if problem:
            errors.append(problem)
    if not errors:
        columns["interaction_id"] = metadata["id"]
    return errors


# Per type: the keys that are not copied into the JSON properties (the envelope-like
# reserved keys, and fields that already have a typed column).
_NOT_PROPERTIES = {
    name: _RESERVED | {f.name for f in spec.fields if f.column} for name, spec in EVENT_TYPES.items()
}
