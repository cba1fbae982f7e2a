"""The import rules of docs/architecture.md, checked: layers stay layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "chatlens"

# package -> the chatlens modules it may import (prefixes)
ALLOWED = {
    "model": ("chatlens.model",),
    "ingest": ("chatlens.model", "chatlens.metrics", "chatlens.sites", "chatlens.config", "chatlens._ids",
               "chatlens.ingest", "chatlens.engine.engine", "chatlens.store.base", "chatlens.store.rows", "chatlens.store.writer"),
    "store": ("chatlens.model", "chatlens.metrics", "chatlens.store"),
    # the read side of conversations: the interface and the fold, never ingestion
    "conversations.py": ("chatlens.model", "chatlens.store.base", "chatlens.store.schema"),
    "visitors.py": ("chatlens.model", "chatlens.store.base", "chatlens.store.schema", "chatlens._time"),
    # analytics: SQL over the store interface; never ingestion, the engine's state or HTTP
    "analytics": ("chatlens.analytics", "chatlens.model", "chatlens.store.base", "chatlens.store.schema",
                  "chatlens._time", "chatlens.engine.skills", "chatlens.engine.conditions", "chatlens.engine.uplift",
                  "chatlens.engine.decisions"),
    # the dashboard: pages and logins; the data comes from the analytics API
    "dashboard": ("chatlens.dashboard", "chatlens.sites", "chatlens.store.base"),
    # the intent engine is pure: the event model and its own modules (ids for decisions)
    "engine": ("chatlens.model", "chatlens.engine", "chatlens._ids", "chatlens.metrics"),
    "intents.py": ("chatlens.engine", "chatlens.store.base", "chatlens.store.schema"),
    # `chatlens demo` feeds the server's own pipeline in-process: besides cli, the one
    # module that imports api (build_services); the concrete store still comes from cli
    "demo/generate.py": ("chatlens.api.app", "chatlens.config", "chatlens.demo", "chatlens.ingest.pipeline",
                         "chatlens.store.base", "chatlens.store.writer"),
}


def chatlens_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chatlens"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("chatlens"))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_architecture_allows(package: str) -> None:
    paths = [SRC / package] if package.endswith(".py") else (SRC / package).glob("*.py")
    for path in paths:
        for module in chatlens_imports(path):
            assert module.startswith(ALLOWED[package]), f"{path.relative_to(SRC)} imports {module}"


def test_only_the_cli_picks_the_concrete_store() -> None:
    users = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
             if "chatlens.store.duckdb_store" in chatlens_imports(p)}
    assert users <= {"cli.py"}, users
