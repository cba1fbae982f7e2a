"""A 200 from /v1/batch is a promise: the events survive `kill -9` of the server.

Clients post batches in a loop from several threads; the server is killed with SIGKILL
while they are mid-flight, then restarted on the same DuckDB file. Every event whose
batch was acknowledged must be stored exactly once; batches that got no answer may or
may not have been stored, and resending them must never create a second copy.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from conftest import BROWSER_UA, new_id, start_server, utc_now_iso

THREADS = 4
EVENTS_PER_BATCH = 20


def _batch(keys: dict[str, str], worker: int, n: int) -> dict:
    return {
        "key": keys["public_key"],
        "visitor_id": f"visitor-{worker}",
        "session_id": f"session-{worker}-{n // 10}",
        "sent_at": utc_now_iso(),
        "events": [
            {"type": "page_view", "id": new_id(), "url": f"https://shop.example/p/{worker}/{n}/{i}",
             "timestamp": utc_now_iso()}
            for i in range(EVENTS_PER_BATCH)
        ],
    }


@pytest.mark.parametrize(
    "load_interval",
    [
        pytest.param("60", id="all-in-journal"),  # nothing loaded yet: replay brings back every row
        pytest.param("0.05", id="loading-continuously"),  # killed mid-load, or between loads
    ],
)
def test_acknowledged_events_survive_sigkill_exactly_once(tmp_path: Path, load_interval: str) -> None:
    db = tmp_path / "crash.duckdb"
    server = start_server(db, "--rate-limit", "0", "--load-interval", load_interval)
    keys = server.keys
    acked: list[dict] = []  # batches answered 200
    unanswered: list[dict] = []  # batches in flight when the server died
    failures: list[str] = []  # answers other than a full acceptance, before the kill
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(headers={"User-Agent": BROWSER_UA, "Content-Type": "text/plain"}, timeout=10) as http:
            n = 0
            while not stop.is_set():
                batch = _batch(keys, worker, n)
                n += 1
                try:
                    response = http.post(f"{server.url}/v1/batch", json=batch)
                except httpx.TransportError:
                    with lock:
                        unanswered.append(batch)
                    return  # the server is gone
                # (A failed assert in a thread would only warn: the main thread checks these.)
                body = response.json() if response.status_code == 200 else {}
                if body.get("accepted") != EVENTS_PER_BATCH or body.get("rejected"):
                    with lock:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                    return
                with lock:
                    acked.append(batch)

    workers = [threading.Thread(target=client, args=(w,)) for w in range(THREADS)]
    for w in workers:
        w.start()
    # Kill mid-load: after a good number of acknowledgements, with requests in flight.
    deadline = time.monotonic() + 30
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    stop.set()
    for w in workers:
        w.join(timeout=30)
    assert not failures, failures
    assert len(acked) >= 150, "the load did not get going"

    restarted = start_server(db, "--rate-limit", "0", keys=keys)
    try:
        if load_interval == "60":
            assert any("recovered" in line and "journaled events" in line for line in restarted.output)
        stored = Counter(e["id"] for e in restarted.all_events())
        acked_ids = [e["id"] for b in acked for e in b["events"]]
        missing = [i for i in acked_ids if stored[i] == 0]
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:3]}"
        assert max(stored.values()) == 1, "an event was stored twice"

        # Resending acknowledged batches (a client that never saw the 200) stores nothing new.
        for batch in acked[:20]:
            response = restarted.post({**batch, "sent_at": utc_now_iso()})
            assert response.json() == {**response.json(), "accepted": 0, "duplicates": EVENTS_PER_BATCH}
        # Resending the batches that got no answer stores each event at most once.
        for batch in unanswered:
            body = restarted.post({**batch, "sent_at": utc_now_iso()}).json()
            assert body["accepted"] + body["duplicates"] == EVENTS_PER_BATCH
        final = Counter(e["id"] for e in restarted.all_events())
        assert max(final.values()) == 1
        for batch in unanswered:
            assert all(final[e["id"]] == 1 for e in batch["events"])
    finally:
        restarted.stop()
