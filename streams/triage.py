"""How an escalation is presented to a helpdesk: priority, ticket type, subject, tags.

The rules are deliberately plain so support leads can read and change them:

- a complaint mentioning legal action, fraud, danger or extreme urgency is ``urgent``;
  any other complaint is ``high``; a request for a person ``normal``; questions the
  assistant could not answer ``normal``, or ``low`` when they were greetings or chit-chat;
- complaints and technical faults are incidents, order changes are tasks, the rest
  questions.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from schemas import Category, EscalationReason, Priority, TicketType, TranscriptTurn
from streams.language import language_name
from streams.memory import Turn

SUBJECT_CHARS = 150
_NAMESPACE = uuid.UUID("6f3c1c43-8a3b-4f3e-9a55-2e0d7a1b9c10")
_URGENT = re.compile(
    r"\b(consumer (court|forum)|lawyer|legal|sue|police|fraud|scam|cheat(ed|ing)?|fire|smok(e|ing)|"
    r"burn(t|ed|ing)?|explod\w*|shock|urgent(ly)?|immediately|asap|emergency)\b",
    re.IGNORECASE,
)
_TYPES = {
    Category.COMPLAINT: TicketType.INCIDENT,
    Category.TECHNICAL_SUPPORT: TicketType.INCIDENT,
    Category.WARRANTY: TicketType.INCIDENT,
    Category.ORDER_STATUS: TicketType.TASK,
    Category.RETURNS_REFUNDS: TicketType.TASK,
    Category.ACCOUNT: TicketType.TASK,
}


def escalation_event_id(request_id: str) -> str:
    """Stable per request: a redelivered request maps to the same helpdesk ticket."""
    return str(uuid.uuid5(_NAMESPACE, request_id))


def priority(reason: EscalationReason, category: Category, message: str) -> Priority:
    if reason is EscalationReason.COMPLAINT or category is Category.COMPLAINT:
        return Priority.URGENT if _URGENT.search(message) else Priority.HIGH
    if _URGENT.search(message):
        return Priority.HIGH
    if category in {Category.GREETING, Category.OUT_OF_SCOPE}:
        return Priority.LOW
    return Priority.NORMAL


def ticket_type(category: Category) -> TicketType:
    return _TYPES.get(category, TicketType.QUESTION)


def subject(category: Category, message: str) -> str:
    label = category.value.replace("_", " ").capitalize()
    first_line = " ".join(message.split())
    text = f"{label}: {first_line}"
    return text if len(text) <= SUBJECT_CHARS else text[: SUBJECT_CHARS - 1].rstrip() + "…"


def summary(
    reason: EscalationReason, message: str, history: Sequence[Turn], language: str = "en"
) -> str:
    why = {
        EscalationReason.HUMAN_REQUESTED: "The customer asked for a person.",
        EscalationReason.COMPLAINT: "The customer is unhappy and complained.",
        EscalationReason.NO_RELEVANT_KNOWLEDGE: "The assistant found nothing reliable to say.",
        EscalationReason.LOW_CONFIDENCE: "The assistant was unsure what the customer meant.",
        EscalationReason.LLM_UNAVAILABLE: "The assistant's language model was unavailable.",
        EscalationReason.POLICY_EXCEPTION: "The request needs a decision outside policy.",
    }[reason]
    earlier = (
        f" Earlier in the conversation they asked: {history[-1].question!r}." if history else ""
    )
    wrote_in = "" if language == "en" else f" They wrote in {language_name(language)}."
    return f"{why}{wrote_in} Their message: {message!r}.{earlier}"


def transcript(history: Sequence[Turn], message: str) -> list[TranscriptTurn]:
    turns: list[TranscriptTurn] = []
    for turn in history:
        turns.append(TranscriptTurn(role="customer", text=turn.question))
        turns.append(TranscriptTurn(role="assistant", text=turn.answer))
    turns.append(TranscriptTurn(role="customer", text=message))
    return turns


def tags(category: Category, reason: EscalationReason, channel: str, language: str) -> list[str]:
    """``lang-<code>`` in lowercase, as Zendesk stores every tag (``lang-hi-latn``), so a
    view or trigger can route the ticket to people who read the customer's language."""
    return [
        "techgear-assistant",
        f"category-{category.value}",
        f"reason-{reason.value}",
        f"channel-{channel}",
        f"lang-{language.lower()}",
    ]
