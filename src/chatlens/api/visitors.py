"""`GET /v1/visitors/{visitor_id}/context` (secret key): what an agent should know about a
visitor before it starts a chat with them (chatlens/visitors.py builds it)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from chatlens.api._http import error_body
from chatlens.api.auth import Unauthorized, require_site
from chatlens.api.events import BadParameter, _is_small_int, json_response
from chatlens.sites import SiteRegistry
from chatlens.visitors import DEFAULT_DAYS, MAX_DAYS, VisitorContextReader


class VisitorsEndpoint:
    def __init__(self, reader: VisitorContextReader, sites: SiteRegistry) -> None:
        self.reader = reader
        self.sites = sites

    async def context(self, request: Request) -> Response:
        try:
            site = require_site(request, self.sites)
        except Unauthorized as exc:
            return json_response(401, error_body("unauthorized", exc.message), {"WWW-Authenticate": "Bearer"})
        try:
            days = parse_days(request.query_params.multi_items())
        except BadParameter as exc:
            return json_response(400, error_body("bad_parameter", str(exc)))
        visitor_id = request.path_params["visitor_id"]
        # The reader blocks (it flushes the loader and queries the store): off the event loop.
        context = await run_in_threadpool(self.reader.get, site.site_id, visitor_id, None, days)
        if context is None:
            return json_response(
                404,
                error_body("not_found", f"visitor {visitor_id[:80]!r}: no events in the last {days} days"),
            )
        return json_response(200, context)


def parse_days(items: list[tuple[str, str]]) -> int:
    days = DEFAULT_DAYS
    for name, value in items:
        if name != "days":
            raise BadParameter(f"{name}: unknown parameter (use days)")
        if not _is_small_int(value) or not 1 <= int(value) <= MAX_DAYS:
            raise BadParameter(f"days: must be an integer from 1 to {MAX_DAYS}, got {value[:40]!r}")
        days = int(value)
    return days
