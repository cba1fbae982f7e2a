"""Which of the engine's modules are built with mypyc (setup.py reads COMPILED_MODULES),
and whether this process runs them compiled.

A compiled module (an extension file beside its .py) shadows its source: an edit takes
effect only after a rebuild (`make install`), so a build older than its source is stale.
"""

from __future__ import annotations

import importlib
import importlib.machinery
from pathlib import Path

# The engine's per-event path: engine.py and what it calls for every event.
COMPILED_MODULES = ("conditions", "engine", "signal", "skills", "state")


def loaded_compiled() -> dict[str, bool]:
    """module -> whether this process loaded it from a compiled extension."""
    return {
        name: Path(importlib.import_module(f"chatlens.engine.{name}").__file__ or "").suffix == ".so"
        for name in COMPILED_MODULES
    }


def stale_builds(here: Path = Path(__file__).parent) -> list[str]:
    """The compiled extensions in `here` older than their source (rebuild with `make
    install`)."""
    stale = []
    for name in COMPILED_MODULES:
        source = here / f"{name}.py"
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            built = here / f"{name}{suffix}"
            if built.exists() and built.stat().st_mtime < source.stat().st_mtime:
                stale.append(str(built))
    return stale


def describe() -> str:
    """How this process runs the engine, for benchmark reports."""
    compiled = [name for name, yes in loaded_compiled().items() if yes]
    if len(compiled) == len(COMPILED_MODULES):
        return "compiled (mypyc)"
    return f"Python (compiled: {', '.join(compiled)})" if compiled else "Python (not compiled)"
