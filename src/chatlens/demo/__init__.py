"""The demo shop at /demo: a small store on the server's own origin, with the browser SDK
and a reference chat widget, so that a person can trigger each proactive-engagement skill
by hand and watch signals and offers flow (docs/sdk.md for the SDK it uses).

pages.py renders the HTML, catalog.py holds the products, static/ holds the page scripts
(shop.js: the shop's tracking calls and the event log; widget.js: the reference widget).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from chatlens.demo import catalog, pages
from chatlens.sites import SiteRegistry

STATIC = Path(__file__).with_name("static")
_MEDIA = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class DemoShop:
    def __init__(self, sites: SiteRegistry) -> None:
        self.sites = sites
        # Read once: the set of names is also the whitelist, so a request can only ever
        # name one of these files.
        self.static = {p.name: p.read_bytes() for p in sorted(STATIC.iterdir()) if p.suffix in _MEDIA}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/demo", self.home, methods=["GET"]),
            Route("/demo/category/{slug}", self.category, methods=["GET"]),
            Route("/demo/product/{product_id}", self.product, methods=["GET"]),
            Route("/demo/blog/{slug}", self.blog, methods=["GET"]),
            Route("/demo/guide/{slug}", self.guide, methods=["GET"]),
            Route("/demo/search", self.search, methods=["GET"]),
            Route("/demo/static/{name}", self.asset, methods=["GET", "HEAD"]),
        ]

    def _public_key(self) -> str | None:
        # The first site: on a fresh server, the default site made at first start.
        sites = self.sites.all()
        return sites[0].public_key if sites else None

    def _page(self, render: pages.Render, status: int = 200) -> Response:
        key = self._public_key()
        if key is None:
            return HTMLResponse(pages.no_site_page(), status_code=503)
        return HTMLResponse(render(key), status_code=status)

    def _not_found(self, what: str) -> Response:
        return self._page(lambda key: pages.layout("Not found", pages.not_found_body(what), key), 404)

    async def home(self, request: Request) -> Response:
        return self._page(pages.home)

    async def category(self, request: Request) -> Response:
        found = catalog.CATEGORY_BY_SLUG.get(request.path_params["slug"])
        if found is None:
            return self._not_found("There is no such category.")
        return self._page(lambda key: pages.category(key, found))

    async def product(self, request: Request) -> Response:
        found = catalog.PRODUCT_BY_ID.get(request.path_params["product_id"])
        if found is None:
            return self._not_found("There is no such product.")
        return self._page(lambda key: pages.product(key, found))

    async def blog(self, request: Request) -> Response:
        return self._article(request.path_params["slug"], "blog")

    async def guide(self, request: Request) -> Response:
        return self._article(request.path_params["slug"], "guide")

    def _article(self, slug: str, kind: str) -> Response:
        found = catalog.ARTICLE_BY_SLUG.get(slug)
        if found is None or found.kind != kind:
            return self._not_found("There is no such article.")
        return self._page(lambda key: pages.article(key, found))

    async def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "")[:200]  # a search box, not a document
        results = catalog.search(query)
        return self._page(lambda key: pages.search(key, query, results))

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = self.static.get(name)
        if body is None:
            return Response("not found", status_code=404, media_type="text/plain")
        # Short cache: the files change with the server version, like /sdk.js.
        media = _MEDIA[Path(name).suffix]
        return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=300"})
