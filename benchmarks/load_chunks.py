"""What a load's size and DuckDB's checkpoint threshold cost the write path: the same
rows loaded with `DuckDBStore.load_segment` in chunks of 1 s and of 5 s of traffic, with
DuckDB's default checkpoint threshold (16 MB of WAL) and with the store's
(`CHECKPOINT_THRESHOLD`), each into its own fresh database, side by side in one run.

    .venv/bin/python benchmarks/load_chunks.py [--seconds 30] [--rate 50000]

The rows are `load_segment.py`'s: one second of ingestion at `--rate` events/s per
segment, batches of 20 from 60,000 sessions that stay active the whole run (the HTTP
benchmark's traffic is like that too; real visits end within minutes, so their rollup rows
stop growing). The reference is the previous default: a load every second and DuckDB's
own threshold. Reported: CPU time of the whole process (DuckDB's threads included) per
row, counting a final CHECKPOINT so that deferred work is not left out, and the longest
single load (what a reader's flush may wait for).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import duckdb

from chatlens.store.duckdb_store import CHECKPOINT_THRESHOLD, DuckDBStore
from load_segment import write_segment

DUCKDB_DEFAULT_THRESHOLD = "16MB"


def run(segments: list[Path], chunk_seconds: int, threshold: str, tmp: Path) -> tuple[float, float, int]:
    """(CPU seconds, longest load in seconds, rows) for loading `segments` in chunks."""
    store = DuckDBStore(tmp / f"store-{chunk_seconds}-{threshold}.duckdb")
    cursor = store._cursor()
    cursor.execute(f"SET checkpoint_threshold = '{threshold}'")
    rows, longest, spent = 0, 0.0, 0.0
    for n in range(0, len(segments), chunk_seconds):
        chunk = tmp / "chunk.ndjson"
        chunk.write_bytes(b"".join(p.read_bytes() for p in segments[n : n + chunk_seconds]))
        started_cpu, started = time.process_time(), time.perf_counter()
        rows += store.load_segment(chunk, n + 1)
        longest = max(longest, time.perf_counter() - started)
        spent += time.process_time() - started_cpu  # the loads only, not the file copies
        chunk.unlink()
    started_cpu = time.process_time()
    cursor.execute("CHECKPOINT")
    spent += time.process_time() - started_cpu
    store.close()
    return spent, longest, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="seconds of traffic (default 30)")
    parser.add_argument("--rate", type=int, default=50_000, help="events per second of traffic (default 50,000)")
    args = parser.parse_args()
    rng = random.Random(1)
    tmp = Path(tempfile.mkdtemp(prefix="chatlens-chunks-"))
    segments = []
    for n in range(1, args.seconds + 1):
        path = tmp / f"second-{n}.ndjson"
        write_segment(path, rng, n, args.rate)
        segments.append(path)
    print(f"{args.seconds} s of traffic at {args.rate:,} events/s, DuckDB {duckdb.__version__}, 2 threads")
    print(f"  {'loads every':<12} {'checkpoint at':<14} {'CPU us/row':>10} {'ratio':>6} {'longest load':>13}")
    reference = None
    for chunk_seconds, threshold in (
        (1, DUCKDB_DEFAULT_THRESHOLD),
        (1, CHECKPOINT_THRESHOLD),
        (5, DUCKDB_DEFAULT_THRESHOLD),
        (5, CHECKPOINT_THRESHOLD),
    ):
        cpu, longest, rows = run(segments, chunk_seconds, threshold, tmp)
        per_row = cpu / rows * 1e6
        reference = reference or per_row
        print(f"  {f'{chunk_seconds} s':<12} {threshold:<14} {per_row:>10.1f} {per_row / reference:>6.2f} {longest:>11.2f} s")


if __name__ == "__main__":
    main()
