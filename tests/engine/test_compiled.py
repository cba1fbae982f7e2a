"""The engine's per-event modules run compiled wherever the build had mypyc (setup.py:
`make install` always has it), and a build older than its source is caught."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import time
from pathlib import Path

import pytest

from chatlens.engine._compiled import COMPILED_MODULES, loaded_compiled, stale_builds


def test_the_engine_runs_compiled_when_the_build_had_mypyc() -> None:
    if importlib.util.find_spec("mypyc") is None or os.environ.get("CHATLENS_COMPILE") == "0":
        pytest.skip("built without mypyc: the engine runs as Python")
    assert loaded_compiled() == dict.fromkeys(COMPILED_MODULES, True)


def test_a_compiled_module_older_than_its_source_is_stale(tmp_path: Path) -> None:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for name in ("engine", "state"):
        (tmp_path / f"{name}{suffix}").write_bytes(b"")
        (tmp_path / f"{name}.py").write_text("")
    past = time.time() - 60
    os.utime(tmp_path / f"engine{suffix}", (past, past))  # built, then engine.py edited
    os.utime(tmp_path / "state.py", (past, past))  # state.py edited, then built
    assert stale_builds(tmp_path) == [str(tmp_path / f"engine{suffix}")]
    assert stale_builds() == []  # this checkout
