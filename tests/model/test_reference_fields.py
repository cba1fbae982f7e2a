"""The event model against references 001 and 002, transcribed here by hand.

The HTTP tests (tests/api/test_batch.py) derive what each type requires and which JSON
types it takes from the model, so a model that misread a reference would pass them. These
tables are read off the references themselves (/work/shared/reference: 001 the widget
bus's event table, 002 the lifecycle and its metadata table); reference 000's fields have
their own table in test_batch.py. If a reference changes, change the table and the model.
"""

from __future__ import annotations

from chatlens.model.events import LIFECYCLE_STAGES, LIFECYCLE_TYPES, METADATA_FIELDS, WIDGET_TYPES, Kind

# 001: each widget event and the one field of its `data` (its "Data" column).
REFERENCE_001 = {
    "CHAT_LOADED": "chatInstanceName",
    "CHAT_VISIBLE": "chatInstanceName",
    "CONTACT_STARTED": "contactId",
    "CONTACT_ENDED": "contactId",
    "TRANSFER_TO_QUEUE": "contactId",
    "CONNECT_TO_AGENT": "contactId",
}

# 002: "The following events are part of the Interaction Lifecycle".
REFERENCE_002_STAGES = {"ready", "opened", "started", "cancelled", "submitted", "rejected", "completed", "closed"}

# 002's metadata tables: name -> its "Type" column. "By default, all values are set to
# false": so every counter, timestamp and the form may also be `false`.
REFERENCE_002_METADATA = {
    "id": "string",
    "proactive": "boolean",
    "prefilled": "boolean",
    "autoSubmitted": "boolean",
    "coBrowseInitiated": "boolean",
    "filesUploaded": "integer",
    "numAgents": "integer",
    "userMessages": "integer",
    "agentMessages": "integer",
    "systemMessages": "integer",
    "errors": "array/boolean",
    "form": "object",
    "opened": "integer (timestamp)",
    "started": "integer (timestamp)",
    "cancelled": "integer (timestamp)",
    "rejected": "integer (timestamp)",
    "completed": "integer (timestamp)",
    "closed": "integer (timestamp)",
    "agentReached": "integer (timestamp)",
    "supervisorReached": "integer (timestamp)",
    "elapsed": "integer (milliseconds)",
    "waitingForAgent": "integer (milliseconds)",
}

# How each reference type is checked, given that a metadata value defaults to false.
KIND_OF_REFERENCE_TYPE = {
    "string": Kind.STRING,
    "boolean": Kind.BOOLEAN,
    "integer": Kind.INT_OR_FALSE,
    "integer (timestamp)": Kind.INT_OR_FALSE,
    "integer (milliseconds)": Kind.INT_OR_FALSE,
    "array/boolean": Kind.ARRAY_OR_FALSE,
    "object": Kind.OBJECT_OR_FALSE,
}


def test_widget_events_and_their_fields_are_reference_001s() -> None:
    model = {t.name: [f.name for f in t.fields] for t in WIDGET_TYPES}
    assert model == {name: [field] for name, field in REFERENCE_001.items()}


def test_a_contact_event_requires_its_contact_id() -> None:
    """The contact id is what ties the widget's events to a conversation (002's id, 004's
    results): without it the event says nothing about which chat, so it is required;
    the instance name is optional."""
    required = {t.name: [f.name for f in t.fields if f.required] for t in WIDGET_TYPES}
    assert required == {name: ([field] if field == "contactId" else []) for name, field in REFERENCE_001.items()}


def test_lifecycle_stages_are_reference_002s() -> None:
    assert set(LIFECYCLE_STAGES) == REFERENCE_002_STAGES
    assert {t.name for t in LIFECYCLE_TYPES} == {f"chat.{stage}" for stage in REFERENCE_002_STAGES}


def test_metadata_fields_and_kinds_are_reference_002s() -> None:
    model = {f.name: f.kind for f in METADATA_FIELDS}
    assert model == {name: KIND_OF_REFERENCE_TYPE[kind] for name, kind in REFERENCE_002_METADATA.items()}
    # The block's id identifies the interaction: the only metadata field a lifecycle event must carry.
    assert [f.name for f in METADATA_FIELDS if f.required] == ["id"]
