"""PLACEHOLDER (being written): the demo shop at /demo."""
from __future__ import annotations

from starlette.routing import BaseRoute

from chatlens.sites import SiteRegistry


class DemoShop:
    def __init__(self, sites: SiteRegistry) -> None:
        self.sites = sites

    def routes(self) -> list[BaseRoute]:
        return []
