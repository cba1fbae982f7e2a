"""Decisions as the read API shows them: the engine's `decision` events with the page's
answers and the visitors' outcomes, folded on read (engine/decisions.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from chatlens.engine.decisions import CONVERSATION_STARTS, DecisionStory, Row, fold_decisions, skill_report
from chatlens.engine.skills import SkillSet
from chatlens.store.base import EventQuery, EventStore
from chatlens.store.schema import event_data

MAX_ROWS = 500_000  # per report: beyond this the report says it is partial
_PAGE = 5000


class DecisionReader:
    def __init__(self, store: EventStore, flush: Callable[[], None], skills: SkillSet) -> None:
        self.store = store
        self.flush = flush  # loads journaled events, so a reader sees all it was promised
        self.skills = skills
        outcome_types = {t for o in skills.policy.outcomes for t in o.types}
        self._later_types = tuple(sorted({"offer", *CONVERSATION_STARTS, *outcome_types}))

    def _rows(self, query: EventQuery) -> Iterator[Row]:
        after = None
        for _ in range(MAX_ROWS // _PAGE):
            page = self.store.query_events(replace(query, after=after, limit=_PAGE))
            for r in page.rows:
                yield Row(r["event_id"], r["type"], r["ts"], r["visitor_id"], r["session_id"], event_data(r))
            if page.next_after is None:
                return
            after = page.next_after

    def for_session(self, site_id: str, session_id: str, now_us: int) -> list[DecisionStory]:
        """Blocking. The session's decisions, oldest first, each with its later stages."""
        self.flush()
        decisions = list(self._rows(EventQuery(site_id, types=("decision",), session_id=session_id)))
        if not decisions:
            return []
        window = self.skills.policy.attribution_window_us
        rows = list(decisions)
        for visitor_id in {d.visitor_id for d in decisions}:
            mine = [d.ts_us for d in decisions if d.visitor_id == visitor_id]
            rows += self._rows(
                EventQuery(site_id, types=self._later_types, visitor_id=visitor_id,
                           since_us=min(mine), until_us=max(mine) + window + 1)
            )
        return fold_decisions(rows, self.skills.policy, now_us)

    def report(self, site_id: str, since_us: int, until_us: int, now_us: int) -> list[dict[str, Any]]:
        """Blocking. Per skill: the funnel of decisions made in [since, until), blocked
        reasons, and the offered-vs-held-out lift, folded in Python. GET /v1/intents
        computes the same numbers in SQL (analytics/intents.py); this is the reference
        its tests compare it with (tests/analytics/test_intents_report.py)."""
        self.flush()
        decisions = list(self._rows(EventQuery(site_id, types=("decision",), since_us=since_us, until_us=until_us)))
        visitors = {d.visitor_id for d in decisions}
        later = (
            r
            for r in self._rows(EventQuery(site_id, types=self._later_types, since_us=since_us,
                                           until_us=until_us + self.skills.policy.attribution_window_us + 1))
            if r.visitor_id in visitors
        )
        stories = fold_decisions([*decisions, *later], self.skills.policy, now_us)
        return skill_report(stories, self.skills.names)

    def recent(self, site_id: str, since_us: int) -> list[dict[str, Any]]:
        """Blocking. Decisions and offer answers since `since_us`, oldest first, as the
        engine's `restore` takes them."""
        return [
            {"type": r.type, "ts_us": r.ts_us, "visitor_id": r.visitor_id, "session_id": r.session_id,
             "status": r.data.get("decision") or r.data.get("status"), "name": r.data.get("skill")}
            for r in self._rows(EventQuery(site_id, types=("decision", "offer"), since_us=since_us))
        ]
