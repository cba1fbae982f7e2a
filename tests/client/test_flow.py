"""The Python SDK against a real server: the two-step conversation flow, sync and async.

Every tracking method is called once (attachments three times, one per input shape);
then the stored events are read back with GET /v1/events and compared field by field
with what the SDK was given: each stored exactly once, on the right conversation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from async_helpers import run_async
from conftest import Server

from chatlens_client import AsyncClient, Client, DeliveryError, DeliveryStats

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7 fake but fine"
CSV = b"sku,qty\nA-1,2\n"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def track_everything(client: Client | AsyncClient, conversation: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Call every tracking method; return event id -> (type, the data the server must store).

    The tracking methods are the same plain methods on both clients, so one script serves
    the sync and the async test.
    """
    expected: dict[str, tuple[str, dict[str, Any]]] = {}
    conv = {"conversationId": conversation}

    event_id = client.initialize_conversation(
        conversation,
        customer_id="cust-7",
        customer_ip_address="203.0.113.9",
        device="mobile",
        source="web",
        language="en-US",
        name="Order help",
        environment="development",
        metadata={"plan": "pro", "tags": ["a", "b"]},
    )
    expected[event_id] = ("conversation", {
        **conv, "used": False, "customerId": "cust-7", "deviceType": "mobile", "source": "web",
        "language": "en-US", "name": "Order help", "environment": "development",
        "metadata": {"plan": "pro", "tags": ["a", "b"]},
    })
    assert client.current_conversation_id is None, "initialize_conversation does not pick the conversation"

    event_id = client.get_or_create_conversation(conversation, customer_id="cust-7", device="tablet")
    expected[event_id] = ("conversation", {
        **conv, "used": True, "customerId": "cust-7", "deviceType": "tablet", "environment": "production",
    })
    assert client.current_conversation_id == conversation

    event_id = client.track_question("Where is my order?", metadata={"channel": "chat"})
    expected[event_id] = ("message", {**conv, "sender": "user", "content": "Where is my order?", "metadata": {"channel": "chat"}})
    answer_id = client.track_answer("It ships tomorrow. 🚚")
    expected[answer_id] = ("message", {**conv, "sender": "agent", "content": "It ships tomorrow. 🚚"})
    event_id = client.track_message("system", "Agent joined")
    expected[event_id] = ("message", {**conv, "sender": "system", "content": "Agent joined"})

    started = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=timezone.utc)
    event_id = client.track_action(
        "lookup_order",
        started_at=started,
        ended_at=(started + timedelta(milliseconds=1500)).isoformat(),
        tools_used={"orders_api": {"order": "A-1"}},
        response="order A-1: shipped",
        metadata={"attempt": 1},
    )
    expected[event_id] = ("action", {
        **conv, "name": "lookup_order", "startedAt": "2026-01-02T03:04:05.250000+00:00",
        "endedAt": "2026-01-02T03:04:06.750000+00:00", "durationMs": 1500,
        "tools": {"orders_api": {"order": "A-1"}}, "response": "order A-1: shipped", "metadata": {"attempt": 1},
    })
    event_id = client.track_action("refund", duration_ms=42, error_msg="payment provider down")
    expected[event_id] = ("action", {**conv, "name": "refund", "durationMs": 42, "error": "payment provider down"})

    event_id = client.track_button("confirm_address", "Yes, that's me", "yes", metadata={"position": 1})
    expected[event_id] = ("button", {**conv, "event": "confirm_address", "label": "Yes, that's me", "value": "yes", "metadata": {"position": 1}})

    attachment_ids = client.track_attachments(
        [
            {"filename": "photo.png", "mime_type": "image/png", "data": PNG},
            {"filename": "invoice.pdf", "mime_type": "application/pdf", "data": base64.b64encode(PDF).decode()},
            {"filename": "items.csv", "mime_type": "text/csv", "data": io.BytesIO(CSV)},
        ],
        sender="agent",
        metadata={"via": "upload"},
    )
    assert len(attachment_ids) == 3
    for event_id, (filename, mime, raw) in zip(
        attachment_ids, [("photo.png", "image/png", PNG), ("invoice.pdf", "application/pdf", PDF), ("items.csv", "text/csv", CSV)]
    ):
        expected[event_id] = ("attachment", {
            **conv, "sender": "agent", "filename": filename, "mimeType": mime, "size": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(), "content": base64.b64encode(raw).decode(),
            "metadata": {"via": "upload"},
        })

    event_id = client.track_token_usage(prompt_tokens=120, completion_tokens=30, total_tokens=150, model="gpt-4o-mini")
    expected[event_id] = ("token_usage", {
        **conv, "model": "gpt-4o-mini", "promptTokens": 120, "completionTokens": 30, "totalTokens": 150, "embeddingTokens": 0,
    })
    event_id = client.track_rating("THUMBS_UP", comment="quick and right", content_id=answer_id)
    expected[event_id] = ("rating", {**conv, "rateCode": "THUMBS_UP", "comment": "quick and right", "contentId": answer_id})
    event_id = client.track_session_log("CHAT_ATTENDED", log_type="MATCH", value={"contentId": "faq-12", "score": 0.9})
    expected[event_id] = ("session_log", {**conv, "dataKey": "CHAT_ATTENDED", "logType": "MATCH", "value": {"contentId": "faq-12", "score": 0.9}})
    event_id = client.track_session_log("SEARCH", value="where is my order")
    expected[event_id] = ("session_log", {**conv, "dataKey": "SEARCH", "value": "where is my order"})
    return expected


