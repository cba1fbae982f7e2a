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
from collections.abc import Callable
from typing import Any

import orjson

from chatlens.model.events import (
    EVENT_TYPES,
    MAX_STRING_LENGTH,
    MAX_TEXT_LENGTH,
    METADATA_FIELDS,
    SERVER_ONLY_TYPES,
    Field,
    Group,
    Kind,
)

UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TYPE_LIST = ", ".join(t for t in EVENT_TYPES if t not in SERVER_ONLY_TYPES)
_RESERVED = frozenset(("type", "id", "timestamp"))

MAX_ID_LENGTH = 128  # visitor, session and key strings in the envelope

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
    columns: dict[str, Any]  # typed store column -> value (see chatlens.store.schema)
    properties_json: str | None  # every other field, by its wire name, as JSON
    ts_us: int = 0  # the skew-corrected time, set by the pipeline's enrich step


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


def check_value(field: Field, value: Any) -> str | None:
    """Why `value` is not valid for `field` ("must be a string, got number"), or None."""
    kind = field.kind
    if kind is Kind.STRING or kind is Kind.URL:
        if not isinstance(value, str):
            return f"must be {kind.value}, got {json_type(value)}"
        if len(value) > MAX_STRING_LENGTH:
            return f"too long ({len(value)} characters, at most {MAX_STRING_LENGTH})"
        if field.required and not value:
            return "required, must not be empty"
        if kind is Kind.URL and not _is_absolute_url(value):
            return f"must be an absolute URL (http:// or https://), got {value[:80]!r}"
        if field.choices and value not in field.choices:
            allowed = ", ".join(repr(c) for c in field.choices)
            return f"must be one of {allowed}, got {value[:80]!r}"
        return None
    if kind is Kind.TEXT:
        if not isinstance(value, str):
            return f"must be {kind.value}, got {json_type(value)}"
        if not value.strip():
            return "must not be empty"
        if len(value) > MAX_TEXT_LENGTH:
            return f"too long ({len(value)} characters, at most {MAX_TEXT_LENGTH})"
        return None
    if kind is Kind.ANY:
        return None
    if kind is Kind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, got {json_type(value)}"
        if not math.isfinite(value) or value < 0:
            return f"must be a finite number >= 0, got {value}"
        return None
    if kind is Kind.BOOLEAN:
        return None if isinstance(value, bool) else f"must be a boolean, got {json_type(value)}"
    if kind is Kind.INT_OR_FALSE:
        if value is False or (type(value) is int and value >= 0):
            return None
        return f"must be {kind.value}, got {json_type(value)} {str(value)[:40]}"
    if kind is Kind.ARRAY_OR_FALSE:
        ok = value is False or isinstance(value, list)
        return None if ok else f"must be {kind.value}, got {json_type(value)}"
    if kind is Kind.OBJECT:
        return None if isinstance(value, dict) else f"must be an object, got {json_type(value)}"
    if kind is Kind.OBJECT_OR_FALSE:
        ok = value is False or isinstance(value, dict)
        return None if ok else f"must be {kind.value}, got {json_type(value)}"
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
        # Exact: before 2100 the float's error is far below half a microsecond.
        micros = round(parsed.timestamp() * 1_000_000)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not MIN_TIMESTAMP_US // 1000 <= value < MAX_TIMESTAMP_US // 1000:  # also NaN, inf
            return None
        micros = int(value * 1000)
    else:
        return None
    return micros if MIN_TIMESTAMP_US <= micros < MAX_TIMESTAMP_US else None


