"""PLACEHOLDER (being written): the visitor context for agents."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatlens.store.base import EventStore


class VisitorContextReader:
    def __init__(self, store: EventStore, flush: Callable[[], None]) -> None:
        self.store = store
        self.flush = flush

    def get(self, site_id: str, visitor_id: str, now_us: int | None = None) -> dict[str, Any] | None:
        raise NotImplementedError
