"""The wire protocol of the `agentsight` Python SDK, version 0.0.18 (reference 003).

An agent backend that uses that SDK unmodified only sets `AGENTSIGHT_API_ENDPOINT` to a
Chatlens server and `AGENTSIGHT_API_KEY` to the site's secret key. Each request becomes
canonical events (docs/events.md) and goes through the same pipeline as every other
server batch: validated, deduplicated, durable before the answer.

    POST /api/conversations/  -> `conversation` (is_used: false = initialize, true = used)
    POST /api/track/          -> `message` (sender end_user -> user, agent -> agent)
    POST /api/action_logs/    -> `action` (`token_usage` actions -> `token_usage`)
    POST /api/buttons/        -> `button`
    POST /api/attachments/    -> one `attachment` per file (base64 JSON or multipart)

Errors come in the shapes that SDK parses (Django REST framework's): `{"detail": "..."}`
or `{"field": ["message"]}`, with the SDK's own field names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatlens.api.events import json_response
from chatlens.ingest.pipeline import IncomingBatch, Ingestor, Rejection
from chatlens.store.base import Site

log = logging.getLogger("chatlens.agentsight")

_SENDERS = {"end_user": "user", "user": "user", "agent": "agent", "system": "system"}

# Canonical field -> the SDK's name for it, to word errors in the SDK's vocabulary.
_THEIR_NAMES = {
    "conversationId": "conversation",
    "used": "is_used",
    "customerId": "customer_id",
    "deviceType": "device",
    "name": "action_name",
    "startedAt": "started_at",
    "endedAt": "ended_at",
    "durationMs": "duration_ms",
    "tools": "tools_used",
    "error": "error_msg",
    "event": "button_event",
    "mimeType": "mime_type",
    "customerIp": "customer_ip_address",
}


class BadRequest(Exception):
    def __init__(self, errors: dict[str, list[str]], status: int = 400) -> None:
        super().__init__(str(errors))
        self.errors, self.status = errors, status


class AgentSightAPI:
    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    def routes(self) -> list[Route]:
        handlers: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
            "conversations": _conversation,
            "track": _message,
            "action_logs": _action,
            "buttons": _button,
            "attachments": _attachments,
        }
        routes = []
        for name, convert in handlers.items():
            endpoint = self._endpoint(name, convert)
            routes += [Route(f"/api/{name}/", endpoint, methods=["POST"]), Route(f"/api/{name}", endpoint, methods=["POST"])]
        return routes

    def _endpoint(self, name: str, convert: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                site = self._authenticate(request)
                payload = await _payload(request, self.ingestor.settings.max_server_body_bytes)
                events = convert(payload)
                for event in events:
                    event["id"] = _stable_id(site, name, event)
                return await self._ingest(site, name, events)
            except BadRequest as exc:
                return json_response(exc.status, exc.errors)

        return endpoint

    def _authenticate(self, request: Request) -> Site:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if not key.strip() or scheme.lower() not in ("api-key", "bearer"):
            raise BadRequest({"detail": "Authentication credentials were not provided: send 'Authorization: Api-Key <secret key>'."}, 401)  # type: ignore[dict-item]
        site = self.ingestor.sites.by_secret_key(key.strip())
        if site is None:
            raise BadRequest({"detail": "Invalid API key: no site has this secret key."}, 401)  # type: ignore[dict-item]
        return site

    async def _ingest(self, site: Site, name: str, events: list[dict[str, Any]]) -> Response:
        incoming = IncomingBatch(body=orjson.dumps({"events": events}), server_site=site)
        try:
            batch = await self.ingestor.ingest_server(incoming)
        except Rejection as exc:
            return json_response(exc.status, {"detail": exc.message}, exc.headers)
        if batch.rejected:
            errors: dict[str, list[str]] = {}
            for rejected in batch.rejected:
                for error in rejected["errors"]:
                    field, reason = _their_error(error, name)
                    errors.setdefault(field, []).append(reason)
            return json_response(400, errors)
        first = events[0]
        body: dict[str, Any] = {"id": first["conversationId"] if name == "conversations" else first["id"]}
        body["conversation"] = first["conversationId"]
        if name == "conversations":
            body["conversation_id"] = first["conversationId"]
            body["is_used"] = bool(first.get("used"))
        if name == "attachments":
            body["attachments"] = [{"id": e["id"], "filename": e.get("filename")} for e in events]
        body["duplicate"] = batch.duplicates == len(events)
        return json_response(201, body)


async def _payload(request: Request, limit: int) -> dict[str, Any]:
    too_large = BadRequest({"detail": f"Request body larger than {limit} bytes."}, 413)  # type: ignore[dict-item]
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = await request.body()  # kept by Starlette for the form parser too
    if len(body) > limit:
        raise too_large
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _form_payload(request)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest({"detail": f"JSON parse error - {exc}"}) from None  # type: ignore[dict-item]
    if not isinstance(payload, dict):
        raise BadRequest({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    return payload


async def _form_payload(request: Request) -> dict[str, Any]:
    """The SDK's form-data mode: fields conversation, sender, mode, metadata (JSON text)
    and files attachment_0, attachment_1, ..."""
    try:
        form = await request.form(max_files=100, max_fields=100)
    except Exception as exc:  # the parser's errors (no boundary, too many parts) are the client's
        raise BadRequest({"detail": f"Multipart form parse error - {exc}"}) from None  # type: ignore[dict-item]
    payload: dict[str, Any] = {"attachments": []}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read()
            payload["attachments"].append(
                {
                    "filename": value.filename or key,
                    "mime_type": value.content_type or "application/octet-stream",
                    "data": base64.b64encode(data).decode(),
                }
            )
        elif key == "metadata":
            try:
                payload["metadata"] = orjson.loads(value) if value else None
            except orjson.JSONDecodeError:
                raise BadRequest({"metadata": ["Must be JSON text."]}) from None
        else:
            payload[key] = value
    return payload


def _conversation_of(payload: dict[str, Any]) -> str:
    """The `conversation` the SDK got back from /api/conversations/ (our id is the
    conversation id itself), else its `conversation_id`."""
    for name in ("conversation", "conversation_id"):
        value = payload.get(name)
        if isinstance(value, str) and value.strip():
            return value
        if value is not None and not isinstance(value, str):
            raise BadRequest({name: [f"Must be a string, got {type(value).__name__}."]})
    raise BadRequest({"conversation": ["This field is required."]})


def _common(payload: dict[str, Any], type_name: str) -> dict[str, Any]:
    event: dict[str, Any] = {"type": type_name, "conversationId": _conversation_of(payload)}
    if payload.get("timestamp") is not None:
        event["timestamp"] = payload["timestamp"]
    if payload.get("metadata") is not None:
        event["metadata"] = payload["metadata"]
    return event


def _conversation(payload: dict[str, Any]) -> list[dict[str, Any]]:
    conversation_id = payload.get("conversation_id")
    if not isinstance(conversation_id, str) or not conversation_id.strip():
        raise BadRequest({"conversation_id": ["This field is required and may not be blank."]})
    event: dict[str, Any] = {"type": "conversation", "conversationId": conversation_id}
    for theirs, ours in (
        ("is_used", "used"),
        ("customer_id", "customerId"),
        ("customer_ip_address", "customerIp"),
        ("device", "deviceType"),
        ("source", "source"),
        ("language", "language"),
        ("name", "name"),
        ("environment", "environment"),
        ("metadata", "metadata"),
        ("timestamp", "timestamp"),
    ):
        if payload.get(theirs) is not None:
            event[ours] = payload[theirs]
    return [event]


def _message(payload: dict[str, Any]) -> list[dict[str, Any]]:
    event = _common(payload, "message")
    sender = payload.get("sender")
    if not isinstance(sender, str) or sender not in _SENDERS:
        raise BadRequest({"sender": [f'"{sender}" is not a valid choice (end_user, agent, system).']})
    event["sender"] = _SENDERS[sender]
    content = payload.get("content")
    if content is None:
        raise BadRequest({"content": ["This field is required."]})
    event["content"] = content
    return [event]


def _action(payload: dict[str, Any]) -> list[dict[str, Any]]:
    if payload.get("action_name") == "token_usage":
        # track_token_usage() arrives as an action whose metadata holds the counts.
        event = _common({**payload, "metadata": None}, "token_usage")
        counts = payload.get("metadata") or {}
        if not isinstance(counts, dict):
            raise BadRequest({"metadata": ["Must be an object of token counts."]})
        for theirs, ours in (
            ("prompt_tokens", "promptTokens"),
            ("completion_tokens", "completionTokens"),
            ("total_tokens", "totalTokens"),
            ("embedding_tokens", "embeddingTokens"),
        ):
            if counts.get(theirs) is not None:
                event[ours] = counts[theirs]
        return [event]
    event = _common(payload, "action")
    for theirs, ours in (
        ("action_name", "name"),
        ("started_at", "startedAt"),
        ("ended_at", "endedAt"),
        ("duration_ms", "durationMs"),
        ("tools_used", "tools"),
        ("response", "response"),
        ("error_msg", "error"),
    ):
        if payload.get(theirs) is not None:
            event[ours] = payload[theirs]
    return [event]


def _button(payload: dict[str, Any]) -> list[dict[str, Any]]:
    event = _common(payload, "button")
    for theirs, ours in (("button_event", "event"), ("label", "label"), ("value", "value")):
        if payload.get(theirs) is not None:
            event[ours] = payload[theirs]
    return [event]


def _attachments(payload: dict[str, Any]) -> list[dict[str, Any]]:
    files = payload.get("attachments")
    if not isinstance(files, list) or not files:
        raise BadRequest({"attachments": ["This list may not be empty."]})
    sender = payload.get("sender") or "end_user"
    if not isinstance(sender, str) or sender not in _SENDERS:
        raise BadRequest({"sender": [f'"{sender}" is not a valid choice (end_user, agent).']})
    events = []
    for i, item in enumerate(files):
        if not isinstance(item, dict):
            raise BadRequest({"attachments": [f"Item {i}: must be an object with filename, mime_type, data."]})
        try:
            content = base64.b64decode(item.get("data") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise BadRequest({"attachments": [f"Item {i}: data is not valid base64."]}) from None
        event = _common(payload, "attachment")
        event.update(
            sender=_SENDERS[sender],
            filename=item.get("filename"),
            mimeType=item.get("mime_type"),
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            content=item.get("data"),
        )
        events.append(event)
    return events


def _stable_id(site: Site, route: str, event: dict[str, Any]) -> str:
    """The same request gives the same event id, so the SDK's retries are deduplicated.
    (Its payloads carry a timestamp fixed when the item was tracked.) The client's IP is
    left out: it is never stored, and a stored id must not reveal it."""
    hashed = {k: v for k, v in event.items() if k != "customerIp"}
    digest = bytearray(hashlib.sha256(orjson.dumps([site.site_id, route, hashed], option=orjson.OPT_SORT_KEYS)).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: a custom, name-based UUID
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Per route, fields that the SDK sent under another name than _THEIR_NAMES says.
_ROUTE_NAMES = {
    "conversations": {"conversationId": "conversation_id"},
    "attachments": {"content": "attachments", "filename": "attachments", "mimeType": "attachments"},
    "action_logs": {  # token counts travel in the action's metadata
        name: "metadata" for name in ("promptTokens", "completionTokens", "totalTokens", "embeddingTokens")
    },
}


def _their_error(error: str, route: str) -> tuple[str, str]:
    """'events[0].content: must not be empty' -> ('content', 'must not be empty')."""
    path, _, reason = error.partition(": ")
    field = path.split("]", 1)[-1].lstrip(".").split(".")[0] or "non_field_errors"
    theirs = _ROUTE_NAMES.get(route, {}).get(field) or _THEIR_NAMES.get(field, field)
    return theirs, reason
