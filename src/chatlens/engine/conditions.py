"""Conditions of the skills language, compiled once into small predicates.

A condition tests one field of an event (or of the session's context) against a value:

    pageType = "product"                          # equals
    durationSeconds = { gte = 120 }               # eq ne in not_in gt gte lt lte
    url = { glob = "*/blog/*" }                   # glob, regex, contains, contains_any, exists
    productId = { ne = "$a.productId" }           # "$name.field": what step `as = "name"` captured
    query = { complement_of = "$item" }           # a search for something that goes with $item

Fields are the event's wire names (docs/events.md), or the session's context:
`page.url`, `page.pageType`, `page.productId`, `page.status`, `page.dwellSeconds`,
`cart.count`, `visitor.<trait>` (from `identify`). A comparison with a missing field is
false (only `exists = false` holds for it), so `ne` never matches an absent value.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Fields(Protocol):
    def get(self, name: str) -> Any: ...


# What a skill's earlier steps matched: (step, field, value) triples.
#
# A tuple rather than a dict of dicts: a session keeps one per half-way match, and a tuple
# of triples is a third of the size (docs/benchmarks.md: bytes per session). A plain tuple
# of strings and numbers, which the garbage collector stops tracking, unlike a subclass.
Captured = tuple[tuple[str, str, Any], ...]
NOTHING: Captured = ()


def captured_value(captured: Captured, step: str, field: str) -> Any:
    for s, f, v in captured:
        if s == step and f == field:
            return v
    return None


def nested(captured: Captured) -> dict[str, dict[str, Any]]:
    """{step: {field: value}}"""
    out: dict[str, dict[str, Any]] = {}
    for s, f, v in captured:
        out.setdefault(s, {})[f] = v
    return out

# (fields of the event being tested, what earlier steps captured)
Predicate = Callable[[Fields, Captured], bool]
# A field's name -> a function reading it from the Fields tested (default: `f.get(name)`;
# the engine's steps read their events more directly, engine/signal.py).
Getter = Callable[[str], Callable[[Any], Any]]

OPERATORS = (
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte",
    "glob", "regex", "contains", "contains_any", "exists", "complement_of",
)
NAMESPACES = ("page", "cart", "visitor")


class SkillError(Exception):
    """A skills file problem; the message names the key and the reason."""


@dataclass(frozen=True, slots=True)
class Ref:
    """`$name.field`: a field of the event that step `name` captured."""

    step: str
    field: str

    def resolve(self, captured: Captured) -> Any:
        return captured_value(captured, self.step, self.field)


def _value(raw: Any, where: str, refs: set[Ref]) -> Any:
    if isinstance(raw, str) and raw.startswith("$"):
        step, dot, field = raw[1:].partition(".")
        if not step or not dot or not field:
            raise SkillError(f"{where}: a reference looks like \"$a.productId\", got {raw!r}")
        ref = Ref(step, field)
        refs.add(ref)
        return ref
    return raw


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise SkillError(f"{where}: must be a number, got {raw!r}")
    return float(raw)


def _text(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def compile_field(
    name: str,
    spec: Any,
    where: str,
    refs: set[Ref],
    complements: Mapping[str, tuple[str, ...]],
    getter: Getter | None = None,
) -> Predicate:
    """One field's condition: a literal (equality) or a table of operators (all must hold)."""
    if not isinstance(spec, dict):
        spec = {"eq": spec}
    if not spec:
        raise SkillError(f"{where}: an empty condition; give a value or operators ({', '.join(OPERATORS)})")
    checks: list[Predicate] = []
    for op, raw in spec.items():
        at = f"{where}.{op}"
        if op not in OPERATORS:
            raise SkillError(f"{at}: unknown operator (known: {', '.join(OPERATORS)})")
        checks.append(_operator(name, op, raw, at, refs, complements, getter or _getter))
    if len(checks) == 1:
        return checks[0]
    return lambda f, c: all(check(f, c) for check in checks)


