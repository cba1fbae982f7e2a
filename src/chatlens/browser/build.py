"""Build the served SDK from its readable source, reproducibly.

    python -m chatlens.browser.build          # writes chatlens.min.js
    python -m chatlens.browser.build --check  # fails if chatlens.min.js is not up to date

rjsmin strips comments and whitespace only (no renaming), so the output depends on the
source and rjsmin's version alone; the test suite checks that the committed file is what
this build makes, and that it stays within the size budget.
"""

from __future__ import annotations

import gzip
import sys

import rjsmin

from chatlens.browser import MINIFIED, SOURCE

BUDGET_GZIP_BYTES = 6 * 1024  # issue 3: at most 6 KB minified and gzipped as served
HEADER = "/*! Chatlens SDK, Apache-2.0 */\n"


def build() -> str:
    return HEADER + rjsmin.jsmin(SOURCE.read_text(encoding="utf-8")).strip() + "\n"


def gzip_size(text: str) -> int:
    # mtime=0: the same bytes every time, as the server serves them
    return len(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def main(argv: list[str]) -> int:
    built = build()
    if "--check" in argv:
        if not MINIFIED.exists() or MINIFIED.read_text(encoding="utf-8") != built:
            print("chatlens.min.js is out of date: run python -m chatlens.browser.build", file=sys.stderr)
            return 1
        return 0
    MINIFIED.write_text(built, encoding="utf-8")
    print(f"{MINIFIED.name}: {len(built.encode())} bytes, {gzip_size(built)} gzipped (budget {BUDGET_GZIP_BYTES})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
