"""Dedupe stays exact when the in-memory index is full: older ids are asked of the store."""

from __future__ import annotations

from pathlib import Path

from conftest import new_id, start_server

from chatlens._ids import uuid7


def test_resent_events_older_than_the_index_are_still_duplicates(tmp_path: Path) -> None:
    server = start_server(tmp_path / "d.duckdb", "--rate-limit", "0", "--dedupe-capacity", "10")
    try:
        # 40 events over 40 seconds of client time: the index keeps only the newest ~10.
        start_ms = 1_795_262_400_000  # 2026-11-21T12:00:00Z
        events = [
            {"type": "page_view", "id": uuid7(start_ms + n * 1000), "url": f"https://a.example/{n}",
             "timestamp": f"2026-11-21T12:00:{n:02d}.000Z"}
            for n in range(40)
        ]
        for n in range(0, 40, 5):
            assert server.post(server.envelope(events[n : n + 5])).json()["accepted"] == 5
        # Resend the oldest ones (forgotten by memory); one without its timestamp, which
        # is then known by the time inside its UUIDv7 id.
        old = events[:6]
        no_timestamp = {k: v for k, v in events[6].items() if k != "timestamp"}
        body = server.post(server.envelope([*old, no_timestamp, {**events[7], "id": new_id()}])).json()
        assert body == {**body, "accepted": 1, "duplicates": 7}, body
        assert len(server.all_events()) == 41
    finally:
        server.stop()
