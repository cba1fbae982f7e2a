"""The intent engine: each batch's events advance the session's skills; a skill whose steps
have all matched qualifies, and the policy decides what happens to it.

    qualified -> blocked (opt_out, chat_open, offer_pending, session_cap,
                          quiet_after_dismissal, cooldown, agents_unavailable, wait_too_long)
              -> held_out (the skill's holdout share: logged, not offered)
              -> offered  (returned in the batch response; the page reports shown,
                           accepted or dismissed; docs/engagement.md for the rest)

Work per event is constant: only the skills with a step for the event's type look at it,
each over at most `MAX_PARTIALS` partial matches. Decisions are returned as records for
the pipeline to store with the batch, in the same durable write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from chatlens._ids import uuid7
from chatlens.engine.conditions import NOTHING, Captured, nested
from chatlens.engine.signal import CONTEXT, Signal
from chatlens.engine.skills import Skill, SkillSet, Step
from chatlens.engine.state import (
    SESSION_IDLE_US,
    LruStates,
    Partial,
    SessionState,
    SessionStates,
    VisitorState,
    VisitorStates,
)

MAX_PARTIALS = 4  # per skill and session: the newest are kept
MIN_CHECK_IN_MS = 250
AVAILABILITY_STALE_US = 10 * 60 * 1_000_000  # an availability report older than this is ignored

_OPENS_CHAT = frozenset({"chat.opened", "chat.submitted", "chat.started", "CONTACT_STARTED"})
_ENDS_CHAT = frozenset({"chat.closed", "chat.cancelled", "chat.completed", "chat.rejected", "CONTACT_ENDED"})
_STARTS_CONVERSATION = frozenset({"chat.started", "CONTACT_STARTED"})
# The types that change the session's or the visitor's context (_update_context)
_CONTEXT_TYPES = frozenset(
    {"page_view", "dwell", "product_status", "cart_action", "identify", "offer", *_OPENS_CHAT, *_ENDS_CHAT}
)


@dataclass(frozen=True, slots=True)
class Decision:
    offer_id: str
    skill: str
    decision: str  # offered | held_out | blocked
    reason: str | None
    priority: int
    message: str
    evidence: tuple[str, ...]
    data: dict[str, dict[str, Any]]
    at_us: int

    def properties(self) -> dict[str, Any]:
        """The stored `decision` event's fields other than its typed columns."""
        props: dict[str, Any] = {"priority": self.priority, "message": self.message, "evidence": list(self.evidence)}
        if self.reason:
            props["reason"] = self.reason
        if self.data:
            props["data"] = self.data
        return props


