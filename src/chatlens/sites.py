"""Sites and their keys, cached in memory for the request path.

The public key (pk_...) is write-only and safe in a page; the secret key (ags_...) reads
data and is kept only as a SHA-256 hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from chatlens.store.base import Site, hash_secret

_ORIGIN = re.compile(r"(https?)://(\*\.)?[a-z0-9.-]+(:\d{1,5})?", re.IGNORECASE)


def normalize_origin(origin: str) -> str:
    """Check and normalize an allowed origin: scheme://host[:port], `*.` wildcard allowed."""
    value = origin.strip().rstrip("/").lower()
    if not _ORIGIN.fullmatch(value):
        raise ValueError(
            f"origin {origin!r}: must look like https://shop.example.com, "
            "https://*.example.com or http://localhost:3000 (no path)"
        )
    return value


def origin_allowed(site: Site, origin: str | None) -> bool:
    """A site with no origins accepts any; a request without Origin is not from a page."""
    if origin is None or not site.origins:
        return True
    origin = origin.lower()
    for allowed in site.origins:
        if allowed == origin:
            return True
        scheme, _, host = allowed.partition("://")
        if host.startswith("*.") and origin.startswith(scheme + "://") and origin.endswith(host[1:]):
            return True
    return False


class SiteRegistry:
    def __init__(self, sites: Iterable[Site] = ()) -> None:
        self._by_public: dict[str, Site] = {}
        self._by_secret_hash: dict[str, Site] = {}
        for site in sites:
            self.add(site)

    def add(self, site: Site) -> None:
        self._by_public[site.public_key] = site
        self._by_secret_hash[site.secret_key_hash] = site

    def by_public_key(self, key: str) -> Site | None:
        return self._by_public.get(key)

    def by_secret_key(self, key: str) -> Site | None:
        return self._by_secret_hash.get(hash_secret(key))

    def by_id(self, site_id: str) -> Site | None:
        return next((s for s in self._by_public.values() if s.site_id == site_id), None)

    def all(self) -> list[Site]:
        """Every site, oldest first (the order the store lists them in at startup)."""
        return list(self._by_public.values())

    def any_allows(self, origin: str) -> bool:
        return any(origin_allowed(site, origin) for site in self._by_public.values())
