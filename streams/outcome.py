"""What the workflow decided for one question."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import Category, EscalationReason, Source


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

    @property
    def escalated(self) -> bool:
        return self.escalation_reason is not None
