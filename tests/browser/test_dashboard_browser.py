"""The dashboard at `/` in headless Chromium against the real server: log in through the
form, visit every page, check each draws its reports (cards, SVG charts, tables) without
console errors or failed requests, and that text from visitors is only ever shown as
text. A full-page screenshot of each page is saved to the test's tmp_path and copied to
test-artifacts/dashboard/ (gitignored).

Pages whose report is not registered on the server yet (GET /v1/analytics lists the
registered ones) are skipped; engagement never is.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BROWSER_UA, Server, new_id, start_server  # tests/conftest.py

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
PAGES = ["overview", "engagement", "chat", "results", "behaviour", "intents", "live"]
MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
DAY_MS = 86_400_000

# Visitor input that must reach the page as text, never as markup.
XSS_QUERY = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
XSS_PRODUCT = "<b>bold</b>"
XSS_PAGE_TYPE = '<img src=x onerror="window.__xss=3">'


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


# ---------------------------------------------------------------------------------------
# A few weeks of a small shop: browsing, searches, carts, the widget, chats.


PRODUCTS = [
    ("K-100", "Aurora Kettle 1.7 l", "kettles"),
    ("K-200", "Glass Kettle Pro", "kettles"),
    ("E-300", "Barista Espresso Machine", "espresso"),
    ("E-310", "Compact Espresso 2", "espresso"),
    ("H-900", "Range Hood 90 cm", "hoods"),
    ("S-400", "Flamecraft 4-Burner Gas Range", "stoves"),
]
SEARCHES = ["kettle", "espresso machine", "range hood", "gas stove", "descaler", "milk frother"]


def session_events(rng: random.Random, index: int, start: int) -> list[dict[str, Any]]:
    """One visit's events, every `timestamp` at or after `start` (epoch ms)."""
    t = start
    events: list[dict[str, Any]] = []

    def add(event: dict[str, Any], gap_s: float = 20) -> None:
        nonlocal t
        t += int(gap_s * 1000)
        events.append({"id": new_id(), "timestamp": iso(t), **event})

    shop = "https://shop.example"
    if index % 4 == 0:
        add({"type": "identify", "customerId": f"c-{index}", "traits": {"plan": "pro" if index % 8 == 0 else "free"}}, 1)
    add({"type": "page_view", "url": f"{shop}/", "pageType": "home"}, 2)
    if rng.random() < 0.85:
        add({"type": "CHAT_LOADED", "chatInstanceName": "main"}, 1)
    product_id, name, category = PRODUCTS[index % len(PRODUCTS)]
    add({"type": "page_view", "url": f"{shop}/c/{category}", "pageType": "category"})
    if rng.random() < 0.5:
        add({"type": "filter_usage", "category": category, "filterType": "price", "filterValue": "low_to_high"})
    if rng.random() < 0.6:
        add({"type": "search_event", "query": rng.choice(SEARCHES), "categoryContext": category})
    add({"type": "page_view", "url": f"{shop}/p/{product_id}?ref=list", "pageType": "product", "productId": product_id})
    add({"type": "product_status", "productId": product_id, "status": "out_of_stock" if product_id == "H-900" else "in_stock"})
    add({"type": "dwell", "url": f"{shop}/p/{product_id}", "pageType": "product", "durationSeconds": 15 + rng.random() * 120})
    if rng.random() < 0.45:
        add({"type": "cart_action", "action": "add", "productId": product_id, "productName": name, "category": category})
    if index % 5 == 0:
        add({"type": "page_view", "url": f"{shop}/blog/how-to-descale", "pageType": "blog"})
        add({"type": "dwell", "url": f"{shop}/blog/how-to-descale", "pageType": "blog", "durationSeconds": 200})
    chat = f"chat-{index}"
    roll = rng.random()
    if roll < 0.55:
        add({"type": "chat.ready", "metadata": {"id": chat}}, 2)
        add({"type": "chat.opened", "metadata": {"id": chat, "opened": t}}, 5)
    if roll < 0.4:
        add({"type": "chat.submitted", "metadata": {"id": chat, "form": {"topic": "product"}}}, 15)
        add({"type": "chat.started", "metadata": {"id": chat, "started": t, "proactive": index % 3 == 0}}, 4)
        add({"type": "message", "conversationId": chat, "sender": "user", "content": "Is this in stock?"}, 6)
        add({"type": "message", "conversationId": chat, "sender": "agent", "content": "Yes, it ships tomorrow."}, 12)
        add({"type": "session_log", "conversationId": chat, "dataKey": "CHAT_ATTENDED"}, 1)
        if roll < 0.25:
            add({"type": "rating", "conversationId": chat, "rateCode": "THUMBS_UP" if index % 2 else "THUMBS_DOWN"}, 10)
            add({"type": "chat.completed", "metadata": {"id": chat, "completed": t, "elapsed": 95_000,
                                                         "waitingForAgent": 12_000, "numAgents": 1, "userMessages": 1,
                                                         "agentMessages": 1}}, 2)
        else:
            add({"type": "chat.cancelled", "metadata": {"id": chat, "cancelled": t}}, 30)
    elif roll < 0.55:
        add({"type": "chat.closed", "metadata": {"id": chat, "closed": t}}, 8)
    return events


