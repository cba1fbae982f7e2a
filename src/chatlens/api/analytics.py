"""The analytics API (docs/analytics.md):

    GET /v1/analytics                      the reports there are
    GET /v1/analytics/{report}             one report: from, to, filters, breakdown, ...;
                                           format=json (default), csv or parquet (one table:
                                           table=KEY, default its headline metrics)
    GET /v1/export/events                  raw events as csv or parquet (same scope; type=)

Either a site's secret key (`Authorization: Bearer`) or a dashboard login (cookie) is
accepted; an admin login picks the site with `site=`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from chatlens.analytics import REPORTS, BadParameter, ReportFunction, ReportQuery, Scope, parse_report_query
from chatlens.analytics.export import FORMATS, export_events, pick_table, table_csv, table_parquet
from chatlens.api._http import error_body
from chatlens.api.auth import Unauthorized, require_site
from chatlens.api.events import iso, json_response
from chatlens.dashboard.auth import DashboardAuth
from chatlens.ingest.validate import parse_timestamp
from chatlens.model.events import EVENT_TYPES
from chatlens.sites import SiteRegistry
from chatlens.store.base import EventStore, Site

_MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


class AnalyticsEndpoint:
    def __init__(
        self,
        store: EventStore,
        sites: SiteRegistry,
        auth: DashboardAuth,
        flush: Callable[[], None],
        reports: Mapping[str, ReportFunction] = REPORTS,
    ) -> None:
        self.store = store
        self.reports = reports  # REPORTS, some bound to the server's configuration
        self.sites = sites
        self.auth = auth
        self.flush = flush  # loads journaled events, so a report sees all that was acknowledged

    def site(self, request: Request) -> Site | Response:
        """The site a request may read: by secret key, else by dashboard login."""
        if request.headers.get("authorization"):
            try:
                return require_site(request, self.sites)
            except Unauthorized as exc:
                return json_response(401, error_body("unauthorized", exc.message), {"WWW-Authenticate": "Bearer"})
        viewer = self.auth.viewer(request)
        if viewer is None:
            return json_response(
                401,
                error_body("unauthorized", "Authorization: required, 'Bearer <secret key>' or a dashboard login"),
                {"WWW-Authenticate": "Bearer"},
            )
        wanted = request.query_params.get("site")
        visible = self.auth.sites_for(viewer)
        if wanted:
            site = next((s for s in visible if s.site_id == wanted), None)
            if site is None:
                return json_response(403, error_body("forbidden", f"site: {wanted!r} is not a site this login opens"))
            return site
        if not visible:
            return json_response(404, error_body("no_site", "site: there is no site yet; create one with `chatlens site create`"))
        return visible[0]

    async def index(self, request: Request) -> Response:
        site = self.site(request)
        if isinstance(site, Response):
            return site
        viewer = None if request.headers.get("authorization") else self.auth.viewer(request)
        sites = [site] if viewer is None else self.auth.sites_for(viewer)
        return json_response(
            200,
            {"site": site.site_id, "sites": [{"site_id": s.site_id, "name": s.name} for s in sites], "reports": sorted(self.reports)},
        )

    def _query(self, site: Site, request: Request) -> ReportQuery:
        return parse_report_query(site.site_id, request.query_params, parse_timestamp)

    async def report(self, request: Request) -> Response:
        site = self.site(request)
        if isinstance(site, Response):
            return site
        name = request.path_params["report"]
        function = self.reports.get(name)
        if function is None:
            return json_response(404, error_body("unknown_report", f"report: {name!r} is not one of {', '.join(sorted(self.reports))}"))
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", *FORMATS):
            return json_response(400, error_body("bad_parameter", "format: must be json, csv or parquet"))
        try:
            query = self._query(site, request)
        except BadParameter as exc:
            return json_response(400, error_body("bad_parameter", str(exc)))

        def compute() -> Any:
            self.flush()
            return function(self.store, query)

        report = await run_in_threadpool(compute)
        if fmt == "json":
            return json_response(200, report.as_dict(iso))
        key = request.query_params.get("table")
        try:
            table = pick_table(report, key)
        except KeyError:
            keys = ", ".join(["metrics", *(t.key for t in report.tables)])
            return json_response(400, error_body("bad_parameter", f"table: {key!r} is not a table of {name} ({keys})"))
        body = table_csv(table) if fmt == "csv" else await run_in_threadpool(table_parquet, table)
        filename = f"chatlens-{site.site_id}-{name}-{table.key}.{fmt}"
        return Response(body, 200, {"Content-Disposition": f'attachment; filename="{filename}"'}, media_type=_MEDIA[fmt])

    async def events(self, request: Request) -> Response:
        site = self.site(request)
        if isinstance(site, Response):
            return site
        fmt = request.query_params.get("format", "csv")
        if fmt not in FORMATS:
            return json_response(400, error_body("bad_parameter", "format: must be csv or parquet"))
        types = tuple(t for t in request.query_params.get("type", "").split(",") if t)
        unknown = [t for t in types if t not in EVENT_TYPES]
        if unknown:
            return json_response(400, error_body("bad_parameter", f"type: unknown event type {unknown[0]!r}"))
        try:
            query = self._query(site, request)
        except BadParameter as exc:
            return json_response(400, error_body("bad_parameter", str(exc)))
        tmp = Path(tempfile.mkdtemp(prefix="chatlens-export-"))
        path = tmp / f"chatlens-{site.site_id}-events.{fmt}"

        def write() -> int:
            self.flush()
            return export_events(self.store, Scope(query), types, fmt, path)

        await run_in_threadpool(write)
        return FileResponse(
            path,
            media_type=_MEDIA[fmt],
            filename=path.name,
            background=BackgroundTask(_remove, tmp),
        )


def _remove(directory: Path) -> None:
    for child in directory.iterdir():
        child.unlink(missing_ok=True)
    directory.rmdir()
