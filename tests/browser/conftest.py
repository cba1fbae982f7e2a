"""Headless-Chromium fixtures for the browser SDK (docs/sdk.md).

- one Chromium per session (Debian's /usr/bin/chromium through Playwright's sync API),
  a new browser context per test, each with a desktop Chrome User-Agent (the server drops
  "HeadlessChrome" as a bot);
- the test pages come from a small shop server on another origin than Chatlens;
- one Chatlens server per test module, with one site per test (created before the
  server starts, restricted to the shop's origin), so a test reads back exactly its own
  events with its site's secret key;
- console errors and uncaught exceptions of the pages fail the test unless it allows
  them; a screenshot of each test's open pages lands in test-artifacts/browser/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import BROWSER_UA, Server, start_server  # tests/conftest.py

from .helpers import Shop, Wire, chronological, page_html, sdk_tag, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"


# ---------------------------------------------------------------------------------------
# Chatlens: one server per module, one site per test.


def create_sites(db: Path, count: int, *origins: str) -> list[dict[str, str]]:
    """`chatlens site create --json` `count` times, in one interpreter (the CLI's own main)."""
    argv_list = []
    for index in range(count):
        argv = ["site", "create", f"shop-{index}", "--db", str(db), "--json"]
        for origin in origins:
            argv += ["--origin", origin]
        argv_list.append(argv)
    script = (
        "import json, sys\nfrom chatlens.cli import main\n"
        "for argv in json.loads(sys.argv[1]):\n    code = main(argv)\n    assert code == 0, code\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argv_list)], capture_output=True, text=True, timeout=120, check=True
    )
    sites = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(sites) == count, done.stdout + done.stderr
    return sites


@dataclass
class Site:
    server: Server
    keys: dict[str, str]

    @property
    def public_key(self) -> str:
        return self.keys["public_key"]

    @property
    def secret_key(self) -> str:
        return self.keys["secret_key"]

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        return self.server.all_events(self.secret_key, **filters)


@dataclass
class Chatlens:
    server: Server
    sites: list[dict[str, str]]
    taken: int = 0

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def batch_url(self) -> str:
        return self.server.url + "/v1/batch"

    def take_site(self) -> Site:
        assert self.taken < len(self.sites), "the module's site pool is exhausted"
        keys = self.sites[self.taken]
        self.taken += 1
        return Site(self.server, keys)

    def metric(self, name: str, **labels: str) -> float:
        import httpx

        text = httpx.get(self.url + "/metrics", timeout=10).text
        return metric_value(text, name, **labels)


def metric_value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def start_chatlens(db: Path, shop: Shop, sites: int, *extra: str) -> Chatlens:
    keys = create_sites(db, sites, shop.origin)
    server = start_server(db, *extra, keys=keys[0])
    return Chatlens(server, keys)


@pytest.fixture(scope="module")
def chatlens(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shop: Shop) -> Iterator[Chatlens]:
    tests = sum(1 for item in request.session.items if item.module is request.module)
    instance = start_chatlens(tmp_path_factory.mktemp("chatlens") / "chatlens.duckdb", shop, tests + 1, "--rate-limit", "0")
    yield instance
    instance.server.stop()


@pytest.fixture
def site(chatlens: Chatlens) -> Site:
    return chatlens.take_site()


# ---------------------------------------------------------------------------------------
# The shop and the browser.


@pytest.fixture(scope="session")
def shop() -> Iterator[Shop]:
    instance = Shop()
    yield instance
    instance.close()


@dataclass
class Chromium:
    playwright: Any
    browser: Any
    pump_page: Any  # a blank page whose waits let Playwright dispatch events and routes

    def sleep(self, seconds: float) -> None:
        """Wait while Playwright keeps dispatching (route handlers, console events).

        time.sleep would freeze the sync API's dispatcher: routes would hang meanwhile."""
        self.pump_page.wait_for_timeout(max(1, int(seconds * 1000)))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (never `playwright install`)")
    playwright = sync_playwright().start()
    # The contexts set the User-Agent, but Chromium sends what a page sends while it is
    # being torn down (sendBeacon in pagehide) with the browser's own, "HeadlessChrome",
    # which the server drops as a bot: give the browser the same desktop User-Agent.
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--user-agent={BROWSER_UA}"])
    pump_context = browser.new_context(user_agent=BROWSER_UA)
    pump_page = pump_context.new_page()
    yield Chromium(playwright, browser, pump_page)
    pump_context.close()
    browser.close()
    playwright.stop()


@dataclass
class ConsoleEntry:
    page_url: str
    type: str  # "error", "warning", "log", ..., or "pageerror"
    text: str
    message: Any = None  # the Playwright ConsoleMessage (for its args)


@dataclass
class Browse:
    """Everything a browser test needs: contexts, pages with the SDK, the wire, events."""

    chromium: Chromium
    shop: Shop
    chatlens: Chatlens
    site: Site
    name: str
    contexts: list[Any] = field(default_factory=list)
    wires: dict[Any, Wire] = field(default_factory=dict)
    console: list[ConsoleEntry] = field(default_factory=list)
    allowed_errors: list[re.Pattern[str]] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Browse({self.name!r}, site={self.site.public_key})"

    # --- browser -----------------------------------------------------------------------

    def context(self, **options: Any) -> Any:
        context = self.chromium.browser.new_context(user_agent=BROWSER_UA, **options)
        context.set_default_timeout(15_000)
        wire = Wire()
        wire.attach(context)
        self.wires[context] = wire
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    @property
    def default_context(self) -> Any:
        return self.contexts[0] if self.contexts else self.context()

    def wire(self, context: Any = None) -> Wire:
        return self.wires[context or self.default_context]

    def wait_wire(self, ids: Any, context: Any = None, timeout: float = 5.0) -> Wire:
        """The wire once it shows every event id given: Playwright may report a request
        a little after the server has already answered it."""
        wire = self.wire(context)
        wanted = set(ids)
        wait_until(
            lambda: wanted <= set(wire.event_by_id()),
            timeout=timeout,
            sleep=self.sleep,
            message=f"the requests carrying {sorted(wanted - set(wire.event_by_id()))} seen on the wire",
        )
        return wire

    def chronological(self, events: list[dict[str, Any]], context: Any = None) -> list[dict[str, Any]]:
        """Stored events by client timestamp, ties in their order on the wire (events sent
        by a page being torn down never show on the wire: then ties go by id)."""
        try:
            wire = self.wait_wire([e["id"] for e in events], context, timeout=2.0)
        except AssertionError:
            wire = self.wire(context)
        return chronological(events, wire)

    def _watch(self, page: Any) -> None:
        def on_console(message: Any) -> None:
            self.console.append(ConsoleEntry(page.url, message.type, message.text, message))

        def on_error(error: Any) -> None:
            self.console.append(ConsoleEntry(page.url, "pageerror", f"{error.name}: {error.message}\n{error.stack}"))

        page.on("console", on_console)
        page.on("pageerror", on_error)

    def sleep(self, seconds: float) -> None:
        self.chromium.sleep(seconds)

    # --- pages -------------------------------------------------------------------------

    def tag(self, options: dict[str, Any] | None = None, site: Site | None = None) -> str:
        site = site or self.site
        return sdk_tag(site.server.url, site.public_key, options)

    def html(self, options: dict[str, Any] | None = None, *, sdk: bool = True, site: Site | None = None, **parts: Any) -> str:
        return page_html(sdk=self.tag(options, site) if sdk else "", **parts)

    def publish(self, page: str, path: str | None = None) -> str:
        return self.shop.publish(page, path)

    def open(
        self,
        options: dict[str, Any] | None = None,
        *,
        path: str | None = None,
        context: Any = None,
        wait_ready: bool = True,
        site: Site | None = None,
        **parts: Any,
    ) -> Any:
        """A new page showing a new shop page with the SDK tag (options as data-*)."""
        url = self.publish(self.html(options, site=site, **parts), path)
        page = (context or self.default_context).new_page()
        page.goto(url)
        if wait_ready:
            self.ready(page)
        return page

    def ready(self, page: Any, timeout: float = 8.0) -> None:
        """Wait for `chatlens.ready()` to resolve (the SDK initialized)."""
        try:
            page.wait_for_function(
                "() => window.chatlens && typeof window.chatlens.ready === 'function'", timeout=timeout * 1000
            )
            page.evaluate("() => { window.__clReady = false; window.chatlens.ready().then(() => { window.__clReady = true; }); }")
            page.wait_for_function("() => window.__clReady === true", timeout=timeout * 1000)
        except Exception as exc:
            raise AssertionError(f"the SDK did not initialize on {page.url} (chatlens.ready() never resolved): {exc}") from None

    def messages(self, *types: str) -> list[ConsoleEntry]:
        return [entry for entry in self.console if not types or entry.type in types]

    def warnings(self) -> list[str]:
        return [entry.text for entry in self.console if entry.type == "warning"]

    def allow_console_errors(self, *patterns: str) -> None:
        self.allowed_errors.extend(re.compile(p) for p in patterns)

    def unexpected_console_errors(self) -> list[ConsoleEntry]:
        return [
            entry for entry in self.console
            if entry.type in ("error", "pageerror") and not any(p.search(entry.text) for p in self.allowed_errors)
        ]

    # --- stored events -----------------------------------------------------------------

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        return self.site.events(**filters)

    def wait_events(
        self,
        count: int,
        where: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = 10.0,
        what: str = "events",
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Poll GET /v1/events until at least `count` matching events are stored."""
        last: list[dict[str, Any]] = []

        def check() -> bool:
            nonlocal last
            last = [e for e in self.site.events(**filters) if where is None or where(e)]
            return len(last) >= count

        try:
            wait_until(check, timeout=timeout, sleep=self.sleep, message=f"{count} {what} stored")
        except AssertionError as exc:
            summary = [(e["type"], e["data"]) for e in last]
            raise AssertionError(f"{exc}; {len(last)} stored: {summary}") from None
        return last

    def settled(self, seconds: float = 0.8, **filters: Any) -> list[dict[str, Any]]:
        """The stored events after letting late ones (retries, duplicates) arrive."""
        self.sleep(seconds)
        return self.site.events(**filters)

    # --- teardown ----------------------------------------------------------------------

    def close(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)[:150]
        shot = 0
        for context in self.contexts:
            for page in context.pages:
                try:
                    page.screenshot(path=str(ARTIFACTS / f"{safe}{'-' + str(shot) if shot else ''}.png"), timeout=3000)
                    shot += 1
                except Exception:
                    pass
        for context in self.contexts:
            try:
                context.close()
            except Exception:
                pass


@pytest.fixture
def browse(request: pytest.FixtureRequest, chromium: Chromium, shop: Shop, chatlens: Chatlens, site: Site) -> Iterator[Browse]:
    instance = Browse(chromium, shop, chatlens, site, request.node.nodeid.split("::", 1)[-1])
    yield instance
    instance.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that passed still fails if its pages logged an unexpected console error."""
    result = yield
    browse = getattr(item, "funcargs", {}).get("browse")
    if isinstance(browse, Browse):
        unexpected = browse.unexpected_console_errors()
        if unexpected:
            lines = "\n".join(f"  [{e.type}] {e.page_url}: {e.text}" for e in unexpected)
            raise AssertionError(f"unexpected console errors on the test's pages:\n{lines}")
    return result
