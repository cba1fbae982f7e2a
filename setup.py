"""Build step beyond pyproject.toml: the intent engine's modules compiled with mypyc.

The engine runs on the event loop for every batch (docs/benchmarks.md); compiled from the
same type-annotated source it takes about 40 % less CPU there. A compiled module shadows
its .py: after editing one, rebuild (`make install`; the tests refuse a stale build).
mypyc comes from requirements-build.lock (the Makefile installs it and builds without
isolation). Without mypyc, or with CHATLENS_COMPILE=0, or when a module fails to compile
(no C compiler, or mypyc's type check fails), the same modules run as plain Python.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from setuptools import setup

# The engine's per-event path, listed in the package (chatlens/engine/_compiled.py).
ENGINE = Path(__file__).parent / "src" / "chatlens" / "engine"
COMPILED = [str(ENGINE / f"{name}.py") for name in runpy.run_path(str(ENGINE / "_compiled.py"))["COMPILED_MODULES"]]


def ext_modules() -> list:
    if os.environ.get("CHATLENS_COMPILE", "1") == "0":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    try:
        extensions = mypycify(COMPILED, opt_level="3", group_name="chatlens_engine")
    except SystemExit as exc:  # mypyc exits when its type check fails: install as Python
        print(f"chatlens: the intent engine is not compiled (mypyc exited with {exc.code}); "
              "it runs as Python", file=sys.stderr)
        return []
    for extension in extensions:
        extension.optional = True  # a failed compile leaves the module in Python
    return extensions


setup(ext_modules=ext_modules())
