"""Exports: report tables and raw events as CSV or Parquet.

CSV cells that a spreadsheet would read as a formula (they start with =, +, -, @, a tab or
a carriage return) are neutralized with a leading apostrophe, as OWASP recommends: a
visitor's search query or a product name must never run in the analyst's spreadsheet.
Numbers are written as numbers. Parquet keeps values exactly (it has no formulas).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson

from chatlens._time import iso
from chatlens.analytics.report import Column, Report, Table, used_params
from chatlens.analytics.scope import BadParameter, ReportQuery, Scope
from chatlens.store.base import EventStore
from chatlens.store.schema import EVENT_COLUMNS

FORMATS = ("csv", "parquet")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SQL_TYPES = {"int": "BIGINT", "number": "DOUBLE", "percent": "DOUBLE", "ms": "DOUBLE", "seconds": "DOUBLE",
              "hour": "INTEGER", "weekday": "INTEGER", "bool": "BOOLEAN"}
# Raw events as exported: every stored column but the IP hash, times as ISO 8601 text.
_EXPORTED = [(n, t) for n, t in EVENT_COLUMNS if n != "ip_hash"]


def neutralize(value: Any) -> Any:
    """A CSV cell that cannot be read as a spreadsheet formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def neutralize_sql(column: str) -> str:
    """The same rule in SQL, for exports DuckDB writes itself."""
    return f"CASE WHEN left({column}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || {column} ELSE {column} END"


def metrics_table(report: Report) -> Table:
    return Table(
        "metrics",
        report.title,
        "table",
        [Column("key", "Metric", "string"), Column("label", "Label", "string"), Column("value", "Value", "number")],
        [[m.key, m.label, m.value] for m in report.metrics],
    )


def pick_table(report: Report, key: str | None) -> Table:
    """The table `key` of a report; `metrics` (or none) is its headline metrics."""
    if key in (None, "", "metrics"):
        return metrics_table(report)
    return report.table(key)  # KeyError: the caller names the valid keys


def table_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralize(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow([neutralize(v) for v in row])
    return out.getvalue().encode()


def table_parquet(table: Table) -> bytes:
    """A table as Parquet bytes, with a column type per column type."""
    con = duckdb.connect()
    try:
        columns = ", ".join(f'"{c.key}" {_SQL_TYPES.get(c.type, "VARCHAR")}' for c in table.columns)
        con.execute(f"CREATE TABLE t ({columns})")
        if table.rows:
            marks = ", ".join("?" for _ in table.columns)
            con.executemany(f"INSERT INTO t VALUES ({marks})", [_cells(row, table.columns) for row in table.rows])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "table.parquet"
            con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
            return path.read_bytes()
    finally:
        con.close()


def _cells(row: Sequence[Any], columns: Sequence[Column]) -> list[Any]:
    return [v if v is None or c.type in _SQL_TYPES else str(v) for v, c in zip(row, columns)]


def events_sql(scope: Scope, types: Sequence[str], fmt: str) -> str:
    """The raw events a scope selects, oldest first, as an export writes them."""
    columns = []
    for name, sql_type in _EXPORTED:
        if sql_type == "TIMESTAMPTZ":
            expr = f"strftime(e.{name}, '%Y-%m-%dT%H:%M:%S.%fZ')"
        elif sql_type in ("UUID", "JSON"):
            expr = f"e.{name}::VARCHAR"
        else:
            expr = f"e.{name}"
        if fmt == "csv" and sql_type in ("VARCHAR", "JSON"):
            expr = neutralize_sql(expr)
        columns.append(f"{expr} AS {name}")
    where = scope.where("e")
    if types:
        scope.params["export_types"] = list(types)
        where += " AND e.type IN (SELECT unnest($export_types::VARCHAR[]))"
    return f"{scope.with_()} SELECT {', '.join(columns)} FROM events e WHERE {where} ORDER BY e.ts, e.event_id"


def export_events(store: EventStore, scope: Scope, types: Sequence[str], fmt: str, path: Path) -> int:
    """Write the raw events to `path`; returns how many."""
    sql = events_sql(scope, types, fmt)
    return store.export(sql, used_params(sql, scope.params), path, fmt)


def write_export(store: EventStore, query: ReportQuery, what: str, fmt: str, path: Path,
                 table: str | None = None, types: Sequence[str] = ()) -> int:
    """`chatlens export`: raw events (`what` = "events") or one table of a report
    (`what` = its name) to `path`, the same bytes the API would send; returns the rows.
    `fmt` json writes the whole report as the API's JSON."""
    if what == "events":
        if fmt not in FORMATS:
            raise BadParameter("format", "events export as csv or parquet")
        return export_events(store, Scope(query), types, fmt, path)
    from chatlens.analytics import REPORTS  # the registry imports this module

    if what not in REPORTS:
        raise BadParameter("report", f"{what!r} is not one of events, {', '.join(sorted(REPORTS))}")
    report = REPORTS[what](store, query)
    if fmt == "json":
        path.write_bytes(orjson.dumps(report.as_dict(iso), option=orjson.OPT_INDENT_2))
        return sum(len(t.rows) for t in report.tables)
    try:
        chosen = pick_table(report, table)
    except KeyError:
        keys = ", ".join(["metrics", *(t.key for t in report.tables)])
        raise BadParameter("table", f"{table!r} is not a table of {what} ({keys})") from None
    path.write_bytes(table_csv(chosen) if fmt == "csv" else table_parquet(chosen))
    return len(chosen.rows)

