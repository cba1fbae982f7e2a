"""The OpenAPI description served at `/openapi.json`, written out rather than inferred."""

from __future__ import annotations

from typing import Any

from chatlens import __version__
from chatlens.model.events import EVENT_TYPES

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_SCOPE_PARAMETERS = [
    {"name": n, "in": "query", "schema": {"type": "string"}, "description": d}
    for n, d in (
        ("from", "ISO 8601 or epoch ms; default 30 days ago"),
        ("to", "Exclusive; default now"),
        ("device", "desktop, mobile, tablet (comma-separated)"),
        ("source", "The channel: web, mobile_app, ..."),
        ("language", "en matches en, en-US, ..."),
        ("page_type", "Visits that viewed a page of this type"),
        ("url", "Glob; starting with / it matches the path"),
        ("breakdown", "device, source, language, page_type or trait.NAME"),
        ("interval", "hour or day"),
        ("limit", "Rows of top tables, 1 to 1000"),
    )
]


def build_openapi() -> dict[str, Any]:
    envelope = {
        "type": "object",
        "required": ["key", "visitor_id", "session_id", "events"],
        "properties": {
            "key": {"type": "string", "description": "The site's public key (pk_...)"},
            "visitor_id": {"type": "string", "maxLength": 128},
            "session_id": {"type": "string", "maxLength": 128},
            "sent_at": {"type": "string", "description": "When the batch was sent, ISO 8601 (client clock)"},
            "events": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Event"}},
        },
    }
    event = {
        "type": "object",
        "required": ["type"],
        "description": "See docs/events.md for the fields of each type.",
        "properties": {
            "type": {"type": "string", "enum": list(EVENT_TYPES)},
            "id": {"type": "string", "format": "uuid"},
            "timestamp": {"type": "string", "description": "ISO 8601, or epoch milliseconds"},
        },
        "additionalProperties": True,
    }
    batch_result = {
        "type": "object",
        "properties": {
            "accepted": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"index": {"type": "integer"}, "errors": {"type": "array", "items": {"type": "string"}}},
                },
            },
            "dropped": {"type": "object", "additionalProperties": {"type": "integer"}},
            "instructions": {"type": "object", "description": "For the SDK: offers (proactive offers: id, skill, message, data, expiresAt) and checkIn (ms until the page should report its dwell); docs/engagement.md"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Chatlens", "version": __version__},
        "paths": {
            "/v1/batch": {
                "post": {
                    "summary": "Ingest a batch of browser events",
                    "requestBody": {
                        "content": {
                            "text/plain": {"schema": {"$ref": "#/components/schemas/Envelope"}},
                            "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}},
                        }
                    },
                    "responses": {
                        "200": {"description": "Accepted, duplicate and rejected counts", "content": {"application/json": {"schema": batch_result}}},
                        "400": _error("Malformed JSON or a bad envelope"),
                        "401": _error("Unknown public key"),
                        "403": _error("Origin not allowed for this site"),
                        "413": _error("Body over the size limit"),
                        "415": _error("Content-Type other than text/plain or application/json"),
                        "429": _error("Over the per-session rate limit; see Retry-After"),
                        "503": _error("Storage busy or failing; retry after Retry-After"),
                    },
                }
            },
            "/v1/events": {
                "get": {
                    "summary": "Stored events, filtered and paginated",
                    "security": [{"secretKey": []}],
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": t}, "description": d}
                        for n, t, d in (
                            ("type", "string", "Event type; repeat or comma-separate for several"),
                            ("visitor_id", "string", ""),
                            ("session_id", "string", ""),
                            ("conversation_id", "string", "Events of one conversation"),
                            ("since", "string", "Inclusive, on the skew-corrected time (ISO 8601 or epoch ms)"),
                            ("until", "string", "Exclusive"),
                            ("limit", "integer", "1 to 1000, default 100"),
                            ("cursor", "string", "next_cursor of the previous page"),
                        )
                    ],
                    "responses": {
                        "200": {"description": "A page of events, oldest first, and next_cursor"},
                        "400": _error("Bad parameter"),
                        "401": _error("Missing or unknown secret key"),
                    },
                }
            },
            "/v1/server/batch": {
                "post": {
                    "summary": "Ingest events from a server (agent backends): {sent_at?, events[]}",
                    "security": [{"secretKey": []}],
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": {
                        "200": {"description": "As /v1/batch", "content": {"application/json": {"schema": batch_result}}},
                        "400": _error("Malformed JSON or a bad envelope"),
                        "401": _error("Missing or unknown secret key"),
                        "413": _error("Body over the size limit (8 MiB)"),
                        "503": _error("Storage busy or failing; retry after Retry-After"),
                    },
                }
            },
            "/v1/conversations": {
                "get": {
                    "summary": "Conversations, newest first (docs/lifecycle.md)",
                    "security": [{"secretKey": []}],
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": "string"}, "description": d}
                        for n, d in (
                            ("state", "A lifecycle stage"),
                            ("used", "true or false"),
                            ("flagged", "true: has anomalies"),
                            ("result", "The deciding data key"),
                            ("visitor_id", ""),
                            ("customer_id", ""),
                            ("since", "On the first event's time"),
                            ("until", "Exclusive"),
                            ("limit", "1 to 1000, default 100"),
                            ("cursor", "next_cursor of the previous page"),
                        )
                    ],
                    "responses": {"200": {"description": "conversations and next_cursor"}, "400": _error("Bad parameter"), "401": _error("Missing or unknown secret key")},
                }
            },
            "/v1/conversations/{conversation_id}": {
                "get": {
                    "summary": "One conversation: state, 002 metadata block, messages, actions, result",
                    "security": [{"secretKey": []}],
                    "parameters": [{"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The conversation"}, "401": _error("Missing or unknown secret key"), "404": _error("No such conversation")},
                }
            },
            "/v1/conversations/{conversation_id}/logs": {
                "post": {
                    "summary": "Session logs (reference 004) of one conversation: {logs: [{dataKey, logType?, value?}]}",
                    "security": [{"secretKey": []}],
                    "parameters": [{"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": {
                        "200": {"description": "As /v1/batch", "content": {"application/json": {"schema": batch_result}}},
                        "400": _error("Malformed JSON or no logs"),
                        "401": _error("Missing or unknown secret key"),
                    },
                }
            },
            "/v1/sessions/{session_id}/decisions": {
                "get": {
                    "summary": "The intent engine's decisions in a session, with reasons, evidence and stages (docs/engagement.md)",
                    "security": [{"secretKey": []}],
                    "parameters": [{"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "sessionId and decisions"}, "401": _error("Missing or unknown secret key")},
                }
            },
            "/v1/intents": {
                "get": {
                    "summary": "Per skill: qualified, blocked by reason, offered, held out, shown, accepted, dismissed, ignored, converted, lift with 95% intervals",
                    "security": [{"secretKey": []}],
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": "string"}, "description": d}
                        for n, d in (("from", "ISO 8601 or epoch ms; default 30 days ago"), ("to", "Exclusive; default now"))
                    ],
                    "responses": {"200": {"description": "from, to and skills"}, "400": _error("Bad parameter"), "401": _error("Missing or unknown secret key")},
                }
            },
            "/v1/agents/availability": {
                "put": {
                    "summary": "What the agents' side says now: {available, predictedWaitSeconds}; offers wait while unavailable or the wait is too long",
                    "security": [{"secretKey": []}],
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": {"200": {"description": "As stored"}, "400": _error("Bad body, naming the field"), "401": _error("Missing or unknown secret key")},
                }
            },
            "/v1/visitors/{visitor_id}/context": {
                "get": {
                    "summary": "What an agent should know about a visitor: pages, products, cart, searches, filters, stock issues, intents, summary",
                    "security": [{"secretKey": []}],
                    "parameters": [
                        {"name": "visitor_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 90, "default": 7}},
                    ],
                    "responses": {
                        "200": {"description": "The context"},
                        "400": _error("Bad parameter"),
                        "401": _error("Missing or unknown secret key"),
                        "404": _error("No events of this visitor in the window"),
                    },
                }
            },
            "/v1/analytics": {
                "get": {
                    "summary": "The reports there are, and the sites this login opens",
                    "security": [{"secretKey": []}],
                    "responses": {"200": {"description": "site, sites, reports"}, "401": _error("Missing or unknown secret key")},
                }
            },
            "/v1/analytics/{report}": {
                "get": {
                    "summary": "A report (engagement, chat, results, behaviour, intents, live): metrics and tables (docs/analytics.md)",
                    "security": [{"secretKey": []}],
                    "parameters": [
                        {"name": "report", "in": "path", "required": True, "schema": {"type": "string"}},
                        *_SCOPE_PARAMETERS,
                        {"name": "format", "in": "query", "schema": {"enum": ["json", "csv", "parquet"], "default": "json"}},
                        {"name": "table", "in": "query", "schema": {"type": "string"}, "description": "csv/parquet: which table (default metrics)"},
                    ],
                    "responses": {"200": {"description": "The report, or one table as a file"}, "400": _error("Bad parameter, naming it"),
                                  "401": _error("Missing or unknown secret key"), "404": _error("Unknown report")},
                }
            },
            "/v1/export/events": {
                "get": {
                    "summary": "Raw events as CSV (formula cells neutralized) or Parquet",
                    "security": [{"secretKey": []}],
                    "parameters": [
                        *_SCOPE_PARAMETERS,
                        {"name": "format", "in": "query", "schema": {"enum": ["csv", "parquet"], "default": "csv"}},
                        {"name": "type", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated event types"},
                    ],
                    "responses": {"200": {"description": "The file"}, "400": _error("Bad parameter, naming it"),
                                  "401": _error("Missing or unknown secret key")},
                }
            },
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text/plain"}}}},
        },
        "components": {
            "schemas": {"Envelope": envelope, "Event": event, "Error": _ERROR},
            "securitySchemes": {"secretKey": {"type": "http", "scheme": "bearer"}},
        },
    }
