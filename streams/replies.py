"""Fixed replies: greetings, polite refusals, escalation and handoff notices."""

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


def escalation_notice(reason: EscalationReason, request_id: str, promise: str | None) -> str:
    """``promise`` says when a person will reply (``streams.support_hours``); without it
    the notice promises nothing about time."""
    when = f" {promise}" if promise else ""
    return f"{_ESCALATION_NOTICES[reason]}.{when} Your reference is {request_id}."


def forwarded(agent_name: str | None) -> str:
    return f"Passed on to {agent_name or 'our support team'}; they will reply here."


CONVERSATION_CLOSED = (
    "This conversation was closed, so nobody will read new messages here. Please start a new "
    "chat if you need anything else."
)


def agent_joined(agent_name: str) -> str:
    return f"{agent_name} from TechGear support joined the conversation."


HANDED_BACK = "You are back with the TechGear assistant; ask me anything."
CLOSED = "This conversation was closed. Start a new chat any time."


def still_waiting(expected_by: str) -> str:
    return (
        "Still waiting for a person from our support team; we expected one by "
        f"{expected_by}. Sorry for the delay: they will reply here as soon as they can."
    )
