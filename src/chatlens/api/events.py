"""`GET /v1/events`: stored events of one site, filtered and paginated (secret key)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from chatlens._time import iso as iso_us
from chatlens.api.auth import Unauthorized, require_site
from chatlens.ingest.validate import (
    MAX_TIMESTAMP_US,
    MIN_TIMESTAMP_US,
    UUID_PATTERN,
    parse_timestamp,
)
from chatlens.model.events import EVENT_TYPES
from chatlens.sites import SiteRegistry
from chatlens.store.base import EventPage, EventQuery, EventStore
from chatlens.store.schema import event_data

MAX_LIMIT = 1000


class BadParameter(Exception):
    pass


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


class EventsEndpoint:
    def __init__(self, store: EventStore, sites: SiteRegistry, flush: Callable[[], None]) -> None:
        self.store = store
        self.sites = sites
        self.flush = flush  # loads journaled events, so a reader sees all it was promised

    def _read(self, query: EventQuery) -> EventPage:
        self.flush()
        return self.store.query_events(query)

    async def handle(self, request: Request) -> Response:
        try:
            site = require_site(request, self.sites)
        except Unauthorized as exc:
            return json_response(
                401, {"error": "unauthorized", "message": exc.message}, {"WWW-Authenticate": "Bearer"}
            )
        try:
            query = parse_query(site.site_id, request.query_params.multi_items())
        except BadParameter as exc:
            return json_response(400, {"error": "bad_parameter", "message": str(exc)})
        page = await run_in_threadpool(self._read, query)
        return json_response(
            200,
            {
                "events": [event_json(row) for row in page.rows],
                "next_cursor": encode_cursor(page.next_after) if page.next_after else None,
            },
        )


def parse_query(site_id: str, items: list[tuple[str, str]]) -> EventQuery:
    params: dict[str, Any] = {"site_id": site_id}
    types: list[str] = []
    for name, value in items:
        if name == "type":
            for t in filter(None, (v.strip() for v in value.split(","))):
                if t not in EVENT_TYPES:
                    raise BadParameter(f"type: unknown event type {t!r}")
                types.append(t)
        elif name in ("visitor_id", "session_id"):
            params[name] = value
        elif name == "conversation_id":
            params["interaction_id"] = value
        elif name in ("since", "until"):
            micros = parse_timestamp(int(value) if _is_small_int(value) else value)
            if micros is None:
                raise BadParameter(f"{name}: must be ISO 8601 text or epoch milliseconds, got {value!r}")
            params[f"{name}_us"] = micros
        elif name == "limit":
            if not _is_small_int(value) or not 1 <= int(value) <= MAX_LIMIT:
                raise BadParameter(f"limit: must be an integer from 1 to {MAX_LIMIT}, got {value!r}")
            params["limit"] = int(value)
        elif name == "cursor":
            params["after"] = decode_cursor(value)
        else:
            raise BadParameter(
                f"{name}: unknown parameter (use type, visitor_id, session_id, conversation_id, since, until, limit, cursor)"
            )
    params["types"] = tuple(types)
    return EventQuery(**params)


def _is_small_int(value: str) -> bool:
    # str.isdigit() also accepts digits int() refuses (superscripts); only plain ASCII.
    return 0 < len(value) <= 18 and value.isascii() and value.isdigit()


def encode_cursor(after: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(after))).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[int, str]:
    try:
        ts, event_id = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if type(ts) is not int or not MIN_TIMESTAMP_US <= ts < MAX_TIMESTAMP_US:
            raise ValueError
        if not isinstance(event_id, str) or not UUID_PATTERN.fullmatch(event_id):
            raise ValueError
        return ts, event_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadParameter("cursor: not a cursor returned by this API") from None


def iso(micros: int | None) -> str | None:
    return None if micros is None else iso_us(micros)


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the API shows it: the event's own fields under `data`."""
    return {
        "id": row["event_id"],
        "type": row["type"],
        "visitor_id": row["visitor_id"],
        "session_id": row["session_id"],
        "timestamp": iso(row["client_ts"]),
        "sent_at": iso(row["sent_at"]),
        "received_at": iso(row["received_at"]),
        "time": iso(row["ts"]),
        "device": row["device"],
        "bot": row["bot"],
        "data": event_data(row),
    }
