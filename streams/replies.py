"""Fixed replies: greetings, polite refusals and escalation notices."""

from __future__ import annotations

import re

from schemas import EscalationReason

_THANKS = re.compile(r"\b(thanks|thank you|thx|ty|appreciate)\b", re.I)
_GOODBYE = re.compile(r"\b(bye|goodbye|see you|good night)\b", re.I)

OUT_OF_SCOPE = (
    "Sorry, I can only help with TechGear Electronics: our products, orders, shipping, "
    "returns, warranty, payments and your account. Is there anything TechGear-related I "
    "can help you with?"
)

_ESCALATION_NOTICES = {
    EscalationReason.HUMAN_REQUESTED: "Of course. I've passed this conversation to our "
    "support team",
    EscalationReason.COMPLAINT: "I'm sorry about your experience. I've passed this conversation "
    "to our support team so a person can put it right",
    EscalationReason.NO_RELEVANT_KNOWLEDGE: "I don't have a reliable answer to that, so I've "
    "passed your question to our support team",
    EscalationReason.LOW_CONFIDENCE: "I'm not sure I understood that correctly, so I've passed "
    "your question to our support team",
    EscalationReason.LLM_UNAVAILABLE: "I can't answer that right now, so I've passed your "
    "question to our support team",
    EscalationReason.POLICY_EXCEPTION: "That needs a decision from our support team, so I've "
    "passed it on",
}


def greeting(message: str) -> str:
    if _THANKS.search(message):
        return "You're welcome! Is there anything else I can help you with?"
    if _GOODBYE.search(message):
        return "Goodbye, and thank you for choosing TechGear!"
    return (
        "Hello! I'm TechGear's support assistant. Ask me about our products, orders, "
        "shipping, returns, warranty or payments."
    )


def escalation_notice(reason: EscalationReason, request_id: str) -> str:
    return (
        f"{_ESCALATION_NOTICES[reason]}. A person will follow up with you here shortly. "
        f"Your reference is {request_id}."
    )
