"""The canonical event model: every event type Chatlens accepts and its fields.

This table is the single source of truth. Validation (`chatlens.ingest.validate`), the
typed store columns (`chatlens.store.schema`) and `docs/events.md` are all derived from it,
so a field added here is validated, stored and documented in one place.

Sources: behaviour events follow reference 000 (field names and required flags exactly),
widget events reference 001, interaction lifecycle events and their metadata block
reference 002. Custom events are Chatlens's own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """What a field's value must be. The value is the phrase used in error messages."""

    STRING = "a string"
    URL = "an absolute URL"
    NUMBER = "a number"
    BOOLEAN = "a boolean"
    INT_OR_FALSE = "an integer >= 0 or false"
    ARRAY_OR_FALSE = "an array or false"
    OBJECT = "an object"
    OBJECT_OR_FALSE = "an object or false"
    TEXT = "a non-empty string"  # message bodies, tool responses: up to MAX_TEXT_LENGTH
    ANY = "any JSON value"


class Group(enum.Enum):
    BEHAVIOUR = "behaviour"  # reference 000
    WIDGET = "widget"  # reference 001
    LIFECYCLE = "lifecycle"  # reference 002
    CUSTOM = "custom"
    CONVERSATION = "conversation"  # Chatlens's own, for agent backends (reference 003, 004)
    ENGAGEMENT = "engagement"  # Chatlens's own: proactive offers (docs/engagement.md)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    required: bool = False
    choices: tuple[str, ...] = ()
    # The typed store column holding this field (None: it goes to the JSON properties).
    column: str | None = None
    doc: str = ""


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    group: Group
    fields: tuple[Field, ...]
    doc: str


# Longest string accepted in any field. Long enough for real URLs and search queries,
# short enough that one event cannot fill a batch.
MAX_STRING_LENGTH = 4096
# Longest message, tool response or base64 attachment text. An LLM answer can be long.
MAX_TEXT_LENGTH = 1 << 20

_URL = Field("url", Kind.URL, True, column="url", doc="The absolute page URL")
_PAGE_TYPE = Field(
    "pageType", Kind.STRING, column="page_type", doc="'blog', 'category', 'product' or custom"
)

BEHAVIOUR_TYPES: tuple[EventType, ...] = (
    EventType(
        "page_view",
        Group.BEHAVIOUR,
        (
            _URL,
            _PAGE_TYPE,
            Field("productId", Kind.STRING, column="product_id", doc="When pageType is 'product'"),
        ),
        "A visitor viewed a page.",
    ),
    EventType(
        "dwell",
        Group.BEHAVIOUR,
        (
            _URL,
            _PAGE_TYPE,
            Field(
                "durationSeconds",
                Kind.NUMBER,
                True,
                column="duration_seconds",
                doc="How long the visitor stayed, in seconds (>= 0)",
            ),
        ),
        "How long a visitor stayed on a page.",
    ),
    EventType(
        "product_status",
        Group.BEHAVIOUR,
        (
            Field("productId", Kind.STRING, True, column="product_id"),
            Field(
                "status", Kind.STRING, True, column="status", doc="'in_stock', 'out_of_stock' or custom"
            ),
        ),
        "The stock status of the product the visitor is viewing.",
    ),
    EventType(
        "filter_usage",
        Group.BEHAVIOUR,
        (
            Field("category", Kind.STRING, column="category", doc="The category being browsed"),
            Field("filterType", Kind.STRING, True, column="filter_type", doc="'price', 'brand', ..."),
            Field("filterValue", Kind.STRING, True, column="filter_value", doc="e.g. 'low_to_high'"),
        ),
        "A visitor used a filter or sort on a category or search page.",
    ),
    EventType(
        "cart_action",
        Group.BEHAVIOUR,
        (
            Field("action", Kind.STRING, True, choices=("add", "remove"), column="action"),
            Field("productId", Kind.STRING, True, column="product_id"),
            Field("variantId", Kind.STRING, doc="Size, colour, ..."),
            Field("productName", Kind.STRING, doc="Human-readable product name"),
            Field("category", Kind.STRING, column="category"),
        ),
        "A visitor added an item to, or removed one from, the cart.",
    ),
    EventType(
        "search_event",
        Group.BEHAVIOUR,
        (
            Field("query", Kind.STRING, True, column="query", doc="The search text"),
            Field("pageContext", Kind.URL, doc="Current page URL (absolute)"),
            Field("categoryContext", Kind.STRING, doc="Current category context"),
        ),
        "A visitor searched for products.",
    ),
)

