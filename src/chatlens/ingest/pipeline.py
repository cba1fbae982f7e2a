"""The ingestion pipeline: one batch flows through named steps.

Request steps decide about the whole batch, and stop it with a `Rejection` (an HTTP error)
or drop all its events with a named reason:

    parse_envelope -> authenticate -> check_origin -> filter_bots -> rate_limit

(parse_envelope first tries a compiled decoder that also validates a batch of behaviour
events; when it declines, the Python validator decides, so the results never differ.)

Event steps then run over the surviving events; each step may drop an event with a named,
counted reason:

    validate (invalid) -> dedupe (duplicate) -> enrich -> decide -> store

(decide hands the fresh events to the intent engine, whose decisions are stored with the
batch, in the same durable write, and whose offers go back in the response.)

Server SDKs and the AgentSight-compatible API (secret key, authenticated by the HTTP
layer) enter through `ingest_server`, whose request step is parse_server_envelope and whose
event steps add one check:

    validate (invalid) -> check_conversation (invalid) -> dedupe -> enrich -> store

Every drop is counted in `chatlens_events_dropped_total{reason=...}`; nothing valid is
lost because a sibling was bad.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from chatlens._ids import uuid7
from chatlens.config import Settings
from chatlens.engine.engine import IntentEngine, Verdict
from chatlens.ingest._fastpath import decode_batch
from chatlens.ingest._useragent import classify, primary_language
from chatlens.ingest.conversations import KnownConversations
from chatlens.ingest.dedupe import DedupeIndex, Seen
from chatlens.ingest.privacy import IpHasher
from chatlens.ingest.ratelimit import RateLimiter
from chatlens.ingest.validate import (
    MAX_ID_LENGTH,
    MAX_TIMESTAMP_US,
    MIN_TIMESTAMP_US,
    ValidEvent,
    json_type,
    parse_timestamp,
    validate_event,
)
from chatlens.metrics import Metrics
from chatlens.model.events import CONVERSATION_TYPES, LIFECYCLE_TYPES
from chatlens.sites import SiteRegistry, origin_allowed
from chatlens.store.base import EventStore, Site
from chatlens.store.rows import RowEncoder
from chatlens.store.writer import WriteBuffer, WriteBufferFull

# Event types that make a conversation exist, and those that must refer to one that does.
CREATES_CONVERSATION = frozenset({"conversation", *(t.name for t in LIFECYCLE_TYPES)})
NEEDS_CONVERSATION = frozenset(t.name for t in CONVERSATION_TYPES) - CREATES_CONVERSATION


class Rejection(Exception):
    """The whole batch is refused; maps one to one onto an HTTP error response."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass(slots=True)
class IncomingBatch:
    """What the HTTP layer hands over: the body and the few headers that matter."""

    body: bytes
    origin: str | None = None
    user_agent: str = ""
    client_ip: str | None = None
    accept_language: str = ""
    server_site: Site | None = None  # set for server batches: authenticated by secret key
    received_us: int | None = None  # the receive time; None: now (`chatlens demo` replays the past)


@dataclass(slots=True)
class Batch:
    incoming: IncomingBatch
    received_us: int
    envelope: dict[str, Any] = field(default_factory=dict)
    site: Site | None = None
    device: str = "desktop"
    bot: bool = False
    events: list[ValidEvent] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> events
    duplicates: int = 0
    accepted: int = 0
    waits: list[asyncio.Future[None]] = field(default_factory=list)
    encoded: bytes = b""  # the accepted events as journal lines (chatlens.store.rows)
    new_ids: list[tuple[str, int]] = field(default_factory=list)  # (event_id, dedupe time)
    stopped: bool = False  # a request step dropped the whole batch
    prevalidated: list[ValidEvent] | None = None  # set when the fast path vouched for all events
    # Server batches: per event index, (visitor_id, session_id, client IP) given with it.
    senders: dict[int, tuple[str | None, str | None, str | None]] | None = None
    new_conversations: list[str] = field(default_factory=list)
    encoder: RowEncoder | None = None  # a browser batch's row encoder (one sender)
    verdict: Verdict | None = None  # the intent engine's answer
    decisions: int = 0  # rows of decisions added to `encoded`

    def response(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            # For the SDK: proactive offers and when to check in next (docs/engagement.md)
            "instructions": self.verdict.instructions() if self.verdict is not None else {},
        }
        other = {k: v for k, v in self.dropped.items() if k not in ("invalid", "duplicate")}
        if other:
            body["dropped"] = other
        return body


