"""The rollups (one row per visit, conversation, page a visit viewed and decision), merged in segment by segment as
the journal loads, must equal the same rows computed from all events at once, whatever
order the segments (and the events in them) arrive in."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest

from chatlens.store.duckdb_store import DuckDBStore
from chatlens.store.rows import RowEncoder
from chatlens.store.schema import LATEST, ROLLUPS, Rollup

BASE_US = 1_795_262_400_000_000
SECOND = 1_000_000


def rollup(store: DuckDBStore, table: str = "visit_rollup") -> list[tuple[Any, ...]]:
    # lists are kept in the order of arrival: sorted here
    lists = {"visit_rollup": ("page_types", "views", "product_pairs"),
             "visit_shopping_rollup": ("product_pages", "dwells", "out_of_stock"),
             "conversation_rollup": ("error_lists", "logged_keys"), "visit_page_rollup": (), "decision_rollup": ("answers",),
             "behaviour_hour_rollup": (), "out_of_stock_rollup": (), "visit_search_rollup": (),
             "visit_filter_rollup": (), "product_day_rollup": ()}[table]
    replace = f" REPLACE ({', '.join(f'list_sort({c}) AS {c}' for c in lists)})" if lists else ""
    return store._cursor().execute(
        f"SELECT COLUMNS(*)::VARCHAR FROM (SELECT *{replace} FROM {table}) ORDER BY ALL"
    ).fetchall()


def random_events(rng: random.Random, visits: int) -> list[bytes]:
    lines = []
    for n in range(visits):
        browser = rng.random() < 0.8
        shared: dict[str, Any] = {"site_id": rng.choice(["a", "b"]), "visitor_id": f"visitor-{n % 7}",
                                  "received_at": BASE_US, "bot": False}
        if browser:
            shared["session_id"] = f"s-{n}"
        encoder = RowEncoder(shared)
        for _ in range(rng.randint(1, 12)):
            ts = BASE_US + rng.randint(0, 3600) * SECOND
            kind = rng.choice(["page_view", "page_view", "chat.ready", "chat.submitted", "message", "conversation", "dwell",
                               "chat.started", "CONNECT_TO_AGENT", "TRANSFER_TO_QUEUE", "attachment", "chat.completed",
                               "chat.cancelled", "CHAT_VISIBLE", "decision", "offer", "offer", "search_event",
                               "cart_action", "product_status", "filter_usage"])
            columns: dict[str, Any] = {"interaction_id": f"i-{n}-{rng.randint(0, 1)}"}
            if browser and rng.random() < 0.9:
                columns["device"] = rng.choice(["desktop", "mobile"])
                columns["language"] = rng.choice(["en-US", "de", None])
            properties = None
            if kind == "page_view":
                columns["url"] = f"https://shop.example/{rng.randint(0, 2)}"
                columns["page_type"] = rng.choice(["product", "category", "home", None])
                columns["product_id"] = rng.choice(["p1", "p2", "p3", None])
            elif kind == "dwell":
                columns["url"] = f"https://shop.example/{rng.randint(0, 2)}"
                columns["duration_seconds"] = rng.choice([5.0, 12.5, 30.0])
            elif kind == "message":
                columns["sender"] = rng.choice(["user", "agent"])
            elif kind == "search_event":
                columns["query"] = rng.choice(["hood", "Hood  90"])
            elif kind == "cart_action":
                columns["action"] = rng.choice(["add", "remove"])
                columns["product_id"] = rng.choice(["p1", "p2"])
                name = rng.choice(["Hood", "Island hood", None])
                properties = json.dumps({"productName": name} if name else {})
            elif kind == "product_status":
                columns["status"] = rng.choice(["out_of_stock", "in_stock"])
                columns["product_id"] = rng.choice(["p1", "p3"])
            elif kind == "filter_usage":
                columns["filter_type"] = rng.choice(["price", "brand"])
                columns["filter_value"] = rng.choice(["low", "acme"])
            elif kind in ("decision", "offer"):  # two offers per visit, decided any number of times (0: answers only)
                columns["offer_id"] = f"o-{n}-{rng.randint(0, 1)}"
                if kind == "decision":
                    columns["name"] = rng.choice(["value_seeking", "comparison"])
                    columns["status"] = rng.choice(["offered", "held_out", "blocked"])
                    properties = json.dumps({"reason": rng.choice(["cooldown", ""])} if columns["status"] == "blocked" else {})
                else:
                    columns["status"] = rng.choice(["shown", "accepted", "dismissed"])
            elif kind in ("chat.completed", "chat.cancelled"):
                properties = json.dumps({"metadata": {
                    "waitingForAgent": rng.randint(0, 9000), "userMessages": rng.randint(0, 9),
                    "errors": rng.choice([[], [{"code": "E1"}], [{"code": rng.choice(["E1", "E2"])}]]),
                }})
            elif kind == "conversation":
                properties = json.dumps({k: v for k, v in {
                    "deviceType": rng.choice(["mobile", "tablet", None]),
                    "source": rng.choice(["web", "mobile_app", None]),
                    "language": rng.choice(["fr", None]),
                    "used": rng.choice([True, False]),
                }.items() if v is not None})
            columns = {k: v for k, v in columns.items() if v is not None}
            lines.append(encoder.encode(str(uuid.uuid4()), kind, ts, ts, columns, properties))
        if browser and rng.random() < 0.5:  # out-of-stock demand: products seen out of stock on pages with dwells
            url = f"https://shop.example/{rng.randint(0, 2)}"
            for product in rng.sample(["p1", "p3"], rng.randint(1, 2)):  # two on one URL: the later viewed takes it
                for kind, columns in (("page_view", {"url": url, "product_id": product}),
                                      ("product_status", {"product_id": product, "status": "out_of_stock"}),
                                      ("dwell", {"url": url, "duration_seconds": rng.choice([5.0, 12.5])})):
                    ts = BASE_US + rng.randint(0, 3600) * SECOND
                    lines.append(encoder.encode(str(uuid.uuid4()), kind, ts, ts, columns, None))
    return lines


@pytest.mark.parametrize("seed", range(5))
def test_merging_segments_in_any_order_equals_rebuilding_from_all_events(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    lines = random_events(rng, visits=90)
    rng.shuffle(lines)  # events of one visit land in many segments, later times first
    store = DuckDBStore(tmp_path / "db.duckdb")
    cut = sorted(rng.sample(range(1, len(lines)), 15))
    for number, (start, end) in enumerate(zip([0, *cut], [*cut, len(lines)]), start=1):
        segment = tmp_path / f"segment-{number}"
        segment.write_bytes(b"".join(lines[start:end]))
        store.load_segment(segment, number)
    merged = rollup(store)
    conversations = rollup(store, "conversation_rollup")
    pages = rollup(store, "visit_page_rollup")
    decisions = rollup(store, "decision_rollup")
    hours = rollup(store, "behaviour_hour_rollup")
    shopping = rollup(store, "visit_shopping_rollup")
    out_of_stock = rollup(store, "out_of_stock_rollup")
    searches = rollup(store, "visit_search_rollup")
    filters = rollup(store, "visit_filter_rollup")
    products = rollup(store, "product_day_rollup")
    store.rebuild_rollups()
    assert merged == rollup(store)
    assert conversations == rollup(store, "conversation_rollup")
    assert pages == rollup(store, "visit_page_rollup") and len({r[1] for r in pages}) < len(pages), "some visits viewed several pages"
    assert decisions == rollup(store, "decision_rollup")
    assert hours == rollup(store, "behaviour_hour_rollup")
    assert shopping == rollup(store, "visit_shopping_rollup")
    assert out_of_stock == rollup(store, "out_of_stock_rollup")
    assert searches == rollup(store, "visit_search_rollup") and filters == rollup(store, "visit_filter_rollup")
    assert products == rollup(store, "product_day_rollup")
    assert any(r[3] != "0" for r in products) and any(r[6] is not None for r in products), "products viewed and named"
    assert {r[2] for r in searches} == {"hood", "hood 90"}, "queries normalized"
    [(searched, used)] = store._cursor().execute(
        "SELECT count(*) FILTER (WHERE type = 'search_event'), count(*) FILTER (WHERE type = 'filter_usage') "
        "FROM events WHERE visit_key IS NOT NULL").fetchall()
    assert (sum(int(r[3]) for r in searches), sum(int(r[4]) for r in filters)) == (searched, used) > (0, 0), \
        "every search and filter use of a visit counted once"
    assert any(r[3] != "0" for r in out_of_stock) and any(r[4] != "[]" for r in out_of_stock) \
        and any(r[3] == "0" for r in out_of_stock), "out of stock: with views and dwells, and seen but never viewed"
    assert {r[2] for r in hours} == {"page_view", "add", "remove"} and {r[4] for r in hours} == {"true", "false"}, \
        "page views with and without a page type, cart adds and removes"
    [(placed,)] = store._cursor().execute(
        "SELECT count(*) FROM visit_rollup WHERE loaded_on IS NOT NULL AND used_on IS NOT NULL").fetchall()
    assert placed > 0, "the derived placement columns were exercised"
    [(compared,)] = store._cursor().execute("SELECT count(*) FROM visit_rollup WHERE len(product_pairs) > 0").fetchall()
    assert compared > 0, "the derived comparisons were exercised"
    [counted] = store._cursor().execute(
        "SELECT min(n) FROM (SELECT unnest([sum(searches), sum(cart_adds), sum(cart_removes), sum(out_of_stock_views), "
        "count(last_product_view)]) AS n FROM visit_rollup)").fetchall()
    assert counted[0] > 0, "every behaviour count and the latest product view were exercised"
    assert any(r[2] is None for r in decisions) and any(r[2] is not None and r[3] != "[]" for r in decisions), \
        "some offers were answered with no decision, some decisions were answered"
    assert any(r[-1] != "[]" for r in conversations), "some conversations reported errors"
    [(browser, alone)] = store._cursor().execute(
        "SELECT count(*) FILTER (WHERE visit_key IN (SELECT md5_number_lower(session_id) FROM events)), "
        "count(*) FILTER (WHERE visit_key IN (SELECT md5_number_lower('conversation:' || interaction_id) FROM events "
        "WHERE session_id IS NULL)) FROM visit_rollup").fetchall()
    assert browser > 0 and alone > 0 and browser + alone == len(merged), "visits of sessions and of conversations alone"
    [(joined, total)] = store._cursor().execute(
        "SELECT count(r.visit_key), count(*) FROM conversation_rollup c "
        "LEFT JOIN visit_rollup r ON r.site_id = c.site_id AND r.visit_key = coalesce(c.session.v, c.alone_visit)").fetchall()
    assert joined == total, "every conversation's visit is a visit of the visit rollup"
    store.close()


def test_a_late_segment_with_earlier_events_changes_the_visit_first_values(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "db.duckdb")
    encoder = RowEncoder({"site_id": "a", "visitor_id": "v", "session_id": "s", "received_at": BASE_US, "bot": False})

    def load(number: int, *events: tuple[str, int, dict[str, Any]]) -> None:
        segment = tmp_path / f"segment-{number}"
        segment.write_bytes(b"".join(encoder.encode(str(uuid.uuid4()), t, BASE_US + at * SECOND, BASE_US + at * SECOND,
                                                    dict(c), None) for t, at, c in events))
        store.load_segment(segment, number)

    load(1, ("page_view", 100, {"page_type": "product", "device": "mobile"}),
         ("chat.ready", 110, {"interaction_id": "i", "device": "mobile"}))
    load(2, ("page_view", 50, {"page_type": "home", "device": "desktop", "language": "de"}),
         ("message", 200, {"interaction_id": "i", "sender": "user", "device": "mobile"}))
    row = store._cursor().execute(
        "SELECT device.v, language.v, landing_page_type.v, list_sort(page_types), epoch(first_ts)::BIGINT, "
        "epoch(last_ts)::BIGINT, epoch(loaded_at)::BIGINT, epoch(used_at)::BIGINT FROM visit_rollup"
    ).fetchall()
    base = BASE_US // SECOND
    assert row == [("desktop", "de", "home", ["home", "product"], base + 50, base + 200, base + 110, base + 200)]
    store.close()


def test_a_file_without_the_rollup_gets_it_built_on_open(tmp_path: Path) -> None:
    """A database written before the rollup existed (or by a bulk writer that bypassed
    load_segment and then cleared the marker) is rolled up when the store opens it."""
    path = tmp_path / "db.duckdb"
    store = DuckDBStore(path)
    segment = tmp_path / "segment"
    encoder = RowEncoder({"site_id": "a", "visitor_id": "v", "session_id": "s", "received_at": BASE_US, "bot": False})
    segment.write_bytes(encoder.encode(str(uuid.uuid4()), "page_view", BASE_US, BASE_US, {"page_type": "home"}, None))
    store.load_segment(segment, 1)
    store.close()
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE visit_rollup")
    con.execute("DELETE FROM meta WHERE key = 'rollup_version'")
    con.close()

    reopened = DuckDBStore(path)
    assert reopened._cursor().execute(
        "SELECT visit_key = md5_number_lower('s'), landing_page_type.v FROM visit_rollup").fetchall() == [(True, "home")]
    reopened.close()


def test_a_file_from_before_the_keys_gets_them_derived_on_open(tmp_path: Path) -> None:
    """Schema 1 had no visitor and visit keys: opening such a file derives them from the
    stored ids (the visit of an event without a session: its conversation), then builds
    the rollups on them."""
    path = tmp_path / "db.duckdb"
    store = DuckDBStore(path)
    segment = tmp_path / "segment"
    browser = RowEncoder({"site_id": "a", "visitor_id": "v", "session_id": "s", "received_at": BASE_US, "bot": False})
    backend = RowEncoder({"site_id": "a", "visitor_id": "v", "received_at": BASE_US, "bot": False})
    segment.write_bytes(browser.encode(str(uuid.uuid4()), "page_view", BASE_US, BASE_US, {"page_type": "home"}, None)
                        + backend.encode(str(uuid.uuid4()), "message", BASE_US, BASE_US, {"interaction_id": "c1"}, None))
    store.load_segment(segment, 1)
    store.close()
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE events DROP COLUMN visitor_key")
    con.execute("ALTER TABLE events DROP COLUMN visit_key")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.execute("DELETE FROM meta WHERE key = 'rollup_version'")
    con.close()

    reopened = DuckDBStore(path)
    cur = reopened._cursor()
    assert cur.execute(
        "SELECT type, visitor_key = md5_number_lower('v'), visit_key = md5_number_lower(coalesce(session_id, 'conversation:c1')) "
        "FROM events ORDER BY type").fetchall() == [("message", True, True), ("page_view", True, True)]
    assert cur.execute("SELECT count(*) FROM visit_rollup").fetchall() == [(2,)]
    assert cur.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("2",)]
    reopened.close()


def test_a_segment_a_rollup_cannot_take_is_stored_and_the_rollups_rebuilt_on_the_next_open(tmp_path: Path) -> None:
    """Acknowledged events never wait on a rollup: when merging fails, the segment's
    events are stored alone, and the rollups, marked stale, are rebuilt when the store
    next opens (here with rollups that can take the rows)."""
    poison = Rollup(
        "poison_rollup", (("site_id", "VARCHAR", "e.site_id"),), "true",
        (("n", "BIGINT", "max(CASE WHEN e.url = 'https://poison.example/' THEN error('cannot take this row') END)::BIGINT",
          LATEST),),
    )
    path = tmp_path / "db.duckdb"
    store = DuckDBStore(path, rollups=(*ROLLUPS, poison))
    encoder = RowEncoder({"site_id": "a", "visitor_id": "v", "session_id": "s", "received_at": BASE_US, "bot": False})
    for number, url in enumerate(["https://shop.example/", "https://poison.example/"], start=1):
        segment = tmp_path / f"segment-{number}"
        segment.write_bytes(encoder.encode(str(uuid.uuid4()), "page_view", BASE_US + number, BASE_US + number,
                                           {"url": url, "page_type": f"type-{number}"}, None))
        assert store.load_segment(segment, number) == 1
    assert store.count_events() == 2 and store.journal_position() == 2
    cur = store._cursor()
    assert cur.execute("SELECT value FROM meta WHERE key = 'rollup_version'").fetchone() == ("stale",)
    assert cur.execute("SELECT list_sort(page_types) FROM visit_rollup").fetchall() == [(["type-1"],)]
    store.close()

    reopened = DuckDBStore(path)
    assert reopened._cursor().execute("SELECT list_sort(page_types) FROM visit_rollup").fetchall() == [(["type-1", "type-2"],)]
    reopened.close()
