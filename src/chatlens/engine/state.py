"""What the engine remembers between batches: per session and per visitor, in process.

Kept small on purpose (docs/benchmarks.md: bytes per active session): a session is one
object with slots, a few scalars and, only while a skill is half-way through, its partial
matches. `SessionStates` and `VisitorStates` are the narrow interface a shared store
(Redis, say) would implement to run several server processes.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from chatlens.engine.conditions import Captured

SESSION_IDLE_US = 30 * 60 * 1_000_000  # a session ends after 30 minutes without events


class Partial:
    """A skill half-way through its steps for one session."""

    __slots__ = ("step", "count", "start_us", "captured", "evidence")

    def __init__(self, step: int, count: int, start_us: int, captured: Captured, evidence: tuple[str, ...]) -> None:
        self.step = step  # the next step to match
        self.count = count  # events matched so far by that step
        self.start_us = start_us
        self.captured = captured  # what the named steps matched so far
        self.evidence = evidence  # ids of the events matched so far


class SessionState:
    __slots__ = (
        "visitor_id",
        "page_url",
        "page_type",
        "page_product",
        "page_status",
        "page_dwell",
        "page_dwell_us",
        "cart",
        "chat_open",
        "offers",
        "pending",
        "pending_us",
        "dismissed_us",
        "qualified",
        "partials",
        "last_us",
    )

    def __init__(self, visitor_id: str, now_us: int) -> None:
        self.visitor_id = visitor_id
        self.page_url: str | None = None
        self.page_type: str | None = None
        self.page_product: str | None = None
        self.page_status: str | None = None  # the stock status reported for the page's product
        self.page_dwell = 0.0  # seconds on the current page, as last reported
        self.page_dwell_us = now_us  # when that was (the page view, or the dwell report)
        self.cart = 0  # items: adds minus removes
        self.chat_open = False
        self.offers = 0  # offers and holdouts made in this session
        self.pending: str | None = None  # an offer not yet accepted or dismissed
        self.pending_us = 0
        self.dismissed_us = 0  # the last "not now"
        self.qualified = 0  # bit i: skill i has qualified in this session (once per session)
        self.partials: dict[int, list[Partial]] | None = None
        self.last_us = now_us


class VisitorState:
    __slots__ = ("last_offer_us", "opted_out", "traits")

    def __init__(self) -> None:
        self.last_offer_us = 0  # the last offer or holdout, for the cooldown across sessions
        self.opted_out = False  # "don't show again": no proactive offers, ever
        self.traits: dict[str, Any] | None = None  # from identify


S = TypeVar("S")


class KeyedStates(Protocol[S]):
    def get(self, key: tuple[str, str]) -> S | None: ...

    def put(self, key: tuple[str, str], state: S) -> None: ...

    def __len__(self) -> int: ...


class LruStates(Generic[S]):
    """In-process states, least recently used dropped beyond `capacity`.

    A plain dict kept in use order (a key used again moves to the end): an OrderedDict's
    links would cost ~100 bytes more per session."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._states: dict[tuple[str, str], S] = {}

    def get(self, key: tuple[str, str]) -> S | None:
        state = self._states.pop(key, None)
        if state is not None:
            self._states[key] = state
        return state

    def put(self, key: tuple[str, str], state: S) -> None:
        self._states.pop(key, None)
        self._states[key] = state
        while len(self._states) > self.capacity:
            del self._states[next(iter(self._states))]

    def __len__(self) -> int:
        return len(self._states)


SessionStates = KeyedStates[SessionState]
VisitorStates = KeyedStates[VisitorState]
