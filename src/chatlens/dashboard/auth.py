"""Dashboard logins: a site's secret key opens that site; the admin password (config
`[dashboard] admin_password`) opens every site.

A login becomes a signed cookie (`HttpOnly`, `SameSite=Strict`, `Path=/`) that names the
sites it opens and when it expires; nothing is kept on the server, and the signing key
is kept with the data so logins survive a restart. The cookie never holds the secret key
itself. Visitors of the tracked sites never get a cookie: this is for the site's owners.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from starlette.requests import Request

from chatlens.sites import SiteRegistry
from chatlens.store.base import Site

COOKIE = "chatlens_session"
TTL_SECONDS = 7 * 86_400
_ALL = "*"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: `site_ids` None means every site (the admin)."""

    site_ids: frozenset[str] | None
    expires: int

    @property
    def admin(self) -> bool:
        return self.site_ids is None

    def may_see(self, site_id: str) -> bool:
        return self.site_ids is None or site_id in self.site_ids


class DashboardAuth:
    def __init__(self, sites: SiteRegistry, signing_key: bytes, admin_password: str | None, ttl_seconds: int = TTL_SECONDS) -> None:
        self.sites = sites
        self._key = signing_key
        self._admin_password = admin_password
        self.ttl_seconds = ttl_seconds

    def login(self, credential: str, now: float | None = None) -> str | None:
        """The cookie value for a secret key or the admin password; None if neither."""
        credential = credential.strip()
        scope: str | None = None
        if self._admin_password and hmac.compare_digest(credential.encode(), self._admin_password.encode()):
            scope = _ALL
        else:
            site = self.sites.by_secret_key(credential) if credential else None
            scope = site.site_id if site is not None else None
        if scope is None:
            return None
        expires = int(now if now is not None else time.time()) + self.ttl_seconds
        payload = f"{scope}|{expires}"
        return _b64(payload.encode()) + "." + _b64(self._sign(payload))

    def viewer(self, request: Request, now: float | None = None) -> Viewer | None:
        """The viewer a request's cookie stands for, if it is genuine and not expired."""
        raw = request.cookies.get(COOKIE)
        if not raw or "." not in raw:
            return None
        body, _, signature = raw.partition(".")
        try:
            payload = _unb64(body).decode()
            given = _unb64(signature)
        except (ValueError, UnicodeDecodeError):
            return None
        if not hmac.compare_digest(given, self._sign(payload)):
            return None
        scope, _, expires_text = payload.rpartition("|")
        if not expires_text.isdigit() or int(expires_text) < (now if now is not None else time.time()):
            return None
        if scope == _ALL:
            return Viewer(None, int(expires_text))
        if self.sites.by_id(scope) is None:
            return None
        return Viewer(frozenset({scope}), int(expires_text))

    def sites_for(self, viewer: Viewer) -> list[Site]:
        return [s for s in self.sites.all() if viewer.may_see(s.site_id)]

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
