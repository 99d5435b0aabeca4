from __future__ import annotations

import pytest

from schemas import Category, EscalationReason, Priority, TicketType
from streams import triage


@pytest.mark.parametrize(
    ("reason", "category", "message", "expected"),
    [
        (
            EscalationReason.COMPLAINT,
            Category.COMPLAINT,
            "I will take you to consumer court",
            Priority.URGENT,
        ),
        (
            EscalationReason.COMPLAINT,
            Category.COMPLAINT,
            "My charger caught fire!",
            Priority.URGENT,
        ),
        (
            EscalationReason.COMPLAINT,
            Category.COMPLAINT,
            "third failed delivery, terrible",
            Priority.HIGH,
        ),
        (EscalationReason.HUMAN_REQUESTED, Category.HUMAN_AGENT, "agent please", Priority.NORMAL),
        (
            EscalationReason.HUMAN_REQUESTED,
            Category.HUMAN_AGENT,
            "need a person urgently",
            Priority.HIGH,
        ),
        (
            EscalationReason.NO_RELEVANT_KNOWLEDGE,
            Category.PRODUCT_INFO,
            "is it vegan",
            Priority.NORMAL,
        ),
    ],
)
def test_priority_rules(
    reason: EscalationReason, category: Category, message: str, expected: Priority
) -> None:
    assert triage.priority(reason, category, message) is expected


def test_ticket_types_follow_the_category() -> None:
    assert triage.ticket_type(Category.COMPLAINT) is TicketType.INCIDENT
    assert triage.ticket_type(Category.ORDER_STATUS) is TicketType.TASK
    assert triage.ticket_type(Category.HUMAN_AGENT) is TicketType.QUESTION


def test_subject_is_bounded_and_event_id_stable() -> None:
    assert len(triage.subject(Category.COMPLAINT, "word " * 100)) == 150
    assert triage.escalation_event_id("r-1") == triage.escalation_event_id("r-1")
    assert triage.escalation_event_id("r-1") != triage.escalation_event_id("r-2")


def test_tags_name_the_customers_language_in_lowercase() -> None:
    tags = triage.tags(Category.PRODUCT_INFO, EscalationReason.LOW_CONFIDENCE, "chat", "hi-Latn")
    assert tags[-1] == "lang-hi-latn"
    assert "lang-en" in triage.tags(Category.WARRANTY, EscalationReason.COMPLAINT, "api", "en")


def test_summary_says_which_language_the_customer_wrote_in_unless_english() -> None:
    reason = EscalationReason.LOW_CONFIDENCE
    assert "They wrote in Hindi." in triage.summary(reason, "कीमत क्या है?", [], "hi")
    assert "wrote in" not in triage.summary(reason, "price?", [], "en")
