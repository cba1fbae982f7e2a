"""The ASGI application: wires store, writer, dedupe index and pipeline to the routes."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from chatlens._priority import threads_not_started_by_python, yield_to_event_loop
from chatlens.analytics import REPORTS
from chatlens.analytics.intents import intents_report
from chatlens.analytics.results import results_report
from chatlens.api.agentsight import AgentSightAPI
from chatlens.api.analytics import AnalyticsEndpoint
from chatlens.api.batch import BatchEndpoint, NoopEndpoint
from chatlens.api.conversations import ConversationsEndpoint
from chatlens.api.engagement import EngagementEndpoint
from chatlens.api.server_batch import ServerBatchEndpoint
from chatlens.api.visitors import VisitorsEndpoint
from chatlens.api.events import EventsEndpoint, json_response
from chatlens.api.openapi import build_openapi
from chatlens.api.sdk import SdkScript
from chatlens.config import Settings
from chatlens.conversations import ConversationReader
from chatlens.dashboard import Dashboard
from chatlens.dashboard.auth import DashboardAuth
from chatlens.demo import DemoShop
from chatlens.engine.engine import IntentEngine
from chatlens.engine.skills import load_skills
from chatlens.engine.webhook import WebhookSender
from chatlens.intents import DecisionReader
from chatlens.ingest.dedupe import DedupeIndex
from chatlens.ingest.pipeline import Ingestor
from chatlens.metrics import GcPauses, Metrics
from chatlens.model.session_results import DataKeys
from chatlens.sites import SiteRegistry
from chatlens.store.base import EventStore
from chatlens.store.journal import Journal
from chatlens.store.writer import WriteBuffer, recover
from chatlens.visitors import VisitorContextReader

log = logging.getLogger("chatlens")


@dataclass
class Services:
    settings: Settings
    store: EventStore
    metrics: Metrics
    sites: SiteRegistry
    writer: WriteBuffer
    dedupe: DedupeIndex
    ingestor: Ingestor
    conversations: ConversationReader
    engine: IntentEngine
    decisions: DecisionReader
    visitors: VisitorContextReader
    webhook: WebhookSender | None


def build_services(settings: Settings, store: EventStore) -> Services:
    metrics = Metrics()
    skills = load_skills(settings.skills_path)
    sites = SiteRegistry(store.list_sites())
    writer = WriteBuffer(
        store,
        Journal(settings.journal_path),
        metrics,
        max_pending_rows=settings.max_pending_rows,
        load_interval=settings.load_interval,
        load_rows=settings.load_rows,
    )
    dedupe = DedupeIndex(settings.dedupe_capacity, settled=writer.settled_rows)
    visitors = VisitorContextReader(store, writer.flush)
    webhook = None
    if settings.webhook_url and settings.webhook_secret:
        webhook = WebhookSender(settings.webhook_url, settings.webhook_secret, metrics=metrics)
    engine = IntentEngine(skills, notify=_webhook_notifier(webhook, visitors))
    ingestor = Ingestor(settings, sites, store, writer, dedupe, metrics, engine)
    conversations = ConversationReader(store, writer.flush, DataKeys(settings.data_keys))
    decisions = DecisionReader(store, writer.flush, skills)
    return Services(
        settings, store, metrics, sites, writer, dedupe, ingestor, conversations, engine, decisions, visitors, webhook
    )


def _webhook_notifier(
    webhook: WebhookSender | None, visitors: VisitorContextReader
) -> Callable[[str, dict[str, Any]], None] | None:
    """Offers and conversation starts go to the webhook with the visitor's context, read
    from the store when the webhook is sent (never on the request path)."""
    if webhook is None:
        return None

    def notify(kind: str, data: dict[str, Any]) -> None:
        site_id, visitor_id = data["siteId"], data["visitorId"]
        webhook.send(kind, data, context=lambda: visitors.get(site_id, visitor_id))

    return notify


def _restore_engine(services: Services) -> None:
    """Caps, cooldowns and opt-outs survive a restart: read back recent decisions."""
    now = time.time_ns() // 1000
    since = now - max(services.engine.policy.visitor_cooldown_us, _RESTORE_US)
    for site in services.store.list_sites():
        services.engine.restore(site.site_id, services.decisions.recent(site.site_id, since), now)


_RESTORE_US = 30 * 86_400_000_000  # opt-outs are remembered this long across restarts


def create_app(settings: Settings, store: EventStore) -> ASGIApp:
    """The server app. It owns `store` from now on and closes it at shutdown."""
    services = build_services(settings, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Rows acknowledged before a crash but not yet loaded are in the journal: load them
        # first. Then remember recent ids, so that a retry of an event stored before the
        # crash is still recognized as a duplicate.
        recovered = recover(services.writer.journal, store)
        if recovered:
            log.info("recovered %d journaled events into the store", recovered)
        keys = store.recent_event_keys(settings.dedupe_capacity + 1)
        complete = len(keys) <= settings.dedupe_capacity
        services.dedupe.preload(keys[: settings.dedupe_capacity], complete=complete)
        _restore_engine(services)
        services.writer.start()
        if settings.background_priority == "idle":
            writer = services.writer
            changed = yield_to_event_loop(
                bulk=[writer.loader_thread_id, *threads_not_started_by_python()], helpers=[writer.journal_thread_id]
            )
            if changed:
                log.info("the event loop goes first: database loads use idle CPU time (%d threads changed)", changed)
        gc_pauses = GcPauses(services.metrics)
        gc_pauses.start()
        if services.webhook is not None:
            services.webhook.start()
        try:
            yield
        finally:
            gc_pauses.stop()
            if services.webhook is not None:
                await services.webhook.stop()
            services.writer.stop()  # journals and loads whatever is still queued
            services.writer.journal.close()
            store.close()

    async def healthz(request: Request) -> Response:
        return json_response(200, {"status": "ok", "write_queue_depth": services.writer.depth})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(services.metrics.render(), media_type="text/plain; version=0.0.4")

    sdk = SdkScript.load()

    openapi = build_openapi()

    async def openapi_json(request: Request) -> Response:
        return json_response(200, openapi)

    batch = BatchEndpoint(services.ingestor)
    # The ingest routes are dispatched before Starlette's middleware (see Dispatcher);
    # they are listed here too so that the router knows them.
    direct: dict[str, ASGIApp] = {"/v1/batch": batch}
    conversations = ConversationsEndpoint(services.conversations, services.sites)
    server_batch = ServerBatchEndpoint(services.ingestor)
    visitors = VisitorsEndpoint(services.visitors, services.sites)
    engagement = EngagementEndpoint(services.decisions, services.engine, services.sites)
    auth = DashboardAuth(services.sites, store.server_secret("dashboard"), settings.admin_password)
    reports = {
        **REPORTS,  # the two that depend on the server's configuration, bound to it:
        "results": functools.partial(results_report, data_keys=services.conversations.data_keys),
        "intents": functools.partial(intents_report, policy=services.engine.policy, skills=services.decisions.skills.names),
    }
    analytics = AnalyticsEndpoint(store, services.sites, auth, services.writer.flush, reports)
    routes = [
        Route("/v1/batch", batch, methods=["POST", "OPTIONS"]),
        Route("/v1/server/batch", server_batch.handle, methods=["POST"]),
        Route("/v1/conversations", conversations.list, methods=["GET"]),
        Route("/v1/conversations/{conversation_id:path}/logs", server_batch.logs, methods=["POST"]),
        Route("/v1/conversations/{conversation_id:path}", conversations.get, methods=["GET"]),
        *AgentSightAPI(services.ingestor).routes(),
        Route("/v1/visitors/{visitor_id:path}/context", visitors.context, methods=["GET"]),
        Route("/v1/sessions/{session_id:path}/decisions", engagement.session_decisions, methods=["GET"]),
        Route("/v1/intents", engagement.intents, methods=["GET"]),
        Route("/v1/agents/availability", engagement.availability, methods=["PUT"]),
        Route("/v1/analytics", analytics.index, methods=["GET"]),
        Route("/v1/analytics/{report}", analytics.report, methods=["GET"]),
        Route("/v1/export/events", analytics.events, methods=["GET"]),
        *DemoShop(services.sites).routes(),
        *Dashboard(auth, trust_proxy_headers=settings.trust_proxy_headers).routes(),
        Route("/v1/events", EventsEndpoint(store, services.sites, services.writer.flush).handle, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/sdk.js", sdk.serve, methods=["GET", "HEAD"]),
    ]
    if settings.noop_endpoint:
        noop = NoopEndpoint(settings.max_body_bytes)
        direct["/v1/noop"] = noop
        routes.append(Route("/v1/noop", noop, methods=["POST"]))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    return Dispatcher(app, direct, services.metrics, {r.path for r in routes})


class Dispatcher:
    """The outermost ASGI app: times every request (`chatlens_http_request_duration_seconds`)
    and hands the ingest routes straight to their endpoint.

    Those endpoints are raw ASGI, answer every error themselves and are the hot path;
    Starlette's exception middlewares would cost them ~10% of a request for nothing.
    Everything else goes through Starlette.
    """

    def __init__(
        self, app: Starlette, direct: dict[str, ASGIApp], metrics: Metrics, paths: set[str]
    ) -> None:
        self.app = app
        self.direct = direct
        self.paths = paths
        self.state = app.state
        self._histograms = {
            path: metrics.histogram("chatlens_http_request_duration_seconds", "HTTP request latency", route=path)
            for path in (*paths, "other")
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        try:
            await self.direct.get(path, self.app)(scope, receive, send)
        finally:
            histogram = self._histograms.get(path) or self._histograms["other"]
            histogram.observe(time.perf_counter() - started)
