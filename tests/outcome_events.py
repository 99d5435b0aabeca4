"""Scripted conversations (transcript events and ratings) for the outcome figures' tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schemas import (
    AnswerFacts,
    Category,
    ConversationMessage,
    EscalationReason,
    Feedback,
    FeedbackRating,
    FeedbackReason,
    HandoffChanged,
    HandoffState,
    Source,
    TranscriptRole,
    new_id,
)


@dataclass
class Scripted:
    """One conversation; each event is numbered (``seq``) and stamped ``step`` later than
    the one before."""

    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    conversation_id: str = field(default_factory=new_id)
    step: timedelta = timedelta(milliseconds=10)
    seq: int = 0
    facts: dict[str, AnswerFacts] = field(default_factory=dict)

    def _next(self) -> tuple[int, datetime]:
        self.seq += 1
        self.at += self.step
        return self.seq, self.at

    def _common(self, request_id: str) -> dict[str, str]:
        return {
            "request_id": request_id,
            "conversation_id": self.conversation_id,
            "correlation_id": request_id,
        }

    def question(self, request_id: str, *, forwarded: bool = False) -> ConversationMessage:
        seq, at = self._next()
        return ConversationMessage(
            **self._common(request_id),
            seq=seq,
            message_id=request_id,
            role=TranscriptRole.CUSTOMER,
            text="How long is the warranty?",
            forwarded=forwarded,
            occurred_at=at,
        )

    def answer(
        self,
        request_id: str,
        category: Category = Category.WARRANTY,
        doc_ids: tuple[str, ...] = (),
        escalation_reason: EscalationReason | None = None,
    ) -> ConversationMessage:
        seq, at = self._next()
        facts = AnswerFacts(
            category=category,
            confidence=0.9,
            responder="offline",
            sources=[Source(doc_id=doc_id, title=doc_id, score=0.8) for doc_id in doc_ids],
            escalation_reason=escalation_reason,
        )
        self.facts[request_id] = facts
        return ConversationMessage(
            **self._common(request_id),
            seq=seq,
            message_id=f"{request_id}:answer",
            role=TranscriptRole.ASSISTANT,
            text="Two years.",
            answer=facts,
            occurred_at=at,
        )

    def handoff(
        self,
        request_id: str,
        state: HandoffState,
        previous: HandoffState,
        reason: str,
        actor: str = "bot",
    ) -> HandoffChanged:
        seq, at = self._next()
        return HandoffChanged(
            **self._common(request_id),
            seq=seq,
            state=state,
            previous_state=previous,
            actor=actor,
            reason=reason,
            notice="A person will reply.",
            occurred_at=at,
        )

    def rating(
        self,
        request_id: str,
        rating: FeedbackRating,
        revision: int = 1,
        reason: FeedbackReason | None = None,
    ) -> Feedback:
        self.at += self.step
        return Feedback(
            **self._common(request_id),
            feedback_id=f"{request_id}:{revision}",
            revision=revision,
            rating=rating,
            reason=reason,
            principal="key:alpha",
            channel="chat",
            question="How long is the warranty?",
            answer=self.facts[request_id],
            answered_at=self.at,
            rated_at=self.at,
        )
