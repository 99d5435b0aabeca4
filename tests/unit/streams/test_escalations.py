"""The escalation events carry the customer's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import Category, ChatRequest, EscalationReason
from streams import escalations
from streams.memory import ConversationState, TicketRef
from streams.outcome import Outcome

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
TICKET = TicketRef("e-1", NOW.timestamp())


def request(message: str) -> ChatRequest:
    return ChatRequest(
        message=message, request_id="r-1", conversation_id="c-1", correlation_id="r-1"
    )


def outcome() -> Outcome:
    return Outcome(
        answer="passed on",
        category=Category.PRODUCT_INFO,
        confidence=0.3,
        responder="offline",
        escalation_reason=EscalationReason.LOW_CONFIDENCE,
    )


def test_a_ticket_carries_the_language_the_workflow_detected() -> None:
    escalation = escalations.ticket_escalation(
        request("स्मार्टवॉच प्रो एक्स की कीमत क्या है?"),
        outcome(),
        EscalationReason.LOW_CONFIDENCE,
        ConversationState(),
        TICKET,
        NOW,
        language="hi",
    )
    assert escalation.language == "hi" and "lang-hi" in escalation.tags
    assert "They wrote in Hindi." in escalation.summary


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("when will my order arrive", "en"),
        ("mera order kab aayega", "hi-Latn"),
        ("मेरा ऑर्डर कब आएगा", "hi"),
    ],
)
def test_without_the_workflows_language_the_messages_own_is_detected(
    message: str, language: str
) -> None:
    ticket = escalations.ticket_escalation(
        request(message),
        outcome(),
        EscalationReason.LOW_CONFIDENCE,
        ConversationState(),
        TICKET,
        NOW,
    )
    forwarded = escalations.customer_message(request(message), TICKET, ConversationState(), None)
    assert ticket.language == forwarded.language == language
    assert (
        f"lang-{language.lower()}" in ticket.tags and f"lang-{language.lower()}" in forwarded.tags
    )
