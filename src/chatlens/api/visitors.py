"""PLACEHOLDER (being written): `GET /v1/visitors/{id}/context` (secret key)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from chatlens.sites import SiteRegistry
from chatlens.visitors import VisitorContextReader


class VisitorsEndpoint:
    def __init__(self, reader: VisitorContextReader, sites: SiteRegistry) -> None:
        self.reader = reader
        self.sites = sites

    async def context(self, request: Request) -> Response:
        raise NotImplementedError