def _operator(
    name: str,
    op: str,
    raw: Any,
    at: str,
    refs: set[Ref],
    complements: Mapping[str, tuple[str, ...]],
    getter: Getter,
) -> Predicate:
    get = getter(name)
    if op == "exists":
        if not isinstance(raw, bool):
            raise SkillError(f"{at}: must be true or false")
        return lambda f, c: (get(f) is not None) is raw
    if op in ("eq", "ne"):
        value = _value(raw, at, refs)
        if isinstance(value, Ref):
            if op == "eq":
                return lambda f, c: (v := get(f)) is not None and v == value.resolve(c)
            return lambda f, c: (v := get(f)) is not None and v != value.resolve(c)
        if op == "eq":
            return lambda f, c: get(f) == value
        return lambda f, c: (v := get(f)) is not None and v != value
    if op in ("in", "not_in"):
        if not isinstance(raw, list) or not raw or not all(isinstance(v, (str, int, float)) for v in raw):
            raise SkillError(f"{at}: must be a non-empty list of strings or numbers")
        choices = frozenset(raw)
        if op == "in":
            return lambda f, c: get(f) in choices
        return lambda f, c: (v := get(f)) is not None and v not in choices
    if op in ("gt", "gte", "lt", "lte"):
        bound = _value(raw, at, refs)
        if not isinstance(bound, Ref):
            bound = _number(bound, at)
        compare = {
            "gt": lambda v, b: v > b,
            "gte": lambda v, b: v >= b,
            "lt": lambda v, b: v < b,
            "lte": lambda v, b: v <= b,
        }[op]

        def numeric(f: Fields, c: Captured) -> bool:
            v = get(f)
            b = bound.resolve(c) if isinstance(bound, Ref) else bound
            return isinstance(v, (int, float)) and isinstance(b, (int, float)) and compare(v, b)

        return numeric
    if op in ("glob", "regex"):
        if not isinstance(raw, str) or not raw:
            raise SkillError(f"{at}: must be a non-empty string")
        try:
            pattern = re.compile(fnmatch.translate(raw) if op == "glob" else raw, re.IGNORECASE)
        except re.error as exc:
            raise SkillError(f"{at}: not a valid regular expression: {exc}") from None
        search = pattern.match if op == "glob" else pattern.search
        return lambda f, c: isinstance(v := get(f), str) and search(v) is not None
    if op in ("contains", "contains_any"):
        words = [raw] if op == "contains" else raw
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
            raise SkillError(f"{at}: must be {'a non-empty string' if op == 'contains' else 'a list of strings'}")
        lowered = tuple(w.lower() for w in words)
        return lambda f, c: (v := _text(get(f))) is not None and any(w in v for w in lowered)
    # complement_of: the value mentions something that goes with the captured item
    if not isinstance(raw, str) or not raw.startswith("$") or "." in raw or len(raw) < 2:
        raise SkillError(f"{at}: must name a captured step alone, e.g. \"$item\"")
    ref = Ref(raw[1:], "*")
    refs.add(ref)
    if not complements:
        raise SkillError(f"{at}: the skill needs a complements table ([skill.complements])")

    cache: dict[str, tuple[str, ...]] = {}

    def terms_for(described: str) -> tuple[str, ...]:
        """The search terms that go with an item described so (one per product, cached)."""
        terms = cache.get(described)
        if terms is None:
            if len(cache) >= 4096:
                cache.clear()  # a bound, not a policy: the catalog's hot items come back at once
            terms = cache[described] = tuple(t for key, ts in complements.items() if key in described for t in ts)
        return terms

    def complement(f: Fields, c: Captured) -> bool:
        text = _text(get(f))
        if text is None:
            return False
        item = [(field, v) for s, field, v in c if s == ref.step]
        if not item:
            return False
        found = dict(item)
        described = " ".join(str(found.get(k) or "") for k in ("productName", "category", "productId")).lower()
        return any(term in text for term in terms_for(described))

    return complement


def _getter(name: str) -> Callable[[Fields], Any]:
    return lambda f: f.get(name)


def flatten_where(where: Any, at: str) -> dict[str, Any]:
    """A step's `where` table as field name -> condition. Namespace tables
    (`page = { pageType = "blog" }`) are the same as quoted dotted keys (`"page.pageType"`)."""
    if where is None:
        return {}
    if not isinstance(where, dict):
        raise SkillError(f"{at}: must be a table of field = condition")
    flat: dict[str, Any] = {}
    for key, spec in where.items():
        if key in NAMESPACES and isinstance(spec, dict) and not set(spec) & set(OPERATORS):
            for inner, inner_spec in spec.items():
                flat[f"{key}.{inner}"] = inner_spec
        else:
            flat[key] = spec
    return flat


def clauses(flat: Mapping[str, Any]) -> tuple[tuple[str, str, Any], ...]:
    """A checked `where` (flatten_where, compiled without error) as (field, operator,
    value) triples, all of which must hold: what the predicate tests, for readers that
    translate conditions (analytics/intents.py turns outcomes into SQL)."""
    out = []
    for name, spec in flat.items():
        for op, raw in (spec if isinstance(spec, dict) else {"eq": spec}).items():
            out.append((name, op, _value(raw, "", set()) if op != "complement_of" else raw))
    return tuple(out)


def compile_where(
    where: Any, at: str, refs: set[Ref], complements: Mapping[str, tuple[str, ...]], getter: Getter | None = None
) -> tuple[Predicate, tuple[str, ...]]:
    """A step's `where` table: every field's condition must hold (see flatten_where).
    Returns the predicate and the field names it reads."""
    flat = flatten_where(where, at)
    if not flat:
        return (lambda f, c: True), ()
    checks = [compile_field(name, spec, f"{at}.{name}", refs, complements, getter) for name, spec in flat.items()]
    if len(checks) == 1:
        return checks[0], tuple(flat)
    if len(checks) == 2:  # the common case, without a generator per test (the engine's hot loop)
        first, second = checks
        return (lambda f, c: first(f, c) and second(f, c)), tuple(flat)
    return (lambda f, c: all(check(f, c) for check in checks)), tuple(flat)