_INSTANCE = Field(
    "chatInstanceName", Kind.STRING, doc="The chat instance (widget configuration) on the page"
)
_CONTACT = Field(
    "contactId", Kind.STRING, True, column="interaction_id", doc="The chat contact (conversation) id"
)

WIDGET_TYPES: tuple[EventType, ...] = (
    EventType("CHAT_LOADED", Group.WIDGET, (_INSTANCE,), "The chat script loaded on the page."),
    EventType(
        "CHAT_VISIBLE", Group.WIDGET, (_INSTANCE,), "The 'start chat' button is shown to the visitor."
    ),
    EventType("CONTACT_STARTED", Group.WIDGET, (_CONTACT,), "The visitor started a new chat."),
    EventType(
        "CONTACT_ENDED", Group.WIDGET, (_CONTACT,), "The chat ended, whether or not an agent joined."
    ),
    EventType("TRANSFER_TO_QUEUE", Group.WIDGET, (_CONTACT,), "The chat was put in an agent queue."),
    EventType("CONNECT_TO_AGENT", Group.WIDGET, (_CONTACT,), "An agent joined the chat."),
)

# The metadata block that every lifecycle event carries (reference 002). All values
# start as false; counters and timestamps replace false as the interaction progresses.
METADATA_FIELDS: tuple[Field, ...] = (
    Field("id", Kind.STRING, True, doc="Identifier of the interaction"),
    Field("proactive", Kind.BOOLEAN, doc="The chat was started proactively"),
    Field("prefilled", Kind.BOOLEAN, doc="The form was prefilled automatically"),
    Field("autoSubmitted", Kind.BOOLEAN, doc="The form was submitted automatically"),
    Field("coBrowseInitiated", Kind.BOOLEAN, doc="A co-browse session was started"),
    Field("filesUploaded", Kind.INT_OR_FALSE, doc="Files uploaded so far"),
    Field("numAgents", Kind.INT_OR_FALSE, doc="Agents that have connected so far"),
    Field("userMessages", Kind.INT_OR_FALSE, doc="Messages sent by the visitor"),
    Field("agentMessages", Kind.INT_OR_FALSE, doc="Messages sent by agents"),
    Field("systemMessages", Kind.INT_OR_FALSE, doc="System messages received"),
    Field("errors", Kind.ARRAY_OR_FALSE, doc="Error codes met, or false"),
    Field("form", Kind.OBJECT_OR_FALSE, doc="The form parameters when submitted"),
    Field("opened", Kind.INT_OR_FALSE, doc="When the widget was opened (epoch ms)"),
    Field("started", Kind.INT_OR_FALSE, doc="When the chat session started (epoch ms)"),
    Field("cancelled", Kind.INT_OR_FALSE, doc="When the visitor ended it before an agent (epoch ms)"),
    Field("rejected", Kind.INT_OR_FALSE, doc="When the chat failed to start (epoch ms)"),
    Field("completed", Kind.INT_OR_FALSE, doc="When it ended normally after an agent (epoch ms)"),
    Field("closed", Kind.INT_OR_FALSE, doc="When the widget was closed (epoch ms)"),
    Field("agentReached", Kind.INT_OR_FALSE, doc="When the first agent was reached (epoch ms)"),
    Field("supervisorReached", Kind.INT_OR_FALSE, doc="When a supervisor was reached (epoch ms)"),
    Field("elapsed", Kind.INT_OR_FALSE, doc="Chat start to end, in milliseconds"),
    Field("waitingForAgent", Kind.INT_OR_FALSE, doc="Chat start to agent connected, in ms"),
)

# Reference 002's stage names, in lifecycle order. The wire type is "chat.<stage>" so
# that the generic words ("ready", "closed") cannot collide with custom event names.
LIFECYCLE_STAGES: tuple[str, ...] = (
    "ready",
    "opened",
    "submitted",
    "started",
    "cancelled",
    "rejected",
    "completed",
    "closed",
)
_METADATA = Field(
    "metadata",
    Kind.OBJECT,
    True,
    doc="The metadata block of reference 002; its id is stored as the interaction id",
)
_LIFECYCLE_DOCS = {
    "ready": "The chat widget is ready.",
    "opened": "The visitor opened the widget.",
    "submitted": "The visitor submitted the pre-chat form.",
    "started": "The chat session started.",
    "cancelled": "The visitor ended the chat before an agent connected, or never started it.",
    "rejected": "The chat failed to start.",
    "completed": "The chat ended normally after an agent connected.",
    "closed": "The visitor closed the widget.",
}
LIFECYCLE_TYPES: tuple[EventType, ...] = tuple(
    EventType(f"chat.{stage}", Group.LIFECYCLE, (_METADATA,), _LIFECYCLE_DOCS[stage])
    for stage in LIFECYCLE_STAGES
)

