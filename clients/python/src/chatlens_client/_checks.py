"""Argument checks shared by every event builder.

Why check locally when the server validates too: a server-side rejection arrives seconds
later on a background thread, far from the line that caused it. Checking here raises at
the call site, naming the argument as the caller spelled it. The server stays the
authority (lengths and other limits are its business); these checks only catch what is
certainly wrong: wrong types, empty required text, values outside a fixed set.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

from chatlens_client.errors import InvalidEventError, InvalidEventTypeError


def type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def wrong_type(argument: str, expected: str, value: Any) -> NoReturn:
    raise InvalidEventTypeError(argument, f"must be {expected}, got {type_name(value)}")


def required_text(argument: str, value: Any) -> str:
    """A non-blank string: questions, answers, names, keys."""
    if not isinstance(value, str):
        wrong_type(argument, "a non-empty string", value)
    if not value.strip():
        raise InvalidEventError(argument, "must not be empty")
    return value


def optional_text(argument: str, value: Any) -> str | None:
    """None, or a non-blank string (an empty customer id or comment is a bug, not data)."""
    return None if value is None else required_text(argument, value)


def choice(argument: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        wrong_type(argument, "a string", value)
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise InvalidEventError(argument, f"must be one of {allowed}, got {value!r}")
    return value


def optional_choice(argument: str, value: Any, choices: tuple[str, ...]) -> str | None:
    return None if value is None else choice(argument, value, choices)


def non_negative_number(argument: str, value: Any) -> int | float:
    """A finite number >= 0 (bool is rejected although Python calls it an int)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        wrong_type(argument, "a number", value)
    if not math.isfinite(value) or value < 0:
        raise InvalidEventError(argument, f"must be a finite number >= 0, got {value!r}")
    return value


def optional_non_negative_number(argument: str, value: Any) -> int | float | None:
    return None if value is None else non_negative_number(argument, value)


def token_count(argument: str, value: Any) -> int:
    """Tokens are whole: an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        wrong_type(argument, "an int", value)
    if value < 0:
        raise InvalidEventError(argument, f"must be >= 0, got {value}")
    return value


def json_value(argument: str, value: Any) -> Any:
    """Any value that survives JSON encoding, checked now rather than in the worker."""
    try:
        json.dumps(value, allow_nan=False)
    except TypeError as exc:
        raise InvalidEventTypeError(argument, f"must be JSON-serializable ({exc})") from None
    except ValueError as exc:  # NaN, infinity, a circular reference
        raise InvalidEventError(argument, f"must be JSON-serializable ({exc})") from None
    return value


def optional_json_object(argument: str, value: Any) -> dict[str, Any] | None:
    """None or a JSON object; copied so that later changes by the caller do not leak in."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        wrong_type(argument, "a dict", value)
    for key in value:
        if not isinstance(key, str):
            raise InvalidEventTypeError(argument, f"keys must be strings, got {type_name(key)} {key!r}")
    return dict(json_value(argument, dict(value)))


def optional_iso_time(argument: str, value: Any) -> str | None:
    """None, an aware `datetime`, or ISO 8601 text; returned as ISO 8601 text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidEventError(argument, "must be a timezone-aware datetime (e.g. datetime.now(timezone.utc))")
        return value.isoformat()
    if not isinstance(value, str):
        wrong_type(argument, "an ISO 8601 string or a datetime", value)
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEventError(argument, f"must be ISO 8601 text, got {value[:40]!r}") from None
    return value


def parse_iso(text: str) -> datetime:
    """Parse text already accepted by `optional_iso_time`."""
    return datetime.fromisoformat(text)


def optional_ip_address(argument: str, value: Any) -> str | None:
    """None or an IPv4/IPv6 address; a typo would otherwise be hashed and stored unnoticed."""
    if value is None:
        return None
    if not isinstance(value, str):
        wrong_type(argument, "an IP address string", value)
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise InvalidEventError(argument, f"must be an IPv4 or IPv6 address, got {value[:60]!r}") from None
