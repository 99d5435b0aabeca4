"""Fixed replies: greetings, polite refusals, escalation and handoff notices."""

from __future__ import annotations

import re
from collections.abc import Sequence

from schemas import EscalationReason
from streams.language import language_name

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


def not_sold(name: str, alternatives: Sequence[str]) -> str:
    """For a product name that is not in the catalogue, with what we sell of its kind."""
    reply = f"We don't sell a product called {name}."
    if not alternatives:
        return f"{reply} Ask me about any product in the TechGear range and I'll help."
    listed = (
        alternatives[0]
        if len(alternatives) == 1
        else (", ".join(alternatives[:-1]) + f" and {alternatives[-1]}")
    )
    return f"{reply} Of that kind we sell: {listed}. Would you like to know about one of them?"


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


_PASSED_ON_IN = {
    "hi": "मैंने आपका संदेश हमारी सहायता टीम को भेज दिया है; हिंदी पढ़ने वाला एक व्यक्ति यहीं उत्तर देगा।"
}
"""Languages the support team reads, with the notice in them."""


def language_escalation_notice(language: str, request_id: str, promise: str | None) -> str:
    """The notice for a message passed to a person because the assistant cannot answer it
    in its language (BCP 47 ``language``): in that language and English when the support
    team reads it, else in English, promising nobody who reads it."""
    when = f" {promise}" if promise else ""
    reference = f"Your reference is {request_id}."
    name = language_name(language)
    if language in _PASSED_ON_IN:
        english = (
            f"I've passed your message to our support team; a person who reads {name} "
            "will reply here."
        )
        return f"{_PASSED_ON_IN[language]} {english}{when} {reference}"
    written_in = f" in {name}" if name != language else ""
    english = (
        f"I can answer in English only, so I've passed your message{written_in} to our "
        "support team."
    )
    return f"{english}{when} {reference}"


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
