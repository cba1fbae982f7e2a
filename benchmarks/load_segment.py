"""What the rollups cost the write path: `DuckDBStore.load_segment` (events + visit and
conversation rollups, one transaction) against the bare load it replaced, a hand-written
`INSERT INTO events SELECT ... FROM read_json(...)`, in the same run on the same segments.

    .venv/bin/python benchmarks/load_segment.py [--segments 20] [--rows 50000]

Each segment is what one second of ingestion at 50,000 events/s writes: batches of 20
events from 60,000 sessions (page views and product statuses with product ids, dwell,
searches, filter uses, cart actions, widget loads, lifecycle events with metadata,
messages), times spread over that second. Both sides load the same segment files into
their own fresh database, alternating segment by segment, so that their tables grow
alike; the median and p90 wall time per segment are printed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import duckdb

from chatlens.store.duckdb_store import _READ_SEGMENT_SQL, DuckDBStore
from chatlens.store.rows import RowEncoder
from chatlens.store.schema import STORED_COLUMN_NAMES

BASE_US = 1_795_262_400_000_000
KINDS = ["page_view"] * 6 + ["dwell"] * 4 + ["product_status"] * 2 + [
    "search_event", "filter_usage", "cart_action", "chat.ready", "CHAT_VISIBLE", "chat.started", "message", "chat.completed"]
QUERIES = ["range hood", "Range  Hood", "oven", "sofa", "tv"]


def write_segment(path: Path, rng: random.Random, second: int, rows: int) -> None:
    lines = []
    for _ in range(rows // 20):
        session = rng.randint(0, 60_000)
        encoder = RowEncoder({"site_id": "bench", "visitor_id": f"v{session // 3}", "session_id": f"s{session}",
                              "received_at": BASE_US, "bot": False, "device": "mobile", "language": "en-US"})
        for _ in range(20):
            ts = BASE_US + second * 1_000_000 + rng.randint(0, 999_999)
            kind = rng.choice(KINDS)
            product = rng.randint(0, 2000)
            columns = {"url": f"https://shop.example/p/{product}", "page_type": "product"}
            if kind in ("page_view", "product_status"):
                columns["product_id"] = f"p{product}"
            properties = None
            if kind == "search_event":
                columns = {"query": rng.choice(QUERIES)}
            if kind == "filter_usage":
                columns = {"filter_type": "price", "filter_value": rng.choice(["low", "high"])}
            if kind == "cart_action":
                columns = {"action": rng.choice(["add", "remove"]), "product_id": f"p{product}"}
            if kind not in ("page_view", "dwell", "product_status", "search_event", "filter_usage", "cart_action"):
                columns["interaction_id"] = f"i{session}"
            if kind == "message":
                columns["sender"] = "user"
            if kind == "cart_action":
                properties = json.dumps({"productName": f"Product {product}"})
            if kind == "chat.completed":
                properties = json.dumps({"metadata": {"waitingForAgent": 3000, "userMessages": 4, "errors": []}})
            lines.append(encoder.encode(str(uuid.uuid4()), kind, ts, ts, columns, properties))
    path.write_bytes(b"".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    rng = random.Random(1)
    tmp = Path(tempfile.mkdtemp(prefix="chatlens-load-"))
    store = DuckDBStore(tmp / "store.duckdb")  # 2 threads, as the server
    DuckDBStore(tmp / "bare.duckdb").close()  # the same schema
    bare = duckdb.connect(str(tmp / "bare.duckdb"), config={"threads": 2})
    bare_sql = f"INSERT INTO events ({', '.join(STORED_COLUMN_NAMES)}) {_READ_SEGMENT_SQL}"
    times: dict[str, list[float]] = {"bare INSERT from read_json (reference)": [], "load_segment with rollups": []}
    for n in range(1, args.segments + 1):
        path = tmp / f"segment-{n}"
        write_segment(path, rng, n, args.rows)
        t = time.perf_counter()
        bare.execute("BEGIN TRANSACTION")
        bare.execute(bare_sql, [str(path)])
        bare.execute("COMMIT")
        times["bare INSERT from read_json (reference)"].append(time.perf_counter() - t)
        t = time.perf_counter()
        store.load_segment(path, n)
        times["load_segment with rollups"].append(time.perf_counter() - t)
        path.unlink()
    print(f"{args.segments} segments of {args.rows:,} rows, DuckDB {duckdb.__version__}, 2 threads")
    medians = {}
    for name, values in times.items():
        values.sort()
        medians[name] = statistics.median(values)
        print(f"  {name:<42} median {medians[name] * 1000:6.0f} ms   p90 {values[int(len(values) * 0.9) - 1] * 1000:6.0f} ms"
              f"   {args.rows / medians[name]:>10,.0f} rows/s")
    reference, ours = medians.values()
    print(f"  ratio load_segment / reference: {ours / reference:.2f}")
    rollups = store._cursor().execute(
        "SELECT (SELECT count(*) FROM visit_rollup), (SELECT count(*) FROM conversation_rollup), "
        "(SELECT count(*) FROM visit_page_rollup), (SELECT count(*) FROM decision_rollup)").fetchone()
    print(f"  rollup rows after the run: {rollups[0]:,} visits, {rollups[1]:,} conversations, {rollups[2]:,} visit pages, "
          f"{rollups[3]:,} decisions")
    store.close()
    bare.close()


if __name__ == "__main__":
    main()
