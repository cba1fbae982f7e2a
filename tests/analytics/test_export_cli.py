"""`chatlens export`, as docs/analytics.md shows it, on a database `chatlens demo` filled."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import chatlens


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export-cli") / "demo.duckdb"
    chatlens("demo", "--visitors", "40", "--days", "2", "--db", str(path), "--seed", "3", timeout=120)
    return path


def test_export_raw_events_as_csv_and_parquet(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.csv"
    result = chatlens("export", "events", "--db", str(db), "--filter", "device=mobile", "--type", "page_view", "-o", str(out))
    rows = list(csv.DictReader(out.open()))
    assert result.stderr.strip() == f"{out}: {len(rows):,} rows" and rows
    assert {r["type"] for r in rows} == {"page_view"} and {r["device"] for r in rows} == {"mobile"}
    out = tmp_path / "events.parquet"
    chatlens("export", "events", "--db", str(db), "--format", "parquet", "-o", str(out))
    stored = duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM events").fetchone()[0]
    assert duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall()[0][0] == stored  # the demo's 2 days are in range


def test_export_a_report(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "engagement.json"
    chatlens("export", "engagement", "--db", str(db), "--format", "json", "-o", str(out), "--breakdown", "device")
    report = json.loads(out.read_text())
    assert report["report"] == "engagement" and report["breakdown"] == "device"
    metrics = {m["key"]: m["value"] for m in report["metrics"]}
    assert metrics["initialized"] > metrics["used"] > 0
    out = tmp_path / "placement.csv"
    chatlens("export", "engagement", "--db", str(db), "--table", "placement", "-o", str(out))
    header, *rows = list(csv.reader(out.open()))
    assert header == ["Page type", "Loaded on", "Used on", "Used / loaded"]
    assert sum(int(r[1]) for r in rows) == metrics["initialized"]  # every visit's widget loaded somewhere
    default = Path(chatlens("export", "chat", "--db", str(db), "--format", "parquet").stderr.split(":")[0])
    try:
        assert default.name == "chatlens-demo-shop-chat.parquet" and default.read_bytes()[:4] == b"PAR1"
    finally:
        default.unlink()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "report: 'nope' is not one of events, behaviour, chat, engagement, intents, live, results"),
        (["engagement", "--table", "x"], "table: 'x' is not a table of engagement (metrics, trend, timing, content, placement)"),
        (["engagement", "--from", "yesterday"], "from: must be ISO 8601 text"),
        (["engagement", "--filter", "device"], "--filter 'device': give NAME=VALUE"),
        (["engagement", "--site", "other"], "--site other: no such site (sites: demo-shop)"),
        (["events", "--format", "json"], "format: events export as csv or parquet"),
    ],
)
def test_export_errors(db: Path, args: list[str], message: str) -> None:
    result = chatlens("export", *args, "--db", str(db), check=False)
    assert result.returncode == 1 and result.stderr.startswith(f"chatlens: error: {message}"), result.stderr
