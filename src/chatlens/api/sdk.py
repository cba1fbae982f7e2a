"""`GET /sdk.js`: the browser SDK, gzipped once at startup, cached by ETag."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from chatlens.browser import MINIFIED


@dataclass(frozen=True)
class SdkScript:
    plain: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def load(cls) -> SdkScript:
        plain = MINIFIED.read_bytes()
        etag = '"' + hashlib.sha256(plain).hexdigest()[:20] + '"'
        return cls(plain, gzip.compress(plain, compresslevel=9, mtime=0), etag)

    async def serve(self, request: Request) -> Response:
        headers = {
            "ETag": self.etag,
            # Short: a new server version reaches pages within minutes; ETag makes it cheap.
            "Cache-Control": "public, max-age=300",
            "Vary": "Accept-Encoding",
            "Access-Control-Allow-Origin": "*",
        }
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        media = "application/javascript; charset=utf-8"
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(self.gzipped, headers={**headers, "Content-Encoding": "gzip"}, media_type=media)
        return Response(self.plain, headers=headers, media_type=media)
