"""The `chatlens` command, as a person uses it: keys, first start, and clear errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import chatlens, free_port, start_server

from chatlens.engine._compiled import describe

ROOT = Path(__file__).resolve().parents[1]


def test_site_create_json_prints_exactly_the_ids_and_keys(tmp_path: Path) -> None:
    out = chatlens("site", "create", "My Shop", "--db", str(tmp_path / "c.duckdb"), "--json").stdout
    keys = json.loads(out)
    assert set(keys) == {"site_id", "public_key", "secret_key"}
    assert keys["site_id"] == "my-shop"
    assert keys["public_key"].startswith("pk_") and re.fullmatch(r"ags_[0-9a-f]{32}_[0-9a-f]{6}", keys["secret_key"])
    again = json.loads(chatlens("site", "create", "My Shop", "--db", str(tmp_path / "c.duckdb"), "--json").stdout)
    assert again["site_id"] == "my-shop-2"
    assert again["public_key"] != keys["public_key"]


def test_site_create_with_origins_lists_them(tmp_path: Path) -> None:
    db = str(tmp_path / "c.duckdb")
    chatlens("site", "create", "shop", "--origin", "https://Shop.Example/", "--origin", "https://*.example.org", "--db", db)
    sites = json.loads(chatlens("site", "list", "--db", db, "--json").stdout)
    assert sites[0]["origins"] == ["https://shop.example", "https://*.example.org"]


def test_site_create_rejects_an_origin_with_a_path(tmp_path: Path) -> None:
    result = chatlens("site", "create", "shop", "--origin", "https://shop.example/cart", "--db", str(tmp_path / "c.duckdb"), check=False)
    assert result.returncode == 1
    assert "--origin" in result.stderr and "no path" in result.stderr


def test_site_origins_adds_and_removes_and_prints_the_result(tmp_path: Path) -> None:
    db = str(tmp_path / "o.duckdb")
    chatlens("site", "create", "shop", "--db", db)
    assert chatlens("site", "origins", "shop", "--db", db).stdout == "(any origin)\n"
    out = chatlens("site", "origins", "shop", "--add", "https://Shop.Example/", "--add", "https://*.example.org", "--db", db)
    assert out.stdout == "https://shop.example\nhttps://*.example.org\n"
    again = chatlens("site", "origins", "shop", "--add", "https://shop.example", "--remove", "https://*.example.org",
                     "--db", db, "--json")
    assert json.loads(again.stdout) == {"site_id": "shop", "origins": ["https://shop.example"]}
    assert json.loads(chatlens("site", "list", "--db", db, "--json").stdout)[0]["origins"] == ["https://shop.example"]
    chatlens("site", "origins", "shop", "--remove", "https://shop.example", "--db", db)
    assert json.loads(chatlens("site", "list", "--db", db, "--json").stdout)[0]["origins"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--add", "https://a.example"], "no site 'nope' (`chatlens site list` shows them)"),
        (["shop", "--remove", "https://a.example"], "--remove https://a.example: not an origin of site 'shop'"),
        (["shop", "--add", "https://a.example/cart"], "--add origin 'https://a.example/cart': must look like"),
    ],
)
def test_site_origins_errors_name_the_problem(tmp_path: Path, args: list[str], message: str) -> None:
    db = str(tmp_path / "o.duckdb")
    chatlens("site", "create", "shop", "--db", db)
    result = chatlens("site", "origins", *args, "--db", db, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"chatlens: error: {message}"), result.stderr
    assert json.loads(chatlens("site", "list", "--db", db, "--json").stdout)[0]["origins"] == []


def test_origins_added_to_the_default_site_hold_after_a_restart(tmp_path: Path) -> None:
    """The first-start site accepts any origin and says how to restrict it; once
    restricted, a page on another origin gets 403 and one on the site's own is stored."""
    db = tmp_path / "d.duckdb"
    server = start_server(db)
    server.stop()
    assert "chatlens site origins default --add https://your.shop" in "".join(server.output)
    chatlens("site", "origins", "default", "--add", "https://shop.example", "--db", str(db))
    again = start_server(db, keys=server.keys)
    try:
        page = {"type": "page_view", "url": "https://shop.example/"}
        assert again.post(again.envelope([page]), headers={"Origin": "https://evil.example"}).status_code == 403
        ok = again.post(again.envelope([page]), headers={"Origin": "https://shop.example"})
        assert ok.status_code == 200 and ok.json()["accepted"] == 1
    finally:
        again.stop()


def test_first_start_creates_a_default_site_and_prints_a_script_tag(tmp_path: Path) -> None:
    db = tmp_path / "first.duckdb"
    server = start_server(db)
    server.stop()
    text = "".join(server.output)
    assert server.keys["public_key"].startswith("pk_")
    assert f'data-site="{server.keys["public_key"]}"' in text
    assert f'src="http://127.0.0.1:{server.port}/sdk.js"' in text
    assert f"(database {db}; intent engine {describe()})" in text  # compiled or not: the server says
    # The second start finds the site and creates no other.
    again = start_server(db, keys=server.keys)
    again.stop()
    assert "No site yet" not in "".join(again.output)
    assert json.loads(chatlens("site", "list", "--db", str(db), "--json").stdout)[0]["site_id"] == "default"


def test_serve_explains_a_missing_directory(tmp_path: Path) -> None:
    result = chatlens("serve", "--db", str(tmp_path / "nope" / "x.duckdb"), "--port", str(free_port()), check=False)
    assert result.returncode == 1
    assert "directory" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_explains_a_directory_given_as_database(tmp_path: Path) -> None:
    result = chatlens("serve", "--db", str(tmp_path), "--port", str(free_port()), check=False)
    assert result.returncode == 1 and "is a directory" in result.stderr


