"""What a report looks at: a site, a time range, filters and an optional breakdown,
turned into SQL that every report shares.

Filters and breakdowns are properties of a *visit*: the session, or for conversations an
agent backend sent without one, the conversation. A report counts what happened in the
visits that match every filter, so a funnel filtered to mobile keeps the server-side
messages of mobile chats. The attributes are the whole visit's (not only of its events in
the range), from the store's visit rollup (store/schema.py):

- `device`: desktop, mobile or tablet, from the browser's user agent (or the
  conversation's `deviceType` when the backend gave one);
- `source`: the channel, as reference 003 means it: the conversation's `source`
  ("web", "mobile_app", ...); browser visits without one are "web";
- `language`: the browser's first Accept-Language tag, or the conversation's `language`;
  a filter `en` matches `en`, `en-US`, `en-GB`;
- `page_type`: the filter matches visits that viewed a page of that type; the breakdown
  groups visits by the type of their first page (the landing page);
- `url`: a glob (`*` and `?`) the visit viewed a page of; a pattern that starts with `/`
  is matched against the path and query (`/product/*`), otherwise against the whole URL;
- `trait.NAME`: the visitor's traits, from their latest `identify` event.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
DIMENSIONS = ("device", "source", "language", "page_type")
_TRAIT = re.compile(r"^trait\.([A-Za-z0-9_.-]{1,64})$")
MAX_VALUES = 50  # per filter
MAX_RANGE_DAYS = 3660


class BadParameter(ValueError):
    """A report parameter that cannot be used: `str()` names the field and the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Filters:
    device: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    page_type: tuple[str, ...] = ()
    url: str | None = None
    traits: tuple[tuple[str, str], ...] = ()  # (name, value), all must hold

    def __bool__(self) -> bool:
        return bool(self.device or self.source or self.language or self.page_type or self.url or self.traits)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: list(getattr(self, k)) for k in DIMENSIONS if getattr(self, k)}
        if self.url:
            out["url"] = self.url
        for name, value in self.traits:
            out[f"trait.{name}"] = value
        return out


@dataclass(frozen=True, slots=True)
class ReportQuery:
    site_id: str
    since_us: int  # inclusive, on the skew-corrected time `ts`
    until_us: int  # exclusive
    now_us: int
    filters: Filters = field(default_factory=Filters)
    breakdown: str | None = None  # a dimension or trait.NAME
    interval: str = "day"  # time-series buckets: hour or day
    limit: int = 20  # rows of "top" tables

    @property
    def interval_us(self) -> int:
        return HOUR_US if self.interval == "hour" else DAY_US


def now_us() -> int:
    return time.time_ns() // 1000


def parse_report_query(
    site_id: str,
    params: Mapping[str, str],
    parse_time: Any,
    now: int | None = None,
) -> ReportQuery:
    """A ReportQuery from query-string parameters (the API and the CLI share this).
    `parse_time` turns ISO 8601 text or epoch milliseconds into us, or None."""
    now = now_us() if now is None else now
    bounds: dict[str, int] = {}
    for name, default in (("from", now - 30 * DAY_US), ("to", now)):
        raw = params.get(name)
        value = default if raw in (None, "") else parse_time(raw)
        if value is None:
            raise BadParameter(name, "must be ISO 8601 text (2026-11-01 or 2026-11-01T12:00:00Z) or epoch milliseconds")
        bounds[name] = value
    if bounds["from"] >= bounds["to"]:
        raise BadParameter("from", "must be before to")
    if bounds["to"] - bounds["from"] > MAX_RANGE_DAYS * DAY_US:
        raise BadParameter("from", f"the range may span at most {MAX_RANGE_DAYS} days")

    def values(name: str) -> tuple[str, ...]:
        raw = params.get(name)
        if raw is None or raw == "":
            return ()
        items = tuple(v.strip() for v in raw.split(",") if v.strip())
        if len(items) > MAX_VALUES:
            raise BadParameter(name, f"at most {MAX_VALUES} values")
        return items

    url = params.get("url") or None
    if url is not None and len(url) > 2000:
        raise BadParameter("url", "a pattern of at most 2000 characters")
    traits: list[tuple[str, str]] = []
    for key, value in params.items():
        if key.startswith("trait."):
            match = _TRAIT.match(key)
            if match is None:
                raise BadParameter(key, "trait names are letters, digits, '_', '-' or '.' (at most 64)")
            traits.append((match.group(1), value))
    breakdown = params.get("breakdown") or None
    if breakdown is not None and breakdown not in DIMENSIONS and not _TRAIT.match(breakdown):
        raise BadParameter("breakdown", f"must be one of {', '.join(DIMENSIONS)} or trait.NAME")
    interval = params.get("interval") or ("hour" if bounds["to"] - bounds["from"] <= 2 * DAY_US else "day")
    if interval not in ("hour", "day"):
        raise BadParameter("interval", "must be hour or day")
    if interval == "hour" and bounds["to"] - bounds["from"] > 31 * DAY_US:
        raise BadParameter("interval", "hour buckets need a range of at most 31 days")
    raw_limit = params.get("limit") or "20"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise BadParameter("limit", "must be an integer from 1 to 1000")
    return ReportQuery(
        site_id=site_id,
        since_us=bounds["from"],
        until_us=bounds["to"],
        now_us=now,
        filters=Filters(
            device=values("device"),
            source=values("source"),
            language=values("language"),
            page_type=values("page_type"),
            url=url,
            traits=tuple(sorted(traits)),
        ),
        breakdown=breakdown,
        interval=interval,
        limit=int(raw_limit),
    )


