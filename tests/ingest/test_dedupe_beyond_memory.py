"""Dedupe stays exact when the in-memory index is full: older ids are asked of the store."""

from __future__ import annotations

from pathlib import Path

import httpx

from conftest import new_id, start_server

from chatlens._ids import uuid7


def _store_lookups(server) -> int:  # type: ignore[no-untyped-def]
    text = httpx.get(f"{server.url}/metrics").text
    lines = [line for line in text.splitlines() if line.startswith("chatlens_dedupe_store_lookups_total")]
    return int(float(lines[0].split()[-1])) if lines else 0


def _post_forty_seconds(server) -> list[dict]:  # type: ignore[no-untyped-def]
    """40 events over 40 seconds of client time, 5 per batch: more than an index of 10 keeps."""
    start_ms = 1_795_262_400_000  # 2026-11-21T12:00:00Z
    events = [
        {"type": "page_view", "id": uuid7(start_ms + n * 1000), "url": f"https://a.example/{n}",
         "timestamp": f"2026-11-21T12:00:{n:02d}.000Z"}
        for n in range(40)
    ]
    for n in range(0, 40, 5):
        assert server.post(server.envelope(events[n : n + 5])).json()["accepted"] == 5
    return events


def test_resent_events_older_than_the_index_are_still_duplicates(tmp_path: Path) -> None:
    server = start_server(tmp_path / "d.duckdb", "--rate-limit", "0", "--dedupe-capacity", "10")
    try:
        events = _post_forty_seconds(server)
        # The index forgets only what is in the store: once a reader has loaded the
        # journal, the next batch makes it keep just the newest ~10 seconds.
        server.all_events()
        later = {"type": "page_view", "id": new_id(), "url": "https://a.example/later",
                 "timestamp": "2026-11-21T12:00:59.000Z"}
        assert server.post(server.envelope([later])).json()["accepted"] == 1
        # Resend the oldest ones (forgotten by memory); one without its timestamp, which
        # is then known by the time inside its UUIDv7 id.
        old = events[:6]
        no_timestamp = {k: v for k, v in events[6].items() if k != "timestamp"}
        body = server.post(server.envelope([*old, no_timestamp, {**events[7], "id": new_id()}])).json()
        assert body == {**body, "accepted": 1, "duplicates": 7}, body
        assert _store_lookups(server) >= 7, "the old ids were answered by the store"
        assert len(server.all_events()) == 42
    finally:
        server.stop()


def test_ids_only_journaled_are_not_forgotten_when_the_index_is_full(tmp_path: Path) -> None:
    # No load in this test: every acknowledged event is in the journal only, where the
    # store cannot see it. The index must keep all 40 ids beyond its capacity of 10.
    server = start_server(tmp_path / "d.duckdb", "--rate-limit", "0", "--dedupe-capacity", "10",
                          "--load-interval", "600")
    try:
        events = _post_forty_seconds(server)
        body = server.post(server.envelope(events[:10])).json()
        assert body == {**body, "accepted": 0, "duplicates": 10}, body
        assert _store_lookups(server) == 0
        assert len(server.all_events()) == 40
    finally:
        server.stop()