class Ingestor:
    REQUEST_STEPS = ("parse_envelope", "authenticate", "check_origin", "filter_bots", "rate_limit")
    EVENT_STEPS = ("validate", "dedupe", "enrich", "decide", "store")
    SERVER_REQUEST_STEPS = ("parse_server_envelope",)
    SERVER_EVENT_STEPS = ("validate", "check_conversation", "dedupe", "enrich", "store")

    def __init__(
        self,
        settings: Settings,
        sites: SiteRegistry,
        store: EventStore,
        writer: WriteBuffer,
        dedupe: DedupeIndex,
        metrics: Metrics,
        engine: IntentEngine | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sites = sites
        self.event_store = store
        self.writer = writer
        self.seen_ids = dedupe
        self.metrics = metrics
        self.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
        self.ip_hasher = IpHasher()
        self.conversations = KnownConversations()
        metrics.describe("chatlens_events_accepted_total", "counter", "Events stored")
        metrics.describe(
            "chatlens_events_dropped_total", "counter", "Events not stored, by reason"
        )
        metrics.describe(
            "chatlens_decisions_total", "counter", "Intent engine decisions, by skill, decision and reason"
        )
        metrics.describe(
            "chatlens_dedupe_store_lookups_total", "counter",
            "Event ids older than the dedupe index's memory, looked up in the store",
        )

    async def ingest(self, incoming: IncomingBatch) -> Batch:
        """A batch from a browser (public key)."""
        return await self._run(incoming, self.REQUEST_STEPS, self.EVENT_STEPS)

    async def ingest_server(self, incoming: IncomingBatch) -> Batch:
        """A batch from a server (`incoming.server_site` already authenticated)."""
        return await self._run(incoming, self.SERVER_REQUEST_STEPS, self.SERVER_EVENT_STEPS)

    async def _run(self, incoming: IncomingBatch, request_steps: tuple[str, ...], event_steps: tuple[str, ...]) -> Batch:
        received = incoming.received_us if incoming.received_us is not None else time.time_ns() // 1000
        batch = Batch(incoming, received_us=received)
        for name in request_steps:
            getattr(self, name)(batch)
            if batch.stopped:
                return batch
        for name in event_steps:  # validate runs first, over envelope["events"]
            running = getattr(self, name)(batch)
            if running is not None:  # a step that may wait (for the store) is a coroutine
                await running
            if not batch.events:
                break
        if batch.waits:
            # Duplicates of events still being committed: acknowledge only once stored.
            await self._await_commits(batch, [], [])
        return batch

    def drop(self, batch: Batch, reason: str, count: int = 1) -> None:
        batch.dropped[reason] = batch.dropped.get(reason, 0) + count
        self.metrics.inc("chatlens_events_dropped_total", count, reason=reason)

    # -- request steps -----------------------------------------------------------------

    def parse_envelope(self, batch: Batch) -> None:
        fast = decode_batch(batch.incoming.body, self.settings.max_events_per_batch)
        if fast is not None:  # all behaviour events, all valid: checked in C (see _fastpath)
            batch.envelope, batch.prevalidated = fast
            batch.envelope["events"] = batch.prevalidated
            return
        envelope = self._envelope(batch.incoming.body)
        for name in ("key", "visitor_id", "session_id"):
            value = envelope.get(name)
            if not isinstance(value, str) or not value:
                why = "required, must be a non-empty string"
                got = "" if value is None else f", got {json_type(value)}"
                raise Rejection(400, "bad_envelope", f"{name}: {why}{got}")
            if len(value) > MAX_ID_LENGTH:
                raise Rejection(400, "bad_envelope", f"{name}: too long (at most {MAX_ID_LENGTH})")
        self._check_events_and_sent_at(envelope)
        batch.envelope = envelope

    @staticmethod
    def _envelope(body: bytes) -> dict[str, Any]:
        try:
            envelope = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Rejection(400, "malformed_json", f"body is not valid JSON: {exc}") from None
        if not isinstance(envelope, dict):
            raise Rejection(400, "bad_envelope", f"body: must be a JSON object, got {json_type(envelope)}")
        return envelope

    def _check_events_and_sent_at(self, envelope: dict[str, Any]) -> None:
        events = envelope.get("events")
        if not isinstance(events, list) or not events:
            got = "" if events is None else f", got {json_type(events)}"
            raise Rejection(400, "bad_envelope", f"events: required, must be a non-empty array{got}")
        if len(events) > self.settings.max_events_per_batch:
            raise Rejection(
                400, "bad_envelope", f"events: too many ({len(events)}, at most {self.settings.max_events_per_batch})"
            )
        sent_at = envelope.get("sent_at")
        if sent_at is not None:
            envelope["sent_at"] = parse_timestamp(sent_at)
            if envelope["sent_at"] is None:
                raise Rejection(400, "bad_envelope", "sent_at: must be ISO 8601 text or epoch milliseconds")

    def parse_server_envelope(self, batch: Batch) -> None:
        """`{sent_at?, events: [...]}`; each event may name its visitorId, sessionId and
        customerIp (hashed like a browser's address, never stored)."""
        batch.site = batch.incoming.server_site
        envelope = self._envelope(batch.incoming.body)
        self._check_events_and_sent_at(envelope)
        events = envelope["events"]
        senders: dict[int, tuple[str | None, str | None, str | None]] = {}
        problems: dict[int, list[str]] = {}
        limit = self.settings.max_attachment_bytes
        for index, raw in enumerate(events):
            if not isinstance(raw, dict):
                continue  # validate explains
            given = []
            for name in ("visitorId", "sessionId", "customerIp"):
                value = raw.pop(name, None)
                if value is not None and (not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH):
                    problems.setdefault(index, []).append(
                        f"events[{index}].{name}: must be a string of 1 to {MAX_ID_LENGTH} characters"
                    )
                    value = None
                given.append(value)
            senders[index] = (given[0], given[1], given[2])
            content = raw.get("content")
            if raw.get("type") == "attachment" and isinstance(content, str) and len(content) * 3 // 4 > limit:
                # The file's description is kept; its bytes only up to the configured size.
                del raw["content"]
                raw["contentOmitted"] = f"larger than the server's attachment limit ({limit} bytes)"
        envelope["problems"] = problems
        batch.envelope = envelope
        batch.senders = senders

    def authenticate(self, batch: Batch) -> None:
        site = self.sites.by_public_key(batch.envelope["key"])
        if site is None:
            raise Rejection(401, "unknown_key", "key: no site has this public key")
        batch.site = site

    def check_origin(self, batch: Batch) -> None:
        assert batch.site is not None
        if not origin_allowed(batch.site, batch.incoming.origin):
            raise Rejection(
                403,
                "origin_not_allowed",
                f"origin {batch.incoming.origin!r} is not allowed for site {batch.site.site_id!r}",
            )

    def filter_bots(self, batch: Batch) -> None:
        batch.device, batch.bot = classify(batch.incoming.user_agent)
        if batch.bot and self.settings.drop_bots:
            self.drop(batch, "bot", len(batch.envelope["events"]))
            batch.stopped = True

    def rate_limit(self, batch: Batch) -> None:
        assert batch.site is not None
        wait = self.rate_limiter.check(batch.site.site_id, batch.envelope["session_id"])
        if wait:
            self.drop(batch, "rate_limited", len(batch.envelope["events"]))
            raise Rejection(
                429,
                "rate_limited",
                f"more than {self.rate_limiter.per_minute} requests per minute for this session; "
                f"retry in {wait} s",
                {"Retry-After": str(wait)},
            )

    # -- event steps -------------------------------------------------------------------

    def validate(self, batch: Batch) -> None:
        if batch.prevalidated is not None:
            batch.events = batch.prevalidated
            return
        valid: list[ValidEvent] = []
        problems = batch.envelope.get("problems") or {}
        for index, raw in enumerate(batch.envelope["events"]):
            result = validate_event(raw, index)
            if index in problems:
                result = problems[index] + (result if isinstance(result, list) else [])
            if isinstance(result, list):
                batch.rejected.append({"index": index, "errors": result})
            else:
                valid.append(result)
        if batch.rejected:
            self.drop(batch, "invalid", len(batch.rejected))
        batch.events = valid

    async def check_conversation(self, batch: Batch) -> None:
        """Messages, actions, ratings, ... must belong to a conversation that exists: made
        earlier in this batch, or stored before."""
        assert batch.site is not None
        site_id = batch.site.site_id
        made_here: set[str] = set()
        unknown: dict[str, list[ValidEvent]] = {}
        for event in batch.events:
            conversation_id = event.columns.get("interaction_id")
            if event.type in CREATES_CONVERSATION:
                made_here.add(conversation_id)
            elif event.type in NEEDS_CONVERSATION and conversation_id not in made_here:
                if (site_id, conversation_id) not in self.conversations:
                    unknown.setdefault(conversation_id, []).append(event)
        if not unknown:
            return
        stored = await asyncio.to_thread(self._stored_conversations, site_id, list(unknown))
        self.conversations.add(site_id, stored)
        refused: set[int] = set()
        for conversation_id, events in unknown.items():
            if conversation_id in stored:
                continue
            for event in events:
                refused.add(event.index)
                batch.rejected.append(
                    {
                        "index": event.index,
                        "errors": [
                            f"events[{event.index}].conversationId: unknown conversation "
                            f"{conversation_id[:80]!r}; send a conversation event for it first"
                        ],
                    }
                )
        batch.rejected.sort(key=lambda r: r["index"])
        self.drop(batch, "unknown_conversation", len(refused))
        batch.events = [e for e in batch.events if e.index not in refused]

    def _stored_conversations(self, site_id: str, ids: list[str]) -> set[str]:
        self.writer.flush()  # journaled rows count as stored
        return self.event_store.known_conversations(site_id, ids)

    async def dedupe(self, batch: Batch) -> None:
        assert batch.site is not None
        site_id = batch.site.site_id
        fresh: list[ValidEvent] = []
        candidates: list[ValidEvent] = []
        keys: list[tuple[str, int]] = []
        in_batch: set[str] = set()
        for event in batch.events:
            event_id = event.event_id
            if event_id is None:
                fresh.append(event)  # a server-assigned id cannot be a duplicate
            elif event_id in in_batch:
                batch.duplicates += 1
            else:
                in_batch.add(event_id)
                candidates.append(event)
                client_ts = event.client_ts_us
                keys.append((event_id, client_ts if client_ts is not None else self._dedupe_ts(batch, event)))
        ask_store: list[tuple[ValidEvent, tuple[str, int]]] = []
        for event, key, (seen, commit) in zip(candidates, keys, self.seen_ids.lookup_many(site_id, keys)):
            if seen is Seen.NEW:
                fresh.append(event)
                batch.new_ids.append(key)
            elif seen is Seen.DUPLICATE:
                batch.duplicates += 1
                if commit is not None and not commit.done():
                    batch.waits.append(commit)
            else:
                ask_store.append((event, key))
        if ask_store:
            self.metrics.inc("chatlens_dedupe_store_lookups_total", len(ask_store))
            ids = [key[0] for _, key in ask_store]
            times = [event.client_ts_us for event, _ in ask_store]
            # Without a client timestamp the stored client time is not known: search all.
            bounds = (MIN_TIMESTAMP_US, MAX_TIMESTAMP_US) if None in times else (min(times), max(times))  # type: ignore[type-var]
            stored = await asyncio.to_thread(self._stored_ids, site_id, ids, bounds)
            for event, key in ask_store:
                # Re-check memory: another request may have taken the id while we waited.
                seen, _ = self.seen_ids.lookup(site_id, key[0], self.seen_ids.horizon_us + 1)
                if key[0] in stored or seen is Seen.DUPLICATE:
                    batch.duplicates += 1
                else:
                    fresh.append(event)
                    batch.new_ids.append(key)
        if batch.duplicates:
            self.drop(batch, "duplicate", batch.duplicates)
        batch.events = fresh

    def _stored_ids(self, site_id: str, ids: list[str], client_ts_range: tuple[int, int]) -> set[str]:
        # No flush first: the index forgets an id only once it is in the store (dedupe.py).
        return self.event_store.existing_event_ids(site_id, ids, client_ts_range)

    @staticmethod
    def _dedupe_ts(batch: Batch, event: ValidEvent) -> int:
        """A time that is the same on every retry of the event: its client timestamp, else
        the creation time inside a UUIDv7 id. Only for other ids without a timestamp is it
        the receive time (so a retry after the index forgot them is stored again)."""
        if event.client_ts_us is not None:
            return event.client_ts_us
        if event.event_id is not None and event.event_id[14] == "7":
            return int(event.event_id[:8] + event.event_id[9:13], 16) * 1000
        return batch.received_us

    def enrich(self, batch: Batch) -> None:
        """Add ids, corrected times, device and IP hash; encode the rows for the journal."""
        assert batch.site is not None
        site_id = batch.site.site_id
        env = batch.envelope
        received = batch.received_us
        sent_at = env.get("sent_at")
        encoder = batch.encoder = None if batch.senders is not None else RowEncoder(
            {
                "site_id": site_id,
                "visitor_id": env["visitor_id"],
                "session_id": env["session_id"],
                "sent_at": sent_at,
                "received_at": received,
                "device": batch.device,
                "language": primary_language(batch.incoming.accept_language),
                "bot": batch.bot,
                "ip_hash": self.ip_hasher.hash(batch.incoming.client_ip, site_id),
            }
        )
        lines = []
        encoders: dict[tuple[str | None, str | None, str | None], RowEncoder] = {}
        for event in batch.events:
            if batch.senders is not None:
                sender = batch.senders.get(event.index, (None, None, None))
                encoder = encoders.get(sender) or encoders.setdefault(sender, self._server_encoder(batch, sender))
            if event.type in CREATES_CONVERSATION and "interaction_id" in event.columns:
                batch.new_conversations.append(event.columns["interaction_id"])
            client_ts = event.client_ts_us
            if client_ts is None:
                client_ts = sent_at if sent_at is not None else received
                ts = received
            elif sent_at is not None:
                # Skew correction: the client's clock may be off, but the delay between
                # creating the event and sending it is measured on that same clock.
                ts = min(received, received - (sent_at - client_ts))
            else:
                ts = min(received, client_ts)
            event_id = event.event_id = event.event_id or uuid7()
            event.ts_us = ts
            assert encoder is not None
            lines.append(encoder.encode(event_id, event.type, client_ts, ts, event.columns, event.properties_json))
        batch.encoded = b"".join(lines)

    def _server_encoder(self, batch: Batch, sender: tuple[str | None, str | None, str | None]) -> RowEncoder:
        assert batch.site is not None
        visitor_id, session_id, client_ip = sender
        return RowEncoder(
            {
                "site_id": batch.site.site_id,
                "visitor_id": visitor_id,
                "session_id": session_id,
                "sent_at": batch.envelope.get("sent_at"),
                "received_at": batch.received_us,
                "bot": False,
                "ip_hash": self.ip_hasher.hash(client_ip, batch.site.site_id) if client_ip else None,
            }
        )

    def decide(self, batch: Batch) -> None:
        """The intent engine sees the fresh events; its decisions become rows of their
        own, written with the batch."""
        if self.engine is None:
            return
        assert batch.site is not None and batch.encoder is not None
        env = batch.envelope
        verdict = batch.verdict = self.engine.observe(
            batch.site.site_id,
            env["visitor_id"],
            env["session_id"],
            [(e.type, e.event_id, e.ts_us, e.columns, e.properties_json) for e in batch.events],  # type: ignore[misc]
            batch.received_us,
        )
        if not verdict.decisions:
            return
        lines = [batch.encoded]
        for d in verdict.decisions:
            columns = {"offer_id": d.offer_id, "name": d.skill, "status": d.decision}
            properties = orjson.dumps(d.properties()).decode()
            lines.append(batch.encoder.encode(d.offer_id, "decision", d.at_us, d.at_us, columns, properties))
        batch.encoded = b"".join(lines)
        batch.decisions = len(verdict.decisions)
        for d in verdict.decisions:
            self.metrics.inc("chatlens_decisions_total", skill=d.skill, decision=d.decision, reason=d.reason or "")

    async def store(self, batch: Batch) -> None:
        """Hand the rows to the group-commit writer; return once they are durable."""
        assert batch.site is not None
        site_id = batch.site.site_id
        try:
            commit = self.writer.submit(len(batch.events) + batch.decisions, batch.encoded)
        except WriteBufferFull as exc:
            self.drop(batch, "overloaded", len(batch.events))
            raise Rejection(503, "overloaded", f"try again shortly: {exc}", {"Retry-After": "1"}) from None
        self.seen_ids.add_many(site_id, batch.new_ids, commit, self.writer.submitted_rows)
        await self._await_commits(batch, [commit], [event_id for event_id, _ in batch.new_ids])
        batch.accepted = len(batch.events)
        if batch.new_conversations:
            self.conversations.add(site_id, batch.new_conversations)
        if batch.verdict is not None and batch.verdict.notices and self.engine is not None and self.engine.notify:
            for kind, data in batch.verdict.notices:
                self.engine.notify(kind, data)
        self.metrics.inc("chatlens_events_accepted_total", len(batch.events))

    async def _await_commits(
        self, batch: Batch, commits: list[asyncio.Future[None]], new_ids: list[str]
    ) -> None:
        assert batch.site is not None
        pending = [*commits, *batch.waits]
        try:
            if len(pending) == 1:  # the usual case: the batch's own commit (gather costs ~3 % of the loop)
                await pending[0]
            else:
                await asyncio.gather(*pending)
        except Exception as exc:
            self.seen_ids.discard(batch.site.site_id, new_ids)
            raise Rejection(
                503, "store_unavailable", f"events were not stored: {exc}", {"Retry-After": "5"}
            ) from None
        batch.waits = []
