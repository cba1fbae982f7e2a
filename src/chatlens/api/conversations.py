"""`GET /v1/conversations` and `GET /v1/conversations/{id}` (secret key)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from chatlens.api._http import error_body
from chatlens.api.auth import Unauthorized, require_site
from chatlens.api.events import (
    MAX_LIMIT,
    BadParameter,
    _is_small_int,
    encode_cursor,
    iso,
    json_response,
)
from chatlens.conversations import ConversationFilter, ConversationReader
from chatlens.ingest.validate import parse_timestamp
from chatlens.model.events import LIFECYCLE_STAGES
from chatlens.model.lifecycle import Conversation
from chatlens.sites import SiteRegistry
from chatlens.store.base import ConversationQuery

_TIMES = ("time", "used_at", "created_at", "updated_at")


class ConversationsEndpoint:
    def __init__(self, reader: ConversationReader, sites: SiteRegistry) -> None:
        self.reader = reader
        self.sites = sites

    async def get(self, request: Request) -> Response:
        try:
            site = require_site(request, self.sites)
        except Unauthorized as exc:
            return _unauthorized(exc)
        conversation_id = request.path_params["conversation_id"]
        conv = await run_in_threadpool(self.reader.get, site.site_id, conversation_id)
        if conv is None:
            return json_response(
                404, error_body("not_found", f"conversation {conversation_id[:80]!r}: no such conversation")
            )
        return json_response(200, conversation_json(conv))

    async def list(self, request: Request) -> Response:
        try:
            site = require_site(request, self.sites)
        except Unauthorized as exc:
            return _unauthorized(exc)
        try:
            query, filters = parse_list_query(site.site_id, request.query_params.multi_items())
        except BadParameter as exc:
            return json_response(400, error_body("bad_parameter", str(exc)))
        found, before = await run_in_threadpool(self.reader.list, query, filters)
        return json_response(
            200,
            {
                "conversations": [conversation_json(c, summary=True) for c in found],
                "next_cursor": encode_cursor(before) if before else None,
            },
        )


def _unauthorized(exc: Unauthorized) -> Response:
    return json_response(401, error_body("unauthorized", exc.message), {"WWW-Authenticate": "Bearer"})


def parse_list_query(site_id: str, items: list[tuple[str, str]]) -> tuple[ConversationQuery, ConversationFilter]:
    params: dict[str, Any] = {"site_id": site_id}
    filters: dict[str, Any] = {}
    for name, value in items:
        if name in ("visitor_id", "customer_id"):
            params[name] = value
        elif name == "state":
            if value not in LIFECYCLE_STAGES:
                raise BadParameter(f"state: must be one of {', '.join(LIFECYCLE_STAGES)}, got {value[:40]!r}")
            filters["state"] = value
        elif name in ("used", "flagged"):
            if value not in ("true", "false"):
                raise BadParameter(f"{name}: must be true or false, got {value[:40]!r}")
            filters[name] = value == "true"
        elif name == "result":
            filters["result"] = value
        elif name in ("since", "until"):
            micros = parse_timestamp(int(value) if _is_small_int(value) else value)
            if micros is None:
                raise BadParameter(f"{name}: must be ISO 8601 text or epoch milliseconds, got {value[:40]!r}")
            params[f"{name}_us"] = micros
        elif name == "limit":
            if not _is_small_int(value) or not 1 <= int(value) <= MAX_LIMIT:
                raise BadParameter(f"limit: must be an integer from 1 to {MAX_LIMIT}, got {value[:40]!r}")
            params["limit"] = int(value)
        elif name == "cursor":
            params["before"] = decode_cursor(value)
        else:
            raise BadParameter(
                f"{name}: unknown parameter (use state, used, result, flagged, visitor_id, "
                "customer_id, since, until, limit, cursor)"
            )
    return ConversationQuery(**params), ConversationFilter(**filters)


def decode_cursor(value: str) -> tuple[int, str]:
    """A cursor from `next_cursor`: (first event time in us, conversation id)."""
    try:
        first_us, conversation_id = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if type(first_us) is not int or not isinstance(conversation_id, str):
            raise ValueError
        return first_us, conversation_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadParameter("cursor: not a cursor returned by this API") from None


def conversation_json(conv: Conversation, *, summary: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": conv.id,
        "state": conv.state,
        "used": conv.used,
        "used_at": iso(conv.used_at),
        "created_at": iso(conv.created_at),
        "updated_at": iso(conv.updated_at),
        "visitor_id": conv.visitor_id,
        "session_id": conv.session_id,
        "customer_id": conv.customer_id,
        **conv.details,
        "metadata": conv.metadata,
        "result": conv.result,
        "flagged": bool(conv.anomalies),
    }
    if summary:
        return out
    out.update(
        stages=_timed(conv.stages),
        anomalies=_timed(conv.anomalies),
        messages=_timed(conv.messages),
        actions=_timed(conv.actions),
        buttons=_timed(conv.buttons),
        attachments=_timed(conv.attachments),
        ratings=_timed(conv.ratings),
        token_usage=conv.token_usage,
        session_logs=_timed(conv.session_logs),
    )
    return out


def _timed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**item, "time": iso(item["time"])} for item in items]
