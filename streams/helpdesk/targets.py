"""How an escalation becomes a ticket, or a note on one, in Zendesk and in Freshdesk.

Zendesk Tickets API: ``POST /api/v2/tickets.json`` with an ``Idempotency-Key``, notes as
private comments through ``PUT /api/v2/tickets/{id}.json``. Freshdesk v2:
``POST /api/v2/tickets``, notes through ``POST /api/v2/tickets/{id}/notes``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

from schemas import Escalation, Priority, TicketType

_FRESHDESK_PRIORITY = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}
_FRESHDESK_OPEN = 2
_FRESHDESK_SOURCE_CHAT = 7
_FRESHDESK_TYPES = {
    TicketType.QUESTION: "Question",
    TicketType.INCIDENT: "Incident",
    TicketType.PROBLEM: "Problem",
}


@dataclass(frozen=True, slots=True)
class HttpCall:
    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class Target(Protocol):
    name: str

    def auth_header(self) -> str: ...

    def create(self, escalation: Escalation) -> HttpCall: ...

    def add_note(self, ticket_id: str, escalation: Escalation) -> HttpCall: ...

    def ticket_id(self, response: dict[str, Any]) -> str: ...


def note_text(escalation: Escalation) -> str:
    lines = [escalation.summary, "", "Transcript:"]
    lines += [f"{turn.role}: {turn.text}" for turn in escalation.transcript]
    if escalation.sources:
        lines += ["", "Knowledge consulted: " + ", ".join(s.title for s in escalation.sources)]
    lines += ["", f"Reference: {escalation.request_id} (conversation {escalation.conversation_id})"]
    return "\n".join(lines)


class Zendesk:
    name = "zendesk"

    def __init__(self, email: str, api_token: str) -> None:
        self._email = email
        self._token = api_token

    def auth_header(self) -> str:
        credentials = base64.b64encode(f"{self._email}/token:{self._token}".encode()).decode()
        return f"Basic {credentials}"

    def create(self, escalation: Escalation) -> HttpCall:
        ticket: dict[str, Any] = {
            "subject": escalation.subject,
            "comment": {"body": note_text(escalation), "public": False},
            "priority": escalation.priority.value,
            "type": escalation.ticket_type.value,
            "tags": escalation.tags,
            "external_id": escalation.conversation_id,
        }
        requester = escalation.requester
        if requester.email:
            ticket["requester"] = {
                "name": requester.name or requester.email,
                "email": requester.email,
            }
        return HttpCall(
            "POST",
            "/api/v2/tickets.json",
            {"ticket": ticket},
            {"Idempotency-Key": escalation.event_id},
        )

    def add_note(self, ticket_id: str, escalation: Escalation) -> HttpCall:
        body = {"ticket": {"comment": {"body": note_text(escalation), "public": False}}}
        return HttpCall("PUT", f"/api/v2/tickets/{ticket_id}.json", body, {})

    def ticket_id(self, response: dict[str, Any]) -> str:
        return str(response["ticket"]["id"])


class Freshdesk:
    name = "freshdesk"

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def auth_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self._api_key}:X".encode()).decode()

    def create(self, escalation: Escalation) -> HttpCall:
        requester = escalation.requester
        ticket: dict[str, Any] = {
            "subject": escalation.subject,
            "description": note_text(escalation).replace("\n", "<br>"),
            "priority": _FRESHDESK_PRIORITY[escalation.priority],
            "status": _FRESHDESK_OPEN,
            "source": _FRESHDESK_SOURCE_CHAT,
            "tags": escalation.tags,
        }
        if escalation.ticket_type in _FRESHDESK_TYPES:
            ticket["type"] = _FRESHDESK_TYPES[escalation.ticket_type]
        if requester.name:
            ticket["name"] = requester.name
        if requester.email:
            ticket["email"] = requester.email
        elif requester.phone:
            ticket["phone"] = requester.phone
        else:  # Freshdesk needs some requester identity; the conversation is the only one.
            ticket["unique_external_id"] = f"techgear-conversation-{escalation.conversation_id}"
        return HttpCall("POST", "/api/v2/tickets", ticket, {})

    def add_note(self, ticket_id: str, escalation: Escalation) -> HttpCall:
        body = {"body": note_text(escalation).replace("\n", "<br>"), "private": True}
        return HttpCall("POST", f"/api/v2/tickets/{ticket_id}/notes", body, {})

    def ticket_id(self, response: dict[str, Any]) -> str:
        return str(response["id"])
