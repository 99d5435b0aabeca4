"""The ``Escalation`` events a customer's message causes: a ticket (new, or a follow-up
on the conversation's open one), or the message itself passed on to the person who owns
the conversation (``customer_message``). Their ``event_id`` derives from the request id,
so a request processed again yields the same event and the helpdesk applies it once."""

from __future__ import annotations

from datetime import datetime

from schemas import (
    Category,
    ChatRequest,
    Customer,
    Escalation,
    EscalationKind,
    EscalationReason,
    TranscriptTurn,
)
from streams import triage
from streams.language import detect_language
from streams.memory import ConversationState, TicketRef
from streams.outcome import Outcome


def ticket_escalation(
    request: ChatRequest,
    outcome: Outcome,
    reason: EscalationReason,
    state: ConversationState,
    ticket: TicketRef,
    expected_response_by: datetime,
    *,
    language: str | None = None,
) -> Escalation:
    """Opens ``ticket`` when it is this request's own, else follows up on it. ``language``
    is the one the workflow detected (BCP 47); without it, the message's own."""
    event_id = triage.escalation_event_id(request.request_id)
    language = language or detect_language(request.message).code
    return Escalation(
        **_common(request),
        event_id=event_id,
        kind=EscalationKind.NEW if ticket.event_id == event_id else EscalationKind.FOLLOW_UP,
        ticket_event_id=ticket.event_id,
        subject=triage.subject(outcome.category, request.message),
        summary=triage.summary(reason, request.message, state.turns, language),
        transcript=triage.transcript(state.turns, request.message),
        category=outcome.category,
        confidence=outcome.confidence,
        reason=reason,
        priority=triage.priority(reason, outcome.category, request.message),
        ticket_type=triage.ticket_type(outcome.category),
        tags=triage.tags(outcome.category, reason, request.channel, language),
        sources=outcome.consulted,
        expected_response_by=expected_response_by,
        language=language,
    )


def customer_message(
    request: ChatRequest,
    ticket: TicketRef,
    state: ConversationState,
    expected_by: datetime | None,
    *,
    language: str | None = None,
) -> Escalation:
    """The customer's message for the person on ``ticket`` (a public reply from the
    requester), classed like a request for a person; in ``language``, else the message's."""
    reason = state.handoff_reason or EscalationReason.HUMAN_REQUESTED
    language = language or detect_language(request.message).code
    category = Category.HUMAN_AGENT
    return Escalation(
        **_common(request),
        event_id=triage.escalation_event_id(request.request_id),
        kind=EscalationKind.CUSTOMER_MESSAGE,
        ticket_event_id=ticket.event_id,
        subject=triage.subject(category, request.message),
        summary=request.message,
        transcript=[TranscriptTurn(role="customer", text=request.message)],
        category=category,
        confidence=1.0,
        reason=reason,
        priority=triage.priority(reason, category, request.message),
        ticket_type=triage.ticket_type(category),
        tags=triage.tags(category, reason, request.channel, language),
        expected_response_by=expected_by,
        language=language,
    )


def _common(request: ChatRequest) -> dict[str, object]:
    return {
        "request_id": request.request_id,
        "conversation_id": request.conversation_id,
        "correlation_id": request.correlation_id,
        "requester": request.customer or Customer(),
        "requester_verified": request.customer_verified,
        "principal": request.principal,
        "channel": request.channel,
    }
