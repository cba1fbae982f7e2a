"""The shape every report has: headline metrics and tables, each table with a chart hint.

The API returns `Report.as_dict()`, the dashboard draws any report from it without
knowing the report, and exports write its tables as CSV or Parquet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatlens.analytics.scope import ReportQuery, Scope
from chatlens.store.base import EventStore

# Column types: how a value reads (the dashboard formats by them).
COLUMN_TYPES = frozenset(
    {"string", "int", "number", "percent", "ms", "seconds", "date", "datetime", "hour", "weekday", "url", "bool"}
)
# Chart hints: line (first column is time), bar, funnel, heatmap (x, y, value), table.
CHARTS = frozenset({"line", "bar", "funnel", "heatmap", "table"})


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    type: str = "int"

    def __post_init__(self) -> None:
        assert self.type in COLUMN_TYPES, self.type


@dataclass(slots=True)
class Table:
    key: str
    title: str
    chart: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        assert self.chart in CHARTS, self.chart

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "chart": self.chart,
            "description": self.description,
            "columns": [{"key": c.key, "label": c.label, "type": c.type} for c in self.columns],
            "rows": self.rows,
        }


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str
    value: Any
    type: str = "int"  # a column type
    description: str = ""


@dataclass(slots=True)
class Report:
    name: str
    title: str
    query: ReportQuery
    metrics: list[Metric] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)

    def metric(self, key: str) -> Any:
        for metric in self.metrics:
            if metric.key == key:
                return metric.value
        raise KeyError(key)

    def as_dict(self, iso: Callable[[int], str]) -> dict[str, Any]:
        q = self.query
        return {
            "report": self.name,
            "title": self.title,
            "site": q.site_id,
            "from": iso(q.since_us),
            "to": iso(q.until_us),
            "interval": q.interval,
            "filters": q.filters.as_dict(),
            "breakdown": q.breakdown,
            "metrics": [
                {"key": m.key, "label": m.label, "value": m.value, "type": m.type, "description": m.description}
                for m in self.metrics
            ],
            "tables": [t.as_dict() for t in self.tables],
            "notes": self.notes,
        }


def run(store: EventStore, sql: str, scope: Scope, **params: Any) -> list[dict[str, Any]]:
    """Rows of `sql` as dicts; `$name` parameters come from the scope and `params`."""
    columns, rows = store.analytics(sql, used_params(sql, {**scope.params, **params}))
    return [dict(zip(columns, row)) for row in rows]


def used_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters `sql` names (DuckDB refuses extra ones)."""
    names = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
    return {k: v for k, v in params.items() if k in names}


def ratio(part: float | None, whole: float | None, scale: float = 100.0) -> float | None:
    """part / whole x scale, rounded to 2 places; None when the whole is 0."""
    if not whole or part is None:
        return None
    return round(part * scale / whole, 2)


def headline(
    report: Report,
    rows: Sequence[dict[str, Any]],
    metrics: Sequence[tuple[str, str, str, str]],
) -> None:
    """Add `metrics` ((key, label, type, description)) from the summary query's rows: the
    total row becomes the headline metrics and, with a breakdown, the per-segment rows a
    `breakdown` table."""
    total = next((r for r in rows if r["is_total"]), {})
    for key, label, kind, description in metrics:
        report.metrics.append(Metric(key, label, total.get(key, 0 if kind == "int" else None), kind, description))
    if report.query.breakdown is not None:
        segments = sorted((r for r in rows if not r["is_total"]), key=lambda r: (r["segment"] is None, str(r["segment"])))
        report.tables.insert(
            0,
            Table(
                "breakdown",
                f"By {report.query.breakdown}",
                "bar",
                [Column("segment", report.query.breakdown, "string"), *(Column(k, label, kind) for k, label, kind, _ in metrics)],
                [[r["segment"] if r["segment"] is not None else "(none)", *(r.get(k) for k, *_ in metrics)] for r in segments],
            ),
        )
