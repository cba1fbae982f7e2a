"""Analytics: reports computed in SQL over the stored events (docs/analytics.md).

Every report is a function `(store, ReportQuery) -> Report`; the API, the dashboard, the
exports and the CLI all go through `REPORTS`.
"""

from __future__ import annotations

from collections.abc import Callable

from chatlens.analytics.behaviour import behaviour_report
from chatlens.analytics.chat import chat_report
from chatlens.analytics.engagement import engagement_report
from chatlens.analytics.intents import intents_report
from chatlens.analytics.live import live_report
from chatlens.analytics.report import Column, Metric, Report, Table
from chatlens.analytics.results import results_report
from chatlens.analytics.scope import BadParameter, Filters, ReportQuery, Scope, parse_report_query
from chatlens.store.base import EventStore

ReportFunction = Callable[[EventStore, ReportQuery], Report]

REPORTS: dict[str, ReportFunction] = {
    "behaviour": behaviour_report,
    "chat": chat_report,
    "engagement": engagement_report,
    "intents": intents_report,
    "live": live_report,
    "results": results_report,
}

__all__ = [
    "REPORTS",
    "BadParameter",
    "Column",
    "Filters",
    "Metric",
    "Report",
    "ReportFunction",
    "ReportQuery",
    "Scope",
    "Table",
    "parse_report_query",
]
