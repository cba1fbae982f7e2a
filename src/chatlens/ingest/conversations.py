"""Which conversations exist, so that server-side events for an unknown one are refused.

A conversation exists once a `conversation` or `chat.*` event with its id is stored.
Recently seen ids are kept in memory (bounded, least recently used out); any other id is
looked up in the store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


class KnownConversations:
    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[tuple[str, str], None] = OrderedDict()

    def add(self, site_id: str, conversation_ids: Iterable[str]) -> None:
        for conversation_id in conversation_ids:
            key = (site_id, conversation_id)
            self._ids[key] = None
            self._ids.move_to_end(key)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._ids