def sql_list(names: Iterable[str]) -> str:
    """SQL: a parenthesized list of string literals, for `IN`."""
    return "(" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + ")"


def type_in(a: str, types: Iterable[str]) -> str:
    """SQL: event `a`'s type is one of `types` (names of the fixed vocabulary). Written as
    two IN lists: DuckDB (2.0) then filters inside the scan, where one list of four names
    is tested on every row after it, and five or more become a join over every row (two to
    three times slower on 10M events)."""
    names = sorted(types)
    if len(names) == 1:
        return f"{a}.type = {sql_list(names)}"
    half = (len(names) + 1) // 2
    return f"({a}.type IN {sql_list(names[:half])} OR {a}.type IN {sql_list(names[half:])})"


# A visit's attributes, from its row of the store's visit rollup (store/schema.py).
ATTRIBUTES = {
    "device": "coalesce(r.device.v, r.conversation_device.v)",
    "source": "coalesce(r.conversation_source.v, CASE WHEN r.device IS NOT NULL THEN 'web' END)",
    "language": "coalesce(r.language.v, r.conversation_language.v)",
    "page_type": "r.landing_page_type.v",  # as a breakdown: the landing page's type
}


class Scope:
    """The SQL a report builds on. Use as

        f"{scope.with_()} SELECT ... FROM events e {scope.join('e')} WHERE {scope.where('e')}"

    `where` keeps the site's events in the range and, with filters, those of matching
    visits; `join` (only with a breakdown) adds `v.segment`, the visit's breakdown value.
    The visits and their attributes come from the store's visit rollup (one row per visit,
    over all its events), so a filter costs a read of the visits, not of every event.
    All values travel as `$name` parameters in `params`."""

    def __init__(self, query: ReportQuery) -> None:
        self.query = query
        self.params: dict[str, Any] = {"site": query.site_id, "since": query.since_us, "until": query.until_us}
        self._filters: list[str] = []
        self._traits = False
        self._url = bool(query.filters.url)
        f = query.filters
        for name in ("device", "source"):
            values = getattr(f, name)
            if values:
                self.params[f"f_{name}"] = list(values)
                self._filters.append(f"list_contains($f_{name}::VARCHAR[], {ATTRIBUTES[name]})")
        if f.language:
            language, clauses = ATTRIBUTES["language"], []
            for i, value in enumerate(f.language):
                self.params[f"f_language_{i}"] = value.lower()
                clauses.append(f"lower({language}) = $f_language_{i} OR lower({language}) LIKE $f_language_{i} || '-%'")
            self._filters.append("(" + " OR ".join(clauses) + ")")
        if f.page_type:
            # one list_contains per value: list_has_any cost 5 times as much (35 against 7
            # ms over 627k visits), and a report may test each visit several times
            clauses = []
            for i, value in enumerate(f.page_type):
                self.params[f"f_page_type_{i}"] = value
                clauses.append(f"list_contains(r.page_types, $f_page_type_{i}::VARCHAR)")
            self._filters.append("(" + " OR ".join(clauses) + ")")
        if f.url:
            # URLs are not rolled up: the visits that viewed a matching page in the range.
            self.params["f_url"] = f.url
            page_views = f"FROM events WHERE {self.in_range()} AND type = 'page_view'"
            if f.url.startswith("/"):
                # The path and query: the regular expression runs once per distinct URL
                # of the range (DuckDB cannot push the test below a list aggregate; below
                # DISTINCT it ran on each of 3.1M page views: 320 ms against 77).
                matching = (f"url IN (SELECT url FROM (SELECT unnest(list(DISTINCT url)) AS url {page_views}) "
                            "WHERE regexp_replace(url, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', '') GLOB $f_url)")
            else:
                matching = "url GLOB $f_url"
            # each visit once: every test of the filter builds its hash table from these
            # (behaviour tests it three times; 1.6M matching page views, 499k visits)
            self._filters.append(f"r.visit_key IN (SELECT DISTINCT visit_key {page_views} AND {matching})")
        for i, (name, value) in enumerate(f.traits):
            self._traits = True
            self.params[f"f_trait_name_{i}"] = name
            self.params[f"f_trait_value_{i}"] = value
            self._filters.append(f"json_extract_string(t.traits, '$.' || $f_trait_name_{i}) = $f_trait_value_{i}")
        self.segmented = query.breakdown is not None
        if query.breakdown is not None:
            if query.breakdown in ATTRIBUTES:
                self._segment = ATTRIBUTES[query.breakdown]
            else:
                self._traits = True
                self.params["b_trait"] = query.breakdown[len("trait."):]
                self._segment = "json_extract_string(t.traits, '$.' || $b_trait)"

    @property
    def needs_visits(self) -> bool:
        return bool(self._filters) or self.segmented

    @property
    def filters_on_row(self) -> bool:
        """There are filters, all read off a visit rollup row alone (no traits, no URL:
        testing a row costs next to nothing)."""
        return bool(self._filters) and not self._traits and not self._url

    def in_range(self, alias: str = "", ts: str = "ts") -> str:
        a = f"{alias}." if alias else ""
        return f"{a}site_id = $site AND {self.during(a + ts)}"

    @staticmethod
    def during(column: str) -> str:
        """SQL: the time `column` is in the range."""
        return f"{column} >= make_timestamptz($since::BIGINT) AND {column} < make_timestamptz($until::BIGINT)"

    def join_visit(self, visit: str, *, segmented: bool = True) -> str:
        """For rows of a rollup whose visit is `visit`: `JOIN visits v` when filters or a
        breakdown need it (`v.segment` then available, see `segment_column`).
        `segmented=False`: the rows are not split by segment, only filters need it."""
        needed = self.needs_visits if segmented else bool(self._filters)
        return f"JOIN visits v ON v.visit_key = {visit} " if needed else ""

    def on_visit_rollup(self) -> tuple[str, str, str]:
        """For a query over `visit_rollup r` itself: (join, condition, segment), to use as
        `FROM visit_rollup r {join}WHERE ...{condition}` and `{segment} AS seg`. The
        filters and the breakdown are read off the row (no join to `visits`, which is
        made of the same rows) unless they need the visitor's traits."""
        if self._traits:
            return self.join_visit("r.visit_key"), "", self.segment_column()
        condition = "".join(f" AND {f}" for f in self._filters)
        return "", condition, self._segment if self.segmented else "NULL::VARCHAR"

    def with_(self, *more: str, among: str | None = None) -> str:
        """The WITH clause: the matching visits with their breakdown value (when filters
        or a breakdown need them) and any CTEs of the report's own (`name AS (...)`).
        `among`: a query of the only visit ids the report will look up, when it knows them
        beforehand (fewer visits to find segments for); it must not name the CTEs."""
        ctes = list(more)
        if self.needs_visits:
            segment = self._segment if self.segmented else "NULL::VARCHAR"
            traits_join = ""
            if self._traits:
                traits_join = (
                    " LEFT JOIN (SELECT visitor_key, arg_max((properties->'traits'), ts) AS traits FROM events "
                    "WHERE site_id = $site AND type = 'identify' AND (properties->'traits') IS NOT NULL GROUP BY visitor_key) t "
                    "USING (visitor_key)"
                )
            where = " AND ".join(
                ["r.site_id = $site", "r.first_ts < make_timestamptz($until::BIGINT)",
                 "r.last_ts >= make_timestamptz($since::BIGINT)", *self._filters,
                 *([f"r.visit_key IN ({among})"] if among else [])]
            )
            ctes.insert(
                0, f"visits AS MATERIALIZED (SELECT r.visit_key, {segment} AS segment FROM visit_rollup r{traits_join} WHERE {where})"
            )
        return ("WITH " + ", ".join(ctes)) if ctes else ""

    def where(self, alias: str = "e", *, joined: bool = True, visit: str | None = None, ts: str = "ts") -> str:
        """The events of `alias` in the range and, with filters, of matching visits.
        With a breakdown the filters are left to `join()`; `joined=False` says the query
        does not join, so the filters are applied here anyway. `visit`: the rows'
        visit key, when not the column `visit_key` (a rollup's field, say); `ts`: the
        rows' time, when not the column `ts` (a rollup's)."""
        sql = self.in_range(alias, ts)
        if self._filters and not (self.segmented and joined):
            sql += f" AND {visit or alias + '.visit_key'} IN (SELECT visit_key FROM visits)"
        return sql

    def join(self, alias: str = "e", *, visit: str | None = None) -> str:
        """With a breakdown: `JOIN visits v` (filters applied, `v.segment` available)."""
        if not self.segmented:
            return ""
        return f"JOIN visits v ON v.visit_key = {visit or alias + '.visit_key'}"

    def segment_column(self) -> str:
        """The breakdown value of a row of `events e` joined by `join()` (NULL without one)."""
        return "v.segment" if self.segmented else "NULL::VARCHAR"

    def segment(self, expr: str = "v.segment") -> str:
        """Select-list columns `segment, is_total` for rows grouped by `group()`: with a
        breakdown, one row per segment plus a total row (`is_total`); without one, every
        row is a total. `expr` is where the segment value is (a column of a CTE, say)."""
        if not self.segmented:
            return "NULL::VARCHAR AS segment, true AS is_total"
        return f"{expr} AS segment, grouping({expr}) = 1 AS is_total"

    def group(self, *keys: str, expr: str = "v.segment") -> str:
        """GROUP BY `keys`, per segment and in total when there is a breakdown."""
        if not self.segmented:
            return f"GROUP BY {', '.join(keys)}" if keys else ""
        inner = ", ".join((expr, *keys))
        return f"GROUP BY GROUPING SETS (({inner}), ({', '.join(keys)}))"
