"""docs/events.md is generated from the event model; it must not fall behind it."""

from pathlib import Path

from chatlens.model.events import EVENT_TYPES
from chatlens.model.markdown import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_docs_events_md_matches_the_model() -> None:
    assert DOC.read_text() == render(), "regenerate: python -m chatlens.model.markdown > docs/events.md"


def test_every_event_type_is_documented() -> None:
    text = DOC.read_text()
    for name in EVENT_TYPES:
        assert f"`{name}`" in text
