"""The journal and its replay: what was synced comes back once; a torn tail never does."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson

from chatlens.store.duckdb_store import DuckDBStore
from chatlens.store.journal import Journal
from chatlens.store.schema import COLUMN_NAMES
from chatlens.store.writer import recover


def row(site: str = "s") -> list:
    values = dict.fromkeys(COLUMN_NAMES)
    values.update(event_id=str(uuid.uuid4()), site_id=site, visitor_id="v", session_id="x",
                  type="page_view", client_ts=1_795_262_400_000_000, received_at=1_795_262_400_000_000,
                  ts=1_795_262_400_000_000, url="https://a.example/", device="desktop", bot=False)
    return [values[c] for c in COLUMN_NAMES]


def test_a_torn_last_record_is_ignored_and_the_records_before_it_are_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    journal.append(b'[["a"]]')
    journal.append(b'[["b"]]')
    journal.close()
    segment = tmp_path / "j" / f"{journal.current_segment:012d}.log"
    data = segment.read_bytes()
    segment.write_bytes(data[:-3])  # the crash cut the last record short
    assert list(Journal(tmp_path / "j").read(journal.current_segment)) == [[["a"]]]


def test_recover_loads_unloaded_segments_once_and_skips_loaded_ones(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "db.duckdb")
    journal = Journal(tmp_path / "db.duckdb.journal")
    first, second = [row(), row()], [row()]
    journal.append(orjson.dumps(first))
    loaded = journal.rotate()
    store.append_events(first, journal_segment=loaded)  # loaded, but the crash came before delete
    journal.append(orjson.dumps(second))  # acknowledged, never loaded
    journal.close()

    reopened = Journal(tmp_path / "db.duckdb.journal")
    assert recover(reopened, store) == 1
    assert store.count_events() == 3, "the loaded segment was not loaded twice"
    assert reopened.segments() == [reopened.current_segment], "replayed segments are deleted"
    assert recover(reopened, store) == 0
    store.close()

