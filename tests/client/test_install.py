"""The SDK installs on its own: a fresh virtualenv, `pip install clients/python` (httpx
from PyPI), and neither DuckDB, Starlette nor the chatlens server comes with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "python"

CHECK = """
import importlib.util, sys
import chatlens_client
from chatlens_client import AsyncClient, Client, InvalidEventError
assert chatlens_client.__version__ == "0.1.0"
import importlib.resources
assert importlib.resources.files("chatlens_client").joinpath("py.typed").is_file(), "py.typed is shipped"
for name in ("duckdb", "starlette", "chatlens", "orjson", "uvicorn"):
    assert importlib.util.find_spec(name) is None, name + " is installed"
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise AssertionError(name + " imported")
client = Client("ags_x", "http://127.0.0.1:9")
try:
    client.track_question("", conversation_id="c")
except InvalidEventError as exc:
    print("local check:", exc)
client.close(timeout=0)
print("ok", sorted(m for m in sys.modules if m.split(".")[0] in ("httpx", "chatlens_client"))[:1])
"""


@pytest.mark.slow
def test_sdk_installs_in_a_fresh_venv_without_the_servers_dependencies(tmp_path: Path) -> None:
    # Build from a copy: an in-tree build would leave build/ and egg-info in the repository.
    source = tmp_path / "source"
    shutil.copytree(CLIENT_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    shown = subprocess.run([str(python), "-m", "pip", "show", "chatlens-client"], capture_output=True, text=True, check=True)
    assert "Requires: httpx" in shown.stdout
    run = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "local check: question: must not be empty" in run.stdout
    assert run.stdout.strip().endswith("ok ['chatlens_client']")
