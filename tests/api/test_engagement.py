"""Proactive engagement over HTTP (docs/engagement.md): offers in the /v1/batch answer,
decisions per session with their stages, the intents report, agent availability, check-ins,
a restart that keeps cooldowns, the signed webhook, and the skills CLI."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Server, chatlens, new_id, start_server

from chatlens.engine.engine import held_out
from chatlens.engine.webhook import verify_signature

SHOP = "https://shop.example"
SORT_LOW_TO_HIGH = {"type": "filter_usage", "category": "kettles", "filterType": "price", "filterValue": "low_to_high"}
MESSAGE = "Looking for the best value in kettles? Tell me your budget and I will shortlist a few."


def visitor_not_held_out(skill: str, site_id: str, prefix: str) -> str:
    """A visitor id outside the skill's 10% holdout (the shipped seed), found by trying."""
    return next(
        f"{prefix}-{i}" for i in range(1000) if not held_out("chatlens", site_id, skill, f"{prefix}-{i}", 0.10)
    )


def visitor_held_out(skill: str, site_id: str, prefix: str) -> str:
    return next(f"{prefix}-{i}" for i in range(1000) if held_out("chatlens", site_id, skill, f"{prefix}-{i}", 0.10))


def send(srv: Server, events: list[dict[str, Any]], visitor: str, session: str) -> dict[str, Any]:
    for event in events:
        event.setdefault("id", new_id())
    r = srv.post(srv.envelope(events, visitor_id=visitor, session_id=session))
    assert r.status_code == 200, r.text
    return r.json()


def get(srv: Server, path: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{srv.url}{path}", params=params, headers={"Authorization": f"Bearer {srv.keys['secret_key']}"}, timeout=30
    )


def test_an_offer_comes_back_and_its_story_is_told(server: Server) -> None:
    visitor = visitor_not_held_out("value_seeking", server.keys["site_id"], "story")
    sort = dict(SORT_LOW_TO_HIGH)
    answer = send(server, [{"type": "page_view", "url": f"{SHOP}/c/kettles", "pageType": "category"}, sort],
                  visitor, "s-story")
    [offer] = answer["instructions"]["offers"]
    assert offer["skill"] == "value_seeking" and offer["message"] == MESSAGE
    assert offer["data"] == {"f": {"category": "kettles"}}
    assert offer["expiresAt"].endswith("Z")

    # The page shows it, the visitor accepts, a chat starts, then adds to the cart.
    send(server, [{"type": "offer", "offerId": offer["id"], "status": "shown"}], visitor, "s-story")
    send(server, [{"type": "offer", "offerId": offer["id"], "status": "accepted"}], visitor, "s-story")
    send(server, [{"type": "chat.started", "metadata": {"id": "chat-1", "proactive": True}}], visitor, "s-story")
    send(server, [{"type": "cart_action", "action": "add", "productId": "K-1"}], visitor, "s-story")

    r = get(server, "/v1/sessions/s-story/decisions")
    assert r.status_code == 200, r.text
    [story] = r.json()["decisions"]
    assert story["offerId"] == offer["id"]
    assert (story["skill"], story["decision"], story["reason"], story["status"]) == ("value_seeking", "offered", None, "outcome")
    assert story["evidence"] == [sort["id"]]
    assert list(story["stages"]) == ["qualified", "offered", "shown", "accepted", "conversation", "outcome"]
    assert story["conversationId"] == "chat-1"
    assert story["outcome"]["type"] == "cart_action"
    assert story["message"] == MESSAGE and story["visitorId"] == visitor


def test_a_held_out_visitor_gets_no_offer_but_the_decision_is_logged(server: Server) -> None:
    visitor = visitor_held_out("value_seeking", server.keys["site_id"], "held")
    answer = send(server, [dict(SORT_LOW_TO_HIGH)], visitor, "s-held")
    assert answer["instructions"] == {}
    [story] = get(server, "/v1/sessions/s-held/decisions").json()["decisions"]
    assert (story["decision"], story["reason"], story["status"]) == ("held_out", "holdout", "held_out")


