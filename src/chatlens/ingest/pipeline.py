"""The ingestion pipeline: one batch flows through named steps.

Request steps decide about the whole batch, and stop it with a `Rejection` (an HTTP error)
or drop all its events with a named reason:

    parse_envelope -> authenticate -> check_origin -> filter_bots -> rate_limit

(parse_envelope first tries a compiled decoder that also validates a batch of behaviour
events; when it declines, the Python validator decides, so the results never differ.)

Event steps then run over the surviving events; each step may drop an event with a named,
counted reason:

    validate (invalid) -> dedupe (duplicate) -> enrich -> store

Every drop is counted in `chatlens_events_dropped_total{reason=...}`; nothing valid is
lost because a sibling was bad.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from chatlens._ids import uuid7
from chatlens.config import Settings
from chatlens.ingest._fastpath import decode_batch
from chatlens.ingest._useragent import classify
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
from chatlens.sites import SiteRegistry, origin_allowed
from chatlens.store.base import EventStore, Site
from chatlens.store.rows import RowEncoder
from chatlens.store.writer import WriteBuffer, WriteBufferFull

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
    dropped: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    accepted: int = 0
    waits: list[asyncio.Future[None]] = field(default_factory=list)
    encoded: bytes = b""  # the accepted events as journal lines (chatlens.store.rows)
    new_ids: list[tuple[str, int]] = field(default_factory=list)  # (event_id, dedupe time)
    stopped: bool = False  # a request step dropped the whole batch
    prevalidated: list[ValidEvent] | None = None  # set when the fast path vouched for all events

    def response(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            # Instructions for the SDK (proactive offers, next check-in) go here.
            "instructions": {},
        }
        other = {k: v for k, v in self.dropped.items() if k not in ("invalid", "duplicate")}
        if other:
            body["dropped"] = other
        return body


class Ingestor:
    REQUEST_STEPS = ("parse_envelope", "authenticate", "check_origin", "filter_bots", "rate_limit")
    EVENT_STEPS = ("validate", "dedupe", "enrich", "store")

    def __init__(
        self,
        settings: Settings,
        sites: SiteRegistry,
        store: EventStore,
        writer: WriteBuffer,
        dedupe: DedupeIndex,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.sites = sites
        self.event_store = store
        self.writer = writer
        self.seen_ids = dedupe
        self.metrics = metrics
        self.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
        self.ip_hasher = IpHasher()
        metrics.describe("chatlens_events_accepted_total", "counter", "Events stored")
        metrics.describe(
            "chatlens_events_dropped_total", "counter", "Events not stored, by reason"
        )

    async def ingest(self, incoming: IncomingBatch) -> Batch:
        batch = Batch(incoming, received_us=time.time_ns() // 1000)
        for name in self.REQUEST_STEPS:
            getattr(self, name)(batch)
            if batch.stopped:
                return batch
        for name in self.EVENT_STEPS:  # validate runs first, over envelope["events"]
            await getattr(self, name)(batch)
            if not batch.events:
                break
        if batch.waits:
            # Duplicates of events still being committed: acknowledge only once stored.
            await self._await_commits(batch, [], [])
        return batch

    def drop(self, batch: Batch, reason: str, count: int = 1) -> None:
        batch.dropped[reason] += count
        self.metrics.inc("chatlens_events_dropped_total", count, reason=reason)

    # -- request steps -----------------------------------------------------------------

    def parse_envelope(self, batch: Batch) -> None:
        fast = decode_batch(batch.incoming.body, self.settings.max_events_per_batch)
        if fast is not None:  # all behaviour events, all valid: checked in C (see _fastpath)
            batch.envelope, batch.prevalidated = fast
            batch.envelope["events"] = batch.prevalidated
            return
        try:
            envelope = orjson.loads(batch.incoming.body)
        except orjson.JSONDecodeError as exc:
            raise Rejection(400, "malformed_json", f"body is not valid JSON: {exc}") from None
        if not isinstance(envelope, dict):
            raise Rejection(400, "bad_envelope", f"body: must be a JSON object, got {json_type(envelope)}")
        for name in ("key", "visitor_id", "session_id"):
            value = envelope.get(name)
            if not isinstance(value, str) or not value:
                why = "required, must be a non-empty string"
                got = "" if value is None else f", got {json_type(value)}"
                raise Rejection(400, "bad_envelope", f"{name}: {why}{got}")
            if len(value) > MAX_ID_LENGTH:
                raise Rejection(400, "bad_envelope", f"{name}: too long (at most {MAX_ID_LENGTH})")
        events = envelope.get("events")
        if not isinstance(events, list) or not events:
            got = "" if events is None else f", got {json_type(events)}"
            raise Rejection(400, "bad_envelope", f"events: required, must be a non-empty array{got}")
        if len(events) > self.settings.max_events_per_batch:
            raise Rejection(
                400,
                "bad_envelope",
                f"events: too many ({len(events)}, at most {self.settings.max_events_per_batch})",
            )
        sent_at = envelope.get("sent_at")
        if sent_at is not None:
            envelope["sent_at"] = parse_timestamp(sent_at)
            if envelope["sent_at"] is None:
                raise Rejection(
                    400, "bad_envelope", "sent_at: must be ISO 8601 text or epoch milliseconds"
                )
        batch.envelope = envelope

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

    async def validate(self, batch: Batch) -> None:
        if batch.prevalidated is not None:
            batch.events = batch.prevalidated
            return
        valid: list[ValidEvent] = []
        for index, raw in enumerate(batch.envelope["events"]):
            result = validate_event(raw, index)
            if isinstance(result, list):
                batch.rejected.append({"index": index, "errors": result})
            else:
                valid.append(result)
        if batch.rejected:
            self.drop(batch, "invalid", len(batch.rejected))
        batch.events = valid

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
                keys.append((event_id, self._dedupe_ts(batch, event)))
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
        self.writer.flush()  # journaled rows count as stored
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

    async def enrich(self, batch: Batch) -> None:
        """Add ids, corrected times, device and IP hash; encode the rows for the journal."""
        assert batch.site is not None
        site_id = batch.site.site_id
        env = batch.envelope
        received = batch.received_us
        sent_at = env.get("sent_at")
        encoder = RowEncoder(
            {
                "site_id": site_id,
                "visitor_id": env["visitor_id"],
                "session_id": env["session_id"],
                "sent_at": sent_at,
                "received_at": received,
                "device": batch.device,
                "bot": batch.bot,
                "ip_hash": self.ip_hasher.hash(batch.incoming.client_ip, site_id),
            }
        )
        lines = []
        for event in batch.events:
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
            event_id = event.event_id or uuid7()
            lines.append(encoder.encode(event_id, event.type, client_ts, ts, event.columns, event.properties_json))
        batch.encoded = b"".join(lines)

    async def store(self, batch: Batch) -> None:
        """Hand the rows to the group-commit writer; return once they are durable."""
        assert batch.site is not None
        site_id = batch.site.site_id
        try:
            commit = self.writer.submit(len(batch.events), batch.encoded)
        except WriteBufferFull as exc:
            self.drop(batch, "overloaded", len(batch.events))
            raise Rejection(503, "overloaded", f"try again shortly: {exc}", {"Retry-After": "1"}) from None
        self.seen_ids.add_many(site_id, batch.new_ids, commit)
        await self._await_commits(batch, [commit], [event_id for event_id, _ in batch.new_ids])
        batch.accepted = len(batch.events)
        self.metrics.inc("chatlens_events_accepted_total", len(batch.events))

    async def _await_commits(
        self, batch: Batch, commits: list[asyncio.Future[None]], new_ids: list[str]
    ) -> None:
        assert batch.site is not None
        try:
            await asyncio.gather(*commits, *batch.waits)
        except Exception as exc:
            self.seen_ids.discard(batch.site.site_id, new_ids)
            raise Rejection(
                503, "store_unavailable", f"events were not stored: {exc}", {"Retry-After": "5"}
            ) from None
        batch.waits = []