@dataclass(slots=True)
class Verdict:
    """What one batch changed: decisions to store, offers and a check-in for the page."""

    decisions: list[Decision] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)
    check_in_ms: int | None = None
    # (kind, payload) for the webhook, sent once the batch is stored (engine.notify)
    notices: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def instructions(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.offers:
            out["offers"] = self.offers
        if self.check_in_ms is not None:
            out["checkIn"] = self.check_in_ms
        return out


@dataclass(slots=True)
class _Availability:
    available: bool | None
    predicted_wait_s: float | None
    at_us: int


@dataclass(slots=True)
class _Candidate:
    skill: Skill
    captured: dict[str, dict[str, Any]]
    evidence: tuple[str, ...]


Notify = Callable[[str, dict[str, Any]], None]


class IntentEngine:
    def __init__(
        self,
        skills: SkillSet,
        *,
        sessions: SessionStates | None = None,
        visitors: VisitorStates | None = None,
        notify: Notify | None = None,
    ) -> None:
        self.skills = skills
        self.policy = skills.policy
        self.sessions: SessionStates = sessions if sessions is not None else LruStates(200_000)
        self.visitors: VisitorStates = visitors if visitors is not None else LruStates(1_000_000)
        # ("offer.created" | "conversation.started", payload): the webhook; called by the
        # pipeline once the batch is stored, so the visitor's context includes it
        self.notify = notify
        self._availability: dict[str, _Availability] = {}

    # -- state ---------------------------------------------------------------------

    def _session(self, site_id: str, visitor_id: str, session_id: str, now_us: int) -> SessionState:
        key = (site_id, session_id)
        state = self.sessions.get(key)
        if state is None or now_us - state.last_us > SESSION_IDLE_US:
            state = SessionState(visitor_id, now_us)
            self.sessions.put(key, state)
        return state

    def _visitor(self, site_id: str, visitor_id: str) -> VisitorState:
        key = (site_id, visitor_id)
        state = self.visitors.get(key)
        if state is None:
            state = VisitorState()
            self.visitors.put(key, state)
        return state

    def set_availability(self, site_id: str, available: bool | None, predicted_wait_s: float | None, now_us: int) -> None:
        """What the agents' side last said: anyone available, and the predicted wait."""
        self._availability[site_id] = _Availability(available, predicted_wait_s, now_us)

    def restore(self, site_id: str, rows: list[dict[str, Any]], now_us: int) -> None:
        """Rebuild caps, cooldowns and opt-outs from stored `decision` and `offer` events
        (oldest first) after a restart; partial matches start again."""
        for row in rows:
            ts = row["ts_us"]
            if row["session_id"] is not None and now_us - ts < SESSION_IDLE_US:
                # the session is as alive as its latest row
                self._session(site_id, row["visitor_id"], row["session_id"], ts).last_us = ts
            visitor = self._visitor(site_id, row["visitor_id"])
            if row["type"] == "offer" and row.get("status") == "opted_out":
                visitor.opted_out = True
            elif row["type"] == "offer" and row.get("status") == "dismissed" and now_us - ts < SESSION_IDLE_US:
                self._session(site_id, row["visitor_id"], row["session_id"], ts).dismissed_us = ts
            elif row["type"] == "decision" and row.get("status") in ("offered", "held_out"):
                visitor.last_offer_us = max(visitor.last_offer_us, ts)
                if now_us - ts < SESSION_IDLE_US:
                    session = self._session(site_id, row["visitor_id"], row["session_id"], ts)
                    session.offers += 1
                    skill = next((s for s in self.skills.skills if s.name == row.get("name")), None)
                    if skill is not None:
                        session.qualified |= 1 << skill.index

    # -- the batch -----------------------------------------------------------------

    def observe(
        self,
        site_id: str,
        visitor_id: str,
        session_id: str,
        events: list[tuple[str, str, int, dict[str, Any], str | None]],
        now_us: int,
    ) -> Verdict:
        """Feed one batch's fresh events, as (type, id, ts_us, columns, properties JSON),
        oldest first; decide about what qualified."""
        session = self._session(site_id, visitor_id, session_id, now_us)
        visitor = self._visitor(site_id, visitor_id)
        session.last_us = now_us
        candidates: list[_Candidate] = []
        by_type = self.skills.by_type
        verdict = Verdict()
        signal = Signal("", "", 0, {}, None, session, visitor)  # one per batch, filled per event
        for type_name, event_id, ts_us, columns, props_json in events:
            signal.type, signal.id, signal.ts_us, signal.columns = type_name, event_id, ts_us, columns
            signal.props_json, signal._props = props_json, None
            if type_name in _CONTEXT_TYPES:
                self._update_context(signal, session, visitor, site_id, session_id, verdict)
            for skill in by_type.get(type_name, ()):
                if not session.qualified >> skill.index & 1:
                    found = self._advance(skill, signal, session)
                    if found is not None:
                        candidates.append(found)
        if session.pending is not None and now_us - session.pending_us > self.policy.offer_ttl_us:
            session.pending = None  # ignored: it no longer holds other offers back
        candidates.sort(key=lambda c: c.skill.priority)
        for candidate in candidates:
            self._decide(candidate, site_id, visitor_id, session_id, session, visitor, now_us, verdict)
        verdict.check_in_ms = self._check_in(site_id, session, visitor, now_us)
        return verdict

    def _update_context(
        self,
        signal: Signal,
        session: SessionState,
        visitor: VisitorState,
        site_id: str,
        session_id: str,
        verdict: Verdict,
    ) -> None:
        t = signal.type
        if t == "page_view":
            session.page_url = signal.columns.get("url")
            session.page_type = signal.columns.get("page_type")
            session.page_product = signal.columns.get("product_id")
            session.page_status = None
            session.page_dwell = 0.0
            session.page_dwell_us = signal.ts_us
        elif t == "dwell":
            if signal.columns.get("url") == session.page_url:
                session.page_dwell = max(session.page_dwell, signal.columns.get("duration_seconds") or 0.0)
                session.page_dwell_us = signal.ts_us
        elif t == "product_status":
            if session.page_product is None or signal.columns.get("product_id") == session.page_product:
                session.page_product = signal.columns.get("product_id")
                session.page_status = signal.columns.get("status")
        elif t == "cart_action":
            session.cart = max(0, session.cart + (1 if signal.columns.get("action") == "add" else -1))
        elif t == "identify":
            traits = signal.props.get("traits")
            if isinstance(traits, dict):
                visitor.traits = {**(visitor.traits or {}), **traits}
        elif t == "offer":
            status = signal.columns.get("status")
            if status in ("accepted", "dismissed") and signal.columns.get("offer_id") == session.pending:
                session.pending = None
            if status == "dismissed":
                session.dismissed_us = signal.ts_us
            elif status == "opted_out":
                visitor.opted_out = True
        elif t in _OPENS_CHAT:
            session.chat_open = True
            if t in _STARTS_CONVERSATION and self.notify is not None:
                verdict.notices.append((
                    "conversation.started",
                    {"siteId": site_id, "visitorId": session.visitor_id, "sessionId": session_id,
                     "conversationId": signal.columns.get("interaction_id")},
                ))
        elif t in _ENDS_CHAT:
            session.chat_open = False

    def _advance(self, skill: Skill, signal: Signal, session: SessionState) -> _Candidate | None:
        """Move the skill's partial matches on with this event; a skill whose last step
        matched is returned (and forgets its partials)."""
        steps = skill.steps
        first = steps[0]
        starts = signal.type in first.types and first.test(signal, NOTHING)  # (tests have no side effects)
        partials = session.partials.get(skill.index) if session.partials else None
        if not partials and not starts:
            return None  # the common case: nothing to move on, nothing to start
        kept = partials or []
        if partials:
            ts_us, type_name, expired = signal.ts_us, signal.type, False
            for p in partials:
                if ts_us - p.start_us > skill.within_us:
                    expired = True  # too slow: this attempt is over
                    continue
                step = steps[p.step]
                if type_name in step.types and step.test(signal, p.captured):
                    p.evidence += (signal.id,)
                    p.count += 1
                    if p.count >= step.count:
                        if step.capture is not None:
                            p.captured = p.captured + step.capture(signal)
                        p.step += 1
                        p.count = 0
                        if p.step == len(steps):
                            return self._qualified(skill, session, p)
            if expired:
                kept = [p for p in partials if ts_us - p.start_us <= skill.within_us]
        if starts:
            p = Partial(0, 1, signal.ts_us, NOTHING, (signal.id,))
            if p.count >= first.count:
                if first.capture is not None:
                    p.captured = first.capture(signal)
                p.step, p.count = 1, 0
                if len(steps) == 1:
                    return self._qualified(skill, session, p)
            kept = [*kept[1 - MAX_PARTIALS:], p] if len(kept) >= MAX_PARTIALS else [*kept, p]
        if kept is partials:
            return None  # moved on in place
        if kept:
            if session.partials is None:
                session.partials = {}
            session.partials[skill.index] = kept
        elif session.partials:
            session.partials.pop(skill.index, None)
        return None

    def _qualified(self, skill: Skill, session: SessionState, p: Partial) -> _Candidate:
        session.qualified |= 1 << skill.index
        if session.partials:
            session.partials.pop(skill.index, None)
            if not session.partials:
                session.partials = None
        return _Candidate(skill, nested(p.captured), p.evidence)

    # -- the decision ----------------------------------------------------------------

    def _blocked_by(self, site_id: str, session: SessionState, visitor: VisitorState, now_us: int) -> str | None:
        policy = self.policy
        if visitor.opted_out:
            return "opt_out"
        if session.chat_open:
            return "chat_open"
        if session.pending is not None:
            return "offer_pending"
        if session.offers >= policy.max_offers_per_session:
            return "session_cap"
        if session.dismissed_us and now_us - session.dismissed_us < policy.quiet_after_dismissal_us:
            return "quiet_after_dismissal"
        if visitor.last_offer_us and now_us - visitor.last_offer_us < policy.visitor_cooldown_us:
            return "cooldown"
        availability = self._availability.get(site_id)
        if availability is not None and now_us - availability.at_us < AVAILABILITY_STALE_US:
            if availability.available is False:
                return "agents_unavailable"
            wait, limit = availability.predicted_wait_s, policy.max_predicted_wait_s
            if wait is not None and limit is not None and wait > limit:
                return "wait_too_long"
        return None

    def _decide(
        self,
        candidate: _Candidate,
        site_id: str,
        visitor_id: str,
        session_id: str,
        session: SessionState,
        visitor: VisitorState,
        now_us: int,
        verdict: Verdict,
    ) -> None:
        skill = candidate.skill
        reason = self._blocked_by(site_id, session, visitor, now_us)
        if reason is not None:
            outcome = "blocked"
        elif held_out(self.policy.seed, site_id, skill.name, visitor_id, skill.holdout):
            outcome, reason = "held_out", "holdout"
        else:
            outcome = "offered"
        message = skill.render(candidate.captured, _ContextView(session, visitor))
        decision = Decision(
            offer_id=uuid7(),
            skill=skill.name,
            decision=outcome,
            reason=reason,
            priority=skill.priority,
            message=message,
            evidence=candidate.evidence,
            data=candidate.captured,
            at_us=now_us,
        )
        verdict.decisions.append(decision)
        if outcome == "blocked":
            return
        # A holdout counts like an offer for caps and cooldowns, so that the held-out
        # group is treated exactly like the offered one apart from the offer itself.
        session.offers += 1
        visitor.last_offer_us = now_us
        if outcome == "held_out":
            return
        session.pending, session.pending_us = decision.offer_id, now_us
        offer = {
            "id": decision.offer_id,
            "skill": skill.name,
            "message": message,
            "data": candidate.captured,
            "expiresAt": _iso(now_us + self.policy.offer_ttl_us),
        }
        verdict.offers.append(offer)
        if self.notify is not None:
            verdict.notices.append((
                "offer.created",
                {"siteId": site_id, "visitorId": visitor_id, "sessionId": session_id, "offer": offer,
                 "evidence": list(decision.evidence)},
            ))

    def _check_in(self, site_id: str, session: SessionState, visitor: VisitorState, now_us: int) -> int | None:
        """When a dwell step could match on the current page, how long until the page
        should report its dwell (ms), so the skill can fire while the visitor is there."""
        policy = self.policy
        if (
            session.page_url is None
            or visitor.opted_out
            or session.offers >= policy.max_offers_per_session
            or (visitor.last_offer_us and now_us - visitor.last_offer_us < policy.visitor_cooldown_us)
        ):
            return None  # nothing could be offered in this session: no need to wake the page
        dwell_now = session.page_dwell + (now_us - session.page_dwell_us) / 1e6
        best: float | None = None
        for skill in self.skills.by_type.get("dwell", ()):
            if session.qualified >> skill.index & 1:
                continue
            waiting: list[tuple[Step, Captured]] = []
            if skill.steps[0].dwell_seconds is not None:
                waiting.append((skill.steps[0], NOTHING))
            for p in (session.partials or {}).get(skill.index, ()):
                step = skill.steps[p.step]
                if step.dwell_seconds is not None and now_us - p.start_us <= skill.within_us:
                    waiting.append((step, p.captured))
            for step, captured in waiting:
                assert step.dwell_seconds is not None
                probe = Signal(
                    "dwell", "", now_us,
                    {"url": session.page_url, "page_type": session.page_type, "duration_seconds": step.dwell_seconds},
                    None, session, visitor,
                )
                if step.dwell_seconds > session.page_dwell and step.test(probe, captured):
                    remaining = step.dwell_seconds - dwell_now
                    best = remaining if best is None else min(best, remaining)
        if best is None:
            return None
        # a little after the threshold, so that the page's own clock has passed it too
        return max(MIN_CHECK_IN_MS, int(best * 1000) + 200)


class _ContextView:
    """`page.*`, `cart.*`, `visitor.*` for message templates."""

    __slots__ = ("session", "visitor")

    def __init__(self, session: SessionState, visitor: VisitorState) -> None:
        self.session, self.visitor = session, visitor

    def get(self, name: str) -> Any:
        context = CONTEXT.get(name)
        if context is not None:
            return getattr(self.session, context)
        if name.startswith("visitor."):
            return (self.visitor.traits or {}).get(name[8:])
        return None


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def held_out(seed: str, site_id: str, skill: str, visitor_id: str, share: float) -> bool:
    """Whether this visitor is in the skill's holdout: a stable hash, so a visitor stays in
    the same group on every visit, and the same seed gives the same groups."""
    if share <= 0:
        return False
    digest = hashlib.blake2b(f"{seed}\x1f{site_id}\x1f{skill}\x1f{visitor_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share
