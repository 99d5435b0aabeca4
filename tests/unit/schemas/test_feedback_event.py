"""The Feedback event's rules: a reason only with a thumbs-down, its own CloudEvents id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import AnswerFacts, Feedback
from schemas.cloudevents import event_id

FACTS = AnswerFacts(category="warranty", confidence=0.9, responder="offline")


def feedback(**fields: Any) -> Feedback:
    values: dict[str, Any] = {
        "request_id": "r-1",
        "conversation_id": "c-1",
        "correlation_id": "r-1",
        "feedback_id": "f-1",
        "revision": 1,
        "rating": "down",
        "principal": "key:alpha",
        "channel": "chat",
        "question": "How long is the warranty?",
        "answer": FACTS,
        "answered_at": datetime(2026, 12, 1, tzinfo=UTC),
    } | fields
    return Feedback(**values)


@pytest.mark.parametrize("reason", ["wrong", "outdated", "didnt_answer", "other", None])
def test_a_thumbs_down_may_say_why(reason: str | None) -> None:
    assert feedback(reason=reason).reason == reason


def test_a_thumbs_up_carries_no_reason() -> None:
    assert feedback(rating="up").reason is None
    with pytest.raises(ValidationError, match="only with a thumbs-down"):
        feedback(rating="up", reason="wrong")


def test_an_unknown_reason_is_refused() -> None:
    with pytest.raises(ValidationError):
        feedback(reason="rude")


def test_each_revision_of_a_rating_is_its_own_cloudevent() -> None:
    first, second = feedback(feedback_id="f-1"), feedback(feedback_id="f-2", revision=2)
    assert event_id(first) == "f-1"
    assert event_id(second) == "f-2"
