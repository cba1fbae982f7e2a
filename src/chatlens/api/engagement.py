"""The engine's read and control API (secret key):

    GET /v1/sessions/{id}/decisions   every decision of a session, with its stages
    GET /v1/intents?from=&to=         per skill: funnel, blocked reasons, holdout lift
    PUT /v1/agents/availability       what the agents' side says: available, predicted wait
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from chatlens.analytics.intents import skill_numbers
from chatlens.analytics.scope import ReportQuery
from chatlens.api._http import error_body
from chatlens.api.auth import Unauthorized, require_site
from chatlens.api.events import iso, json_response
from chatlens.engine.decisions import DecisionStory
from chatlens.engine.engine import IntentEngine
from chatlens.ingest.validate import parse_timestamp
from chatlens.intents import DecisionReader
from chatlens.sites import SiteRegistry
from chatlens.store.base import Site

_DAY_US = 86_400_000_000


def _now_us() -> int:
    return time.time_ns() // 1000


class EngagementEndpoint:
    def __init__(self, reader: DecisionReader, engine: IntentEngine, sites: SiteRegistry) -> None:
        self.reader = reader
        self.engine = engine
        self.sites = sites

    def _site(self, request: Request) -> Site | Response:
        try:
            return require_site(request, self.sites)
        except Unauthorized as exc:
            return json_response(401, error_body("unauthorized", exc.message), {"WWW-Authenticate": "Bearer"})

    async def session_decisions(self, request: Request) -> Response:
        site = self._site(request)
        if isinstance(site, Response):
            return site
        session_id = request.path_params["session_id"]
        stories = await run_in_threadpool(self.reader.for_session, site.site_id, session_id, _now_us())
        return json_response(200, {"sessionId": session_id, "decisions": [story_json(s) for s in stories]})

    async def intents(self, request: Request) -> Response:
        site = self._site(request)
        if isinstance(site, Response):
            return site
        now = _now_us()
        bounds: dict[str, int] = {}
        for name, default in (("from", now - 30 * _DAY_US), ("to", now)):
            raw = request.query_params.get(name)
            value = default if raw is None else parse_timestamp(raw)
            if value is None:
                return json_response(
                    400, error_body("bad_parameter", f"{name}: must be ISO 8601 text or epoch milliseconds")
                )
            bounds[name] = value
        if bounds["from"] >= bounds["to"]:
            return json_response(400, error_body("bad_parameter", "from: must be before to"))
        skills = await run_in_threadpool(self._report, site.site_id, bounds["from"], bounds["to"], now)
        return json_response(200, {"from": iso(bounds["from"]), "to": iso(bounds["to"]), "skills": skills})

    def _report(self, site_id: str, since_us: int, until_us: int, now_us: int) -> list[dict[str, Any]]:
        """Blocking. Per skill, computed in SQL (analytics/intents.py) with the server's
        policy: the numbers `DecisionReader.report` folds in Python."""
        self.reader.flush()
        skills = self.reader.skills
        query = ReportQuery(site_id, since_us, until_us, now_us)
        return skill_numbers(self.reader.store, query, skills.policy, skills.names)[0]

    async def availability(self, request: Request) -> Response:
        site = self._site(request)
        if isinstance(site, Response):
            return site
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return json_response(400, error_body("malformed_json", f"body is not valid JSON: {exc}"))
        if not isinstance(body, dict):
            return json_response(400, error_body("bad_body", "body: must be a JSON object"))
        available = body.get("available")
        wait = body.get("predictedWaitSeconds")
        if available is not None and not isinstance(available, bool):
            return json_response(400, error_body("bad_body", "available: must be true, false or null"))
        if wait is not None and (isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait < 0):
            return json_response(400, error_body("bad_body", "predictedWaitSeconds: must be a number >= 0 or null"))
        self.engine.set_availability(site.site_id, available, None if wait is None else float(wait), _now_us())
        return json_response(200, {"available": available, "predictedWaitSeconds": wait})


def story_json(story: DecisionStory) -> dict[str, Any]:
    outcome = story.outcome
    return {
        "offerId": story.offer_id,
        "skill": story.skill,
        "decision": story.decision,
        "reason": story.reason,
        "status": story.status,
        "at": iso(story.at_us),
        "message": story.message,
        "evidence": story.evidence,
        "data": story.data,
        "stages": {stage: iso(at) for stage, at in sorted(story.stages.items(), key=lambda kv: kv[1])},
        "conversationId": story.conversation_id,
        "outcome": None if outcome is None else {"type": outcome.type, "eventId": outcome.event_id, "at": iso(outcome.ts_us)},
        "visitorId": story.visitor_id,
        "sessionId": story.session_id,
    }
