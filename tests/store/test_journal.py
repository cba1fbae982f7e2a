"""The journal and its replay: what was synced comes back once; a torn tail never does."""

from __future__ import annotations

import uuid
from pathlib import Path

from chatlens.store.duckdb_store import DuckDBStore
from chatlens.store.journal import Journal
from chatlens.store.rows import RowEncoder
from chatlens.store.writer import recover

ENCODER = RowEncoder({"site_id": "s", "visitor_id": "v", "session_id": "x", "received_at": 1_795_262_400_000_000,
                      "device": "desktop", "bot": False})


def lines(n: int) -> bytes:
    return b"".join(
        ENCODER.encode(str(uuid.uuid4()), "page_view", 1_795_262_400_000_000, 1_795_262_400_000_000,
                       {"url": "https://a.example/"}, '{"k":[1]}')
        for _ in range(n)
    )


def test_recover_loads_unloaded_segments_once_and_skips_loaded_ones(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "db.duckdb")
    journal = Journal(tmp_path / "db.duckdb.journal")
    journal.append(lines(2))
    loaded = journal.rotate()
    assert store.load_segment(journal.path(loaded), loaded) == 2  # the crash came before delete
    journal.append(lines(1))  # acknowledged, never loaded
    journal.close()

    reopened = Journal(tmp_path / "db.duckdb.journal")
    assert recover(reopened, store) == 1
    assert store.count_events() == 3, "the loaded segment was not loaded twice"
    assert reopened.segments() == [reopened.current_segment], "replayed segments are deleted"
    assert recover(reopened, store) == 0
    store.close()


def test_a_torn_last_line_is_cut_and_the_lines_before_it_are_loaded(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "db.duckdb")
    journal = Journal(tmp_path / "db.duckdb.journal")
    journal.append(lines(3))
    journal.close()
    segment = journal.path(journal.current_segment)
    segment.write_bytes(segment.read_bytes()[:-25])  # the crash cut the last line short
    assert recover(Journal(tmp_path / "db.duckdb.journal"), store) == 2
    store.close()
