"""`POST /v1/server/batch`: events from server SDKs (secret key), e.g. an agent backend.

Same answer as `/v1/batch` (accepted, duplicates, per-event errors), without the browser
concerns (CORS, bots, per-session rate limit), with a larger body limit for attachments.
"""

from __future__ import annotations

import logging

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
        incoming = IncomingBatch(
            body=bytes(body),
            user_agent=request.headers.get("user-agent", ""),
            server_site=site,
        )
        try:
            batch = await self.ingestor.ingest_server(incoming)
        except Rejection as exc:
            return json_response(exc.status, error_body(exc.code, exc.message), exc.headers)
        return json_response(200, batch.response())