def test_caps_and_cooldown_block_with_their_reason(server: Server) -> None:
    site = server.keys["site_id"]
    visitor = next(
        f"cap-{i}" for i in range(1000)
        if not held_out("chatlens", site, "value_seeking", f"cap-{i}", 0.1)
        and not held_out("chatlens", site, "bundle", f"cap-{i}", 0.1)
    )
    first = send(server, [dict(SORT_LOW_TO_HIGH)], visitor, "s-cap")
    [offer] = first["instructions"]["offers"]
    # Another skill qualifies while the offer is unanswered, then after it is dismissed.
    bundle = [{"type": "cart_action", "action": "add", "productId": "ST-1", "productName": "Gas stove"},
              {"type": "search_event", "query": "range hood"}]
    assert send(server, bundle, visitor, "s-cap")["instructions"] == {}
    send(server, [{"type": "offer", "offerId": offer["id"], "status": "dismissed"}], visitor, "s-cap")
    # A new session of the same visitor, within the 24 h cooldown.
    assert send(server, [dict(SORT_LOW_TO_HIGH)], visitor, "s-cap-2")["instructions"] == {}

    reasons = [(d["skill"], d["decision"], d["reason"]) for d in get(server, "/v1/sessions/s-cap/decisions").json()["decisions"]]
    assert reasons == [("value_seeking", "offered", None), ("bundle", "blocked", "offer_pending")]
    [later] = get(server, "/v1/sessions/s-cap-2/decisions").json()["decisions"]
    assert (later["decision"], later["reason"]) == ("blocked", "cooldown")
    [mine] = [d for d in get(server, "/v1/sessions/s-cap/decisions").json()["decisions"] if d["decision"] == "offered"]
    # dismissed, and the cart add of the bundle journey came after it: its outcome
    assert list(mine["stages"]) == ["qualified", "offered", "outcome", "dismissed"]
    assert mine["status"] == "outcome" and mine["outcome"]["type"] == "cart_action"


def test_no_offer_while_a_chat_is_open(server: Server) -> None:
    visitor = visitor_not_held_out("value_seeking", server.keys["site_id"], "open")
    send(server, [{"type": "chat.opened", "metadata": {"id": "c-open"}}], visitor, "s-open")
    assert send(server, [dict(SORT_LOW_TO_HIGH)], visitor, "s-open")["instructions"] == {}
    [story] = get(server, "/v1/sessions/s-open/decisions").json()["decisions"]
    assert story["reason"] == "chat_open"


def test_a_blog_page_asks_the_page_to_check_in_at_the_research_threshold(server: Server) -> None:
    visitor = visitor_not_held_out("research", server.keys["site_id"], "blog")
    page = {"type": "page_view", "url": f"{SHOP}/blog/best-kettles", "pageType": "blog"}
    check_in = send(server, [page], visitor, "s-blog")["instructions"]["checkIn"]
    assert 119_000 <= check_in <= 120_400
    dwell = {"type": "dwell", "url": page["url"], "pageType": "blog", "durationSeconds": 100}
    check_in = send(server, [dwell], visitor, "s-blog")["instructions"]["checkIn"]
    assert 19_000 <= check_in <= 20_400
    # The check-in's own dwell report crosses the threshold: the offer comes back.
    answer = send(server, [{**dwell, "id": new_id(), "durationSeconds": 120.3}], visitor, "s-blog")
    assert [o["skill"] for o in answer["instructions"]["offers"]] == ["research"]


def test_agents_unavailable_or_a_long_wait_blocks_offers(server: Server) -> None:
    site = server.keys["site_id"]
    headers = {"Authorization": f"Bearer {server.keys['secret_key']}"}
    url = f"{server.url}/v1/agents/availability"
    assert httpx.put(url, json={"available": False}, headers=headers).status_code == 200
    first = visitor_not_held_out("value_seeking", site, "away")
    assert send(server, [dict(SORT_LOW_TO_HIGH)], first, "s-away")["instructions"] == {}
    assert httpx.put(url, json={"available": True, "predictedWaitSeconds": 600}, headers=headers).status_code == 200
    second = visitor_not_held_out("value_seeking", site, "wait")
    assert send(server, [dict(SORT_LOW_TO_HIGH)], second, "s-wait")["instructions"] == {}
    assert httpx.put(url, json={"available": True, "predictedWaitSeconds": 30}, headers=headers).status_code == 200
    third = visitor_not_held_out("value_seeking", site, "back")
    assert send(server, [dict(SORT_LOW_TO_HIGH)], third, "s-back")["instructions"]["offers"]
    reasons = [get(server, f"/v1/sessions/{s}/decisions").json()["decisions"][0]["reason"] for s in ("s-away", "s-wait")]
    assert reasons == ["agents_unavailable", "wait_too_long"]

    bad = [({"available": "yes"}, "available"), ({"predictedWaitSeconds": -1}, "predictedWaitSeconds"), ([1], "body")]
    for body, field in bad:
        r = httpx.put(url, json=body, headers=headers)
        assert r.status_code == 400 and r.json()["message"].startswith(field), r.text
    assert httpx.put(url, json={"available": True}).status_code == 401


