"""The dashboard's HTTP side against the real server: login and logout, the cookie and
what it opens, the admin password from --config, the static files and the
Content-Security-Policy of every page."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Server, create_site, new_id, start_server

from chatlens.dashboard.auth import COOKIE, TTL_SECONDS, DashboardAuth
from chatlens.sites import SiteRegistry
from chatlens.store.duckdb_store import DuckDBStore

ADMIN_PASSWORD = "correct horse battery staple"


def iso_now_minus(seconds: float) -> str:
    ms = int((time.time() - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


@dataclass
class Env:
    server: Server
    shop: dict[str, str]  # site_id, public_key, secret_key
    blog: dict[str, str]
    signing_key: bytes
    sites: SiteRegistry
    http: httpx.Client  # one connection pool; its cookie jar is emptied after every request

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> httpx.Client:
        """A client that keeps cookies, like a browser."""
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)

    def request(self, method: str, path: str, cookie: str | None = None, **options: Any) -> httpx.Response:
        headers = dict(options.pop("headers", None) or {})
        if cookie is not None:
            headers["Cookie"] = f"{COOKIE}={cookie}"
        try:
            return self.http.request(method, path, headers=headers, **options)
        finally:
            self.http.cookies.clear()

    def login(self, credential: str, **headers: str) -> httpx.Response:
        return self.request("POST", "/login", data={"credential": credential}, headers=headers)

    def cookie(self, credential: str) -> str:
        response = self.login(credential)
        assert response.status_code == 303, response.text
        return response.cookies[COOKIE]

    def get(self, path: str, cookie: str | None = None, **params: str) -> httpx.Response:
        return self.request("GET", path, cookie, params=params)


def post_chat_events(server: Server, site: dict[str, str], session: str, types: list[str]) -> None:
    """Widget/lifecycle events of one visit, a minute ago (so inside the default range)."""
    events = []
    for i, kind in enumerate(types):
        event: dict[str, Any] = {"type": kind, "id": new_id(), "timestamp": iso_now_minus(60 - i)}
        if kind.startswith("chat."):
            event["metadata"] = {"id": f"conv-{session}"}
        events.append(event)
    body = server.envelope(events, key=site["public_key"], visitor_id=f"v-{session}", session_id=session, sent_at=iso_now_minus(0))
    response = server.post(body)
    assert response.status_code == 200 and response.json()["accepted"] == len(types), response.text


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("dashboard")
    db = tmp / "chatlens.duckdb"
    shop = create_site(db, "shop")
    blog = create_site(db, "blog")
    # The cookie signing key, read while no server holds the file: the tests forge
    # expired and tampered cookies with it.
    store = DuckDBStore(db)
    signing_key = store.server_secret("dashboard")
    sites = SiteRegistry(store.list_sites())
    store.close()
    config = tmp / "chatlens.toml"
    config.write_text(f'[dashboard]\nadmin_password = "{ADMIN_PASSWORD}"\n')
    server = start_server(db, "--config", str(config), "--rate-limit", "100000", "--trust-proxy", keys=shop)
    # shop: visit s1 loaded the widget and started a chat, s2 only loaded it;
    # blog: visit b1 loaded it and submitted the form.
    post_chat_events(server, shop, "s1", ["CHAT_LOADED", "chat.started"])
    post_chat_events(server, shop, "s2", ["CHAT_LOADED"])
    post_chat_events(server, blog, "b1", ["CHAT_LOADED", "chat.submitted"])
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as http:
        yield Env(server, shop, blog, signing_key, sites, http)
    server.stop()


def metrics(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return {m["key"]: m["value"] for m in response.json()["metrics"]}


# shop: 2 visits initialized (s1, s2), 1 used (s1: chat.started) -> 50 %, 1 abandoned (s2)
SHOP_ENGAGEMENT = {"initialized": 2, "used": 1, "interaction_rate": 50.0, "abandoned": 1, "abandonment_rate": 50.0}
# blog: 1 visit initialized (b1), used (chat.submitted) -> 100 %, none abandoned
BLOG_ENGAGEMENT = {"initialized": 1, "used": 1, "interaction_rate": 100.0, "abandoned": 0, "abandonment_rate": 0.0}


# ---------------------------------------------------------------------------------------


def test_logged_out_the_dashboard_redirects_to_the_login_form(env: Env) -> None:
    response = env.get("/")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    form = env.get("/login")
    assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/login"' in form.text and 'name="credential"' in form.text
    assert 'role="alert"' not in form.text  # no error before a try
    assert "set-cookie" not in form.headers


@pytest.mark.parametrize("credential", ["sk_wrong", "", "   ", ADMIN_PASSWORD + "x", "x" * 5000])
def test_a_wrong_credential_gets_the_form_again_with_an_error_and_no_cookie(env: Env, credential: str) -> None:
    response = env.login(credential)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert 'role="alert"' in response.text
    assert "neither a site&#x27;s secret key nor the admin password" in response.text
    assert 'name="credential"' in response.text  # the form, to try again


def test_a_body_that_is_not_a_form_is_a_wrong_credential(env: Env) -> None:
    response = env.request("POST", "/login", content=b"\x00\xff{]", headers={"Content-Type": "application/json"})
    assert response.status_code == 401 and "set-cookie" not in response.headers


def test_a_secret_key_logs_in_with_a_strict_httponly_cookie(env: Env) -> None:
    response = env.login(env.shop["secret_key"])
    assert response.status_code == 303 and response.headers["location"] == "/"
    [header] = response.headers.get_list("set-cookie")
    name_value, *attributes = [part.strip() for part in header.split(";")]
    assert name_value.startswith(f"{COOKIE}=") and len(name_value) > len(COOKIE) + 20
    assert sorted(attributes) == sorted(["HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={TTL_SECONDS}"])  # no Secure over http
    assert env.shop["secret_key"] not in header  # the cookie never holds the key itself
    cookie = name_value.split("=", 1)[1]

    page = env.get("/", cookie)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert re.search(r'<script src="/dashboard/static/dashboard\.js\?v=[0-9a-f]{12}" defer></script>', page.text)
    assert page.headers["cache-control"] == "no-store"
    # logged in, the login form sends you to the dashboard
    again = env.get("/login", cookie)
    assert again.status_code == 303 and again.headers["location"] == "/"


def test_behind_an_https_proxy_the_cookie_is_secure(env: Env) -> None:
    """The server runs with --trust-proxy: X-Forwarded-Proto says the visitor used https."""
    response = env.login(env.shop["secret_key"], **{"X-Forwarded-Proto": "https"})
    assert response.status_code == 303
    [header] = response.headers.get_list("set-cookie")
    assert "; Secure" in header and "SameSite=Strict" in header and "HttpOnly" in header


def test_the_cookie_opens_the_analytics_api_without_a_bearer_key(env: Env) -> None:
    cookie = env.cookie(env.shop["secret_key"])
    index = env.get("/v1/analytics", cookie)
    assert index.status_code == 200 and index.json()["site"] == env.shop["site_id"]
    assert "engagement" in index.json()["reports"]
    assert metrics(env.get("/v1/analytics/engagement", cookie)) == SHOP_ENGAGEMENT
    # the same numbers as with the secret key
    with_key = env.request("GET", "/v1/analytics/engagement", headers={"Authorization": f"Bearer {env.shop['secret_key']}"})
    assert metrics(with_key) == SHOP_ENGAGEMENT
    # downloads too
    csv = env.get("/v1/analytics/engagement", cookie, format="csv", table="metrics")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[1] == "initialized,Interactions initialized,2"
    events = env.get("/v1/export/events", cookie, format="csv")
    assert events.status_code == 200 and len(events.text.strip().splitlines()) == 1 + 3  # header + s1's 2 + s2's 1
    # without the cookie: 401
    assert env.get("/v1/analytics/engagement").status_code == 401


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def refused(env: Env, cookie: str) -> None:
    page = env.get("/", cookie)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert env.get("/v1/analytics/engagement", cookie).status_code == 401


def test_a_tampered_cookie_is_refused(env: Env) -> None:
    cookie = env.cookie(env.shop["secret_key"])
    body, signature = cookie.split(".")
    scope, expires = _unb64(body).decode().rsplit("|", 1)
    assert scope == env.shop["site_id"]
    # the same signature on a payload that claims every site, or the blog
    refused(env, _b64(f"*|{expires}".encode()) + "." + signature)
    refused(env, _b64(f"{env.blog['site_id']}|{expires}".encode()) + "." + signature)
    # a later expiry
    refused(env, _b64(f"{scope}|{int(expires) + 86_400}".encode()) + "." + signature)
    # a flipped signature byte, a missing signature, garbage
    flipped = bytearray(_unb64(signature))
    flipped[0] ^= 1
    refused(env, body + "." + _b64(bytes(flipped)))
    refused(env, body)
    refused(env, "%%%.###")
    # signed with another key
    other = DashboardAuth(env.sites, b"not the server's key" * 2, ADMIN_PASSWORD).login(env.shop["secret_key"])
    assert other is not None
    refused(env, other)
    # and the genuine one still works
    assert env.get("/", cookie).status_code == 200


def test_an_expired_cookie_is_refused(env: Env) -> None:
    auth = DashboardAuth(env.sites, env.signing_key, ADMIN_PASSWORD)
    fresh = auth.login(env.shop["secret_key"])
    assert fresh is not None and env.get("/", fresh).status_code == 200  # the forging is right
    expired = auth.login(env.shop["secret_key"], now=time.time() - TTL_SECONDS - 60)
    assert expired is not None
    refused(env, expired)


def test_logout_clears_the_cookie(env: Env) -> None:
    with env.client() as client:
        assert client.post("/login", data={"credential": env.shop["secret_key"]}).status_code == 303
        assert client.get("/").status_code == 200
        response = client.post("/logout")
        assert response.status_code == 303 and response.headers["location"] == "/login"
        [header] = response.headers.get_list("set-cookie")
        assert header.startswith(f"{COOKIE}=;") and "Max-Age=0" in header and "Path=/" in header
        assert "HttpOnly" in header and "SameSite=Strict" in header
        assert COOKIE not in client.cookies
        assert client.get("/").status_code == 303
        assert client.get("/v1/analytics/engagement").status_code == 401


def test_forms_posted_from_another_site_are_refused(env: Env) -> None:
    """A browser names a cross-site form post in Sec-Fetch-Site."""
    cross = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    response = env.login(env.shop["secret_key"], **cross)
    assert response.status_code == 403 and "set-cookie" not in response.headers
    cookie = env.cookie(env.shop["secret_key"])
    out = env.request("POST", "/logout", cookie, headers=cross)
    assert out.status_code == 403 and "set-cookie" not in out.headers
    # the dashboard's own page is fine
    same = env.login(env.shop["secret_key"], **{"Sec-Fetch-Site": "same-origin", "Origin": env.url})
    assert same.status_code == 303 and COOKIE in same.cookies


def test_only_a_small_urlencoded_form_is_read(env: Env) -> None:
    key = env.shop["secret_key"]
    multipart = env.request("POST", "/login", files={"credential": (None, key)})
    assert multipart.status_code == 401
    twice = env.request("POST", "/login", content=f"credential={key}&credential={key}",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert twice.status_code == 401
    padded = env.request("POST", "/login", content=f"credential={key}&pad={'x' * 5000}",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert padded.status_code == 401
    plain = env.request("POST", "/login", content=f"credential={key}&remember=1",
                        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert plain.status_code == 303


def test_the_admin_password_opens_every_site(env: Env) -> None:
    cookie = env.cookie(ADMIN_PASSWORD)
    for site, expected in ((env.shop, SHOP_ENGAGEMENT), (env.blog, BLOG_ENGAGEMENT)):
        index = env.get("/v1/analytics", cookie, site=site["site_id"])
        assert index.status_code == 200 and index.json()["site"] == site["site_id"]
        assert metrics(env.get("/v1/analytics/engagement", cookie, site=site["site_id"])) == expected
    assert env.get("/v1/analytics/engagement", cookie, site="no-such-site").status_code == 403
    assert env.get("/", cookie).status_code == 200


def test_a_site_key_opens_only_its_own_site(env: Env) -> None:
    shop = env.cookie(env.shop["secret_key"])
    blog = env.cookie(env.blog["secret_key"])
    assert metrics(env.get("/v1/analytics/engagement", blog)) == BLOG_ENGAGEMENT
    assert metrics(env.get("/v1/analytics/engagement", shop, site=env.shop["site_id"])) == SHOP_ENGAGEMENT
    for cookie, other in ((shop, env.blog), (blog, env.shop)):
        for path in ("/v1/analytics", "/v1/analytics/engagement", "/v1/export/events"):
            response = env.get(path, cookie, site=other["site_id"])
            assert response.status_code == 403, (path, response.text)
            assert response.json()["error"] == "forbidden"


def test_failed_logins_are_throttled_per_address(env: Env) -> None:
    """20 failures a minute from one address; then even the right key waits (the server
    trusts X-Forwarded-For here, so this test has an address of its own)."""
    address = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(20):
        assert env.login("sk_guess", **address).status_code == 401
    blocked = env.login(env.shop["secret_key"], **address)
    assert blocked.status_code == 429 and blocked.headers["retry-after"] == "60"
    assert "set-cookie" not in blocked.headers and "Too many failed attempts" in blocked.text
    # another address is not affected
    assert env.login(env.shop["secret_key"], **{"X-Forwarded-For": "203.0.113.8"}).status_code == 303


class Markup(HTMLParser):
    """The tags and attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.script_bodies: list[str] = []
        self.attributes: list[str] = []
        self.links: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes.extend(name for name, _ in attrs)
        values = dict(attrs)
        if tag == "script":
            self.scripts.append(values)
            self._in_script = True
        for name in ("src", "href"):
            if values.get(name):
                self.links.append(values[name] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_bodies.append(data)


def test_pages_have_a_strict_csp_and_no_inline_script(env: Env) -> None:
    cookie = env.cookie(env.shop["secret_key"])
    for path, status, with_cookie in (("/", 200, True), ("/login", 200, False)):
        response = env.get(path, cookie if with_cookie else None)
        assert response.status_code == status
        csp = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'" and directives["default-src"] == "'none'"
        assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        page = Markup()
        page.feed(response.text)
        assert not page.script_bodies  # no inline script
        assert all(s.get("src", "").startswith("/dashboard/static/") for s in page.scripts)
        assert "style" not in page.attributes and not [a for a in page.attributes if a.startswith("on")]
        # everything it loads comes from this server
        assert all(link.startswith(("/", "#")) for link in page.links), page.links
    # the error page too
    assert "script-src 'self'" in env.login("sk_wrong").headers["content-security-policy"]


@pytest.mark.parametrize(
    ("name", "media"),
    [
        ("dashboard.js", "application/javascript"),
        ("dashboard.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_static_files_are_served_with_their_types(env: Env, name: str, media: str) -> None:
    response = env.get(f"/dashboard/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    source = Path(__file__).resolve().parents[2] / "src" / "chatlens" / "dashboard" / "static" / name
    assert response.content == source.read_bytes()
    versioned = env.get(f"/dashboard/static/{name}", v="abc")
    assert "immutable" in versioned.headers["cache-control"]


@pytest.mark.parametrize("name", ["nope.js", "index.html", "login.html", "..%2F__init__.py", "%2E%2E%2Fauth.py"])
def test_other_names_are_not_served(env: Env, name: str) -> None:
    response = env.request("GET", f"/dashboard/static/{name}")
    assert response.status_code == 404


def test_the_script_never_writes_markup() -> None:
    """Visitor text reaches the page as text only: the script has no innerHTML,
    outerHTML, insertAdjacentHTML, document.write or eval."""
    source = (Path(__file__).resolve().parents[2] / "src" / "chatlens" / "dashboard" / "static" / "dashboard.js").read_text()
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in code, sink
