"""One event as the skills see it, and how a skill's condition reads a field of it.

A step's conditions are compiled knowing the step's event types, so a field is found once
at load time: a typed column of those types, the session's context, a visitor trait, or
else the event's other properties. The engine tests every event of a step's types, so
this lookup sits in its innermost loop (docs/benchmarks.md: the intent engine's cost).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

import orjson

from chatlens.engine.conditions import Captured
from chatlens.engine.state import SessionState, VisitorState
from chatlens.model.events import EVENT_TYPES

# wire field -> typed column, per event type (the engine reads events as validated)
COLUMNS: dict[str, dict[str, str]] = {
    name: {f.name: f.column for f in spec.fields if f.column} for name, spec in EVENT_TYPES.items()
}
# The session's context by name (skills.toml: `page.*`, `cart.count`) -> its SessionState
# attribute. (Wire field names have no dots, so they never clash with these.)
CONTEXT: dict[str, str] = {
    "page.url": "page_url",
    "page.pageType": "page_type",
    "page.productId": "page_product",
    "page.status": "page_status",
    "page.dwellSeconds": "page_dwell",
    "cart.count": "cart",
}


class Signal:
    """One event: its own fields by wire name, and the session's context (`page.*`,
    `cart.count`, `visitor.*`)."""

    __slots__ = ("type", "id", "ts_us", "columns", "props_json", "_props", "session", "visitor")

    def __init__(
        self,
        type_name: str,
        event_id: str,
        ts_us: int,
        columns: dict[str, Any],
        props_json: str | None,
        session: SessionState,
        visitor: VisitorState,
    ) -> None:
        self.type = type_name
        self.id = event_id
        self.ts_us = ts_us
        self.columns = columns
        self.props_json = props_json
        self._props: dict[str, Any] | None = None
        self.session = session
        self.visitor = visitor

    def get(self, name: str) -> Any:
        column = COLUMNS[self.type].get(name)
        if column is not None:
            return self.columns.get(column)
        context = CONTEXT.get(name)
        if context is not None:
            return getattr(self.session, context)
        if name.startswith("visitor."):
            return (self.visitor.traits or {}).get(name[8:])
        return self.props.get(name)

    @property
    def props(self) -> dict[str, Any]:
        if self._props is None:
            self._props = orjson.loads(self.props_json) if self.props_json else {}
        return self._props


def field_getter(types: Iterable[str]) -> Callable[[str], Callable[[Signal], Any]]:
    """For a step matching events of `types`: name -> a function reading that field of a
    Signal, resolved now rather than on every event. Same answers as `Signal.get`."""
    columns = [COLUMNS[t] for t in types]

    def getter(name: str) -> Callable[[Signal], Any]:
        found = {c.get(name) for c in columns}
        column = found.pop() if len(found) == 1 else None  # the same column in every type
        if column is not None:
            return lambda s: s.columns.get(column)
        if name in CONTEXT:
            return attrgetter(f"session.{CONTEXT[name]}")
        return lambda s: s.get(name)  # a column of some of the types, a trait, a property

    return getter


def capturer(step: str, fields: tuple[str, ...], types: Iterable[str]) -> Callable[[Signal], Captured]:
    """For a step named `step` matching events of `types`: its event -> the (step, field,
    value) triples of `fields` that are set."""
    get = field_getter(types)
    readers = tuple((field, get(field)) for field in fields)
    if len(readers) == 1:  # the common case (a product id), without a loop
        [(field, read)] = readers
        return lambda s: () if (value := read(s)) is None else ((step, field, value),)
    return lambda s: tuple([(step, field, value) for field, read in readers if (value := read(s)) is not None])
