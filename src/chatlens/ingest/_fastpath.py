"""A compiled fast path for the common batch: behaviour events, all valid, no extra fields.

Validation in Python costs ~3 us per event, a third of the event loop's time under load.
msgspec decodes and checks such a batch in C, against structs generated from the event
model (so the model stays the single source of truth). The fast path may only be
*stricter* than `validate.validate_event`: whatever it does not accept (an invalid event,
an unknown field, another event group, any doubt) goes to the Python validator, which
explains every problem. What it does accept, it must turn into exactly what the Python
validator would (tests/ingest/test_fastpath.py checks this over thousands of batches).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta

from chatlens.ingest.validate import MAX_ID_LENGTH, UUID_PATTERN, ValidEvent, parse_timestamp
from chatlens.model.events import BEHAVIOUR_TYPES, MAX_STRING_LENGTH, EventType, Field, Kind

_Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID_LENGTH)]
# Stricter than validate._is_absolute_url (no newline right after "://"): never looser.
_URL_PATTERN = "^[hH][tT][tT][pP][sS]?://."


def _field_type(field: Field) -> Any:
    if field.choices:
        base: Any = Literal[field.choices]  # type: ignore[valid-type]
    elif field.kind is Kind.STRING:
        base = Annotated[str, Meta(min_length=1 if field.required else 0, max_length=MAX_STRING_LENGTH)]
    elif field.kind is Kind.URL:
        base = Annotated[str, Meta(max_length=MAX_STRING_LENGTH, pattern=_URL_PATTERN)]
    elif field.kind is Kind.NUMBER:
        base = Annotated[float, Meta(ge=0)]
    else:
        raise AssertionError(f"no fast path for {field.kind}")
    return base if field.required else base | None


def _struct(event_type: EventType) -> type[msgspec.Struct]:
    fields: list[Any] = [("id", Union[str, None], None), ("timestamp", Union[str, float, None], None)]
    for field in event_type.fields:
        fields.append((field.name, _field_type(field)) if field.required else (field.name, _field_type(field), None))
    return msgspec.defstruct(
        event_type.name,
        fields,
        kw_only=True,
        tag_field="type",
        tag=event_type.name,
        forbid_unknown_fields=True,
    )


_STRUCTS = {t.name: _struct(t) for t in BEHAVIOUR_TYPES}
# Per struct: its type's name, a getter of the typed-column fields and their columns, and
# a getter of the other fields (kept as properties) and their names. Fields are in model
# order.
_Plan = tuple[str, Callable[[Any], tuple[Any, ...]], tuple[str, ...], Callable[[Any], tuple[Any, ...]] | None, tuple[str, ...]]


def _plan(event_type: EventType) -> _Plan:
    typed = [f for f in event_type.fields if f.column]
    other = [f for f in event_type.fields if not f.column]
    return (
        event_type.name,
        _tuple_getter([f.name for f in typed]),
        tuple(f.column for f in typed if f.column),
        _tuple_getter([f.name for f in other]) if other else None,
        tuple(f.name for f in other),
    )


def _tuple_getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    getter: Callable[[Any], Any] = attrgetter(*names)  # one name: the value, not a tuple
    return getter if len(names) > 1 else (lambda obj: (getter(obj),))


_PLANS = {_STRUCTS[t.name]: _plan(t) for t in BEHAVIOUR_TYPES}


def _set_fields(names: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    """name -> value for the values that are set (most events set all their fields: built
    in C then, without a loop in Python)."""
    if None in values:
        return {n: v for n, v in zip(names, values) if v is not None}
    return dict(zip(names, values))


class _Envelope(msgspec.Struct):
    key: _Id
    visitor_id: _Id
    session_id: _Id
    events: list[Union[tuple(_STRUCTS.values())]]  # type: ignore[misc]
    sent_at: Union[str, float, None] = None


_DECODER = msgspec.json.Decoder(_Envelope)


def decode_batch(body: bytes, max_events: int) -> tuple[dict[str, Any], list[ValidEvent]] | None:
    """(envelope, validated events) for a batch the fast path vouches for, else None."""
    try:
        envelope = _DECODER.decode(body)
    except Exception:  # invalid, unknown, too deep, bad UTF-8...: the Python path decides
        return None
    if not 0 < len(envelope.events) <= max_events:
        return None
    sent_at = None
    if envelope.sent_at is not None:
        sent_at = parse_timestamp(envelope.sent_at)
        if sent_at is None:
            return None
    valid: list[ValidEvent] = []
    is_uuid, timestamp_us, plans = UUID_PATTERN.fullmatch, parse_timestamp, _PLANS
    for index, event in enumerate(envelope.events):
        event_id = event.id
        if event_id is not None:
            if not is_uuid(event_id):
                return None
            event_id = event_id.lower()
        client_ts = None
        if event.timestamp is not None:
            client_ts = timestamp_us(event.timestamp)
            if client_ts is None:
                return None
        # (Numbers are finite: msgspec refuses out-of-range ones, and JSON has no inf/nan.)
        type_name, get_typed, columns_of, get_other, other_names = plans[event.__class__]
        columns = _set_fields(columns_of, get_typed(event))
        properties_json = None
        if get_other is not None:
            properties = _set_fields(other_names, get_other(event))
            if properties:
                properties_json = msgspec.json.encode(properties).decode()
        valid.append(ValidEvent(index, type_name, event_id, client_ts, columns, properties_json))
    raw_envelope = {
        "key": envelope.key,
        "visitor_id": envelope.visitor_id,
        "session_id": envelope.session_id,
        "sent_at": sent_at,
    }
    return raw_envelope, valid
