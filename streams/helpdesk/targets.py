"""How an escalation becomes a ticket, or a note on one, in Zendesk and in Freshdesk, and
how to find the one a previous run made before it could remember it.

Every ticket and note carries the line ``Escalation: <event_id>`` (see ``marker``).

Zendesk Tickets API: ``POST /api/v2/tickets.json`` with an ``Idempotency-Key``; notes as
private comments through ``PUT /api/v2/tickets/{id}.json`` (the reply's ``audit`` holds the
comment's id). Lookups read live data with cursor pagination (``page[size]``,
``meta.has_more``, ``links.next``): tickets through ``GET /api/v2/tickets.json?external_id=``
(the conversation), matched on their ``description`` (the first comment); notes through
``GET /api/v2/tickets/{id}/comments.json``, matched on their ``body``.

Freshdesk v2: ``POST /api/v2/tickets``, notes through ``POST /api/v2/tickets/{id}/notes``.
Freshdesk has no idempotency key, and its ``unique_external_id`` names the requester (a
contact), not a ticket; so each ticket also gets the tag ``escalation_tag`` and is looked up
with the filter API, ``GET /api/v2/search/tickets?query="tag:'<tag>'"``. That search is
served from an index that Freshdesk documents as trailing by a few minutes, hence
``ticket_search_lag_s``: how long a ticket may stay invisible there. The list endpoint
(``GET /api/v2/tickets``) reads live data but filters only by requester, company or update
time and does not promise to return tags. Notes are looked up in
``GET /api/v2/tickets/{id}/conversations`` (live; pages follow the ``Link: rel="next"``
header), matched on their ``body_text`` or ``body``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from schemas import Escalation, Priority, TicketType

_FRESHDESK_PRIORITY = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}
_FRESHDESK_OPEN = 2
_FRESHDESK_SOURCE_CHAT = 7
_FRESHDESK_TYPES = {
    TicketType.QUESTION: "Question",
    TicketType.INCIDENT: "Incident",
    TicketType.PROBLEM: "Problem",
}
_PAGE_SIZE = "100"


@dataclass(frozen=True, slots=True)
class HttpCall:
    method: str
    path: str
    """A path under the helpdesk's base URL, or a whole URL (a listing's next page)."""
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Found:
    """One page of a lookup: the id of the ticket or note made for the escalation, if this
    page has it, and the call for the next page, if there is one."""

    id: str | None
    next: HttpCall | None = None


class Target(Protocol):
    name: str
    ticket_search_lag_s: float
    """How long a new ticket may stay missing from ``find_ticket``'s listing."""

    def auth_header(self) -> str: ...

    def create(self, escalation: Escalation) -> HttpCall: ...

    def ticket_id(self, reply: httpx.Response) -> str:
        """The id of the ticket ``create`` made."""
        ...

    def add_note(self, ticket_id: str, escalation: Escalation) -> HttpCall: ...

    def note_id(self, reply: httpx.Response) -> str:
        """The id of the note ``add_note`` made."""
        ...

    def find_ticket(self, escalation: Escalation) -> HttpCall: ...

    def ticket_found(self, reply: httpx.Response, escalation: Escalation) -> Found: ...

    def find_note(self, ticket_id: str) -> HttpCall: ...

    def note_found(self, reply: httpx.Response, escalation: Escalation) -> Found: ...


def marker(escalation: Escalation) -> str:
    """The line that ties a ticket or note to the escalation that made it."""
    return f"Escalation: {escalation.event_id}"


def escalation_tag(escalation: Escalation) -> str:
    """A tag unique to the escalation, within Freshdesk's 32 characters per tag."""
    return "techgear-" + hashlib.sha256(escalation.event_id.encode()).hexdigest()[:23]


def note_text(escalation: Escalation) -> str:
    lines = [escalation.summary, "", "Transcript:"]
    lines += [f"{turn.role}: {turn.text}" for turn in escalation.transcript]
    if escalation.sources:
        lines += ["", "Knowledge consulted: " + ", ".join(s.title for s in escalation.sources)]
    lines += ["", f"Reference: {escalation.request_id} (conversation {escalation.conversation_id})"]
    lines.append(marker(escalation))
    return "\n".join(lines)


