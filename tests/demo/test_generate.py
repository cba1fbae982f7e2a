"""`chatlens demo`: realistic traffic through the real pipeline, checked in the stored file.

The command runs as a person runs it (a subprocess); the database is then read directly,
read-only, and through the server's own API. Nothing of ours is mocked.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from conftest import chatlens, start_server

from chatlens.demo.catalog import PRODUCT_BY_ID
from chatlens.demo.generate import plan_visits
from chatlens.model.events import BEHAVIOUR_TYPES
from chatlens.model.lifecycle import SCENARIOS

SMALL = ("--visitors", "60", "--days", "3", "--seed", "1")
DAY_MS = 86_400_000


def keys_from(stdout: str) -> dict[str, str]:
    """The site's keys as `chatlens demo` prints them when it creates the site."""
    keys = {}
    for line in stdout.splitlines():
        label, _, rest = line.strip().partition(":")
        if label in ("site id", "public key", "secret key") and rest.strip():
            keys[label.replace(" ", "_")] = rest.split()[0]
    return keys


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def count(db: Path) -> int:
    return int(query(db, "SELECT count(*) FROM events")[0][0])


def traffic(db: Path) -> list[tuple[Any, ...]]:
    """What the visitors did, per event type: events, distinct pages and products. (Two
    seeds can give the same number of events; not all of this by chance.)"""
    return query(db, "SELECT type, count(*), count(DISTINCT url), count(DISTINCT product_id) FROM events "
                     "GROUP BY type ORDER BY type")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    db = tmp_path_factory.mktemp("demo") / "x.duckdb"
    # check=True: a non-zero exit fails here. The generator raises on any event the
    # pipeline refuses, so exit 0 also means nothing was rejected or dropped.
    return db, chatlens("demo", *SMALL, "--db", str(db))