CUSTOM_TYPE = EventType(
    "custom",
    Group.CUSTOM,
    (
        Field("name", Kind.STRING, True, column="name", doc="Your event's name, e.g. 'purchase'"),
        Field("properties", Kind.OBJECT, doc="Any JSON object"),
    ),
    "Anything else: a name plus free-form properties.",
)

IDENTIFY_TYPE = EventType(
    "identify",
    Group.CUSTOM,
    (
        Field("customerId", Kind.STRING, True, column="customer_id", doc="Your id for this visitor"),
        Field("traits", Kind.OBJECT, doc="What you know of them: plan, language, ..."),
    ),
    "The visitor is someone you know (`chatlens.identify(customerId, traits)`).",
)

# Conversation events: what an agent backend (or a chat widget) reports about a
# conversation, keyed by the interaction id of reference 002 (`metadata.id`). They reach
# the server from the browser (/v1/batch), from server SDKs (/v1/server/batch) and from
# the AgentSight-compatible API (/api/...), and all land in the same events table.
_CONVERSATION_ID = Field(
    "conversationId",
    Kind.STRING,
    True,
    column="interaction_id",
    doc="The conversation: the interaction id of reference 002 (`metadata.id`)",
)
_EXTRA = Field("metadata", Kind.OBJECT, doc="Anything else worth keeping")
SENDERS = ("user", "agent", "system")

CONVERSATION_TYPES: tuple[EventType, ...] = (
    EventType(
        "conversation",
        Group.CONVERSATION,
        (
            _CONVERSATION_ID,
            Field(
                "used",
                Kind.BOOLEAN,
                doc="true: the visitor engaged (003 get_or_create_conversation); "
                "false or absent: they only had the chance (003 initialize_conversation)",
            ),
            Field("customerId", Kind.STRING, column="customer_id", doc="Your id for the customer"),
            Field("name", Kind.STRING, doc="A name for the conversation"),
            Field("source", Kind.STRING, doc="'web', 'mobile_app', ..."),
            Field("language", Kind.STRING, doc="e.g. 'en-US'"),
            Field("deviceType", Kind.STRING, doc="'desktop', 'mobile' or 'tablet', as the backend saw it"),
            Field("environment", Kind.STRING, choices=("production", "development")),
            _EXTRA,
        ),
        "A conversation was made possible (the widget loaded) or used (the visitor engaged).",
    ),
    EventType(
        "message",
        Group.CONVERSATION,
        (
            _CONVERSATION_ID,
            Field("sender", Kind.STRING, True, choices=SENDERS, column="sender"),
            Field("content", Kind.TEXT, doc="The text; may be left out (a widget that only counts)"),
            _EXTRA,
        ),
        "A message from the visitor, an agent (human or AI) or the system.",
    ),
    EventType(
        "action",
        Group.CONVERSATION,
        (
            _CONVERSATION_ID,
            Field("name", Kind.STRING, True, column="name", doc="The action or tool call"),
            Field("startedAt", Kind.STRING, doc="ISO 8601"),
            Field("endedAt", Kind.STRING, doc="ISO 8601"),
            Field("durationMs", Kind.NUMBER, doc="How long it took, in milliseconds"),
            Field("tools", Kind.OBJECT, doc="The tools used and their arguments"),
            Field("response", Kind.TEXT, doc="What it returned"),
            Field("error", Kind.TEXT, doc="Why it failed, if it did"),
            _EXTRA,
        ),
        "An agent action or tool call.",
    ),
    EventType(
        "button",
        Group.CONVERSATION,
        (
            _CONVERSATION_ID,
            Field("event", Kind.STRING, True, column="name", doc="What the button is for"),
            Field("label", Kind.STRING, True, doc="The text the visitor saw"),
            Field("value", Kind.STRING, True, doc="The value it sent"),
            _EXTRA,
        ),
        "The visitor clicked a button the agent offered.",
    ),
    EventType(
        "attachment",
        Group.CONVERSATION,
        (
            _CONVERSATION_ID,
            Field("sender", Kind.STRING, choices=SENDERS, column="sender", doc="Default 'user'"),
            Field("filename", Kind.STRING, True),
            Field("mimeType", Kind.STRING, True),
            Field("size", Kind.NUMBER, doc="Bytes"),
            Field("sha256", Kind.STRING, doc="Hex digest of the content"),
            Field(
                "content",
                Kind.TEXT,
                doc="Base64; kept up to the server's attachment limit, else left out "
                "(`contentOmitted` says why)",
            ),
            _EXTRA,
        ),
        "A file sent in the conversation.",
    ),
    EventType(
        "token_usage",
        Group.CONVERSATION,
        (
            _CONVERSATION_ID,
            Field("model", Kind.STRING),
            Field("promptTokens", Kind.NUMBER),
            Field("completionTokens", Kind.NUMBER),
            Field("totalTokens", Kind.NUMBER),
            Field("embeddingTokens", Kind.NUMBER),
        ),
        "LLM tokens used for the conversation.",
    ),
    EventType(
        "rating",
        Group.CONVERSATION,
        (
            _CONVERSATION_ID,
            Field("rateCode", Kind.STRING, True, column="name", doc="The rating given (004 rate code)"),
            Field("contentId", Kind.STRING, doc="What was rated (an answer, the whole chat)"),
            Field("comment", Kind.TEXT),
        ),
        "The visitor rated a content or the conversation (reference 004 RATE).",
    ),
    EventType(
        "session_log",
        Group.CONVERSATION,
        (
            _CONVERSATION_ID,
            Field(
                "dataKey",
                Kind.STRING,
                True,
                column="name",
                doc="A data key of reference 004 (CHAT_ATTENDED, SEARCH, ...) or your own",
            ),
            Field("logType", Kind.STRING, doc="Its atomic log type, if any (SEARCH, MATCH, ...)"),
            Field("value", Kind.ANY, doc="What was logged (a query, a content id, ...)"),
        ),
        "A session log entry (reference 004); the session's result is its highest-priority data key.",
    ),
)

