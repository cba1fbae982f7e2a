"""Fixtures that run the real server: `chatlens serve` in a subprocess, on loopback, with
its own DuckDB file. Nothing of ours is mocked; tests talk HTTP to it like a browser would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def pytest_sessionstart(session: pytest.Session) -> None:
    # A compiled engine module shadows its source: never test an edit that is not in it.
    from chatlens.engine._compiled import stale_builds

    if stale := stale_builds():
        pytest.exit(f"compiled modules older than their source, rebuild with `make install`: {', '.join(stale)}", 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chatlens(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI exactly as a user would (python -m chatlens == the `chatlens` script)."""
    return subprocess.run(
        [sys.executable, "-m", "chatlens", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def create_site(db: Path, name: str, *origins: str) -> dict[str, str]:
    args = ["site", "create", name, "--db", str(db), "--json"]
    for origin in origins:
        args += ["--origin", origin]
    return json.loads(chatlens(*args).stdout)


@dataclass
class Server:
    db: Path
    port: int
    proc: subprocess.Popen[str]
    keys: dict[str, str]  # the default site: site_id, public_key, secret_key
    output: list[str] = field(default_factory=list)
    drain: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def envelope(self, events: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
        body = {
            "key": self.keys["public_key"],
            "visitor_id": "visitor-1",
            "session_id": "session-1",
            "sent_at": utc_now_iso(),
            "events": events,
        }
        body.update(overrides)
        return body

    def post(
        self,
        body: Any,
        *,
        content_type: str = "text/plain;charset=UTF-8",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
        all_headers = {"Content-Type": content_type, "User-Agent": BROWSER_UA, **(headers or {})}
        return httpx.post(f"{self.url}/v1/batch", content=raw, headers=all_headers, timeout=30)

    def events(self, secret_key: str | None = None, **params: Any) -> httpx.Response:
        key = secret_key or self.keys["secret_key"]
        return httpx.get(
            f"{self.url}/v1/events",
            params=params,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )

    def all_events(self, secret_key: str | None = None, **params: Any) -> list[dict[str, Any]]:
        """Every event of the site, following next_cursor to the end."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page_params = {**params, "limit": 1000}
            if cursor:
                page_params["cursor"] = cursor
            response = self.events(secret_key, **page_params)
            response.raise_for_status()
            page = response.json()
            out.extend(page["events"])
            cursor = page["next_cursor"]
            if not cursor:
                return out

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, like a power cut for the process."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._join_output()

    def _join_output(self) -> None:
        if self.drain is not None:
            self.drain.join(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._join_output()


def utc_now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def start_server(db: Path, *extra: str, port: int | None = None, keys: dict[str, str] | None = None) -> Server:
    """Start `chatlens serve` and wait until it answers /healthz.

    `keys` is the site the test will use; without it the server's first-start default
    site is parsed from its output.
    """
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatlens", "serve", "--db", str(db), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("server exited during startup:\n" + "".join(lines))
        lines.append(line)
        if "Application startup complete" in line:
            break
    else:
        proc.kill()
        raise RuntimeError("server did not start:\n" + "".join(lines))
    if keys is None:
        keys = {}
        for line in lines:
            parts = line.split()
            if line.strip().startswith("site id:"):
                keys["site_id"] = parts[2]
            elif line.strip().startswith("public key:"):
                keys["public_key"] = parts[2]
            elif line.strip().startswith("secret key:"):
                keys["secret_key"] = parts[2]
    # Drain the rest of the output in the background so the pipe never fills up.
    server = Server(db, port, proc, keys, lines)

    log_path = db.with_name(db.name + ".server.log")  # kept with the test's tmp dir

    def drain() -> None:
        assert proc.stdout is not None
        with open(log_path, "a") as log:
            log.writelines(lines)
            for rest in proc.stdout:
                server.output.append(rest)
                log.write(rest)
                log.flush()

    server.drain = threading.Thread(target=drain, daemon=True)
    server.drain.start()
    httpx.get(f"{server.url}/healthz", timeout=10).raise_for_status()
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh server with its first-start default site (any origin, default limits
    except a rate limit high enough that ordinary tests never meet it)."""
    srv = start_server(tmp_path / "chatlens.duckdb", "--rate-limit", "100000")
    yield srv
    srv.stop()
