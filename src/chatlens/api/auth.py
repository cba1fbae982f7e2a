"""Secret-key authentication for the read APIs: `Authorization: Bearer ags_...`."""

from __future__ import annotations

from starlette.requests import Request

from chatlens.sites import SiteRegistry
from chatlens.store.base import Site


class Unauthorized(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def require_site(request: Request, sites: SiteRegistry) -> Site:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization: required, must be 'Bearer <secret key>'")
    site = sites.by_secret_key(token.strip())
    if site is None:
        raise Unauthorized("Authorization: no site has this secret key")
    return site