def test_serve_explains_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello, not a database\n" * 100)
    result = chatlens("serve", "--db", str(junk), "--port", str(free_port()), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(junk) in result.stderr


def test_a_database_owned_by_a_running_server_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "owned.duckdb"
    server = start_server(db)
    try:
        create = chatlens("site", "create", "x", "--db", str(db), check=False)
        assert create.returncode == 1
        assert "in use by another Chatlens server" in create.stderr
        second = chatlens("serve", "--db", str(db), "--port", str(free_port()), check=False)
        assert second.returncode == 1
        assert "in use by another Chatlens server" in second.stderr
    finally:
        server.stop()


def test_serve_explains_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = chatlens("serve", "--db", str(tmp_path / "p.duckdb"), "--port", str(port), check=False)
    assert result.returncode == 1
    assert f"--port {port}: already in use" in result.stderr


def test_sigterm_drains_the_writer_and_checkpoints(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    server = start_server(db)
    assert server.post(server.envelope([{"type": "page_view", "url": "https://a.example/"}])).status_code == 200
    server.stop()
    assert "Application shutdown complete" in "".join(server.output)
    assert not Path(f"{db}.wal").exists(), "the store was not checkpointed and closed"
    again = start_server(db, keys=server.keys)
    try:
        assert len(again.all_events()) == 1
    finally:
        again.stop()


SCHED_OTHER, SCHED_BATCH, SCHED_IDLE = 0, 3, 5  # Linux's numbers, as /proc shows them


def _policies(pid: int) -> dict[int, int]:
    """Thread id -> its scheduling policy (field 41 of /proc/PID/task/TID/stat)."""
    out = {}
    for tid in map(int, os.listdir(f"/proc/{pid}/task")):
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        out[tid] = int(stat[stat.rindex(")") + 2 :].split()[38])
    return out


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread scheduling policies are Linux's")
@pytest.mark.parametrize("priority", [None, "normal"])
def test_database_loads_yield_to_the_event_loop(tmp_path: Path, priority: str | None) -> None:
    """By default the loader and DuckDB's worker threads run under SCHED_IDLE and the
    journal thread under SCHED_BATCH (its wake-ups do not preempt the loop); the event
    loop's thread keeps the default policy. --background-priority normal changes none."""
    flags = ["--background-priority", priority] if priority else []
    server = start_server(tmp_path / "p.duckdb", *flags)
    try:
        policies = _policies(server.proc.pid)
        assert policies.pop(server.proc.pid) == SCHED_OTHER  # the main thread runs the event loop
        counts = {policy: list(policies.values()).count(policy) for policy in set(policies.values())}
        if priority is None:
            assert counts.get(SCHED_BATCH) == 1, policies  # the journal thread
            assert counts.get(SCHED_IDLE, 0) >= 2, policies  # the loader and DuckDB's workers
            assert set(counts) == {SCHED_BATCH, SCHED_IDLE}, policies
        else:
            assert set(counts) == {SCHED_OTHER}, policies
        assert server.post(server.envelope([{"type": "page_view", "url": "https://a.example/"}])).json()["accepted"] == 1
        assert len(server.all_events()) == 1  # loads still happen
    finally:
        server.stop()


@pytest.mark.slow
def test_pip_install_editable_in_a_fresh_venv_gives_a_working_command(tmp_path: Path) -> None:
    """The issue's promise, as a user would do it: `pip install -e .` (with pip's own
    isolated build, which compiles the engine as `make install` does) in a new virtualenv,
    then `chatlens serve` answers /healthz. It builds a copy of the source, since an
    editable build writes compiled modules into the tree it installs."""
    source = tmp_path / "chatlens"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CHATLENS_COMPILE", "PYTHONPATH")}
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", str(source)],
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    command = str(venv / "bin" / "chatlens")
    out = subprocess.run([command, "--version"], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().startswith("chatlens ")
    keys = subprocess.run(
        [command, "site", "create", "x", "--db", str(tmp_path / "v.duckdb"), "--json"],
        capture_output=True, text=True, check=True, env=env,
    )
    assert set(json.loads(keys.stdout)) == {"site_id", "public_key", "secret_key"}

    port = free_port()
    serve = subprocess.Popen(
        [command, "serve", "--db", str(tmp_path / "v.duckdb"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert serve.stdout is not None
        lines = []
        for line in serve.stdout:
            lines.append(line)
            if "Application startup complete" in line or len(lines) > 200:
                break
        output = "".join(lines)
        assert "Application startup complete" in output, output
        # The engine runs as this checkout's build does (compiled where `make install` compiled it).
        assert f"intent engine {describe()})" in output, output
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()["status"] == "ok"
    finally:
        serve.terminate()
        serve.wait(timeout=60)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[session_results.priorities]\nPURCHASE = 11\n", "session_results.priorities.PURCHASE: must be an integer from 0 (never the result) to 10, got 11"),
        ("[session_results.priorities]\npurchase = 1\n", "session_results.priorities.purchase: a data key is UPPER_SNAKE_CASE"),
        ("[session_results.paths]\nPURCHASE = \"Sale\"\n", "session_results.paths.PURCHASE: give PURCHASE a priority"),
        ("[skils]\n", "unknown section [skils]"),
        ("[session_results\n", "not valid TOML"),
    ],
)
def test_a_bad_config_file_stops_serve_with_the_key_and_the_reason(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "chatlens.toml"
    config.write_text(text)
    done = chatlens("serve", "--db", str(tmp_path / "c.duckdb"), "--config", str(config), "--port", str(free_port()), check=False)
    assert done.returncode == 2
    assert message in done.stderr and str(config) in done.stderr, done.stderr