def validate_event(raw: Any, index: int) -> ValidEvent | list[str]:
    """Check one event; return it normalized, or every problem found in it."""
    if not isinstance(raw, dict):
        prefix = f"events[{index}]"
        return [f"{prefix}: must be an object, got {json_type(raw)}"]
    type_name = raw.get("type")
    plan = _PLANS.get(type_name) if type_name.__class__ is str else None
    if plan is None:
        prefix = f"events[{index}]"
    if not isinstance(type_name, str):
        if type_name is None:
            return [f"{prefix}.type: required, must be a string (one of {_TYPE_LIST})"]
        return [f"{prefix}.type: must be a string, got {json_type(type_name)}"]
    if plan is None:
        return [f"{prefix}.type: unknown event type {type_name[:80]!r} (expected one of {_TYPE_LIST})"]
    prefix = ""  # set when the first error is formatted

    errors: list[str] = []
    if plan.widget and "data" in raw:
        # Reference 001's bus shape {type, data: {...}, timestamp}: fields may sit in data.
        # Top-level fields win over data's.
        data = raw["data"]
        if isinstance(data, dict):
            raw = {**data, **{k: v for k, v in raw.items() if k != "data"}}
        elif data is not None:
            errors.append(f"events[{index}].data: must be an object (reference 001), got {json_type(data)}")
    event_id = raw.get("id")
    if event_id is not None:
        if not isinstance(event_id, str):
            errors.append(f"events[{index}].id: must be a UUID string, got {json_type(event_id)}")
        elif not UUID_PATTERN.fullmatch(event_id):
            errors.append(f"events[{index}].id: must be a UUID (8-4-4-4-12 hex digits), got {event_id[:40]!r}")
        else:
            event_id = event_id.lower()
    client_ts = None
    stamp = raw.get("timestamp")
    if stamp is not None:
        client_ts = parse_timestamp(stamp)
        if client_ts is None:
            errors.append(
                f"events[{index}].timestamp: must be ISO 8601 text or epoch milliseconds "
                f"between 2000 and 2100, got {str(stamp)[:40]!r}"
            )

    columns: dict[str, Any] = {}  # typed store column -> value
    for name, column, looks_valid, field in plan.fields:
        value = raw.get(name)
        if value is None:  # absent and null are the same thing for optional fields
            if field.required:
                errors.append(f"events[{index}].{name}: required, must be {field.kind.value}")
            continue
        if not looks_valid(value):
            problem = check_value(field, value)
            if problem:
                errors.append(f"events[{index}].{name}: {problem}")
                continue
        if column is not None:
            # Typed number columns are DOUBLE: an integer beyond 2**53 must not reach them as int.
            columns[column] = float(value) if field.kind is Kind.NUMBER else value
    if plan.lifecycle and isinstance(raw.get("metadata"), dict):
        errors.extend(_check_metadata(raw["metadata"], f"events[{index}].metadata", columns))
    if errors:
        return errors

    not_properties = plan.not_properties
    properties = {k: v for k, v in raw.items() if k not in not_properties and v is not None}
    if not properties:
        return ValidEvent(index, type_name, event_id, client_ts, columns, None)
    try:
        return ValidEvent(index, type_name, event_id, client_ts, columns, orjson.dumps(properties).decode())
    except orjson.JSONEncodeError:
        return [f"events[{index}].{k}: nested too deeply (at most {MAX_JSON_DEPTH} levels)"
                for k, v in properties.items() if not _serializable(v)]


MAX_JSON_DEPTH = 254  # what orjson can write back; the parser would accept more


def _serializable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


def _check_metadata(metadata: dict[str, Any], path: str, columns: dict[str, Any]) -> list[str]:
    errors = []
    for field in METADATA_FIELDS:
        value = metadata.get(field.name)
        if value is None:
            if field.required:
                errors.append(f"{path}.{field.name}: required, must be {field.kind.value}")
            continue
        problem = check_value(field, value)
        if problem:
            errors.append(f"{path}.{field.name}: {problem}")
    if not errors:
        columns["interaction_id"] = metadata["id"]
    return errors


# A per-type plan, computed once: for each field a cheap predicate that accepts the
# common valid values; only values it doubts go through check_value, which explains.
# (Validation runs for every event, so this is the ingestion hot path.)


def _looks_valid(field: Field) -> Callable[[Any], bool]:
    kind, required = field.kind, field.required
    if kind is Kind.STRING and field.choices:
        choices = frozenset(field.choices)
        return lambda v: v.__class__ is str and v in choices
    if kind is Kind.STRING:
        low = 1 if required else 0
        return lambda v: v.__class__ is str and low <= len(v) <= MAX_STRING_LENGTH
    if kind is Kind.URL:
        return lambda v: (
            v.__class__ is str
            and len(v) <= MAX_STRING_LENGTH
            and v.startswith(("https://", "http://"))
            and len(v) > 8
        )
    if kind is Kind.NUMBER:
        return lambda v: (v.__class__ is int or v.__class__ is float) and 0 <= v < math.inf
    return lambda v: check_value(field, v) is None


@dataclass(frozen=True, slots=True)
class _Plan:
    # (wire name, typed column or None, fast check, field)
    fields: tuple[tuple[str, str | None, Callable[[Any], bool], Field], ...]
    lifecycle: bool
    widget: bool
    # Keys not copied into the JSON properties: the reserved keys, and fields that
    # already have a typed column.
    not_properties: frozenset[str]


_PLANS = {
    name: _Plan(
        fields=tuple((f.name, f.column, _looks_valid(f), f) for f in spec.fields),
        lifecycle=spec.group is Group.LIFECYCLE,
        widget=spec.group is Group.WIDGET,
        not_properties=_RESERVED | {f.name for f in spec.fields if f.column},
    )
    for name, spec in EVENT_TYPES.items()
    if name not in SERVER_ONLY_TYPES  # unknown to clients: only the engine writes them
}
