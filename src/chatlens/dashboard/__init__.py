"""The dashboard at `/`: a login form, a shell page and its static files. The page's script
(static/dashboard.js) reads the analytics API (`/v1/analytics/...`, api/analytics.py) with
the login cookie and draws every report generically from its JSON.

Routes:

    GET  /                          the dashboard (logged in), else 303 to /login
    GET  /login, POST /login        the form; POST `credential` (a site's secret key or the
                                    admin password): 303 to / with the cookie, or the form
                                    again with an error (401)
    POST /logout                    clears the cookie, 303 to /login
    GET  /dashboard/static/{name}   the page's script, styles and icon (a fixed whitelist)

Every page and file is served by this server (it works offline) under a strict
Content-Security-Policy: scripts only from this origin, no inline script or style
attributes, so even a rendering bug cannot run script that came with visitor data.
"""

from __future__ import annotations

import hashlib
import html
import time
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from chatlens.dashboard.auth import COOKIE, DashboardAuth

STATIC = Path(__file__).with_name("static")
_MEDIA = {
    ".js": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_PAGES = {".html"}

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
_PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}

LOGIN_ERROR = "That is neither a site's secret key nor the admin password. Check it and try again."
THROTTLED = "Too many failed attempts from this address: wait a minute and try again."
_MAX_CREDENTIAL = 1024
_MAX_FORM = 4 * _MAX_CREDENTIAL  # bytes of the login form's body

# Failed logins per client address and minute before the form answers 429: secret keys
# cannot be guessed, but an admin password might be.
MAX_FAILURES_PER_MINUTE = 20


class Dashboard:
    def __init__(self, auth: DashboardAuth, *, trust_proxy_headers: bool = False) -> None:
        self.auth = auth
        self.trust_proxy_headers = trust_proxy_headers
        # Read once: the set of names is also the whitelist of files a request may name.
        self.static = {p.name: p.read_bytes() for p in sorted(STATIC.iterdir()) if p.suffix in _MEDIA}
        versions = {name: hashlib.sha256(body).hexdigest()[:12] for name, body in self.static.items()}
        self.templates: dict[str, str] = {}
        for page in sorted(STATIC.iterdir()):
            if page.suffix in _PAGES:
                text = page.read_text()
                for name, version in versions.items():
                    text = text.replace(f"{{{{asset:{name}}}}}", f"/dashboard/static/{name}?v={version}")
                self.templates[page.name] = text
        self._failures: dict[str, tuple[int, int]] = {}  # address -> (minute, count)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET", "HEAD"]),
            Route("/login", self.login, methods=["GET", "HEAD", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/dashboard/static/{name}", self.asset, methods=["GET", "HEAD"]),
        ]

    # -- pages ---------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        if self.auth.viewer(request) is None:
            return RedirectResponse("/login", status_code=303, headers={"Cache-Control": "no-store"})
        return HTMLResponse(self.templates["index.html"], headers=_PAGE_HEADERS)

    async def login(self, request: Request) -> Response:
        if request.method != "POST":
            if self.auth.viewer(request) is not None:
                return RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
            return self._login_page()
        if _cross_site(request):
            return self._login_page("This form must be sent from the dashboard's own page.", 403)
        address = self._address(request)
        if self._throttled(address):
            return self._login_page(THROTTLED, 429, {"Retry-After": "60"})
        credential = await _read_credential(request)
        cookie = self.auth.login(credential) if credential else None
        if cookie is None:
            self._fail(address)
            return self._login_page(LOGIN_ERROR, 401)
        response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
        response.headers.append("Set-Cookie", self._cookie(request, cookie, self.auth.ttl_seconds))
        return response

    async def logout(self, request: Request) -> Response:
        if _cross_site(request):
            return Response("cross-site logout refused", status_code=403, media_type="text/plain")
        response = RedirectResponse("/login", status_code=303, headers={"Cache-Control": "no-store"})
        response.headers.append("Set-Cookie", self._cookie(request, "", 0))
        return response

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = self.static.get(name)
        if body is None:
            return Response("not found", status_code=404, media_type="text/plain")
        # Long cache: index.html names each file with its content hash (?v=...).
        cache = "public, max-age=31536000, immutable" if request.query_params.get("v") else "public, max-age=300"
        return Response(
            body, media_type=_MEDIA[Path(name).suffix], headers={**SECURITY_HEADERS, "Cache-Control": cache}
        )

    # -- helpers -------------------------------------------------------------------------

    def _login_page(self, error: str | None = None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        block = ""
        if error:
            block = f'<p class="login-error" role="alert" id="login-error">{html.escape(error)}</p>'
        page = self.templates["login.html"].replace("{{error}}", block)
        page = page.replace("{{invalid}}", ' aria-invalid="true" aria-describedby="login-error"' if error else "")
        return HTMLResponse(page, status_code=status, headers={**_PAGE_HEADERS, **(headers or {})})

    def _https(self, request: Request) -> bool:
        if request.url.scheme == "https":
            return True
        if self.trust_proxy_headers:
            proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
            return proto == "https"
        return False

    def _cookie(self, request: Request, value: str, max_age: int) -> str:
        parts = [f"{COOKIE}={value}", f"Max-Age={max_age}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if self._https(request):
            parts.append("Secure")
        return "; ".join(parts)

    def _address(self, request: Request) -> str:
        if self.trust_proxy_headers and request.headers.get("x-forwarded-for"):
            return request.headers["x-forwarded-for"].split(",")[0].strip()
        return request.client.host if request.client else "?"

    def _throttled(self, address: str) -> bool:
        minute, count = self._failures.get(address, (0, 0))
        return minute == int(time.time() // 60) and count >= MAX_FAILURES_PER_MINUTE

    def _fail(self, address: str) -> None:
        now = int(time.time() // 60)
        minute, count = self._failures.get(address, (now, 0))
        if len(self._failures) > 10_000:  # a sweep of stale entries keeps this small
            self._failures = {a: v for a, v in self._failures.items() if v[0] == now}
        self._failures[address] = (now, count + 1 if minute == now else 1)


def _cross_site(request: Request) -> bool:
    """A form posted by another site's page (browsers say so in Sec-Fetch-Site). The
    cookie is SameSite=Strict already; this also stops another site from logging a
    visitor in, or out. (Not the Origin header: a proxy may rewrite Host.)"""
    return request.headers.get("sec-fetch-site", "").lower() == "cross-site"


async def _read_credential(request: Request) -> str | None:
    """The `credential` field of a small urlencoded form; None for anything else."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=5, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("credential", [])
    if len(values) != 1 or not 0 < len(values[0]) <= _MAX_CREDENTIAL:
        return None
    return values[0]