def xss_session(start: int) -> list[dict[str, Any]]:
    """The visit whose search query, product name and page type are markup."""
    events = [
        {"type": "page_view", "url": "https://shop.example/lab", "pageType": XSS_PAGE_TYPE},
        {"type": "CHAT_LOADED", "chatInstanceName": "main"},
        {"type": "search_event", "query": XSS_QUERY},
        {"type": "cart_action", "action": "add", "productId": "X-1", "productName": XSS_PRODUCT, "category": "lab"},
        {"type": "chat.started", "metadata": {"id": "chat-xss", "started": start}},
    ]
    return [{"id": new_id(), "timestamp": iso(start + i * 5000), **e} for i, e in enumerate(events)]


def post_fixture(server: Server) -> int:
    """48 visits over the last 14 days (a third on mobile, some in German) plus the one
    with markup; returns how many events were stored."""
    rng = random.Random(20261121)
    now = int(time.time() * 1000)
    stored = 0
    client = httpx.Client(timeout=30)  # one connection for the 49 batches
    for index in range(49):
        days_ago = index % 14
        start = now - days_ago * DAY_MS - 3_600_000 - rng.randrange(0, 8 * 3_600_000)
        events = xss_session(start) if index == 48 else session_events(rng, index, start)
        headers = {"Content-Type": "text/plain;charset=UTF-8", "User-Agent": MOBILE_UA if index % 3 == 1 else BROWSER_UA}
        if index % 4 == 2:
            headers["Accept-Language"] = "de-DE,de;q=0.9,en;q=0.5"
        body = server.envelope(events, visitor_id=f"visitor-{index}", session_id=f"session-{index}", sent_at=iso(now))
        response = client.post(f"{server.url}/v1/batch", content=json.dumps(body), headers=headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert not answer.get("rejected"), answer
        stored += answer["accepted"]
    client.close()
    return stored


# ---------------------------------------------------------------------------------------
# Fixtures: one server for the module, one logged-in browser context


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("dashboard") / "chatlens.duckdb", "--rate-limit", "100000")
    post_fixture(srv)
    yield srv
    srv.stop()


def bearer(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.keys['secret_key']}"}


@pytest.fixture(scope="module")
def registered(server: Server) -> set[str]:
    response = httpx.get(f"{server.url}/v1/analytics", headers=bearer(server), timeout=30)
    assert response.status_code == 200, response.text
    reports = set(response.json()["reports"])
    assert "engagement" in reports
    return reports