def _carries(item: dict[str, Any], escalation: Escalation, *fields: str) -> bool:
    return any(marker(escalation) in str(item.get(name) or "") for name in fields)


class Zendesk:
    name = "zendesk"
    ticket_search_lag_s = 0.0

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

    def ticket_id(self, reply: httpx.Response) -> str:
        return str(reply.json()["ticket"]["id"])

    def add_note(self, ticket_id: str, escalation: Escalation) -> HttpCall:
        body = {"ticket": {"comment": {"body": note_text(escalation), "public": False}}}
        return HttpCall("PUT", f"/api/v2/tickets/{ticket_id}.json", body)

    def note_id(self, reply: httpx.Response) -> str:
        events = reply.json()["audit"]["events"]
        return str([event["id"] for event in events if event["type"] == "Comment"][0])

    def find_ticket(self, escalation: Escalation) -> HttpCall:
        params = {"external_id": escalation.conversation_id, "page[size]": _PAGE_SIZE}
        return HttpCall("GET", "/api/v2/tickets.json", params=params)

    def ticket_found(self, reply: httpx.Response, escalation: Escalation) -> Found:
        return self._found(reply, "tickets", escalation, "description")

    def find_note(self, ticket_id: str) -> HttpCall:
        path = f"/api/v2/tickets/{ticket_id}/comments.json"
        return HttpCall("GET", path, params={"page[size]": _PAGE_SIZE})

    def note_found(self, reply: httpx.Response, escalation: Escalation) -> Found:
        return self._found(reply, "comments", escalation, "body", "plain_body")

    @staticmethod
    def _found(reply: httpx.Response, key: str, escalation: Escalation, *fields: str) -> Found:
        page = reply.json()
        made = [item for item in page[key] if _carries(item, escalation, *fields)]
        more = page["meta"]["has_more"]
        return Found(
            str(made[0]["id"]) if made else None,
            HttpCall("GET", page["links"]["next"]) if more and not made else None,
        )


class Freshdesk:
    name = "freshdesk"

    def __init__(self, api_key: str, *, ticket_search_lag_s: float = 300.0) -> None:
        self._api_key = api_key
        self.ticket_search_lag_s = ticket_search_lag_s

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
            "tags": [*escalation.tags, escalation_tag(escalation)],
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
        return HttpCall("POST", "/api/v2/tickets", ticket)

    def ticket_id(self, reply: httpx.Response) -> str:
        return str(reply.json()["id"])

    def add_note(self, ticket_id: str, escalation: Escalation) -> HttpCall:
        body = {"body": note_text(escalation).replace("\n", "<br>"), "private": True}
        return HttpCall("POST", f"/api/v2/tickets/{ticket_id}/notes", body)

    def note_id(self, reply: httpx.Response) -> str:
        return str(reply.json()["id"])

    def find_ticket(self, escalation: Escalation) -> HttpCall:
        query = f"\"tag:'{escalation_tag(escalation)}'\""
        return HttpCall("GET", "/api/v2/search/tickets", params={"query": query})

    def ticket_found(self, reply: httpx.Response, escalation: Escalation) -> Found:
        results = reply.json()["results"]  # the query selects the escalation's tag only
        return Found(str(results[0]["id"]) if results else None)

    def find_note(self, ticket_id: str) -> HttpCall:
        path = f"/api/v2/tickets/{ticket_id}/conversations"
        return HttpCall("GET", path, params={"per_page": _PAGE_SIZE})

    def note_found(self, reply: httpx.Response, escalation: Escalation) -> Found:
        made = [item for item in reply.json() if _carries(item, escalation, "body_text", "body")]
        following = reply.links.get("next", {}).get("url")
        return Found(
            str(made[0]["id"]) if made else None,
            HttpCall("GET", following) if following and not made else None,
        )
