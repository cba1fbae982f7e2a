"""Session data keys and their priorities (reference 004), and a session's result.

Every `session_log` event names a data key. The result of a session (a conversation) is
its highest-priority data key: priority 1 is the highest, 10 the lowest, and 0 means "no
priority", so such a key is kept and listed but never decides the result. Ties go to the
earliest entry. Custom keys get priority 0 unless configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DataKey:
    name: str
    priority: int  # 1 (highest) .. 10 (lowest); 0: never decides the result
    path: str  # how the result reads for a person
    log_type: str | None = None  # its atomic log type in 004, if any
    deprecated: bool = False


def _keys(priority: int, *entries: tuple) -> list[DataKey]:  # (name, path[, log_type, deprecated])
    return [DataKey(entry[0], priority, entry[1], *entry[2:]) for entry in entries]


# Reference 004's priority table, with a readable path for each key that can decide.
_PRIORITIZED: list[DataKey] = [
    *_keys(
        1,
        ("CHAT_ATTENDED", "Escalated > Accepted > Available Agents > Chat Attended"),
        ("CONTACT_TICKET", "Contact > Ticket", None, True),
        ("CONTACT_ATTENDED", "Contact > Attended", None, True),
    ),
    *_keys(
        2,
        ("CHAT_ESCALATION_REJECTED", "Escalated > Rejected"),
        ("CHAT_NO_AGENTS", "Escalated > Accepted > No Available Agents"),
        ("CHAT_UNATTENDED", "Escalated > Accepted > Available Agents > Chat Unattended"),
        ("CONTACT_CLICK", "Contact > Clicked", None, True),
        ("CONTACT_SUBMIT", "Contact > Submitted", None, True),
        ("CONTACT_START", "Contact > Started", None, True),
        ("CONTACT", "Contact", None, True),
        ("CONTACT_UNATTENDED", "Contact > Unattended", None, True),
        ("CONTACT_REJECTED", "Contact > Rejected", None, True),
    ),
    *_keys(3, ("CLICK_MATCH", "Clicked > Match", "MATCH", False)),
    *_keys(6, ("CLICK_CONTENT", "Clicked > Content", "CONTENT", False)),
    *_keys(
        7,
        ("CLICK_RELATED", "Clicked > Related", "RELATED", False),
        ("CLICK_CHAINED", "Clicked > Chained", "CHAINED", False),
        ("CLICK_EXTERNAL_BASE", "Clicked > External Base", "MATCH", False),
        ("CLICK_EXTERNAL_CMS", "Clicked > External CMS", "MATCH", False),
    ),
    *_keys(
        8,
        ("CLICK_AIML", "Results > AIML", "MATCH", False),
        ("EXTERNAL_RESULTS", "Results > External"),
        ("MULTIPLE_BUTTONS", "Results > Multiple Buttons"),
        ("MULTIPLE_ONE_BY_ONE_OPTION", "Results > Multiple One By One"),
    ),
    *_keys(
        9,
        ("SEARCH", "Search", "SEARCH", False),
        ("SEARCH_EXTERNAL_CMS", "Search > External CMS", "SEARCH", False),
    ),
    *_keys(10, ("START", "Start")),
]

# Reference 004's "0 (no priority)" keys: stored and listed, never the result.
_NO_PRIORITY_NAMES = """
USER_INFO USER_BROWSER RATE_SEARCH AUTOMATIC_CHAINED_TRANSITION VARIABLES VARIABLES_ERROR
DIALOG_TRANSITION DIRECT_CALL DIRECT_CALL_ERROR DIRECT_ANSWER NL_CHAINED_TRANSITION
NL_MULTIPLE NL_CHAINED_NO_MATCH NL_MULTIPLE_NO_MATCH WEBHOOK ACTION_DATA_FIELD ACTION_ABORT
ACTION_RETRY ERROR LANGUAGE_DETECTION CALLBACK ACTION_DATA_FIELD_DATE ACTION_DATA_FIELD_ERROR
ACTION_DATA_FIELD_LIST ACTION_DATA_FIELD_START CHAINED_BUTTONS CHAINED_BUTTONS_CLICK
CHAINED_IGNORED_CHILDREN CHAINED_NLS CHAINED_ONE_BY_ONE_OPTION CHAINED_ONE_BY_ONE_POLAR_ANSWER
CHAINED_ONE_BY_ONE_START CHATBOT_INTENT_ABORT CHATBOT_INTENT_END_FAILED
CHATBOT_INTENT_END_RESPONDED CHATBOT_INTENT_START CONVERSATION_START_SETTINGS DYNAMIC_REDIRECT
DYNAMIC_REDIRECT_ERROR MULTIPLE_BUTTONS_CLICK MULTIPLE_ONE_BY_ONE_POLAR_ANSWER NO_RESULTS
RATING WEBHOOK_ERROR WEBHOOK_UNEXPECTED_ERROR INTENT_START INTENT_ABORT INTENT_END_RESPONDED
INTENT_END_FAILED
""".split()
# Their atomic log types, where 004 gives one.
_LOG_TYPES = {
    "AUTOMATIC_CHAINED_TRANSITION": "CHAINED",
    "DIRECT_CALL": "CONTENT",
    "DIRECT_ANSWER": "CONTENT",
    "LANGUAGE_DETECTION": "LANGUAGE_DETECTION",
}


def _title(name: str) -> str:
    return " ".join(word.capitalize() for word in name.split("_"))


DEFAULT_DATA_KEYS: dict[str, DataKey] = {k.name: k for k in _PRIORITIZED}
for _name in _NO_PRIORITY_NAMES:
    DEFAULT_DATA_KEYS[_name] = DataKey(_name, 0, _title(_name), _LOG_TYPES.get(_name))

DATA_KEY_PATTERN = r"[A-Z][A-Z0-9_]{0,63}"


class DataKeys:
    """The default keys plus a site's custom ones (name -> priority, optional path)."""

    def __init__(self, custom: Mapping[str, int | tuple[int, str]] | None = None) -> None:
        self._keys = dict(DEFAULT_DATA_KEYS)
        for name, spec in (custom or {}).items():
            priority, path = spec if isinstance(spec, tuple) else (spec, _title(name))
            if not 0 <= priority <= 10:
                raise ValueError(f"data key {name}: priority must be 0..10, got {priority}")
            self._keys[name] = DataKey(name, priority, path)

    def get(self, name: str) -> DataKey:
        """A known key, or an unconfigured custom key (priority 0)."""
        return self._keys.get(name) or DataKey(name, 0, _title(name))

    def __iter__(self) -> Iterator[DataKey]:
        return iter(self._keys.values())

    def result(self, names: Iterable[str]) -> DataKey | None:
        """The deciding key among `names` (in time order): the highest priority, the
        earliest among equals; None when no key has a priority."""
        best: DataKey | None = None
        for name in names:
            key = self.get(name)
            if key.priority and (best is None or key.priority < best.priority):
                best = key
        return best