def test_every_event_family_is_stored(demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    db, run = demo
    assert "Created the site 'Demo shop'" in run.stdout and keys_from(run.stdout)["secret_key"].startswith("ags_")
    assert "Done in" in run.stdout and "chatlens serve --db" in run.stdout
    types = {t for (t,) in query(db, "SELECT DISTINCT type FROM events")}
    expected = {t.name for t in BEHAVIOUR_TYPES} | {
        "CHAT_LOADED", "CHAT_VISIBLE", "CONTACT_STARTED", "TRANSFER_TO_QUEUE", "CONNECT_TO_AGENT", "CONTACT_ENDED",
        "chat.ready", "chat.opened", "chat.submitted", "chat.started", "chat.cancelled", "chat.rejected",
        "chat.completed", "chat.closed",
        "conversation", "message", "session_log", "rating", "decision", "offer", "identify", "custom",
    }
    assert expected <= types, expected - types
    # purchases are the engine's outcome events; the conversation events come from both
    # the widget's page (web) and the app, initialized and used
    assert query(db, "SELECT count(*) FROM events WHERE type = 'custom' AND name = 'purchase'")[0][0] > 0
    used = {r[0] for r in query(db, "SELECT DISTINCT properties->>'used' FROM events WHERE type = 'conversation'")}
    assert used == {"true", "false"}, used
    sources = {r[0] for r in query(db, "SELECT DISTINCT properties->>'source' FROM events WHERE type = 'conversation'")}
    assert sources == {"web", "mobile_app"}, sources
    # the mixes the dashboard breaks down by
    devices = {r[0] for r in query(db, "SELECT DISTINCT device FROM events WHERE device IS NOT NULL")}
    assert devices >= {"desktop", "mobile"} and devices <= {"desktop", "mobile", "tablet"}, devices
    languages = {r[0] for r in query(db, "SELECT DISTINCT language FROM events WHERE language IS NOT NULL")}
    assert len(languages) >= 4, languages
    # the engine decided (and offered); the page showed and answered offers
    decisions = {r[0] for r in query(db, "SELECT DISTINCT status FROM events WHERE type = 'decision'")}
    assert "offered" in decisions, decisions
    answers = {r[0] for r in query(db, "SELECT DISTINCT status FROM events WHERE type = 'offer'")}
    assert answers >= {"shown", "accepted"}, answers
    # 004 data keys (stored in `name`) vary, so results vary
    keys = {r[0] for r in query(db, "SELECT DISTINCT name FROM events WHERE type = 'session_log'")}
    assert "SEARCH" in keys and len(keys) >= 4, keys
    # the shop's real catalogue and URLs
    products = {r[0] for r in query(db, "SELECT DISTINCT product_id FROM events WHERE product_id IS NOT NULL")}
    assert products <= set(PRODUCT_BY_ID) and len(products) >= 5, products
    urls = [r[0] for r in query(db, "SELECT DISTINCT url FROM events WHERE url IS NOT NULL")]
    assert all(u.startswith("http://localhost:8000/demo") for u in urls), urls


def test_chats_follow_each_of_the_four_scenarios(demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    db, _ = demo
    rows = query(
        db,
        "SELECT interaction_id, list(substr(type, 6) ORDER BY ts) FROM events "
        "WHERE type LIKE 'chat.%' GROUP BY interaction_id",
    )
    paths = {tuple(stages) for _, stages in rows}
    for name, path in SCENARIOS.items():
        assert path in paths, f"no conversation followed {name}: {path}"
    # every path is one of 002's scenarios or a prefix of one (a widget that only loaded,
    # a chat whose tab was closed while waiting), possibly from `opened` (a reopened widget)
    allowed = {p[i:j] for p in SCENARIOS.values() for i in (0, 1) for j in range(i + 1, len(p) + 1)}
    assert paths <= allowed, paths - allowed


def test_times_are_spread_over_the_days_and_none_is_in_the_future(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    db, _ = demo
    now = time.time() * 1000
    first, last, days = query(
        db, "SELECT epoch_ms(min(ts)), epoch_ms(max(ts)), count(DISTINCT date_trunc('day', ts)) FROM events"
    )[0]
    assert last <= now
    assert first >= now - 3 * DAY_MS - 3 * 3_600_000  # the period ends two hours before now
    assert last - first > 1.5 * DAY_MS and days >= 2
    # and, with skew correction left alone, the stored time is the event's own time
    assert query(db, "SELECT count(*) FROM events WHERE type = 'page_view' AND ts <> client_ts")[0][0] == 0


def test_the_same_seed_gives_the_same_traffic_and_a_second_run_reuses_the_site(tmp_path: Path) -> None:
    first, second = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    chatlens("demo", *SMALL, "--db", str(first))
    chatlens("demo", *SMALL, "--db", str(second))
    assert traffic(first) == traffic(second)
    other = tmp_path / "c.duckdb"
    chatlens("demo", "--visitors", "60", "--days", "3", "--seed", "2", "--db", str(other))
    assert traffic(other) != traffic(first)

    before = count(first)
    again = chatlens("demo", *SMALL, "--db", str(first))
    assert "The site 'Demo shop' exists (site id demo-shop)" in again.stdout
    assert "secret key:" not in again.stdout  # shown only when the site is created
    assert query(first, "SELECT site_id, name FROM sites") == [("demo-shop", "Demo shop")]
    assert count(first) > before  # fresh event ids: added, not dropped as duplicates


def test_the_server_lists_the_demo_conversations_in_several_states(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    db, run = demo
    keys = keys_from(run.stdout)
    server = start_server(db, keys=keys)
    try:
        # The server owns the file now: the demo says what to do instead of writing to it.
        refused = chatlens("demo", *SMALL, "--db", str(db), check=False)
        assert refused.returncode == 1 and "stop the server first" in refused.stderr
        assert "Traceback" not in refused.stderr

        auth = {"Authorization": f"Bearer {keys['secret_key']}"}
        response = httpx.get(f"{server.url}/v1/conversations", params={"limit": 1000}, headers=auth, timeout=30)
        response.raise_for_status()
        conversations = response.json()["conversations"]
        states = {c["state"] for c in conversations}
        assert {"ready", "closed", "rejected"} <= states and len(states) >= 3
        results = {c["result"]["dataKey"] for c in conversations if c["result"]}
        assert {"START", "CHAT_ATTENDED"} <= results and len(results) >= 3
        assert not any(c["flagged"] for c in conversations)  # every path is a valid 002 path

        intents = httpx.get(f"{server.url}/v1/intents", headers=auth, timeout=30).json()["skills"]
        assert sum(s["offered"] for s in intents) > 0 and sum(s["shown"] for s in intents) > 0
    finally:
        server.stop()


def test_the_plan_is_deterministic_and_keeps_visits_apart() -> None:
    now = 1_795_000_000_000
    one, two = plan_visits(200, 7, 5, now), plan_visits(200, 7, 5, now)
    assert [(v.visitor.visitor_id, v.start_ms, v.kind, v.chat) for v in one] == [
        (v.visitor.visitor_id, v.start_ms, v.kind, v.chat) for v in two]
    assert all(now - 8 * DAY_MS <= v.start_ms <= now - 2 * 3_600_000 for v in one)
    assert [v.start_ms for v in one] == sorted(v.start_ms for v in one)
    for v in one:
        if v.previous is not None:
            assert v.start_ms - v.previous.start_ms >= 3 * 3_600_000
    # afternoons and evenings are busier than nights
    hours = [v.start_ms // 3_600_000 % 24 for v in one]
    assert sum(17 <= h <= 21 for h in hours) > 2 * sum(1 <= h <= 5 for h in hours)
