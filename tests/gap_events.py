"""Escalations and ratings as the worker and the gateway publish them, for the tests of the
knowledge-gap report."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import (
    AnswerFacts,
    Category,
    Customer,
    Escalation,
    EscalationKind,
    EscalationReason,
    Feedback,
    FeedbackRating,
    FeedbackReason,
    Priority,
    Source,
    TicketType,
    TranscriptTurn,
)

MOMENT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def source(doc_id: str, title: str | None = None) -> Source:
    return Source(doc_id=doc_id, title=title or doc_id.replace("-", " ").title(), score=0.3)


def escalation(
    request_id: str,
    question: str,
    *,
    reason: EscalationReason = EscalationReason.NO_RELEVANT_KNOWLEDGE,
    kind: EscalationKind = EscalationKind.NEW,
    sources: list[Source] | None = None,
    earlier: str = "Hello",
) -> Escalation:
    """The escalation of ``question``, asked after one earlier exchange."""
    event_id = f"esc-{request_id}"
    return Escalation(
        request_id=request_id,
        conversation_id=f"conv-{request_id}",
        correlation_id=f"corr-{request_id}",
        event_id=event_id,
        occurred_at=MOMENT,
        kind=kind,
        ticket_event_id=event_id,
        requester=Customer(),
        subject=question[:150],
        summary=question,
        transcript=[
            TranscriptTurn(role="customer", text=earlier),
            TranscriptTurn(role="assistant", text="Hi! How can I help?"),
            TranscriptTurn(role="customer", text=question),
        ],
        category=Category.GENERAL_INFO,
        confidence=0.4,
        reason=reason,
        priority=Priority.NORMAL,
        ticket_type=TicketType.QUESTION,
        channel="chat",
        tags=[],
        sources=sources or [],
    )


def rating(
    request_id: str,
    question: str,
    *,
    rating: FeedbackRating = FeedbackRating.DOWN,
    reason: FeedbackReason | None = None,
    revision: int = 1,
    sources: list[Source] | None = None,
) -> Feedback:
    return Feedback(
        request_id=request_id,
        conversation_id=f"conv-{request_id}",
        correlation_id=f"corr-{request_id}",
        feedback_id=f"fb-{request_id}-{revision}",
        revision=revision,
        rating=rating,
        reason=reason,
        principal="key:test",
        channel="chat",
        question=question,
        answer=AnswerFacts(
            category=Category.PRODUCT_INFO,
            confidence=0.8,
            responder="offline",
            sources=sources or [],
        ),
        answered_at=MOMENT,
        rated_at=MOMENT,
    )
