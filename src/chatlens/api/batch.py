"""`POST /v1/batch`: where browsers send events (and its CORS preflight).

Browsers post `text/plain` so that no preflight is needed; `application/json` works too.
CORS answers name the requesting origin only when the site allows it.
"""

from __future__ import annotations

import logging

from starlette.types import Receive, Scope, Send

from chatlens.api._http import BodyTooLarge, error_body, header_map, read_body, send_json
from chatlens.ingest.pipeline import IncomingBatch, Ingestor, Rejection

log = logging.getLogger("chatlens.batch")

_ACCEPTED_TYPES = (b"text/plain", b"application/json")


class BatchEndpoint:
    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.settings = ingestor.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        origin = headers.get(b"origin", b"").decode("latin-1") or None
        if scope["method"] == "OPTIONS":
            await self._preflight(send, origin)
            return
        if scope["method"] != "POST":
            await send_json(send, 405, error_body("method_not_allowed", "use POST"), {"Allow": "POST, OPTIONS"})
            return
        metrics = self.ingestor.metrics
        try:
            incoming = await self._incoming(scope, receive, headers, origin)
            batch = await self.ingestor.ingest(incoming)
        except Rejection as exc:
            metrics.inc("chatlens_batch_requests_total", status=str(exc.status))
            cors = self._cors(origin, allowed=exc.status != 403 and self._any_site_allows(origin))
            await send_json(send, exc.status, error_body(exc.code, exc.message), {**exc.headers, **cors})
            return
        except Exception:  # a bug, not bad input: never leak details, always log them
            log.exception("batch ingestion failed")
            metrics.inc("chatlens_batch_requests_total", status="500")
            await send_json(send, 500, error_body("internal", "internal error; the events were not stored"))
            return
        metrics.inc("chatlens_batch_requests_total", status="200")
        await send_json(send, 200, batch.response(), self._cors(origin, allowed=True))

    async def _incoming(
        self, scope: Scope, receive: Receive, headers: dict[bytes, bytes], origin: str | None
    ) -> IncomingBatch:
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type and content_type not in _ACCEPTED_TYPES:
            raise Rejection(
                415,
                "unsupported_media_type",
                f"Content-Type {content_type.decode('latin-1')!r}: send text/plain or application/json",
            )
        limit = self.settings.max_body_bytes
        too_large = Rejection(413, "body_too_large", f"body: larger than {limit} bytes; send fewer events per batch")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            raise too_large from None
        client = scope.get("client")
        client_ip = client[0] if client else None
        if self.settings.trust_proxy_headers and b"x-forwarded-for" in headers:
            client_ip = headers[b"x-forwarded-for"].decode("latin-1").split(",")[0].strip()
        return IncomingBatch(
            body=body,
            origin=origin,
            user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
            client_ip=client_ip,
            accept_language=headers.get(b"accept-language", b"").decode("latin-1"),
        )

    def _any_site_allows(self, origin: str | None) -> bool:
        return origin is not None and self.ingestor.sites.any_allows(origin)

    @staticmethod
    def _cors(origin: str | None, *, allowed: bool) -> dict[str, str]:
        if origin is None or not allowed:
            return {"Vary": "Origin"}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }

    async def _preflight(self, send: Send, origin: str | None) -> None:
        if not self._any_site_allows(origin):
            await send_json(send, 403, error_body("origin_not_allowed", f"origin {origin!r} is not allowed"), {"Vary": "Origin"})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", (origin or "").encode("latin-1")),
                    (b"access-control-allow-methods", b"POST, OPTIONS"),
                    (b"access-control-allow-headers", b"Content-Type"),
                    (b"access-control-max-age", b"86400"),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


class NoopEndpoint:
    """Reads and discards the body: the benchmark's reference on the same stack."""

    def __init__(self, max_body_bytes: int) -> None:
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await read_body(receive, self.limit)
        except BodyTooLarge:
            await send_json(send, 413, error_body("body_too_large", "too large"))
            return
        await send_json(send, 200, {"accepted": 0, "duplicates": 0, "rejected": [], "instructions": {}})
