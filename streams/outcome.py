"""What the workflow decided for one question."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import Category, EscalationReason, Source
from streams.context import ConversationContext


@dataclass(frozen=True, slots=True)
class Outcome:
    answer: str
    category: Category
    confidence: float
    responder: str
    sources: list[Source] = field(default_factory=list)
    """Documents the answer rests on."""
    consulted: list[Source] = field(default_factory=list)
    """Documents retrieved while deciding to escalate, for the person taking over."""
    escalation_reason: EscalationReason | None = None
    used_context: bool = False
    """True when earlier turns of the conversation shaped the answer."""
    cached: bool = False
    context: ConversationContext | None = None
    """What the conversation is about after this question (products, order, topic)."""
    language: str = "en"
    """The language the customer wrote in (BCP 47, ``hi-Latn`` for romanized Hindi)."""
    approved_answer_id: str | None = None
    """Set when the answer is an operator-approved one (``streams.approved``)."""

    @property
    def escalated(self) -> bool:
        return self.escalation_reason is not None
