"""The AgentSight wire protocol: the unmodified `agentsight==0.0.18` Python SDK (reference
003) talking to a real Chatlens server.

An agent backend points the SDK at Chatlens with two environment variables and changes
nothing else:

    AGENTSIGHT_API_ENDPOINT=http://chatlens.example   AGENTSIGHT_API_KEY=<the site's secret key>

The SDK then posts to `/api/conversations/`, `/api/track/`, `/api/action_logs/`,
`/api/buttons/` and `/api/attachments/` with `Authorization: Api-Key <secret key>`. What it
sent is read back with the secret key through `GET /v1/conversations/{id}`,
`GET /v1/conversations` and `GET /v1/events`.

Errors come in Django REST framework's shapes, `{"detail": "..."}` or
`{"field": ["message", ...]}`, which the SDK turns into its own exception text
(`API error for <type> (<status>): <field>: <message>`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from agentsight import ConversationTracker
from agentsight.exceptions import ConversationApiException
from conftest import Server, start_server

# A well-formed secret key (the SDK checks the shape ags_<32 hex>_<6 hex>) that no site has.
UNKNOWN_KEY = "ags_" + "0" * 32 + "_000000"
CUSTOMER_IP = "203.0.113.77"  # TEST-NET-3: never a real customer

QUESTION = "Where is my order A-1?"
ANSWER = "It ships tomorrow morning."
NOTES = b"order A-1\ncolour: red\n"
RECEIPT = b"%PDF-1.4\n" + bytes(range(256))  # binary on purpose: NUL and high bytes


# -- helpers ---------------------------------------------------------------------------


def new_conversation_id() -> str:
    """The SDK's own format (agentsight.helpers.generate_conversation_id)."""
    return f"conv_{uuid.uuid4().hex[:12]}"


def sdk_timestamp() -> str:
    """What the SDK puts in `timestamp` (agentsight.helpers.get_iso_timestamp)."""
    return datetime.now(timezone.utc).isoformat()


def api_post(server: Server, route: str, body: Any = None, *, key: str | None = None, **kwargs: Any) -> httpx.Response:
    """POST to an AgentSight route the way the SDK does (`Authorization: Api-Key ...`)."""
    headers = {"Authorization": f"Api-Key {key or server.keys['secret_key']}", **kwargs.pop("headers", {})}
    if body is not None:
        kwargs["json"] = body
    return httpx.post(f"{server.url}/api/{route}/", headers=headers, timeout=30, **kwargs)


