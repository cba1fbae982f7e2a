"""The served SDK: at most 6 KB gzipped, and the committed chatlens.min.js is what the
build makes from chatlens.js (docs/sdk.md)."""

from __future__ import annotations

import gzip
import subprocess
import sys

import httpx

from chatlens.browser import MINIFIED

from .conftest import REPO

BUDGET = 6144  # bytes, gzipped, as served


def test_sdk_is_served_gzipped_within_the_budget(chatlens) -> None:
    with httpx.stream("GET", chatlens.url + "/sdk.js", headers={"Accept-Encoding": "gzip"}, timeout=10) as response:
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"].startswith("application/javascript")
    assert len(raw) <= BUDGET, f"/sdk.js is {len(raw)} bytes gzipped, over the {BUDGET}-byte budget"
    assert gzip.decompress(raw) == MINIFIED.read_bytes()


def test_committed_min_file_is_what_the_build_makes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chatlens.browser.build", "--check"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
