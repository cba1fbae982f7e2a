"""The skills file (TOML) read into skills and an engagement policy.

`skills.toml` beside this module is the shipped file and its own documentation; a user's
file replaces it whole (`chatlens serve --skills FILE`, `chatlens skills` prints the
shipped one to start from). Every problem is a `SkillError` naming the key.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chatlens.engine.conditions import (
    Captured, Getter, Predicate, Ref, SkillError, clauses, compile_where, flatten_where,
)
from chatlens.engine.signal import capturer, field_getter
from chatlens.model.events import EVENT_TYPES, SERVER_ONLY_TYPES

SHIPPED = Path(__file__).with_name("skills.toml")

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_CONTEXT_PREFIXES = ("page.", "cart.", "visitor.")
# When a step captures an item for complement_of, these are the fields it reads.
_ITEM_FIELDS = ("productName", "category", "productId")


@dataclass(frozen=True, slots=True)
class Step:
    types: frozenset[str]
    test: Predicate
    name: str | None  # `as`: later steps and the message refer to what it matched
    count: int  # it must match this many events before the skill moves on
    # A dwell step with `durationSeconds >= N`: the engine asks the page to check in at N s.
    dwell_seconds: float | None
    # A named step: its event -> the (step, field, value) triples of the fields that
    # later steps or the message use (engine/signal.py)
    capture: Callable[[Any], Captured] | None = None


@dataclass(frozen=True, slots=True)
class Skill:
    index: int
    name: str
    description: str
    priority: int  # 1 is the highest
    message: str
    within_us: int
    steps: tuple[Step, ...]
    captures: dict[str, tuple[str, ...]]  # step name -> the fields of its event kept
    holdout: float

    def render(self, captured: dict[str, dict[str, Any]], context: Any) -> str:
        """The message with `{a.productId}` filled in; `{x|y}` takes the first that is set."""

        def fill(match: re.Match[str]) -> str:
            for choice in match.group(1).split("|"):
                choice = choice.strip()
                step, _, name = choice.partition(".")
                if step in self.captures:
                    value = captured.get(step, {}).get(name)
                elif choice.startswith(_CONTEXT_PREFIXES):
                    value = context.get(choice)
                else:
                    return choice  # a literal fallback: {f.category|this category}
                if value not in (None, ""):
                    return str(value)
            return ""

        return _TEMPLATE.sub(fill, self.message)


@dataclass(frozen=True, slots=True)
class Outcome:
    types: frozenset[str]
    test: Predicate
    clauses: tuple[tuple[str, str, Any], ...] = ()  # what `test` tests: (field, operator, value), all hold


@dataclass(frozen=True, slots=True)
class Policy:
    max_offers_per_session: int = 1
    visitor_cooldown_us: int = 86_400_000_000
    quiet_after_dismissal_us: int = 1_800_000_000
    offer_ttl_us: int = 120_000_000
    holdout: float = 0.10
    seed: str = "chatlens"
    attribution_window_us: int = 86_400_000_000
    max_predicted_wait_s: float | None = 180.0
    outcomes: tuple[Outcome, ...] = ()


@dataclass(frozen=True, slots=True)
class SkillSet:
    policy: Policy
    skills: tuple[Skill, ...]
    by_type: dict[str, tuple[Skill, ...]] = field(default_factory=dict)  # event type -> skills with a step for it

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.skills)


def load_skills(path: Path | None = None) -> SkillSet:
    """The skills of `path`, or the shipped ones."""
    path = path or SHIPPED
    try:
        text = path.read_text()
    except OSError as exc:
        raise SkillError(f"{path}: cannot read it: {exc.strerror}") from None
    return parse_skills(text, str(path))


def parse_skills(text: str, source: str = "skills") -> SkillSet:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SkillError(f"{source}: not valid TOML: {exc}") from None
    try:
        return _skill_set(raw)
    except SkillError as exc:
        raise SkillError(f"{source}: {exc}") from None


def _skill_set(raw: dict[str, Any]) -> SkillSet:
    unknown = set(raw) - {"engagement", "skill"}
    if unknown:
        raise SkillError(f"[{sorted(unknown)[0]}]: unknown section (known: [engagement], [[skill]])")
    policy = _policy(raw.get("engagement", {}))
    entries = raw.get("skill", [])
    if not isinstance(entries, list):
        raise SkillError("skill: write each skill as [[skill]]")
    skills: list[Skill] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise SkillError("skill: write each skill as [[skill]]")
        if entry.get("enabled", True) is False:
            continue
        skill = _skill(entry, len(skills), policy)
        if any(s.name == skill.name for s in skills):
            raise SkillError(f"skill {skill.name!r}: two skills have this name")
        skills.append(skill)
    by_type: dict[str, list[Skill]] = {}
    for skill in skills:
        for step in skill.steps:
            for type_name in step.types:
                if skill not in by_type.setdefault(type_name, []):
                    by_type[type_name].append(skill)
    return SkillSet(policy, tuple(skills), {t: tuple(s) for t, s in by_type.items()})


def duration_us(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise SkillError(f"{where}: must be seconds or text such as \"10m\", got {value!r}")
    if isinstance(value, (int, float)) and value >= 0 and math.isfinite(value):
        return int(value * 1_000_000)
    if isinstance(value, str) and (m := _DURATION.fullmatch(value.strip())):
        return int(float(m.group(1)) * _UNITS[m.group(2)] * 1_000_000)
    raise SkillError(f"{where}: must be seconds or text such as \"90s\", \"10m\", \"24h\", got {value!r}")


def _share(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise SkillError(f"{where}: must be a share from 0 to below 1 (0.1 is 10%), got {value!r}")
    return float(value)


def _policy(raw: Any) -> Policy:
    if not isinstance(raw, dict):
        raise SkillError("engagement: must be a table")
    known = {
        "max_offers_per_session", "visitor_cooldown", "quiet_after_dismissal", "offer_ttl",
        "holdout", "seed", "attribution_window", "max_predicted_wait", "outcome",
    }
    for key in raw:
        if key not in known:
            raise SkillError(f"engagement.{key}: unknown setting (known: {', '.join(sorted(known))})")
    defaults = Policy()
    cap = raw.get("max_offers_per_session", defaults.max_offers_per_session)
    if type(cap) is not int or cap < 0:
        raise SkillError(f"engagement.max_offers_per_session: must be an integer >= 0, got {cap!r}")
    seed = raw.get("seed", defaults.seed)
    if not isinstance(seed, str):
        raise SkillError("engagement.seed: must be a string")
    wait = raw.get("max_predicted_wait", "3m")  # false: no limit
    outcomes = []
    for i, spec in enumerate(raw.get("outcome", [])):
        where = f"engagement.outcome[{i}]"
        types, test, _ = _matcher(spec, where, {}, allow={"type", "where"}, getter=None)
        outcomes.append(Outcome(types, test, clauses(flatten_where(spec.get("where"), where))))
    return Policy(
        max_offers_per_session=cap,
        visitor_cooldown_us=duration_us(raw.get("visitor_cooldown", "24h"), "engagement.visitor_cooldown"),
        quiet_after_dismissal_us=duration_us(
            raw.get("quiet_after_dismissal", "30m"), "engagement.quiet_after_dismissal"
        ),
        offer_ttl_us=duration_us(raw.get("offer_ttl", "2m"), "engagement.offer_ttl"),
        holdout=_share(raw.get("holdout", defaults.holdout), "engagement.holdout"),
        seed=seed,
        attribution_window_us=duration_us(raw.get("attribution_window", "24h"), "engagement.attribution_window"),
        max_predicted_wait_s=None if wait is False else duration_us(wait, "engagement.max_predicted_wait") / 1e6,
        outcomes=tuple(outcomes),
    )


def _matcher(
    spec: Any,
    where: str,
    complements: dict[str, tuple[str, ...]],
    allow: set[str],
    refs: set[Ref] | None = None,
    *,
    getter: Callable[[list[str]], Getter] | None,
) -> tuple[frozenset[str], Predicate, set[Ref]]:
    """A step's or an outcome's types and compiled conditions; `getter`, given the types,
    makes the field readers (None: the tested object's `get`)."""
    if not isinstance(spec, dict):
        raise SkillError(f"{where}: must be a table with a type")
    for key in spec:
        if key not in allow:
            raise SkillError(f"{where}.{key}: unknown key (known: {', '.join(sorted(allow))})")
    types = spec.get("type")
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        raise SkillError(f"{where}.type: required, an event type or a list of them")
    for type_name in types:
        if type_name not in EVENT_TYPES or type_name in SERVER_ONLY_TYPES:
            raise SkillError(f"{where}.type: unknown event type {type_name!r} (docs/events.md)")
    refs = set() if refs is None else refs
    test, _ = compile_where(
        spec.get("where"), f"{where}.where", refs, complements, getter(types) if getter is not None else None
    )
    return frozenset(types), test, refs


def _skill(entry: dict[str, Any], index: int, policy: Policy) -> Skill:
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SkillError(f"skill[{index}].name: required, lower_snake_case such as \"comparison\", got {name!r}")
    at = f"skill {name!r}"
    known = {"name", "description", "priority", "message", "within", "holdout", "step", "complements", "enabled"}
    for key in entry:
        if key not in known:
            raise SkillError(f"{at}: unknown key {key!r} (known: {', '.join(sorted(known))})")
    priority = entry.get("priority", 10)
    if type(priority) is not int or priority < 1:
        raise SkillError(f"{at}.priority: must be an integer >= 1 (1 is the highest), got {priority!r}")
    message = entry.get("message")
    if not isinstance(message, str) or not message.strip():
        raise SkillError(f"{at}.message: required, the text of the offer")
    complements_raw = entry.get("complements", {})
    if not isinstance(complements_raw, dict):
        raise SkillError(f"{at}.complements: must be a table of word = [words]")
    complements: dict[str, tuple[str, ...]] = {}
    for key, terms in complements_raw.items():
        if not isinstance(terms, list) or not terms or not all(isinstance(t, str) and t for t in terms):
            raise SkillError(f"{at}.complements.{key}: must be a non-empty list of words")
        complements[key.lower()] = tuple(t.lower() for t in terms)
    raw_steps = entry.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise SkillError(f"{at}.step: required, at least one [[skill.step]]")
    steps: list[Step] = []
    refs: set[Ref] = set()
    named: list[str] = []
    for i, raw_step in enumerate(raw_steps):
        where = f"{at}.step[{i}]"
        before = set(refs)
        types, test, refs = _matcher(
            raw_step, where, complements, {"type", "where", "as", "count"}, refs, getter=field_getter
        )
        for ref in refs - before:
            if ref.step not in named:
                raise SkillError(f"{where}: ${ref.step} must be captured (`as = \"{ref.step}\"`) by an earlier step")
        step_name = raw_step.get("as")
        if step_name is not None:
            if not isinstance(step_name, str) or not _NAME.fullmatch(step_name) or step_name in NAMESPACE_WORDS:
                raise SkillError(f"{where}.as: a lower_snake_case name other than page, cart, visitor")
            if step_name in named:
                raise SkillError(f"{where}.as: {step_name!r} is already taken by an earlier step")
            named.append(step_name)
        count = raw_step.get("count", 1)
        if type(count) is not int or not 1 <= count <= 100:
            raise SkillError(f"{where}.count: must be an integer from 1 to 100, got {count!r}")
        steps.append(Step(types, test, step_name, count, _dwell_seconds(raw_step)))
    captures: dict[str, set[str]] = {n: set() for n in named}
    for ref in refs:
        captures[ref.step].update(_ITEM_FIELDS if ref.field == "*" else (ref.field,))
    for choice in (c.strip() for m in _TEMPLATE.finditer(message) for c in m.group(1).split("|")):
        step, dot, field_name = choice.partition(".")
        if dot and step in captures:
            captures[step].add(field_name)
    sorted_captures = {n: tuple(sorted(f)) for n, f in captures.items()}
    steps = [
        replace(step, capture=capturer(step.name, sorted_captures[step.name], step.types))
        if step.name is not None else step
        for step in steps
    ]
    within = entry.get("within")
    return Skill(
        index=index,
        name=name,
        description=str(entry.get("description", "")),
        priority=priority,
        message=message.strip(),
        within_us=duration_us(within, f"{at}.within") if within is not None else 1_800_000_000,
        steps=tuple(steps),
        captures=sorted_captures,
        holdout=_share(entry["holdout"], f"{at}.holdout") if "holdout" in entry else policy.holdout,
    )


NAMESPACE_WORDS = ("page", "cart", "visitor")


def _dwell_seconds(raw_step: dict[str, Any]) -> float | None:
    """N when the step is a dwell with `durationSeconds >= N` (or > N)."""
    types = raw_step.get("type")
    if types != "dwell" and types != ["dwell"]:
        return None
    spec = (raw_step.get("where") or {}).get("durationSeconds")
    if isinstance(spec, dict):
        for op in ("gte", "gt"):
            bound = spec.get(op)
            if isinstance(bound, (int, float)) and not isinstance(bound, bool):
                return float(bound)
    return None
