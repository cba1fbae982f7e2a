"""A decision's whole story, computed when it is read from the stored events (pure).

    qualified -> blocked (reason) | held_out | offered
    offered -> shown -> accepted | dismissed | ignored (no answer within the offer's time)
    accepted -> conversation (a chat started in the same session)
    any qualified decision -> outcome (the first outcome event of the visitor within the
                              attribution window: what the holdout comparison counts)

Like conversations, nothing is updated in place: the `decision` event the engine wrote,
the `offer` events the page sent and the visitor's later events are folded on read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chatlens.engine.conditions import NOTHING
from chatlens.engine.skills import Outcome, Policy
from chatlens.engine.uplift import Lift

CONVERSATION_STARTS = frozenset({"chat.started", "CONTACT_STARTED", "conversation"})


@dataclass(slots=True)
class Row:
    """A stored event, as the fold needs it (`data`: its fields by wire name)."""

    event_id: str
    type: str
    ts_us: int
    visitor_id: str | None
    session_id: str | None
    data: dict[str, Any]

    def get(self, name: str) -> Any:
        return self.data.get(name)


@dataclass(slots=True)
class DecisionStory:
    offer_id: str
    skill: str
    decision: str  # offered | held_out | blocked
    reason: str | None
    at_us: int
    visitor_id: str | None
    session_id: str | None
    message: str
    evidence: list[str]
    data: dict[str, Any]
    stages: dict[str, int] = field(default_factory=dict)  # stage -> time (us)
    conversation_id: str | None = None
    outcome: Row | None = None

    @property
    def status(self) -> str:
        """The furthest stage reached."""
        for stage in ("outcome", "conversation", "accepted", "dismissed", "opted_out", "ignored", "shown"):
            if stage in self.stages:
                return stage
        return self.decision


def _is_outcome(row: Row, outcomes: Iterable[Outcome]) -> bool:
    return any(row.type in o.types and o.test(row, NOTHING) for o in outcomes)


def fold_decisions(rows: Iterable[Row], policy: Policy, now_us: int) -> list[DecisionStory]:
    """Every decision among `rows` with its later stages; `rows` must hold the visitors'
    offer, conversation and outcome events from each decision to the end of its window."""
    ordered = sorted(rows, key=lambda r: (r.ts_us, r.event_id))
    stories: dict[str, DecisionStory] = {}
    for row in ordered:
        if row.type == "decision":
            stories[row.data["offerId"]] = DecisionStory(
                offer_id=row.data["offerId"],
                skill=row.data.get("skill", ""),
                decision=row.data.get("decision", ""),
                reason=row.data.get("reason"),
                at_us=row.ts_us,
                visitor_id=row.visitor_id,
                session_id=row.session_id,
                message=row.data.get("message", ""),
                evidence=list(row.data.get("evidence") or []),
                data=row.data.get("data") or {},
            )
    if not stories:
        return []
    window = policy.attribution_window_us
    by_visitor: dict[str | None, list[DecisionStory]] = {}
    for story in stories.values():
        by_visitor.setdefault(story.visitor_id, []).append(story)
        if story.decision != "blocked":
            story.stages["qualified"] = story.at_us
            story.stages[story.decision] = story.at_us
    for row in ordered:
        if row.type == "offer":
            story = stories.get(row.data.get("offerId"))
            status = row.data.get("status")
            if story is not None and story.decision == "offered" and status and status not in story.stages:
                story.stages[status] = row.ts_us
            continue
        for story in by_visitor.get(row.visitor_id, ()):
            if not story.at_us <= row.ts_us <= story.at_us + window:
                continue
            if (
                row.type in CONVERSATION_STARTS
                and "accepted" in story.stages
                and story.conversation_id is None
                and row.session_id == story.session_id
            ):
                story.conversation_id = row.data.get("conversationId") or (row.data.get("metadata") or {}).get("id") or row.data.get("contactId")
                story.stages["conversation"] = row.ts_us
            if story.outcome is None and story.decision != "blocked" and _is_outcome(row, policy.outcomes):
                story.outcome = row
                story.stages["outcome"] = row.ts_us
    for story in stories.values():
        answered = {"accepted", "dismissed", "opted_out"} & set(story.stages)
        expires = story.at_us + policy.offer_ttl_us
        if story.decision == "offered" and not answered and now_us > expires:
            story.stages["ignored"] = expires
    return sorted(stories.values(), key=lambda s: (s.at_us, s.offer_id))


def _empty_entry(skill: str) -> dict[str, Any]:
    counts = ("qualified", "blocked", "offered", "heldOut", "shown", "accepted", "dismissed", "optedOut",
              "ignored", "conversations", "converted")
    return {"skill": skill, **dict.fromkeys(counts, 0), "blockedReasons": {}}


def skill_report(stories: Iterable[DecisionStory], skills: Iterable[str]) -> list[dict[str, Any]]:
    """Per skill: decisions by stage, blocked reasons, and the offered-vs-held-out lift
    (per visitor: a visitor's first offered or held-out decision for the skill counts)."""
    report = {name: _empty_entry(name) for name in skills}
    first: dict[tuple[str, str | None], DecisionStory] = {}
    for story in stories:
        entry = report.get(story.skill) or report.setdefault(story.skill, _empty_entry(story.skill))
        entry["qualified"] += 1
        if story.decision == "blocked":
            entry["blocked"] += 1
            reasons = entry["blockedReasons"]
            reasons[story.reason or "unknown"] = reasons.get(story.reason or "unknown", 0) + 1
            continue
        entry["offered" if story.decision == "offered" else "heldOut"] += 1
        for stage, key in (("shown", "shown"), ("accepted", "accepted"), ("dismissed", "dismissed"),
                           ("opted_out", "optedOut"), ("ignored", "ignored"), ("conversation", "conversations"), ("outcome", "converted")):
            if stage in story.stages:
                entry[key] += 1
        first.setdefault((story.skill, story.visitor_id), story)
    groups: dict[str, list[int]] = {}
    for (skill, _), story in first.items():
        counts = groups.setdefault(skill, [0, 0, 0, 0])
        offset = 0 if story.decision == "offered" else 2
        counts[offset] += 1
        counts[offset + 1] += story.outcome is not None
    for skill, entry in report.items():
        n1, c1, n0, c0 = groups.get(skill, [0, 0, 0, 0])
        entry["lift"] = Lift(n1, c1, n0, c0).as_json()
    return list(report.values())
