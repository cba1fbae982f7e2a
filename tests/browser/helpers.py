"""Helpers of the browser suite: the shop that hosts the test pages, page templates,
the record of what the SDK put on the wire, and checks shared by the tests."""

from __future__ import annotations

import html
import http.server
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The stub of docs/sdk.md, verbatim.
STUB = """<script>
!function(w,c){c=w.chatlens=w.chatlens||{q:[]};"track identify optOut optIn flush subscribe".split(" ").forEach(function(m){c[m]=c[m]||function(){c.q.push([m,arguments])}});c.ready=c.ready||function(){return new Promise(function(r){c.q.push(["ready",[r]])})}}(window);
</script>"""

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")

# The metadata block of reference 002 (docs/events.md), every field of it.
METADATA_FIELDS = (
    "id", "proactive", "prefilled", "autoSubmitted", "coBrowseInitiated", "filesUploaded",
    "numAgents", "userMessages", "agentMessages", "systemMessages", "errors", "form",
    "opened", "started", "cancelled", "rejected", "completed", "closed", "agentReached",
    "supervisorReached", "elapsed", "waitingForAgent",
)
WIDGET_TYPES = ("CHAT_LOADED", "CHAT_VISIBLE", "CONTACT_STARTED", "CONTACT_ENDED", "TRANSFER_TO_QUEUE", "CONNECT_TO_AGENT")


def is_uuid7(value: Any) -> bool:
    return isinstance(value, str) and bool(UUID7.match(value))


def uuid7_ms(value: str) -> int:
    """The Unix time in ms carried by the first 48 bits of a UUIDv7."""
    return int(value.replace("-", "")[:12], 16)


def iso_ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


def assert_uuid7_near(value: Any, *, around_ms: int, within_ms: int = 120_000) -> None:
    assert is_uuid7(value), f"{value!r} is not a UUIDv7 (version nibble 7, RFC 4122 variant)"
    assert abs(uuid7_ms(value) - around_ms) <= within_ms, f"UUIDv7 {value} carries time {uuid7_ms(value)}, far from {around_ms}"


# ---------------------------------------------------------------------------------------
# The shop: a different origin than the Chatlens server, like a real site.


class Shop:
    """A threaded HTTP server on 127.0.0.1 that serves HTML pages registered by the tests."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self._counter = itertools.count(1)
        pages = self.pages

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0].split("#", 1)[0]
                body = pages.get(path)
                if body is None:
                    payload = b"not found"
                    self.send_response(404)
                    self.send_header("Content-Type", "text/plain")
                else:
                    payload = body.encode("utf-8")
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Cache-Control", "no-cache")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def publish(self, page: str, path: str | None = None) -> str:
        """Serve `page` at `path` (default: a new unique path); returns its absolute URL."""
        if path is None:
            path = f"/p{next(self._counter)}/products/item"
        elif not path.startswith("/"):
            path = f"/p{next(self._counter)}/{path}"
        self.pages[path] = page
        return self.origin + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def sdk_tag(chatlens_url: str, public_key: str, options: dict[str, Any] | None = None) -> str:
    """The tag of docs/sdk.md with options as data-* attributes (None removes one)."""
    attrs: dict[str, Any] = {"site": public_key, "flush-interval": "200"}
    attrs.update(options or {})
    rendered = " ".join(
        f'data-{name}="{html.escape(str(value), quote=True)}"' for name, value in attrs.items() if value is not None
    )
    return f'<script src="{chatlens_url}/sdk.js" {rendered} async></script>'


def page_html(
    *,
    sdk: str = "",
    title: str = "Chatlens test shop",
    head: str = "",
    body: str = "",
    body_attrs: str = "",
    stub: bool = False,
    before_sdk: str = "",
) -> str:
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><link rel=\"icon\" href=\"data:,\">\n"
        f"{STUB if stub else ''}\n{head}\n{before_sdk}\n{sdk}\n"
        f"</head><body {body_attrs}><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


# ---------------------------------------------------------------------------------------
# What the SDK put on the wire (requests to /v1/batch seen by the browser).


@dataclass
class WireRequest:
    at: float  # time.monotonic() when the browser issued it
    url: str
    method: str
    resource_type: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    raw: str | None
    status: int | None = None
    failure: str | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        if not self.body or not isinstance(self.body.get("events"), list):
            return []
        return self.body["events"]


@dataclass
class Wire:
    """Batch requests (to any Chatlens server: `*/v1/batch`) of one browser context, in
    the order the browser issued them.

    Requests made while a page is being torn down (sendBeacon in `pagehide`) are not
    reported by Chromium to Playwright, so the wire is complete only for live pages.
    """

    requests: list[WireRequest] = field(default_factory=list)
    _by_request: dict[Any, WireRequest] = field(default_factory=dict)

    def attach(self, context: Any) -> None:
        context.on("request", self._on_request)
        context.on("requestfinished", self._on_finished)
        context.on("requestfailed", self._on_failed)

    def _on_request(self, request: Any) -> None:
        if not request.url.split("?")[0].endswith("/v1/batch"):
            return
        raw = None
        body = None
        try:
            raw = request.post_data
            body = json.loads(raw) if raw else None
        except Exception:  # a body that is not JSON is recorded raw
            body = None
        entry = WireRequest(
            time.monotonic(), request.url, request.method, request.resource_type, dict(request.headers), body, raw
        )
        self.requests.append(entry)
        self._by_request[request] = entry

    def _on_finished(self, request: Any) -> None:
        entry = self._by_request.get(request)
        if entry is None:
            return
        try:
            response = request.response()
            entry.status = response.status if response else None
        except Exception:
            entry.status = None

    def _on_failed(self, request: Any) -> None:
        entry = self._by_request.get(request)
        if entry is not None:
            entry.failure = request.failure or "failed"

    def posts(self) -> list[WireRequest]:
        return [r for r in self.requests if r.method == "POST"]

    def events(self) -> list[dict[str, Any]]:
        return [event for request in self.posts() for event in request.events]

    def event_by_id(self) -> dict[str, dict[str, Any]]:
        return {e["id"]: e for e in self.events() if isinstance(e, dict) and "id" in e}

    def order(self) -> dict[str, int]:
        """Event id -> position of its first appearance on the wire."""
        out: dict[str, int] = {}
        for index, event in enumerate(self.events()):
            if isinstance(event, dict) and "id" in event:
                out.setdefault(event["id"], index)
        return out


def route_headers(shop_origin: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Headers a fulfilled /v1/batch answer needs so that the page can read it (CORS)."""
    return {
        "Access-Control-Allow-Origin": shop_origin,
        "Access-Control-Expose-Headers": "Retry-After",
        "Content-Type": "application/json",
        "Vary": "Origin",
        **(extra or {}),
    }


# ---------------------------------------------------------------------------------------
# Stored events (GET /v1/events).


def of_type(events: Iterable[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] in types]


def custom_named(events: Iterable[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "custom" and e["data"].get("name") == name]


def chronological(events: Iterable[dict[str, Any]], wire: Wire | None = None) -> list[dict[str, Any]]:
    """Stored events by client timestamp; ties by their order on the wire, then by id."""
    order = wire.order() if wire else {}
    return sorted(events, key=lambda e: (iso_ms(e["timestamp"]), order.get(e["id"], 1 << 30), e["id"]))


def wait_until(predicate: Callable[[], Any], *, timeout: float, sleep: Callable[[float], None], message: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s: {message}")
        sleep(0.1)