def test_the_intents_report_counts_each_stage_and_the_lift(server: Server) -> None:
    site = server.keys["site_id"]
    offered = [v for v in (f"rep-{i}" for i in range(60)) if not held_out("chatlens", site, "value_seeking", v, 0.1)][:4]
    holdout = [v for v in (f"rep-{i}" for i in range(200)) if held_out("chatlens", site, "value_seeking", v, 0.1)][:2]
    for n, visitor in enumerate(offered + holdout):
        send(server, [dict(SORT_LOW_TO_HIGH)], visitor, f"s-rep-{n}")
    # Two offered visitors convert, one held-out visitor converts.
    for visitor, n in ((offered[0], 0), (offered[1], 1), (holdout[0], 4)):
        send(server, [{"type": "custom", "name": "purchase"}], visitor, f"s-rep-{n}")
    r = get(server, "/v1/intents")
    assert r.status_code == 200, r.text
    [row] = [s for s in r.json()["skills"] if s["skill"] == "value_seeking"]
    assert (row["qualified"], row["offered"], row["heldOut"], row["blocked"], row["converted"]) == (6, 4, 2, 0, 3)
    lift = row["lift"]
    assert (lift["offeredVisitors"], lift["offeredConverted"], lift["heldOutVisitors"], lift["heldOutConverted"]) == (4, 2, 2, 1)
    assert lift["absoluteLift"]["value"] == 0.0  # 2/4 - 1/2
    assert lift["absoluteLift"]["low"] < 0 < lift["absoluteLift"]["high"]
    names = {s["skill"] for s in r.json()["skills"]}
    assert names == {"out_of_stock", "bundle", "comparison", "value_seeking", "research"}
    assert get(server, "/v1/intents", **{"from": "yesterday"}).status_code == 400
    assert httpx.get(f"{server.url}/v1/intents").status_code == 401


def test_cooldowns_and_opt_outs_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "chatlens.duckdb"
    srv = start_server(db, "--rate-limit", "100000")
    try:
        site = srv.keys["site_id"]
        offered = visitor_not_held_out("value_seeking", site, "restart")
        opted = visitor_not_held_out("value_seeking", site, "optout")
        assert send(srv, [dict(SORT_LOW_TO_HIGH)], offered, "s-r1")["instructions"]["offers"]
        send(srv, [{"type": "offer", "offerId": new_id(), "status": "opted_out"}], opted, "s-o1")
    finally:
        srv.kill()  # SIGKILL: what was acknowledged is all there is
    srv = start_server(db, "--rate-limit", "100000", keys=srv.keys)
    try:
        assert send(srv, [dict(SORT_LOW_TO_HIGH)], offered, "s-r2")["instructions"] == {}
        assert send(srv, [dict(SORT_LOW_TO_HIGH)], opted, "s-o2")["instructions"] == {}
        reasons = [get(srv, f"/v1/sessions/{s}/decisions").json()["decisions"][0]["reason"] for s in ("s-r2", "s-o2")]
        assert reasons == ["cooldown", "opt_out"]
    finally:
        srv.stop()


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", _Receiver.received
    httpd.shutdown()


def test_the_webhook_gets_signed_offers_and_conversation_starts_with_context(tmp_path: Path, receiver: Any) -> None:
    url, received = receiver
    config = tmp_path / "chatlens.toml"
    config.write_text(f'[webhook]\nurl = "{url}"\nsecret = "s3cret"\n')
    srv = start_server(tmp_path / "chatlens.duckdb", "--rate-limit", "100000", "--config", str(config))
    try:
        visitor = visitor_not_held_out("value_seeking", srv.keys["site_id"], "hook")
        send(srv, [{"type": "search_event", "query": "kettle"}, dict(SORT_LOW_TO_HIGH)], visitor, "s-hook")
        send(srv, [{"type": "chat.started", "metadata": {"id": "chat-hook"}}], visitor, "s-hook")
        deadline = time.monotonic() + 15
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        srv.stop()
    assert len(received) == 2
    bodies = {}
    for headers, body in received:
        assert verify_signature("s3cret", headers["Chatlens-Signature"], body)
        assert not verify_signature("wrong", headers["Chatlens-Signature"], body)
        payload = json.loads(body)
        bodies[payload["type"]] = payload
    offer = bodies["offer.created"]
    assert offer["data"]["offer"]["skill"] == "value_seeking" and offer["data"]["visitorId"] == visitor
    assert offer["context"]["searches"][0]["query"] == "kettle"  # the visitor's context, from the store
    started = bodies["conversation.started"]
    assert started["data"]["conversationId"] == "chat-hook" and started["context"]["visitorId"] == visitor


def test_the_skills_cli_prints_checks_and_refuses_a_bad_file(tmp_path: Path) -> None:
    shipped = chatlens("skills").stdout
    assert "[[skill]]" in shipped and 'name = "comparison"' in shipped
    good = tmp_path / "skills.toml"
    good.write_text(shipped)
    listed = chatlens("skills", "--check", str(good)).stdout.splitlines()
    assert [line.split("\t")[1] for line in listed] == ["out_of_stock", "bundle", "comparison", "value_seeking", "research"]
    bad = tmp_path / "bad.toml"
    bad.write_text(shipped.replace('filterValue = { in = [', 'filterValue = { within = ['))
    result = chatlens("skills", "--check", str(bad), check=False)
    assert result.returncode == 2
    assert "skill 'value_seeking'.step[0].where.filterValue.within: unknown operator" in result.stderr
    served = chatlens("serve", "--db", str(tmp_path / "x.duckdb"), "--skills", str(bad), "--port", "0", check=False)
    assert served.returncode == 2 and "unknown operator" in served.stderr
