"""DuckDB checkpoints late (`CHECKPOINT_THRESHOLD`): a load's rows stay in its WAL, which is
cheaper under heavy ingestion (docs/benchmarks.md, "The loads"). They must still survive a
crash that comes before any checkpoint, together with the journal position that says they
were loaded, so that recovery neither loses nor doubles them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chatlens.store.duckdb_store import DuckDBStore
from chatlens.store.journal import Journal
from chatlens.store.writer import recover
from tests.store.test_journal import lines

ROWS = 80_000  # about 20 MB of WAL: past DuckDB's default threshold of 16 MB

# Loads one journal segment, then dies without closing the store (no checkpoint at close).
LOAD_AND_CRASH = """
import os, sys
from chatlens.store.duckdb_store import DuckDBStore
from chatlens.store.journal import Journal
db, seq = sys.argv[1], int(sys.argv[2])
store = DuckDBStore(db)
journal = Journal(db + ".journal")
print(store.load_segment(journal.path(seq), seq), os.path.getsize(db + ".wal"), flush=True)
os._exit(0)
"""


def test_a_load_stays_in_the_wal_and_survives_a_crash_before_any_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    DuckDBStore(db).close()
    journal = Journal(tmp_path / "db.duckdb.journal")
    journal.append(lines(ROWS))
    sealed = journal.rotate()
    journal.close()

    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_CRASH, str(db), str(sealed)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    loaded, wal_bytes = map(int, done.stdout.split())
    assert loaded == ROWS
    assert wal_bytes > 16 * 1024 * 1024, "the load was checkpointed at once (DuckDB's default threshold)"

    store = DuckDBStore(db)  # replays the WAL
    assert store.count_events() == ROWS
    assert store.journal_position() == sealed
    # The segment is still in the journal (the crash came before its deletion): recovery
    # must skip it, not load it again.
    assert recover(Journal(tmp_path / "db.duckdb.journal"), store) == 0
    assert store.count_events() == ROWS
    store.close()