def as_page_saw(dashboard: Dashboard, name: str) -> dict[str, Any]:
    """The report `name` exactly as the page asked for it (its last request), read again
    with the secret key."""
    asked = [u for u in dashboard.watch.requests if u.split("?")[0].endswith(f"/v1/analytics/{name}")]
    assert asked, f"the page never asked for {name}"
    response = httpx.get(asked[-1], headers=bearer(dashboard.server), timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Watch:
    """What the pages of a context did wrong: console errors, page errors, failed requests."""

    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("requestfailed", self._on_failed)
        page.on("request", lambda r: self.requests.append(r.url))

        def on_response(response: Any) -> None:
            if response.status >= 400:
                self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

        page.on("response", on_response)

    def _on_failed(self, request: Any) -> None:
        # ERR_ABORTED is the page's own doing: a fetch it cancelled because the view
        # changed under it, or the favicon of a document it navigated away from
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed: {request.method} {request.url} {request.failure}")

    def take(self) -> list[str]:
        found, self.problems = self.problems, []
        return found


@dataclass
class Dashboard:
    server: Server
    context: Any
    page: Any
    watch: Watch
    shots: Path

    def goto(self, view: str) -> Any:
        self.page.goto(f"{self.server.url}/#/{view}")
        return self.loaded()

    def loaded(self) -> Any:
        self.page.wait_for_function(
            "() => { const m = document.getElementById('main'); return m && !m.hasAttribute('aria-busy') }", timeout=20_000
        )
        return self.page

    def screenshot(self, name: str, page: Any = None) -> Path:
        path = self.shots / f"{name}.png"
        (page or self.page).evaluate("() => window.scrollTo(0, 0)")
        (page or self.page).screenshot(path=str(path), full_page=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, ARTIFACTS / path.name)
        return path


@pytest.fixture(scope="module")
def dashboard(chromium: Any, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """Logged in with the site's secret key, through the login form."""
    context = chromium.browser.new_context(user_agent=BROWSER_UA, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(server.url + "/")
    assert page.url == server.url + "/login"  # redirected while logged out
    page.get_by_label("Secret key or admin password").fill(server.keys["secret_key"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_function("() => location.hash === '#/overview'")
    instance = Dashboard(server, context, page, watch, tmp_path_factory.mktemp("dashboard-shots"))
    instance.loaded()
    yield instance
    context.close()


@pytest.fixture
def clean(dashboard: Dashboard) -> Iterator[Dashboard]:
    """The logged-in dashboard; the test fails if its pages logged an error or a request failed."""
    dashboard.watch.take()
    yield dashboard
    problems = dashboard.watch.take()
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------
# Tests


def test_a_wrong_key_shows_the_error_and_sets_no_cookie(chromium: Any, server: Server, tmp_path: Path) -> None:
    context = chromium.browser.new_context(user_agent=BROWSER_UA)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/login")
        page.get_by_label("Secret key or admin password").fill("sk_not-a-key")
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "neither a site's secret key nor the admin password" in alert.text_content()
        assert page.url == server.url + "/login"
        assert context.cookies() == []
        assert page.get_by_label("Secret key or admin password").get_attribute("aria-invalid") == "true"
        path = tmp_path / "login-error.png"
        page.screenshot(path=str(path))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, ARTIFACTS / path.name)
        assert not errors
    finally:
        context.close()


def panels(page: Any) -> dict[str, dict[str, Any]]:
    """The page's report panels: key -> chart hint, state and what they contain."""
    found = page.eval_on_selector_all(
        "section.panel",
        """nodes => nodes.map(n => ({
            key: n.dataset.table, chart: n.dataset.chart, state: n.dataset.state,
            svg: n.querySelectorAll('.chart svg').length,
            marks: n.querySelectorAll('.chart svg path.line, .chart svg rect.bar, .chart svg rect.funnel-bar, .chart svg rect.cell[data-day]').length,
            rows: n.querySelectorAll('table.data tbody tr').length,
        }))""",
    )
    return {p["key"]: p for p in found}


def has_data(table: dict[str, Any]) -> bool:
    if not table["rows"]:
        return False
    if table["chart"] == "line":
        return any(isinstance(v, (int, float)) and v != 0 for row in table["rows"] for v in row[1:])
    return True


def assert_report_drawn(page: Any, report: dict[str, Any]) -> None:
    """Every metric is a card, every table a panel; a table with data is drawn as its
    chart (SVG with marks) or, for chart "table", as rows."""
    cards = page.eval_on_selector_all("[data-metric]", "nodes => nodes.map(n => n.dataset.metric)")
    assert cards == [m["key"] for m in report["metrics"]]
    drawn = panels(page)
    assert list(drawn) == [t["key"] for t in report["tables"]]
    for table in report["tables"]:
        panel = drawn[table["key"]]
        if not has_data(table):
            assert panel["state"] == "empty", panel
            continue
        if table["chart"] == "table":
            assert panel["state"] == "table" and panel["rows"] == len(table["rows"]), panel
        else:
            assert panel["state"] == "chart", panel
            assert panel["svg"] == 1 and panel["marks"] > 0, panel
            assert panel["rows"] == len(table["rows"]), panel  # the chart's data table, behind the toggle


@pytest.mark.parametrize("name", PAGES)
def test_every_page_draws_its_reports(clean: Dashboard, registered: set[str], name: str) -> None:
    if name not in ("overview", "engagement") and name not in registered:
        pytest.skip(f"the {name} report is not registered on this server yet")
    page = clean.goto(name)
    assert page.locator("nav a[aria-current=page]").text_content().strip().lower() == name
    if name == "overview":
        sections = page.eval_on_selector_all(".overview-section", "nodes => nodes.map(n => n.dataset.report)")
        assert sections == [r for r in ["engagement", "chat", "results", "behaviour", "intents"] if r in registered]
        engagement = as_page_saw(clean, "engagement")
        values = page.eval_on_selector_all(
            ".overview-section[data-report=engagement] [data-metric] .card-value", "nodes => nodes.map(n => n.textContent)"
        )
        assert values == [format_value(m["value"], m["type"]) for m in engagement["metrics"][:4]]
        # the engagement trend, as a line chart
        trend = panels(page)["trend"]
        assert trend["state"] == "chart" and trend["svg"] == 1 and trend["marks"] >= 2
    else:
        report = as_page_saw(clean, name)
        assert_report_drawn(page, report)
        values = page.eval_on_selector_all("[data-metric] .card-value", "nodes => nodes.map(n => n.textContent)")
        assert values == [format_value(m["value"], m["type"]) for m in report["metrics"]]
    if name == "engagement":
        drawn = panels(page)
        assert drawn["trend"]["marks"] >= 2  # initialized and used lines
        assert drawn["timing"]["marks"] == 7 * 24  # every weekday x hour cell
        assert drawn["placement"]["marks"] >= 2
    clean.screenshot(name)


def format_value(value: Any, kind: str) -> str:
    """The dashboard's number formats for the metric types the reports use."""
    if value is None:
        return "—"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "percent":
        return f"{value:,.1f}".rstrip("0").rstrip(".") + "%"
    if kind == "number":
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}".rstrip("0").rstrip(".")
    if kind == "ms":
        return f"{value:,.0f} ms" if value < 1000 else format_value(value / 1000, "seconds")
    if kind == "seconds":
        if value < 60:
            return (f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}") + " s"
        if value < 3600:
            minutes, rest = int(value // 60), round(value - (value // 60) * 60)
            return f"{minutes} min {rest} s" if rest else f"{minutes} min"
        hours, minutes = int(value // 3600), round((value - (value // 3600) * 3600) / 60)
        return f"{hours:,} h {minutes} min" if minutes else f"{hours:,} h"
    return str(value)


def test_filters_and_breakdown_live_in_the_url(clean: Dashboard) -> None:
    page = clean.goto("engagement?range=7d&device=mobile&breakdown=device")
    report = as_page_saw(clean, "engagement")
    assert (report["breakdown"], report["filters"]) == ("device", {"device": ["mobile"]})
    drawn = panels(page)
    assert list(drawn)[0] == "breakdown" and drawn["breakdown"]["state"] == "chart" and drawn["breakdown"]["svg"] == 1
    # the breakdown shows its chart and its table at once
    assert page.locator("section[data-table=breakdown] table.data").is_visible()
    assert page.locator("#presets button[aria-pressed=true]").text_content() == "7 days"
    assert page.locator(".chip").text_content().startswith("Device")
    assert page.input_value("#breakdown") == "device"
    segments = page.eval_on_selector_all("section[data-table=breakdown] tbody tr td:first-child", "n => n.map(c => c.textContent)")
    assert segments == ["mobile"]

    # Changing the controls rewrites the URL, which reloads to the same view.
    page.get_by_role("button", name="30 days").click()
    clean.loaded()
    page.select_option("#breakdown", "source")
    clean.loaded()
    assert "breakdown=source" in page.url and "range=" not in page.url and "device=mobile" in page.url
    page.get_by_role("button", name=re.compile("^Filters")).click()
    page.get_by_label("URL pattern").fill("/p/*")
    page.get_by_role("button", name="Apply filters").click()
    clean.loaded()
    assert "url=%2Fp%2F*" in page.url or "url=/p/*" in page.url
    page.reload()
    clean.loaded()
    assert page.input_value("#breakdown") == "source"
    assert [c.strip() for c in page.locator(".chip .chip-key").all_text_contents()] == ["Device", "URL"]
    # removing a chip removes the filter
    page.get_by_role("button", name="Remove filter Device: mobile").click()
    clean.loaded()
    assert "device=" not in page.url

    # a custom range from the date inputs
    page.fill("#date-from", "2026-01-05")
    page.fill("#date-to", "2026-01-11")
    page.wait_for_function("() => location.hash.includes('from=2026-01-05') && location.hash.includes('to=2026-01-11')")
    clean.loaded()
    assert page.locator("#presets button[aria-pressed=true]").count() == 0
    assert page.locator("#page-range").text_content() == "Jan 5, 2026 – Jan 11, 2026 (UTC)"
    asked = as_page_saw(clean, "engagement")
    assert (asked["from"], asked["to"]) == ("2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z")  # to: the end of Jan 11
    assert page.locator("section[data-table=trend]").get_attribute("data-state") == "empty"  # nothing then
    assert page.locator("section[data-table=trend] .state").text_content() == "No data in this range"
    page.get_by_role("button", name="30 days").click()
    clean.loaded()

    # the download links carry the same scope
    csv = page.get_attribute("section[data-table=breakdown] a.download >> nth=0", "href")
    assert csv.startswith("/v1/analytics/engagement?") and "format=csv" in csv and "table=breakdown" in csv
    assert "breakdown=source" in csv and "url=%2Fp%2F*" in csv
    events = page.get_attribute("#export-parquet", "href")
    assert events.startswith("/v1/export/events?") and "format=parquet" in events and "url=%2Fp%2F*" in events
    # and they download with the login cookie
    got = page.request.get(clean.server.url + csv)
    assert got.status == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.text().splitlines()[0].startswith("source,")  # the breakdown column is named after it
    got = page.request.get(clean.server.url + events)
    assert got.status == 200 and got.body()[:4] == b"PAR1"
    clean.screenshot("engagement-breakdown")


def test_visitor_text_is_shown_as_text_never_as_markup(clean: Dashboard, registered: set[str]) -> None:
    page = clean.goto("engagement")
    content = page.locator("section[data-table=content] table.data")
    assert content.get_by_text(XSS_PAGE_TYPE, exact=True).count() == 1
    page.locator("section[data-table=placement] button", has_text="Table").click()
    assert page.locator("section[data-table=placement] table.data").get_by_text(XSS_PAGE_TYPE, exact=True).count() == 1
    # in the bar chart's labels (SVG text, truncated) and its tooltip title
    labels = page.eval_on_selector_all("section[data-table=placement] svg title", "n => n.map(t => t.textContent)")
    assert any(label.startswith(XSS_PAGE_TYPE) for label in labels), labels
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("main img, main script, main b").count() == 0
    clean.screenshot("engagement-xss")

    if "behaviour" in registered:
        page = clean.goto("behaviour")
        report = as_page_saw(clean, "behaviour")
        listed = {cell for t in report["tables"] for row in t["rows"] for cell in row if isinstance(cell, str)}
        for toggle in page.locator("main .panel-tools button", has_text="Table").all():
            toggle.click()  # every chart's table too
        for payload in (XSS_QUERY, XSS_PRODUCT):
            if payload in listed:  # the report lists it (top searches, products): shown literally
                assert page.locator("main").get_by_text(payload, exact=True).count() >= 1, payload
        assert page.evaluate("() => window.__xss") is None
        assert page.locator("main img, main script, main b").count() == 0
        clean.screenshot("behaviour-xss")


def test_every_response_has_the_content_security_policy(clean: Dashboard) -> None:
    response = clean.page.goto(clean.server.url + "/")
    clean.loaded()
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # the page has no inline script: every script comes from the server
    scripts = clean.page.eval_on_selector_all("script", "n => n.map(s => s.getAttribute('src'))")
    assert scripts and all(src and src.startswith("/dashboard/static/") for src in scripts)
    # and nothing was fetched from elsewhere
    assert all(url.startswith(clean.server.url) for url in clean.watch.requests), [
        u for u in clean.watch.requests if not u.startswith(clean.server.url)
    ]


def test_live_refreshes_every_ten_seconds(clean: Dashboard, registered: set[str]) -> None:
    if "live" not in registered:
        pytest.skip("the live report is not registered on this server yet")
    page = clean.context.new_page()
    clean.watch.attach(page)
    page.clock.install()
    page.goto(f"{clean.server.url}/#/live")
    page.wait_for_function("() => document.getElementById('main').dataset.report === 'live'")
    calls = lambda: sum(1 for u in clean.watch.requests if "/v1/analytics/live" in u)  # noqa: E731
    before = calls()
    page.clock.run_for(9_000)
    assert calls() == before
    page.clock.run_for(1_500)
    page.wait_for_function(f"() => Number(document.getElementById('main').dataset.loaded) > 0 && {before} >= 0")
    deadline = time.monotonic() + 10
    while calls() == before and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert calls() == before + 1
    assert "updated" in page.locator("#live-status").text_content()
    # leaving the page stops the refresh
    page.evaluate("() => { location.hash = '#/engagement' }")
    page.wait_for_function("() => document.getElementById('main').dataset.report === 'engagement'")
    after = calls()
    page.clock.run_for(25_000)
    page.wait_for_timeout(300)
    assert calls() == after
    page.close()


def test_small_screens_do_not_scroll_sideways(chromium: Any, dashboard: Dashboard) -> None:
    context = chromium.browser.new_context(
        user_agent=BROWSER_UA, viewport={"width": 390, "height": 844}, storage_state=dashboard.context.storage_state()
    )
    try:
        page = context.new_page()
        watch = Watch()
        watch.attach(page)
        page.goto(dashboard.server.url + "/#/engagement")
        page.wait_for_function("() => !document.getElementById('main').hasAttribute('aria-busy')")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        assert panels(page)["trend"]["svg"] == 1
        dashboard.screenshot("engagement-mobile", page)
        assert not watch.take()
    finally:
        context.close()


def test_logout_ends_the_session(chromium: Any, dashboard: Dashboard) -> None:
    """Last: the module's context is logged out here."""
    page = dashboard.page
    dashboard.goto("overview")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(dashboard.server.url + "/login")
    assert not [c for c in dashboard.context.cookies() if c["name"] == "chatlens_session"]
    page.goto(dashboard.server.url + "/#/engagement")
    assert page.url.startswith(dashboard.server.url + "/login")
