"""`POST /v1/server/batch`: events from server SDKs (secret key), e.g. an agent backend;
and `POST /v1/conversations/{id}/logs`, the same for one conversation's session logs.

Same answer as `/v1/batch` (accepted, duplicates, per-event errors), without the browser
concerns (CORS, bots, per-session rate limit), with a larger body limit for attachments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from starlette.requests import Request
from starlette.responses import Response

from chatlens.api._http import error_body
from chatlens.api.auth import Unauthorized, require_site
from chatlens.api.events import json_response
from chatlens.ingest.pipeline import IncomingBatch, Ingestor, Rejection

log = logging.getLogger("chatlens.server_batch")


class ServerBatchEndpoint:
    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    async def handle(self, request: Request) -> Response:
        return await self._ingest(request, lambda body: body)

    async def logs(self, request: Request) -> Response:
        """`{"logs": [{"dataKey": ..., "logType"?, "value"?, "timestamp"?, "id"?}]}`: each
        becomes a `session_log` event of the conversation in the path."""
        conversation_id = request.path_params["conversation_id"]

        def as_events(body: bytes) -> bytes:
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise Rejection(400, "malformed_json", f"body is not valid JSON: {exc}") from None
            logs = payload.get("logs") if isinstance(payload, dict) else None
            if not isinstance(logs, list) or not logs:
                raise Rejection(400, "bad_envelope", "logs: required, must be a non-empty array of objects")
            events: list[Any] = [
                {**log, "type": "session_log", "conversationId": conversation_id} if isinstance(log, dict) else log
                for log in logs
            ]
            return orjson.dumps({"events": events})

        return await self._ingest(request, as_events)

    async def _ingest(self, request: Request, to_envelope: Callable[[bytes], bytes]) -> Response:
        try:
            site = require_site(request, self.ingestor.sites)
        except Unauthorized as exc:
            return json_response(401, error_body("unauthorized", exc.message), {"WWW-Authenticate": "Bearer"})
        limit = self.ingestor.settings.max_server_body_bytes
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return json_response(413, error_body("body_too_large", f"body: larger than {limit} bytes"))
        try:
            incoming = IncomingBatch(
                body=to_envelope(bytes(body)),
                user_agent=request.headers.get("user-agent", ""),
                server_site=site,
            )
            batch = await self.ingestor.ingest_server(incoming)
        except Rejection as exc:
            return json_response(exc.status, error_body(exc.code, exc.message), exc.headers)
        return json_response(200, batch.response())