# Proactive engagement (docs/engagement.md): the intent engine's decisions, and what the
# page did with the offers it was sent. Decisions are made by the server only.
_OFFER_ID = Field("offerId", Kind.STRING, True, column="offer_id", doc="The decision, and the offer it made")
OFFER_STATUSES = ("shown", "accepted", "dismissed", "opted_out")
DECISIONS = ("offered", "held_out", "blocked")

ENGAGEMENT_TYPES: tuple[EventType, ...] = (
    EventType(
        "offer",
        Group.ENGAGEMENT,
        (
            _OFFER_ID,
            Field(
                "status",
                Kind.STRING,
                True,
                choices=OFFER_STATUSES,
                column="status",
                doc="What the visitor did; 'opted_out': no proactive offers for this visitor again",
            ),
        ),
        "What became of a proactive offer in the page (`chatlens.offer(id, status)`).",
    ),
    EventType(
        "decision",
        Group.ENGAGEMENT,
        (
            _OFFER_ID,
            Field("skill", Kind.STRING, True, column="name", doc="The skill that qualified"),
            Field("decision", Kind.STRING, True, choices=DECISIONS, column="status"),
            Field("reason", Kind.STRING, doc="Why it was blocked or held out (cap, cooldown, ...)"),
            Field("priority", Kind.NUMBER, doc="The skill's priority (1 is the highest)"),
            Field("message", Kind.STRING, doc="The offer's text, from the skill's template"),
            Field("evidence", Kind.ANY, doc="The ids of the events that made the skill qualify"),
            Field("data", Kind.OBJECT, doc="What the skill's steps captured (product ids, query, ...)"),
        ),
        "The intent engine's decision about a qualified skill. Made by the server; never accepted from clients.",
    ),
)
# Types only the server writes: validation refuses them from any client.
SERVER_ONLY_TYPES = frozenset({"decision"})

EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        *BEHAVIOUR_TYPES,
        *WIDGET_TYPES,
        *LIFECYCLE_TYPES,
        CUSTOM_TYPE,
        IDENTIFY_TYPE,
        *CONVERSATION_TYPES,
        *ENGAGEMENT_TYPES,
    )
}

# Fields every event may carry whatever its type.
COMMON_FIELDS: tuple[Field, ...] = (
    Field("type", Kind.STRING, True, doc="One of the types below"),
    Field("id", Kind.STRING, doc="A UUID made by the client (any version; v7 preferred)"),
    Field("timestamp", Kind.STRING, doc="When it happened: ISO 8601, or epoch milliseconds"),
)


def hot_columns() -> tuple[str, ...]:
    """Every typed column that some event field is stored in, in a stable order."""
    seen: dict[str, None] = {}
    for event_type in EVENT_TYPES.values():
        for field in event_type.fields:
            if field.column:
                seen.setdefault(field.column, None)
    seen.setdefault("interaction_id", None)  # lifecycle metadata.id lands here too
    return tuple(seen)