def read_conversation(server: Server, conversation_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server.url}/v1/conversations/{conversation_id}",
        headers={"Authorization": f"Bearer {server.keys['secret_key']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def list_conversations(server: Server, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.url}/v1/conversations",
        params=params,
        headers={"Authorization": f"Bearer {server.keys['secret_key']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["conversations"]


def without_id_and_time(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A conversation's items minus the server-assigned `id` and `time`."""
    for item in items:
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item["time"], str) and item["time"].endswith("Z")
    return [{k: v for k, v in item.items() if k not in ("id", "time")} for item in items]


def stored_files(server: Server) -> list[Path]:
    """The database file and everything next to it that the server writes (its journal,
    a WAL), but not the test's copy of the server's console output."""
    found = []
    for path in sorted(server.db.parent.rglob("*")):
        top = path.relative_to(server.db.parent).parts[0]
        if path.is_file() and top.startswith(server.db.name) and not top.endswith(".server.log"):
            found.append(path)
    assert server.db in found
    return found


@pytest.fixture
def sdk_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the unmodified SDK at a server through its documented environment variables.

    Returns a function `(server) -> None`; every ConversationTracker built afterwards reads
    them (its Config reads the environment when it is created)."""
    for name in ("AGENTSIGHT_CONVERSATION_ID", "AGENTSIGHT_ENVIRONMENT", "AGENTSIGHT_TOKEN_HANDLER_TYPE"):
        monkeypatch.delenv(name, raising=False)

    def point_at(server: Server) -> None:
        monkeypatch.setenv("AGENTSIGHT_API_ENDPOINT", server.url)
        monkeypatch.setenv("AGENTSIGHT_API_KEY", server.keys["secret_key"])

    yield point_at


# -- 1. reference 003's two-step flow ---------------------------------------------------


def test_reference_003_two_step_flow_with_the_unmodified_sdk(server: Server, sdk_env: Any) -> None:
    """Reference 003's flow, unchanged. On page load the backend makes the conversation
    *available* (`initialize_conversation`, sent at once). In a later request, when the
    visitor writes, a new tracker makes it *used* (`get_or_create_conversation`), tracks
    everything that happened and sends it in one `send_tracked_data()`. Everything lands on
    the one conversation; the customer's IP address is never stored."""
    sdk_env(server)
    conversation_id = new_conversation_id()

    # Page load: the widget is shown.
    on_page_load = ConversationTracker()
    on_page_load.initialize_conversation(
        conversation_id,
        customer_id="cust-42",
        customer_ip_address=CUSTOMER_IP,
        device="desktop",
        source="web",
        language="en-US",
        metadata={"page_url": "https://shop.example/products/1"},
    )
    available = read_conversation(server, conversation_id)
    assert available["id"] == conversation_id
    assert available["used"] is False
    assert available["used_at"] is None
    assert available["customer_id"] == "cust-42"
    assert (available["source"], available["language"], available["deviceType"], available["environment"]) == (
        "web",
        "en-US",
        "desktop",
        "production",
    )
    assert available["properties"] == {"page_url": "https://shop.example/products/1"}
    assert available["messages"] == available["actions"] == available["attachments"] == []
    assert available["metadata"]["userMessages"] is False  # 002: false until it happens

    # A later request: the visitor engages.
    later = ConversationTracker()
    later.get_or_create_conversation(conversation_id, customer_id="cust-42")
    later.track_question(QUESTION)
    later.track_answer(ANSWER)
    later.track_action(
        "lookup_order",
        started_at="2026-01-02T10:00:00.000Z",
        ended_at="2026-01-02T10:00:01.250Z",
        duration_ms=1250,
        tools_used={"orders_api": {"order": "A-1"}},
        response="shipped 2026-01-01",
        error_msg="carrier API slow",
    )
    later.track_button("feedback", "Helpful", "yes")
    later.track_attachments(
        [{"filename": "notes.txt", "mime_type": "text/plain", "data": base64.b64encode(NOTES).decode()}]
    )
    later.track_attachments(
        [{"filename": "receipt.pdf", "mime_type": "application/pdf", "data": RECEIPT}], mode="form_data"
    )
    later.track_token_usage(prompt_tokens=100, completion_tokens=20, total_tokens=120, embedding_tokens=5)
    sent = later.send_tracked_data()

    # The SDK sends token usage as one more action, just before the last item.
    assert sent["summary"] == {"questions": 1, "answers": 1, "attachments": 2, "actions": 2, "buttons": 1, "errors": 0}
    assert [(item["type"], item["success"]) for item in sent["items"]] == [
        ("conversation", True),
        ("question", True),
        ("answer", True),
        ("action", True),
        ("button", True),
        ("attachments", True),
        ("action", True),
        ("attachments", True),
    ]
    # The SDK sends every later item with `conversation` = this answer's `id`.
    assert sent["items"][0]["response"] == {
        "id": conversation_id,
        "conversation": conversation_id,
        "conversation_id": conversation_id,
        "is_used": True,
        "duplicate": False,
    }
    for item in sent["items"][1:]:
        assert item["response"]["conversation"] == conversation_id
        assert item["response"]["duplicate"] is False

    conv = read_conversation(server, conversation_id)
    assert conv["used"] is True
    assert conv["used_at"] is not None
    assert conv["customer_id"] == "cust-42"
    assert conv["properties"] == {"page_url": "https://shop.example/products/1"}  # kept from page load
    assert without_id_and_time(conv["messages"]) == [
        {"sender": "user", "content": QUESTION, "metadata": {}},
        {"sender": "agent", "content": ANSWER, "metadata": {}},
    ]
    assert without_id_and_time(conv["actions"]) == [
        {
            "name": "lookup_order",
            "startedAt": "2026-01-02T10:00:00.000Z",
            "endedAt": "2026-01-02T10:00:01.250Z",
            "durationMs": 1250,
            "tools": {"orders_api": {"order": "A-1"}},
            "response": "shipped 2026-01-01",
            "error": "carrier API slow",
            "metadata": {},
        }
    ]
    assert without_id_and_time(conv["buttons"]) == [
        {"event": "feedback", "label": "Helpful", "value": "yes", "metadata": {}}
    ]
    assert without_id_and_time(conv["attachments"]) == [
        {
            "sender": "user",
            "filename": "notes.txt",
            "mimeType": "text/plain",
            "size": len(NOTES),
            "sha256": hashlib.sha256(NOTES).hexdigest(),
            "metadata": {},
            "hasContent": True,
        },
        {
            "sender": "user",
            "filename": "receipt.pdf",
            "mimeType": "application/pdf",
            "size": len(RECEIPT),
            "sha256": hashlib.sha256(RECEIPT).hexdigest(),
            "metadata": {},
            "hasContent": True,
        },
    ]
    assert conv["token_usage"] == {"promptTokens": 100, "completionTokens": 20, "totalTokens": 120, "embeddingTokens": 5}
    block = conv["metadata"]
    assert (block["userMessages"], block["agentMessages"], block["systemMessages"], block["filesUploaded"]) == (
        1,
        1,
        False,
        2,
    )

    # The raw events: both files' bytes arrived intact, and the IP address is nowhere.
    events = server.all_events(conversation_id=conversation_id)
    assert sorted(e["type"] for e in events) == sorted(
        ["conversation", "conversation", "message", "message", "action", "button", "attachment", "attachment", "token_usage"]
    )
    files = {e["data"]["filename"]: base64.b64decode(e["data"]["content"]) for e in events if e["type"] == "attachment"}
    assert files == {"notes.txt": NOTES, "receipt.pdf": RECEIPT}
    page_load = [e for e in events if e["type"] == "conversation" and e["data"]["used"] is False]
    assert len(page_load) == 1  # the event that carried the address was stored...
    assert CUSTOMER_IP not in json.dumps(events)  # ...without it
    assert CUSTOMER_IP not in json.dumps(conv)
    # Nor in the files the server keeps (database, journal), where the page URL sent with it is.
    stored = b"".join(p.read_bytes() for p in stored_files(server))
    assert b"https://shop.example/products/1" in stored
    assert CUSTOMER_IP.encode() not in stored


# -- 2. retries ---------------------------------------------------------------------------


def test_a_retried_request_is_stored_once(server: Server) -> None:
    """The SDK retries a request that failed on the network. A payload carries the
    timestamp fixed when the item was tracked, so the same payload sent twice is the same
    event: both answers are 201, the second says `"duplicate": true`, one message is kept."""
    conversation_id = new_conversation_id()
    created = api_post(server, "conversations", {"conversation_id": conversation_id, "is_used": True, "timestamp": sdk_timestamp()})
    assert created.status_code == 201, created.text

    payload = {
        "timestamp": sdk_timestamp(),
        "content": QUESTION,
        "sender": "end_user",
        "conversation_id": conversation_id,
        "conversation": conversation_id,
        "metadata": {},
    }
    first = api_post(server, "track", payload)
    second = api_post(server, "track", payload)
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    message_id = first.json()["id"]
    assert first.json() == {"id": message_id, "conversation": conversation_id, "duplicate": False}
    assert second.json() == {"id": message_id, "conversation": conversation_id, "duplicate": True}

    conv = read_conversation(server, conversation_id)
    assert [(m["id"], m["content"]) for m in conv["messages"]] == [(message_id, QUESTION)]
    assert conv["metadata"]["userMessages"] == 1
    assert [e["type"] for e in server.all_events(conversation_id=conversation_id, type="message")] == ["message"]


# -- 3. bad input ---------------------------------------------------------------------------


class Shared:
    """One server for the bad-input cases, with one existing conversation."""

    def __init__(self, server: Server, conversation_id: str) -> None:
        self.server, self.conversation_id = server, conversation_id

    def stored(self) -> int:
        return len(self.server.all_events())


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    srv = start_server(tmp_path_factory.mktemp("agentsight") / "chatlens.duckdb", "--rate-limit", "100000")
    try:
        conversation_id = new_conversation_id()
        created = api_post(srv, "conversations", {"conversation_id": conversation_id, "is_used": False})
        assert created.status_code == 201, created.text
        yield Shared(srv, conversation_id)
    finally:
        srv.stop()


CONV = "<conversation>"  # replaced by the shared conversation's id
UNKNOWN_CONV = "conv_does_not_exist"


def _fill(value: Any, conversation_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, conversation_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, conversation_id) for v in value]
    return conversation_id if value == CONV else value


def exactly(expected: dict[str, Any]) -> Any:
    def check(body: Any) -> None:
        assert body == expected

    return check


def field_error(field: str, *, contains: str = "") -> Any:
    """`{"<field>": ["<readable message>"]}` and nothing else."""

    def check(body: Any) -> None:
        assert isinstance(body, dict) and list(body) == [field], body
        messages = body[field]
        assert isinstance(messages, list) and messages and all(isinstance(m, str) and m for m in messages), body
        assert contains in " ".join(messages), body

    return check


def detail(starts_with: str) -> Any:
    def check(body: Any) -> None:
        assert isinstance(body, dict) and list(body) == ["detail"], body
        assert isinstance(body["detail"], str) and body["detail"].startswith(starts_with), body

    return check


MESSAGE = {"conversation": CONV, "conversation_id": CONV, "sender": "end_user", "content": "hello", "metadata": {}}
ACTION = {"conversation": CONV, "conversation_id": CONV, "action_name": "lookup_order", "metadata": {}}

# (id, route, body: a JSON value or raw bytes, headers: None = the right key, status, check)
BAD_INPUT: list[tuple[str, str, Any, dict[str, str] | None, int, Any]] = [
    (
        "unknown_key",
        "track",
        MESSAGE,
        {"Authorization": f"Api-Key {UNKNOWN_KEY}"},
        401,
        exactly({"detail": "Invalid API key: no site has this secret key."}),
    ),
    (
        "no_authorization",
        "track",
        MESSAGE,
        {},
        401,
        exactly({"detail": "Authentication credentials were not provided: send 'Authorization: Api-Key <secret key>'."}),
    ),
    (
        "unknown_conversation",
        "track",
        {**MESSAGE, "conversation": UNKNOWN_CONV, "conversation_id": UNKNOWN_CONV},
        None,
        400,
        field_error("conversation", contains=f"unknown conversation '{UNKNOWN_CONV}'"),
    ),
    ("empty_content", "track", {**MESSAGE, "content": ""}, None, 400, exactly({"content": ["must not be empty"]})),
    (
        "missing_content",
        "track",
        {k: v for k, v in MESSAGE.items() if k != "content"},
        None,
        400,
        exactly({"content": ["This field is required."]}),
    ),
    ("duration_ms_not_a_number", "action_logs", {**ACTION, "duration_ms": "slow"}, None, 400, field_error("duration_ms")),
    ("tools_used_not_an_object", "action_logs", {**ACTION, "tools_used": "x"}, None, 400, field_error("tools_used")),
    ("sender_robot", "track", {**MESSAGE, "sender": "robot"}, None, 400, field_error("sender", contains='"robot"')),
    # JSON allows any value where the SDK sends a string: never a crash.
    ("sender_a_list", "track", {**MESSAGE, "sender": ["end_user"]}, None, 400, field_error("sender")),
    (
        "attachment_sender_an_object",
        "attachments",
        {"conversation": CONV, "conversation_id": CONV, "sender": {"role": "end_user"}, "mode": "base64",
         "attachments": [{"filename": "a.txt", "mime_type": "text/plain", "data": "aGk="}]},
        None,
        400,
        field_error("sender"),
    ),
    ("malformed_json", "track", b'{"conversation": "x", "content": ', None, 400, detail("JSON parse error")),
    (
        "json_list",
        "track",
        [MESSAGE],
        None,
        400,
        exactly({"non_field_errors": ["Invalid data. Expected a dictionary."]}),
    ),
    (
        "invalid_base64",
        "attachments",
        {"conversation": CONV, "conversation_id": CONV, "sender": "end_user", "mode": "base64",
         "attachments": [{"filename": "a.txt", "mime_type": "text/plain", "data": "not base64!"}]},
        None,
        400,
        field_error("attachments", contains="base64"),
    ),
    (
        "conversation_id_missing",
        "conversations",
        {"customer_id": "cust-42", "is_used": False},
        None,
        400,
        field_error("conversation_id"),
    ),
    # Errors name the SDK's own fields, not ours.
    ("conversation_id_too_long", "conversations", {"conversation_id": "c" * 5000}, None, 400, field_error("conversation_id", contains="too long")),
    ("token_count_not_a_number", "action_logs", {**ACTION, "action_name": "token_usage", "metadata": {"prompt_tokens": "many"}}, None, 400, field_error("metadata", contains="must be a number")),
    (
        "attachment_data_empty",
        "attachments",
        {"conversation": CONV, "conversation_id": CONV, "sender": "end_user", "mode": "base64",
         "attachments": [{"filename": "a.txt", "mime_type": "text/plain", "data": ""}]},
        None,
        400,
        field_error("attachments", contains="must not be empty"),
    ),
    ("multipart_without_boundary", "attachments", b"--x\r\n", {"Content-Type": "multipart/form-data"}, 400, detail("Multipart form parse error")),
]


@pytest.mark.parametrize(
    ("route", "request_body", "headers", "status", "check"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_gets_its_documented_error_and_is_not_stored(
    shared: Shared, route: str, request_body: Any, headers: dict[str, str] | None, status: int, check: Any
) -> None:
    """Each bad request is answered with its DRF-shaped error (never a 5xx) and stores
    nothing."""
    srv = shared.server
    before = shared.stored()
    all_headers = {"Authorization": f"Api-Key {srv.keys['secret_key']}"}
    if headers is not None:
        all_headers = headers if "Content-Type" not in headers else {**all_headers, **headers}
    if isinstance(request_body, bytes):
        kwargs: dict[str, Any] = {"content": request_body}
    else:
        kwargs = {"content": json.dumps(_fill(request_body, shared.conversation_id))}
    response = httpx.post(
        f"{srv.url}/api/{route}/",
        headers={"Content-Type": "application/json", **all_headers},  # a case may set its own
        timeout=30,
        **kwargs,
    )
    assert response.status_code < 500, f"{response.status_code}: {response.text}"
    assert response.status_code == status, response.text
    check(response.json())
    assert shared.stored() == before


def test_the_sdk_words_our_errors_as_field_colon_message(shared: Shared, sdk_env: Any) -> None:
    """The SDK reads our error bodies with its DRF parser: `detail` is used as is, field
    errors become `field: message`. Called through its own HTTP client, a rejected request
    raises its ConversationApiException with that text, the status and our body."""
    srv = shared.server
    sdk_env(srv)
    before = shared.stored()
    client = ConversationTracker(conversation_id=shared.conversation_id)._http_client

    with pytest.raises(ConversationApiException) as unknown:
        client.send_payload(
            "question", {"conversation_id": UNKNOWN_CONV, "content": "hello", "sender": "end_user", "metadata": {}}
        )
    assert unknown.value.status_code == 400
    assert list(unknown.value.response_data) == ["conversation"]
    (reason,) = unknown.value.response_data["conversation"]
    assert f"unknown conversation '{UNKNOWN_CONV}'" in reason
    assert str(unknown.value) == f"API error for question (400): conversation: {reason}"

    with pytest.raises(ConversationApiException) as slow:
        client.send_payload(
            "action", {"conversation_id": shared.conversation_id, "action_name": "lookup_order", "duration_ms": "slow"}
        )
    assert slow.value.status_code == 400
    assert list(slow.value.response_data) == ["duration_ms"]
    (reason,) = slow.value.response_data["duration_ms"]
    assert str(slow.value) == f"API error for action (400): duration_ms: {reason}"

    with pytest.raises(ConversationApiException) as wrong_key:
        ConversationTracker(api_key=UNKNOWN_KEY)._http_client.send_payload(
            "question", {"conversation_id": shared.conversation_id, "content": "hello", "sender": "end_user"}
        )
    assert wrong_key.value.status_code == 401
    assert str(wrong_key.value) == "API error for question (401): Invalid API key: no site has this secret key."

    assert shared.stored() == before


def test_send_tracked_data_reports_an_unknown_conversation_as_an_error_item(shared: Shared, sdk_env: Any) -> None:
    """A backend that tracks a question without first making the conversation exist (no
    initialize_conversation, no get_or_create_conversation) gets an error *item* from
    send_tracked_data(), not an exception, and nothing is stored."""
    sdk_env(shared.server)
    before = shared.stored()
    tracker = ConversationTracker(conversation_id=UNKNOWN_CONV)
    tracker.track_question(QUESTION)
    sent = tracker.send_tracked_data()
    assert sent["summary"] == {"questions": 0, "answers": 0, "attachments": 0, "actions": 0, "buttons": 0, "errors": 1}
    (item,) = sent["items"]
    assert (item["index"], item["type"], item["success"]) == (0, "question", False)
    assert item["error"].startswith(f"API error for question (400): conversation: unknown conversation '{UNKNOWN_CONV}'")
    assert shared.stored() == before


# -- 4. used is sticky --------------------------------------------------------------------------


def test_initialize_after_use_does_not_unuse_the_conversation(server: Server, sdk_env: Any) -> None:
    """`used` is sticky (docs/lifecycle.md): a page reload that calls
    initialize_conversation again for a conversation already used is stored, but the
    conversation stays used, with its first `used_at`."""
    sdk_env(server)
    conversation_id = new_conversation_id()
    tracker = ConversationTracker()
    tracker.get_or_create_conversation(conversation_id, customer_id="cust-42")
    tracker.track_question(QUESTION)
    assert tracker.send_tracked_data()["summary"]["errors"] == 0
    used = read_conversation(server, conversation_id)
    assert used["used"] is True and used["used_at"] is not None

    ConversationTracker().initialize_conversation(
        conversation_id, customer_id="cust-42", metadata={"page_url": "https://shop.example/reloaded"}
    )
    after = read_conversation(server, conversation_id)
    assert after["used"] is True
    assert after["used_at"] == used["used_at"]
    assert after["metadata"]["userMessages"] == 1
    assert after["properties"] == {"page_url": "https://shop.example/reloaded"}  # the reload did arrive
    conversation_events = server.all_events(conversation_id=conversation_id, type="conversation")
    assert [e["data"]["used"] for e in conversation_events] == [True, False]


# -- 5. listing by used ---------------------------------------------------------------------------


def test_list_filters_used_and_available_conversations(server: Server, sdk_env: Any) -> None:
    """`GET /v1/conversations?used=true` lists the conversations the visitor engaged in;
    `used=false` the ones only made available (003's Page Abandonment)."""
    sdk_env(server)
    abandoned, engaged = new_conversation_id(), new_conversation_id()
    ConversationTracker().initialize_conversation(abandoned, customer_id="cust-1", device="mobile", source="web")
    ConversationTracker().initialize_conversation(engaged, customer_id="cust-2", device="desktop", source="web")
    tracker = ConversationTracker()
    tracker.get_or_create_conversation(engaged, customer_id="cust-2")
    tracker.track_question(QUESTION)
    tracker.track_answer(ANSWER)
    assert tracker.send_tracked_data()["summary"]["errors"] == 0

    assert [(c["id"], c["used"]) for c in list_conversations(server, used="true")] == [(engaged, True)]
    assert [(c["id"], c["used"]) for c in list_conversations(server, used="false")] == [(abandoned, False)]
    assert {c["id"] for c in list_conversations(server)} == {abandoned, engaged}


def test_a_multipart_upload_over_the_body_limit_is_refused(shared: Shared) -> None:
    srv = shared.server
    response = httpx.post(
        f"{srv.url}/api/attachments/",
        headers={"Authorization": f"Api-Key {srv.keys['secret_key']}"},
        data={"conversation": shared.conversation_id, "sender": "end_user", "mode": "form_data"},
        files={"attachment_0": ("big.bin", b"\0" * (8 * 1024 * 1024 + 1), "application/octet-stream")},
        timeout=60,
    )
    assert response.status_code == 413 and response.json()["detail"].startswith("Request body larger than"), response.text


def test_the_event_id_does_not_depend_on_the_customer_ip(server: Server) -> None:
    """Stored ids are derived from the request for idempotency; the IP, never stored, must
    not be recoverable from them, so two requests that differ only by IP are one."""
    cid = new_conversation_id()
    stamp = sdk_timestamp()
    answers = [
        api_post(server, "conversations", {"conversation_id": cid, "customer_ip_address": ip, "is_used": False, "timestamp": stamp})
        for ip in ("198.51.100.23", "198.51.100.24")
    ]
    assert [r.status_code for r in answers] == [201, 201]
    assert [r.json()["duplicate"] for r in answers] == [False, True]
