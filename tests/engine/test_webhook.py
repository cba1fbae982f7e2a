"""Webhooks against a real receiver: an HTTP server on loopback, in a thread, that answers
from a script and records what it got. Nothing of ours is mocked; timing bounds are
generous (they check that a wait happened or did not, not its exact length)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from client.async_helpers import run_async
from conftest import free_port

from chatlens.engine.webhook import WebhookSender, sign, signature_header, verify_signature
from chatlens.metrics import Metrics

SECRET = "whsec_test_0123456789"


# ---- the receiver ---------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds to wait before answering


# (index of the request, its body) -> the answer
Responder = Callable[[int, bytes], Answer]


def scripted(*answers: Answer) -> Responder:
    """The answers in order, then 200 for ever."""
    return lambda n, body: answers[n] if n < len(answers) else Answer()


class Receiver:
    def __init__(self, respond: Responder) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    n = len(receiver.requests)
                    receiver.requests.append(Received(
                        time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body))
                answer = respond(n, body)
                time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting (a timeout test) and hung up

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/chatlens?token=not-for-logs"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(*answers: Answer, respond: Responder | None = None) -> Receiver:
        started.append(Receiver(respond or scripted(*answers)))
        return started[-1]

    yield start
    for r in started:
        r.close()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def results(metrics: Metrics) -> dict[str, float]:
    return {r: metrics.value("chatlens_webhooks_total", result=r) for r in ("delivered", "failed", "dropped")}


# ---- signatures -----------------------------------------------------------------------


def test_signature_round_trip_and_rejections() -> None:
    body = b'{"id":"x","type":"offer"}'
    header = signature_header(SECRET, body, now=1_700_000_000.7)
    assert header.startswith("t=1700000000,v1=")
    assert header.split("v1=")[1] == sign(SECRET, 1_700_000_000, body)
    assert len(sign(SECRET, 1, body)) == 64

    assert verify_signature(SECRET, header, body, now=1_700_000_000)
    assert verify_signature(SECRET, header, body, now=1_700_000_299)  # within the tolerance
    assert verify_signature(SECRET, header, body, now=1_700_000_900, tolerance=1000)

    assert not verify_signature(SECRET, header, body + b" ", now=1_700_000_000)  # tampered body
    assert not verify_signature(SECRET, header, body.replace(b"offer", b"offeR"), now=1_700_000_000)
    assert not verify_signature("whsec_other", header, body, now=1_700_000_000)  # wrong secret
    assert not verify_signature(SECRET, header, body, now=1_700_000_301)  # stale
    assert not verify_signature(SECRET, header, body, now=1_699_999_000)  # from the future
    # The timestamp is inside the MAC: a replay with a fresh t does not verify.
    replayed = header.replace("t=1700000000", "t=1700000500")
    assert not verify_signature(SECRET, replayed, body, now=1_700_000_500)

    good = header.split("v1=")[1]
    garbage: list[Any] = [
        "", ",", "=", "garbage", "t=", "v1=", "t=1700000000", f"v1={good}",
        f"t=abc,v1={good}", f"t=-1700000000,v1={good}", f"t=1700000000.5,v1={good}",
        f"t=²,v1={good}", f"t={'9' * 5000},v1={good}", f"t=1700000000,t=1700000000,v1={good}",
        "t=1700000000,v1=é", "t=1700000000,v1=\x00", f"t=1700000000,v1={good[:-1]}",
        f"t=1700000000;v1={good}", f"t=1700000000,v1={good},junk", None, b"t=1,v1=2", 12,
    ]
    for bad in garbage:
        assert verify_signature(SECRET, bad, body, now=1_700_000_000) is False, bad

    # Several v1 entries (a secret being rotated): any match is enough.
    rotated = f"t=1700000000,v1={sign('whsec_old', 1_700_000_000, body)},v1={good}"
    assert verify_signature(SECRET, rotated, body, now=1_700_000_000)


# ---- delivery -------------------------------------------------------------------------


def test_delivers_signed_json_with_headers(receiver: Callable[..., Receiver]) -> None:
    r = receiver()
    metrics = Metrics()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics)
        sender.start()
        assert sender.send("offer", {"skill": "pricing_help", "score": 0.82, "visitor_id": "v-1"})
        await until(lambda: results(metrics)["delivered"] == 1)
        await sender.stop()

    before = datetime.now(UTC)
    run_async(main())
    [got] = r.requests
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == "chatlens-webhook/1"
    assert verify_signature(SECRET, got.headers["chatlens-signature"], got.body)
    body = got.json
    assert list(body) == ["id", "type", "created_at", "data", "context"]
    assert got.body == orjson.dumps(body)  # compact
    assert body["id"] == got.headers["chatlens-webhook-id"]
    assert uuid.UUID(body["id"]).version == 7
    assert body["type"] == "offer"
    assert body["data"] == {"skill": "pricing_help", "score": 0.82, "visitor_id": "v-1"}
    assert body["context"] is None
    assert body["created_at"].endswith("Z")
    created = datetime.fromisoformat(body["created_at"])
    assert abs((created - before).total_seconds()) < 5
    assert results(metrics) == {"delivered": 1, "failed": 0, "dropped": 0}
    assert metrics.value("chatlens_webhook_attempts_total") == 1
    assert "# TYPE chatlens_webhooks_total counter" in metrics.render()


def test_5xx_is_retried_with_the_same_id_and_body(receiver: Callable[..., Receiver]) -> None:
    r = receiver(Answer(500), Answer(502))
    metrics = Metrics()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, base_delay=0.05)
        sender.start()
        sender.send("conversation.started", {"conversation_id": "c-1"})
        await until(lambda: results(metrics)["delivered"] == 1)
        await sender.stop()

    run_async(main())
    assert len(r.requests) == 3
    assert len({req.headers["chatlens-webhook-id"] for req in r.requests}) == 1
    assert len({req.body for req in r.requests}) == 1
    for req in r.requests:  # each attempt carries a valid signature of its own
        assert verify_signature(SECRET, req.headers["chatlens-signature"], req.body)
    assert metrics.value("chatlens_webhook_attempts_total") == 3
    assert results(metrics) == {"delivered": 1, "failed": 0, "dropped": 0}


def test_429_retry_after_is_honoured(receiver: Callable[..., Receiver]) -> None:
    r = receiver(Answer(429, (("Retry-After", "1"),)))
    metrics = Metrics()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, base_delay=0.05)
        sender.start()
        sender.send("offer", {})
        await until(lambda: results(metrics)["delivered"] == 1)
        await sender.stop()

    run_async(main())
    first, second = r.requests
    assert 0.9 <= second.at - first.at < 3.0  # the backoff alone would be under 0.05 s


def test_retry_after_is_capped_at_max_delay_and_408_is_retried(receiver: Callable[..., Receiver]) -> None:
    r = receiver(Answer(503, (("Retry-After", "3600"),)), Answer(408))
    metrics = Metrics()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, base_delay=0.05, max_delay=0.2)
        sender.start()
        sender.send("offer", {})
        await until(lambda: results(metrics)["delivered"] == 1)
        await sender.stop()

    run_async(main())
    assert len(r.requests) == 3
    assert r.requests[1].at - r.requests[0].at < 1.5


def test_400_is_final(receiver: Callable[..., Receiver], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chatlens.webhook")
    r = receiver(Answer(400))
    metrics = Metrics()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, base_delay=0.05)
        sender.start()
        sender.send("offer", {})
        await until(lambda: results(metrics)["failed"] == 1)
        await asyncio.sleep(0.3)  # a retry, had there been one, would have come by now
        await sender.stop()

    run_async(main())
    assert len(r.requests) == 1
    assert results(metrics) == {"delivered": 0, "failed": 1, "dropped": 0}
    assert "HTTP 400" in caplog.text
    assert SECRET not in caplog.text and "not-for-logs" not in caplog.text


def test_gives_up_after_max_attempts(receiver: Callable[..., Receiver], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chatlens.webhook")
    r = receiver(respond=lambda n, body: Answer(503))
    metrics = Metrics()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, base_delay=0.02, max_attempts=4)
        sender.start()
        sender.send("offer", {})
        await until(lambda: results(metrics)["failed"] == 1)
        await asyncio.sleep(0.3)
        await sender.stop()

    run_async(main())
    assert len(r.requests) == 4
    assert metrics.value("chatlens_webhook_attempts_total") == 4
    assert results(metrics) == {"delivered": 0, "failed": 1, "dropped": 0}
    assert "failed after 4 attempts" in caplog.text
    assert SECRET not in caplog.text and "not-for-logs" not in caplog.text


def test_network_errors_and_timeouts_are_retried(receiver: Callable[..., Receiver]) -> None:
    # Nobody listens on this port: connection refused, every time.
    refused_url = f"http://127.0.0.1:{free_port()}/hook"
    # This one answers the first request too late.
    slow = receiver(Answer(200, delay=1.0))
    metrics_refused, metrics_slow = Metrics(), Metrics()

    async def main() -> None:
        refused = WebhookSender(refused_url, SECRET, metrics=metrics_refused, base_delay=0.02, max_attempts=3)
        late = WebhookSender(slow.url, SECRET, metrics=metrics_slow, base_delay=0.02, timeout=0.3)
        refused.start()
        late.start()
        refused.send("offer", {})
        late.send("offer", {})
        await until(lambda: results(metrics_refused)["failed"] == 1 and results(metrics_slow)["delivered"] == 1)
        await refused.stop()
        await late.stop()

    run_async(main())
    assert metrics_refused.value("chatlens_webhook_attempts_total") == 3
    assert len(slow.requests) == 2
    assert slow.requests[0].body == slow.requests[1].body


def test_a_waiting_retry_does_not_hold_up_other_deliveries(receiver: Callable[..., Receiver]) -> None:
    # The first webhook is refused once; with one worker, the second must not wait behind
    # its 1 s retry.
    def respond(n: int, body: bytes) -> Answer:
        return Answer(503, (("Retry-After", "1"),)) if n == 0 else Answer()

    r = receiver(respond=respond)
    metrics = Metrics()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, workers=1, base_delay=0.05)
        sender.start()
        sender.send("offer", {"n": 1})
        sender.send("offer", {"n": 2})
        await until(lambda: results(metrics)["delivered"] == 2)
        await sender.stop()

    run_async(main())
    order = [req.json["data"]["n"] for req in r.requests]
    assert order == [1, 2, 1]
    assert r.requests[1].at - r.requests[0].at < 0.5
    assert r.requests[2].at - r.requests[0].at >= 0.9


def test_a_full_queue_drops(receiver: Callable[..., Receiver]) -> None:
    r = receiver()
    metrics = Metrics()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, max_queue=2)
        # Not started yet: nothing leaves the queue.
        assert sender.send("offer", {"n": 1})
        assert sender.send("offer", {"n": 2})
        assert not sender.send("offer", {"n": 3})
        assert sender.pending == 2
        sender.start()
        await until(lambda: results(metrics)["delivered"] == 2)
        assert sender.send("offer", {"n": 4})  # room again
        await sender.stop()
        assert not sender.send("offer", {"n": 5})  # stopped

    run_async(main())
    assert sorted(req.json["data"]["n"] for req in r.requests) == [1, 2, 4]
    assert results(metrics) == {"delivered": 3, "failed": 0, "dropped": 2}


def test_send_refuses_data_that_is_not_json(receiver: Callable[..., Receiver]) -> None:
    r = receiver()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET)
        with pytest.raises(TypeError):
            sender.send("offer", {"oops": object()})
        assert sender.pending == 0
        await sender.stop()

    run_async(main())


def test_stop_drains_what_is_queued(receiver: Callable[..., Receiver]) -> None:
    r = receiver(respond=lambda n, body: Answer(delay=0.05))
    metrics = Metrics()

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, workers=2)
        sender.start()
        for n in range(10):
            assert sender.send("offer", {"n": n})
        await sender.stop(timeout=5)
        assert sender.pending == 0

    run_async(main())
    assert sorted(req.json["data"]["n"] for req in r.requests) == list(range(10))
    assert results(metrics) == {"delivered": 10, "failed": 0, "dropped": 0}


def test_stop_gives_up_at_its_timeout(receiver: Callable[..., Receiver]) -> None:
    r = receiver(respond=lambda n, body: Answer(503))
    metrics = Metrics()

    async def main() -> float:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, base_delay=30)
        sender.start()
        sender.send("offer", {})
        await until(lambda: len(r.requests) == 1)
        started = time.monotonic()
        await sender.stop(timeout=0.3)
        return time.monotonic() - started

    took = run_async(main())
    assert 0.25 <= took < 2.0
    assert len(r.requests) == 1
    assert results(metrics) == {"delivered": 0, "failed": 1, "dropped": 0}


def test_context_is_read_once_off_the_event_loop(receiver: Callable[..., Receiver]) -> None:
    r = receiver(Answer(500))
    metrics = Metrics()
    calls: list[int] = []

    def read_context() -> dict[str, Any]:
        calls.append(threading.get_ident())
        time.sleep(0.05)  # a database read: blocking, which is why it runs on a thread
        return {"visitor_id": "v-1", "pages": ["/pricing"], "sessions": 3}

    async def main() -> int:
        sender = WebhookSender(r.url, SECRET, metrics=metrics, base_delay=0.05)
        sender.start()
        sender.send("conversation.started", {"conversation_id": "c-1"}, context=read_context)
        await until(lambda: results(metrics)["delivered"] == 1)
        await sender.stop()
        return threading.get_ident()

    loop_thread = run_async(main())
    assert len(calls) == 1  # not once per attempt
    assert calls[0] != loop_thread
    assert len(r.requests) == 2
    for req in r.requests:
        assert req.json["context"] == {"visitor_id": "v-1", "pages": ["/pricing"], "sessions": 3}


def test_context_that_fails_gives_null(receiver: Callable[..., Receiver], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chatlens.webhook")
    r = receiver()
    metrics = Metrics()

    def broken() -> dict[str, Any]:
        raise RuntimeError("database is locked")

    async def main() -> None:
        sender = WebhookSender(r.url, SECRET, metrics=metrics)
        sender.start()
        sender.send("offer", {"n": 1}, context=broken)
        sender.send("offer", {"n": 2}, context=lambda: None)
        sender.send("offer", {"n": 3}, context=lambda: {"not json": object()})
        await until(lambda: results(metrics)["delivered"] == 3)
        await sender.stop()

    run_async(main())
    by_n = {req.json["data"]["n"]: req.json for req in r.requests}
    assert [by_n[n]["context"] for n in (1, 2, 3)] == [None, None, None]
    assert "database is locked" in caplog.text
    assert sum("visitor context failed" in rec.getMessage() for rec in caplog.records) == 2


def test_rejects_bad_configuration() -> None:
    for url in ("ftp://example.com/hook", "not a url", "http:///nohost"):
        with pytest.raises(ValueError):
            WebhookSender(url, SECRET)
    with pytest.raises(ValueError):
        WebhookSender("https://example.com/hook", "")
    assert SECRET not in repr(WebhookSender("https://example.com/hook", SECRET))
