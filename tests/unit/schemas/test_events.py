"""Event fields whose rules are the contract: the customer's language."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas import ChatAnswer, ChatRequest, Customer, Escalation, TranscriptTurn

IDS = {"request_id": "r-1", "conversation_id": "c-1", "correlation_id": "r-1"}


def escalation(**fields: Any) -> Escalation:
    return Escalation(
        event_id="e-1",
        ticket_event_id="e-1",
        requester=Customer(),
        subject="Product info: कीमत क्या है?",
        summary="wants a price",
        transcript=[TranscriptTurn(role="customer", text="कीमत क्या है?")],
        category="product_info",
        confidence=0.5,
        reason="low_confidence",
        priority="normal",
        ticket_type="question",
        channel="chat",
        tags=["techgear-assistant"],
        **IDS,
        **fields,
    )


def test_an_escalation_is_in_english_unless_told_otherwise() -> None:
    assert escalation().language == "en"


def test_an_escalation_from_before_languages_reads_as_english() -> None:
    older = escalation().model_dump(mode="json")
    del older["language"]
    assert Escalation.model_validate(older).language == "en"


@pytest.mark.parametrize("tag", ["hi", "hi-Latn", "mr", "zh-Hans-CN", "und"])
def test_an_escalation_carries_a_bcp47_language_tag(tag: str) -> None:
    assert escalation(language=tag).language == tag


@pytest.mark.parametrize("tag", ["", "h", "Hindi language", "hi_IN", "hi-" + "x" * 9, "a" * 36])
def test_an_escalation_refuses_what_is_not_a_language_tag(tag: str) -> None:
    with pytest.raises(ValidationError):
        escalation(language=tag)


def test_an_answer_names_the_language_only_when_it_was_detected() -> None:
    answer = {
        "answer": "Hello",
        "category": "greeting",
        "confidence": 0.9,
        "responder": "offline",
        "request_created_at": ChatRequest(message="hi", **IDS).created_at,
        **IDS,
    }
    assert ChatAnswer(**answer).language is None
    assert ChatAnswer(**answer, language="hi-Latn").language == "hi-Latn"
    with pytest.raises(ValidationError):
        ChatAnswer(**answer, language="Hinglish!")
