"""A conversation, computed from its events: lifecycle state, the 002 metadata block,
agent activity and the session result.

This is a pure fold (no I/O): the same events give the same conversation whatever order
they arrived in, because they are replayed in time order. docs/lifecycle.md is the prose
version of this module.

- The stages are reference 002's; the valid paths are its four scenarios (and their
  prefixes), plus a path that begins at `opened` (a widget reopened after closing starts a
  new interaction without a new `ready`). Anything else is kept and flagged in `anomalies`.
- Counters, timestamps and durations of the metadata block are computed from events.
  Facts only the client can know (the four flags, the form, error codes, a supervisor
  joining) are taken from what its `chat.*` events reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatlens.model.events import LIFECYCLE_STAGES, METADATA_FIELDS
from chatlens.model.session_results import DataKeys

# stage -> the stages that may follow it (None: the conversation has no stage yet).
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"ready", "opened"}),
    "ready": frozenset({"opened"}),
    "opened": frozenset({"submitted", "cancelled"}),
    "submitted": frozenset({"started", "rejected"}),
    "started": frozenset({"cancelled", "completed"}),
    "cancelled": frozenset({"closed"}),
    "completed": frozenset({"closed"}),
    "rejected": frozenset(),
    "closed": frozenset(),
}
TERMINAL = frozenset(stage for stage, nxt in TRANSITIONS.items() if stage and not nxt)

# Reference 002's four scenarios, the paths the state machine is built from.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "changed_mind": ("ready", "opened", "cancelled", "closed"),
    "gave_up_waiting": ("ready", "opened", "submitted", "started", "cancelled", "closed"),
    "failed_to_start": ("ready", "opened", "submitted", "rejected"),
    "completed": ("ready", "opened", "submitted", "started", "completed", "closed"),
}

_STAGE_ORDER = {stage: i for i, stage in enumerate(LIFECYCLE_STAGES)}
_FLAGS = ("proactive", "prefilled", "autoSubmitted", "coBrowseInitiated")
_AGENT_CONNECTED = "CONNECT_TO_AGENT"


@dataclass(frozen=True, slots=True)
class ConversationEvent:
    """One stored event of a conversation, as the fold needs it."""

    event_id: str
    type: str
    ts_us: int  # skew-corrected server time: the order of events
    client_ts_us: int  # the sender's clock: the metadata block's times (as in 002)
    received_us: int
    data: Mapping[str, Any]  # the event's own fields, by wire name
    visitor_id: str | None = None
    session_id: str | None = None


@dataclass(slots=True)
class Conversation:
    id: str
    state: str | None = None
    used: bool = False
    used_at: int | None = None  # us
    created_at: int = 0  # us, the first event
    updated_at: int = 0  # us, the last event
    visitor_id: str | None = None
    session_id: str | None = None
    customer_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # name, source, language, ...
    stages: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    buttons: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    ratings: list[dict[str, Any]] = field(default_factory=list)
    token_usage: dict[str, float] = field(default_factory=dict)
    session_logs: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None


def _sort_key(event: ConversationEvent) -> tuple[int, int, str]:
    # Stages stamped in the same microsecond are taken in lifecycle order.
    stage = event.type[5:] if event.type.startswith("chat.") else ""
    return (event.ts_us, _STAGE_ORDER.get(stage, len(_STAGE_ORDER)), event.event_id)


def fold(conversation_id: str, events: Iterable[ConversationEvent], data_keys: DataKeys) -> Conversation:
    ordered = sorted(events, key=_sort_key)
    conv = Conversation(id=conversation_id)
    if not ordered:
        return conv
    conv.created_at, conv.updated_at = ordered[0].ts_us, ordered[-1].ts_us
    late = _late_event_ids(ordered)
    block: dict[str, Any] = {f.name: False for f in METADATA_FIELDS}
    block["id"] = conversation_id
    stage_ms: dict[str, int] = {}
    errors: list[Any] = []
    counts = {"user": 0, "agent": 0, "system": 0, "files": 0, "agents": 0}
    agent_reached: int | None = None
    supervisor: int | None = None
    keys: list[tuple[str, int, dict[str, Any]]] = [("START", ordered[0].ts_us, {"derived": True})]

    for event in ordered:
        data = event.data
        kind = event.type
        conv.visitor_id = conv.visitor_id or event.visitor_id
        conv.session_id = conv.session_id or event.session_id
        if kind.startswith("chat."):
            stage = kind[5:]
            _advance(conv, event, stage, late)
            if conv.stages and conv.stages[-1]["event_id"] == event.event_id:
                stage_ms.setdefault(stage, event.client_ts_us // 1000)
            reported = data.get("metadata") or {}
            for flag in _FLAGS:
                if reported.get(flag) is True:
                    block[flag] = True
            if isinstance(reported.get("form"), dict):
                block["form"] = reported["form"]
            for code in reported.get("errors") or ():
                if code not in errors:
                    errors.append(code)
            sup = reported.get("supervisorReached")
            if type(sup) is int and sup > 0:
                supervisor = sup if supervisor is None else min(supervisor, sup)
        elif kind == "conversation":
            if data.get("used") is True:
                _mark_used(conv, event)
            conv.customer_id = data.get("customerId") or conv.customer_id
            for name in ("name", "source", "language", "deviceType", "environment"):
                if data.get(name) is not None:
                    conv.details[name] = data[name]
            if isinstance(data.get("metadata"), dict):
                conv.details.setdefault("properties", {}).update(data["metadata"])
        elif kind == "message":
            sender = data.get("sender", "user")
            counts[sender] = counts.get(sender, 0) + 1
            if sender == "user":
                _mark_used(conv, event)
            conv.messages.append(_item(event, "sender", "content", "metadata"))
        elif kind == _AGENT_CONNECTED:
            counts["agents"] += 1
            if agent_reached is None:
                agent_reached = event.client_ts_us // 1000
                keys.append(("CHAT_ATTENDED", event.ts_us, {"derived": True}))
        elif kind == "action":
            conv.actions.append(
                _item(event, "name", "startedAt", "endedAt", "durationMs", "tools", "response", "error", "metadata")
            )
        elif kind == "button":
            conv.buttons.append(_item(event, "event", "label", "value", "metadata"))
        elif kind == "attachment":
            counts["files"] += 1
            item = _item(event, "sender", "filename", "mimeType", "size", "sha256", "contentOmitted", "metadata")
            item["hasContent"] = "content" in data
            conv.attachments.append(item)
        elif kind == "token_usage":
            for name in ("promptTokens", "completionTokens", "totalTokens", "embeddingTokens"):
                value = data.get(name)
                if isinstance(value, (int, float)):
                    conv.token_usage[name] = conv.token_usage.get(name, 0) + value
        elif kind == "rating":
            conv.ratings.append(_item(event, "rateCode", "contentId", "comment"))
        elif kind == "session_log":
            keys.append((data["dataKey"], event.ts_us, _item(event, "logType", "value")))

    for stage, ms in stage_ms.items():
        if stage in block:  # 002 keeps no time for `ready` and `submitted`
            block[stage] = ms
    started = stage_ms.get("started")
    if counts["agents"]:
        block["numAgents"] = counts["agents"]
        block["agentReached"] = agent_reached
        if started is not None and agent_reached is not None and agent_reached >= started:
            block["waitingForAgent"] = agent_reached - started
    end = stage_ms.get("completed", stage_ms.get("cancelled"))
    if started is not None and end is not None and end >= started:
        block["elapsed"] = end - started
    for sender, name in (("user", "userMessages"), ("agent", "agentMessages"), ("system", "systemMessages")):
        if counts[sender]:
            block[name] = counts[sender]
    if counts["files"]:
        block["filesUploaded"] = counts["files"]
    if errors:
        block["errors"] = errors
    if supervisor is not None:
        block["supervisorReached"] = supervisor
    conv.metadata = block

    for name, ts, extra in keys:
        key = data_keys.get(name)
        conv.session_logs.append({"dataKey": name, "priority": key.priority, "time": ts, **extra})
    decided = data_keys.result(name for name, _, _ in keys)
    if decided is not None:
        conv.result = {"dataKey": decided.name, "priority": decided.priority, "path": decided.path}
    return conv


def _advance(conv: Conversation, event: ConversationEvent, stage: str, late: set[str]) -> None:
    current = conv.state
    if late and event.event_id in late:
        conv.anomalies.append(_anomaly(event, "late", current, stage))
    if stage in TRANSITIONS.get(current, frozenset()):
        conv.state = stage
        conv.stages.append({"stage": stage, "time": event.ts_us, "event_id": event.event_id})
        return
    if current in TERMINAL:
        reason = "after_end"
    elif any(s["stage"] == stage for s in conv.stages):
        reason = "repeated_stage"
    else:
        reason = "impossible_transition"
    conv.anomalies.append(_anomaly(event, reason, current, stage))


def _anomaly(event: ConversationEvent, reason: str, current: str | None, stage: str) -> dict[str, Any]:
    return {"event_id": event.event_id, "type": event.type, "reason": reason, "from": current, "to": stage, "time": event.ts_us}


def _late_event_ids(ordered: list[ConversationEvent]) -> set[str]:
    """Stage events that reached the server after an event that happened later."""
    late: set[str] = set()
    earliest_later = None
    for event in reversed(ordered):
        if not event.type.startswith("chat."):
            continue
        if earliest_later is not None and event.received_us > earliest_later:
            late.add(event.event_id)
        if earliest_later is None or event.received_us < earliest_later:
            earliest_later = event.received_us
    return late


def _mark_used(conv: Conversation, event: ConversationEvent) -> None:
    if not conv.used:
        conv.used, conv.used_at = True, event.ts_us


def _item(event: ConversationEvent, *names: str) -> dict[str, Any]:
    item: dict[str, Any] = {"id": event.event_id, "time": event.ts_us}
    for name in names:
        if event.data.get(name) is not None:
            item[name] = event.data[name]
    return item