def assert_stored_exactly(server: Server, expected: dict[str, tuple[str, dict[str, Any]]], since: datetime) -> None:
    stored = server.all_events()
    ids = [e["id"] for e in stored]
    assert len(ids) == len(set(ids)) == len(expected) == 15
    assert set(ids) == set(expected)
    for event in stored:
        type_name, data = expected[event["id"]]
        assert event["type"] == type_name
        assert event["data"] == data, event
        assert since <= parse(event["timestamp"]) <= datetime.now(timezone.utc)
    # Ids are UUIDv7 made by the client, in tracking order.
    assert all(i[14] == "7" and i[19] in "89ab" for i in ids)
    assert sorted(expected) == list(expected)


def test_sync_client_stores_every_item_once_with_its_fields(server: Server) -> None:
    errors: list[DeliveryError] = []
    since = datetime.now(timezone.utc)
    with Client(server.keys["secret_key"], server.url, flush_interval=0.2, on_error=errors.append) as client:
        expected = track_everything(client, "conv-sync-1")
        summary = client.send_tracked_data(timeout=20)
        assert summary == {"accepted": 15, "duplicates": 0, "rejected": 0, "failed": 0, "pending": 0, "errors": []}
        assert client.stats.accepted == 15 and client.stats.pending == 0
    assert errors == [] and client.errors == []
    assert_stored_exactly(server, expected, since)


def test_async_client_stores_every_item_once_with_its_fields(server: Server) -> None:
    errors: list[DeliveryError] = []

    async def on_error(error: DeliveryError) -> None:
        errors.append(error)

    async def main() -> tuple[dict[str, tuple[str, dict[str, Any]]], dict[str, object]]:
        async with AsyncClient(server.keys["secret_key"], server.url, flush_interval=0.2, on_error=on_error) as client:
            expected = track_everything(client, "conv-async-1")
            summary = await client.send_tracked_data(timeout=20)
            assert client.stats.pending == 0
        return expected, summary

    since = datetime.now(timezone.utc)
    expected, summary = run_async(main())
    assert summary == {"accepted": 15, "duplicates": 0, "rejected": 0, "failed": 0, "pending": 0, "errors": []}
    assert errors == []
    assert_stored_exactly(server, expected, since)


def test_background_worker_sends_without_flush_and_close_sends_the_rest(server: Server) -> None:
    """Events leave every flush_interval on their own; close() delivers what is left."""
    client = Client(server.keys["secret_key"], server.url, flush_interval=0.1, max_batch=7)
    client.get_or_create_conversation("conv-bg")
    ids = [client.track_question(f"question {i}") for i in range(20)]
    deadline = datetime.now(timezone.utc) + timedelta(seconds=10)
    while client.stats.accepted < 21 and datetime.now(timezone.utc) < deadline:
        time.sleep(0.05)
    assert client.stats.accepted == 21, "sent by the worker, no flush() called"
    late = client.track_answer("late answer")
    client.close()
    # Listed by the server's corrected time, which need not follow tracking order to the
    # microsecond; the client's UUIDv7 ids do.
    messages = sorted(server.all_events(type="message"), key=lambda m: m["id"])
    assert [m["id"] for m in messages] == [*ids, late]
    assert [m["data"]["content"] for m in messages] == [*(f"question {i}" for i in range(20)), "late answer"]
    assert client.stats == DeliveryStats(accepted=22, duplicates=0, rejected=0, failed=0, pending=0)
