"""Bad input: caught locally (naming the argument) when the SDK can know, reported by the
server (401 for the batch, a RejectedEvent for one event) when only the server can."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from async_helpers import run_async
from conftest import Server, free_port

from chatlens_client import (
    AsyncClient,
    ChatlensAPIError,
    Client,
    ClientClosedError,
    ConfigurationError,
    DeliveryError,
    InvalidEventError,
    InvalidEventTypeError,
    NoConversationError,
    RejectedEvent,
)


@pytest.fixture
def offline() -> Iterator[Client]:
    """A client whose events would go nowhere: local checks must stop them first."""
    client = Client("ags_whatever", f"http://127.0.0.1:{free_port()}")
    client.get_or_create_conversation("conv-local")
    yield client
    client.close(timeout=0)


Call = Callable[[Client], Any]
# (call, argument named in the error, a TypeError?)
BAD_CALLS: list[tuple[str, Call, str, bool]] = [
    ("empty question", lambda c: c.track_question(""), "question", False),
    ("blank answer", lambda c: c.track_answer("  \n"), "answer", False),
    ("question not a str", lambda c: c.track_question(42), "question", True),
    ("duration_ms str", lambda c: c.track_action("search", duration_ms="slow"), "duration_ms", True),
    ("duration_ms negative", lambda c: c.track_action("search", duration_ms=-1), "duration_ms", False),
    ("duration_ms bool", lambda c: c.track_action("search", duration_ms=True), "duration_ms", True),
    ("empty action_name", lambda c: c.track_action(""), "action_name", False),
    ("started_at not ISO", lambda c: c.track_action("a", started_at="yesterday"), "started_at", False),
    ("ended before started", lambda c: c.track_action("a", started_at="2026-01-01T00:00:01+00:00", ended_at="2026-01-01T00:00:00+00:00"), "ended_at", False),
    ("tools_used a list", lambda c: c.track_action("a", tools_used=["x"]), "tools_used", True),
    ("metadata not JSON", lambda c: c.track_question("q", metadata={"when": object()}), "metadata", True),
    ("metadata NaN", lambda c: c.track_question("q", metadata={"x": float("nan")}), "metadata", False),
    ("bad sender", lambda c: c.track_message("bot", "hi"), "sender", False),
    ("empty button label", lambda c: c.track_button("confirm", "", "yes"), "label", False),
    ("attachments empty", lambda c: c.track_attachments([]), "attachments", False),
    ("attachment bad base64", lambda c: c.track_attachments([{"filename": "a", "mime_type": "text/plain", "data": "not base64!"}]), "attachments[0].data", False),
    ("attachment text file", lambda c: c.track_attachments([{"filename": "a", "mime_type": "text/plain", "data": io.StringIO("x")}]), "attachments[0].data", True),
    ("attachment missing mime_type", lambda c: c.track_attachments([{"filename": "a", "data": b"x"}]), "attachments[0].mime_type", False),
    ("attachment sender system", lambda c: c.track_attachments([{"filename": "a", "mime_type": "text/plain", "data": b"x"}], sender="system"), "sender", False),
    ("negative tokens", lambda c: c.track_token_usage(prompt_tokens=-1), "prompt_tokens", False),
    ("float tokens", lambda c: c.track_token_usage(total_tokens=1.5), "total_tokens", True),
    ("empty rate_code", lambda c: c.track_rating(""), "rate_code", False),
    ("empty data_key", lambda c: c.track_session_log(""), "data_key", False),
    ("bad device", lambda c: c.get_or_create_conversation("c2", device="phone"), "device", False),
    ("bad environment", lambda c: c.initialize_conversation("c2", environment="staging"), "environment", False),
    ("bad ip", lambda c: c.initialize_conversation("c2", customer_ip_address="not-an-ip"), "customer_ip_address", False),
    ("empty conversation_id", lambda c: c.track_question("q", conversation_id=""), "conversation_id", False),
]


@pytest.mark.parametrize(("call", "argument", "is_type_error"), [b[1:] for b in BAD_CALLS], ids=[b[0] for b in BAD_CALLS])
def test_bad_arguments_raise_locally_naming_the_argument(offline: Client, call: Call, argument: str, is_type_error: bool) -> None:
    with pytest.raises(InvalidEventError) as info:
        call(offline)
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TypeError) is is_type_error
    assert isinstance(info.value, InvalidEventTypeError) is is_type_error
    assert offline.stats.pending == 1, "nothing queued but the fixture's conversation"


def test_no_current_conversation_is_a_clear_error() -> None:
    client = Client("ags_whatever", f"http://127.0.0.1:{free_port()}")
    client.initialize_conversation("conv-1")  # does not make it current
    with pytest.raises(NoConversationError, match="get_or_create_conversation") as info:
        client.track_question("hello?")
    assert info.value.argument == "conversation_id"
    client.close(timeout=0)


def test_missing_secret_key_and_bad_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATLENS_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="CHATLENS_SECRET_KEY"):
        Client()
    with pytest.raises(ConfigurationError, match="max_batch"):
        Client("k", max_batch=1001)
    with pytest.raises(ConfigurationError, match="endpoint"):
        Client("k", "ftp://example.com")
    with pytest.raises(ConfigurationError, match="flush_interval"):
        AsyncClient("k", flush_interval=0)


def test_environment_supplies_key_and_endpoint(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATLENS_SECRET_KEY", server.keys["secret_key"])
    monkeypatch.setenv("CHATLENS_ENDPOINT", server.url + "/")
    with Client() as client:
        assert client.endpoint == server.url
        client.get_or_create_conversation("conv-env")
        client.flush(timeout=10)
        assert client.stats.accepted == 1
    with pytest.raises(ClientClosedError):
        client.track_question("after close")


def test_wrong_secret_key_is_a_401_reported_not_raised(server: Server) -> None:
    errors: list[DeliveryError] = []
    with Client("ags_not_the_key", server.url, on_error=errors.append) as client:
        client.get_or_create_conversation("conv-401")
        client.track_question("hello")
        summary = client.send_tracked_data(timeout=10)
    assert len(errors) == 1 and client.errors == errors
    error = errors[0]
    assert isinstance(error, ChatlensAPIError)
    assert error.status == 401 and error.code == "unauthorized"
    assert "secret key" in error.message
    assert [e["type"] for e in error.events] == ["conversation", "message"]
    assert summary["failed"] == 2 and summary["accepted"] == 0 and summary["errors"] == [error]
    assert server.all_events() == []


def test_unknown_conversation_is_a_rejected_event_naming_conversation_id(server: Server) -> None:
    errors: list[DeliveryError] = []
    with Client(server.keys["secret_key"], server.url, on_error=errors.append) as client:
        client.get_or_create_conversation("conv-known")
        good = client.track_question("fine")
        bad = client.track_answer("to nowhere", conversation_id="conv-never-seen")
        also_good = client.track_rating("UP")
        client.flush(timeout=10)
        stats = client.stats
    assert (stats.accepted, stats.rejected, stats.failed) == (3, 1, 0)
    assert len(errors) == 1
    rejected = errors[0]
    assert isinstance(rejected, RejectedEvent)
    assert rejected.index == 2 and rejected.event["id"] == bad
    assert rejected.event["conversationId"] == "conv-never-seen"
    assert len(rejected.errors) == 1
    assert rejected.errors[0].startswith("events[2].conversationId: unknown conversation")
    stored = {e["id"] for e in server.all_events()}
    assert good in stored and also_good in stored and bad not in stored and len(stored) == 3


def test_async_client_reports_a_401_too(server: Server) -> None:
    async def main() -> list[DeliveryError]:
        async with AsyncClient("ags_not_the_key", server.url) as client:
            client.track_question("hello", conversation_id="conv-401")
            await client.flush(timeout=10)
            return client.errors

    errors = run_async(main())
    assert [type(e) for e in errors] == [ChatlensAPIError]
    assert errors[0].status == 401  # type: ignore[union-attr]
