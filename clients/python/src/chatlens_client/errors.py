"""Everything the SDK raises or reports.

Two families, because they happen at different times:

* raised at the call site, synchronously: bad arguments (`InvalidEventError`, a
  `ValueError`; `InvalidEventTypeError` is also a `TypeError`), a full queue
  (`QueueFullError`), a closed client, a flush that timed out. The caller can fix these
  where they happen, so they are exceptions.
* reported later, from the background worker: what the server refused
  (`ChatlensAPIError`, `RejectedEvent`). By then the call that queued the event has long
  returned, so these go to the `on_error` callback and the client's `errors` list
  instead of being raised into unrelated code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias


class ChatlensError(Exception):
    """Base class of every exception this SDK defines, to catch them all at once."""


class ConfigurationError(ChatlensError, ValueError):
    """The client cannot be built as asked: a missing secret key or a bad option."""


class InvalidEventError(ChatlensError, ValueError):
    """An argument cannot make a valid event; nothing was queued.

    `argument` names the parameter as the caller wrote it (`question`,
    `attachments[1].mime_type`), so the message points at the call site.
    """

    def __init__(self, argument: str, reason: str) -> None:
        super().__init__(f"{argument}: {reason}")
        self.argument = argument
        self.reason = reason


class InvalidEventTypeError(InvalidEventError, TypeError):
    """An argument has the wrong Python type (`duration_ms="slow"`).

    Also a `TypeError`, as Python users expect for a wrong type, and an
    `InvalidEventError`, so one `except` catches every local validation failure.
    """


class NoConversationError(InvalidEventError):
    """No `conversation_id` was given and there is no current conversation yet."""

    def __init__(self) -> None:
        super().__init__(
            "conversation_id",
            "not given and there is no current conversation; call "
            "get_or_create_conversation(...) first or pass conversation_id=...",
        )


class QueueFullError(ChatlensError):
    """The in-memory queue holds `max_queue` events not yet acknowledged by the server.

    Raised instead of blocking (an agent's reply must not wait on analytics) and instead of
    dropping silently. Usually the server has been unreachable for a while; flush, back
    off, or raise `max_queue`.
    """


class ClientClosedError(ChatlensError, RuntimeError):
    """The client was closed; it accepts no more events."""


class FlushTimeoutError(ChatlensError, TimeoutError):
    """`flush(timeout=...)` ran out of time; the events stay queued and keep being retried."""

    def __init__(self, pending: int, timeout: float) -> None:
        super().__init__(f"{pending} event(s) not acknowledged by the server after {timeout:g} s")
        self.pending = pending
        self.timeout = timeout


class ChatlensAPIError(ChatlensError):
    """The server refused a whole batch, or it could not be delivered at all.

    `status` is the HTTP status (401: wrong secret key, 400: bad request, 413: too
    large), or None when no answer came (the retries ran out on network errors, or the
    client was closed before delivery). `events` are the events that were NOT stored
    because of it.
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        code: str | None = None,
        events: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        prefix = f"HTTP {status}" if status is not None else "not delivered"
        super().__init__(f"{prefix}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.events: list[Mapping[str, Any]] = list(events)


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """One event the server refused in an otherwise accepted batch (HTTP 200).

    `index` is the event's position in the batch as sent, `event` the event itself (with
    its `id`, `type` and `conversationId`), `errors` the server's reasons, each
    "events[i].field: reason". The event's valid siblings were stored.
    """

    index: int
    event: Mapping[str, Any]
    errors: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        kind = self.event.get("type", "?")
        return f"{kind} event {self.event.get('id', '?')} rejected: " + "; ".join(self.errors)


DeliveryError: TypeAlias = ChatlensAPIError | RejectedEvent
"""What `on_error` receives and `errors` holds: a refused batch or a refused event."""
