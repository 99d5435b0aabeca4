"""How an escalation becomes a ticket, a note on one, or the customer's own reply on one,
in Zendesk and in Freshdesk, and how to find the one a previous run made before it could
remember it.

Every ticket, note and customer reply carries the line ``Escalation: <event_id>`` (see
``marker``).

What reaches a helpdesk from an event is customer text, so it is never markup: ticket bodies,
notes and customer replies are sent as HTML built by ``_html`` alone, every line escaped (Zendesk's
``html_body``, not ``body``, which Zendesk renders as Markdown and autolinks; Freshdesk's
``description`` and note ``body``). Subjects and names are plain-text fields in both APIs,
sent on one line without control characters. A requester asserted by the caller
(``requester_verified`` false) does not become the ticket's requester, who gets the
helpdesk's mail, unless ``Requesters.trust_unverified``: a stand-in does, and the asserted
name, email and phone go into the body marked as unverified. Ticket ids are positive
integers in both APIs; anything else is refused (``InvalidTicketIdError``) before it can
reach a URL path.

Zendesk Tickets API: ``POST /api/v2/tickets.json`` with an ``Idempotency-Key``; notes as
private comments through ``PUT /api/v2/tickets/{id}.json`` (the reply's ``audit`` holds the
comment's id). Lookups read live data with cursor pagination (``page[size]``,
``meta.has_more``, ``links.next``): tickets through ``GET /api/v2/tickets.json?external_id=``
(the conversation), matched on their ``description`` (the first comment); notes through
``GET /api/v2/tickets/{id}/comments.json``, matched on their ``body``. A customer's message
written while a person owns the conversation becomes a public comment whose ``author_id``
is the ticket's ``requester_id`` (read with ``GET /api/v2/tickets/{id}.json``), so it shows
as the customer's reply. Zendesk still counts the bridge's agent as the ticket's updater:
a trigger that mails the requester about public comments (the default "Notify requester and
CCs of comment update") would mail the customer their own message unless it excludes that
agent ("Current user" is not the bridge's agent).

Freshdesk v2: ``POST /api/v2/tickets``, notes through ``POST /api/v2/tickets/{id}/notes``.
Freshdesk has no idempotency key, and its ``unique_external_id`` names the requester (a
contact), not a ticket; so each ticket also gets the tag ``escalation_tag`` and is looked up
with the filter API, ``GET /api/v2/search/tickets?query="tag:'<tag>'"``. That search is
served from an index that Freshdesk documents as trailing by a few minutes, hence
``ticket_search_lag_s``: how long a ticket may stay invisible there. The list endpoint
(``GET /api/v2/tickets``) reads live data but filters only by requester, company or update
time and does not promise to return tags. Notes are looked up in
``GET /api/v2/tickets/{id}/conversations`` (live; pages follow the ``Link: rel="next"``
header), matched on their ``body_text`` or ``body``. A customer's message becomes a note
that is public (``private: false``), ``incoming`` (shown as coming from outside, like the
customer's own replies) and written as the ticket's ``requester_id`` (``user_id``; read with
``GET /api/v2/tickets/{id}``): a note, not a reply, because ``POST .../reply`` mails the
requester, and with no ``notify_emails``, so nobody is mailed by the bridge.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from runtime.errors import InvalidTicketIdError
from schemas import Customer, Escalation, Priority, TicketType

_FRESHDESK_PRIORITY = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}
_FRESHDESK_OPEN = 2
_FRESHDESK_SOURCE_CHAT = 7
_FRESHDESK_TYPES = {
    TicketType.QUESTION: "Question",
    TicketType.INCIDENT: "Incident",
    TicketType.PROBLEM: "Problem",
}
_PAGE_SIZE = "100"
_ID = re.compile(r"[1-9][0-9]{0,18}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
STAND_IN_EMAIL = "unverified-requester@techgear.invalid"
UNVERIFIED = "unverified (asserted by the caller)"


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
        """The id of the note ``add_note`` or ``add_customer_message`` made."""
        ...

    def show_ticket(self, ticket_id: str) -> HttpCall: ...

    def requester_id(self, reply: httpx.Response) -> str:
        """The id of the requester of the ticket ``show_ticket`` read."""
        ...

    def add_customer_message(
        self, ticket_id: str, requester_id: str, escalation: Escalation
    ) -> HttpCall:
        """The escalation's ``summary`` (the customer's message) as the requester's public
        reply on the ticket."""
        ...

    def find_ticket(self, escalation: Escalation) -> HttpCall: ...

    def ticket_found(self, reply: httpx.Response, escalation: Escalation) -> Found: ...

    def find_note(self, ticket_id: str) -> HttpCall: ...

    def note_found(self, reply: httpx.Response, escalation: Escalation) -> Found: ...


@dataclass(frozen=True, slots=True)
class Requesters:
    """Who a ticket is opened for: the escalation's requester when the caller's credential
    vouched for it (or ``trust_unverified``), else the stand-in, an address that must not
    reach a person outside the company (``.invalid`` never delivers)."""

    trust_unverified: bool = False
    stand_in_email: str = STAND_IN_EMAIL
    stand_in_name: str = "Unverified requester"

    def of(self, escalation: Escalation) -> Customer:
        if escalation.requester_verified or self.trust_unverified:
            return escalation.requester
        return Customer(name=self.stand_in_name, email=self.stand_in_email)


def _positive_integer(value: object) -> str | None:
    """``value`` as the decimal text of a positive integer (the ids of both APIs), or None."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return text if isinstance(text, str) and _ID.fullmatch(text) else None


def checked_ticket_id(value: object) -> str:
    """``value`` as a ticket id fit for a URL path: a positive integer, or refused."""
    text = _positive_integer(value)
    if text is None:
        raise InvalidTicketIdError(f"ticket id {str(value)[:80]!r} is not a positive integer")
    return text


def marker(escalation: Escalation) -> str:
    """The line that ties a ticket or note to the escalation that made it."""
    return f"Escalation: {escalation.event_id}"


def escalation_tag(escalation: Escalation) -> str:
    """A tag unique to the escalation, within Freshdesk's 32 characters per tag."""
    return "techgear-" + hashlib.sha256(escalation.event_id.encode()).hexdigest()[:23]


def note_lines(escalation: Escalation) -> list[str]:
    """The text of a ticket's first comment or of a note, line by line, unescaped."""
    lines = [escalation.summary]
    requester = escalation.requester
    asserted = [
        f"{label}: {value}"
        for label, value in (
            ("name", requester.name),
            ("email", requester.email),
            ("phone", requester.phone),
        )
        if value
    ]
    if asserted and not escalation.requester_verified:
        lines += ["", f"Requester, {UNVERIFIED}: " + "; ".join(asserted)]
    lines += ["", "Transcript:"]
    lines += [f"{turn.role}: {turn.text}" for turn in escalation.transcript]
    if escalation.sources:
        lines += ["", "Knowledge consulted: " + ", ".join(s.title for s in escalation.sources)]
    lines += ["", f"Reference: {escalation.request_id} (conversation {escalation.conversation_id})"]
    lines.append(marker(escalation))
    return lines


def customer_message_lines(escalation: Escalation) -> list[str]:
    """The text of a customer's message on the ticket, line by line, unescaped."""
    return [escalation.summary, "", marker(escalation)]


def _html(lines: list[str]) -> str:
    """``lines`` as HTML: each line escaped (also inside: a transcript turn may hold line
    breaks), lines joined by ``<br>``, the only markup."""
    return "<br>".join(html.escape(line).replace("\n", "<br>") for line in lines)


def _user_id(value: object) -> str:
    """``value`` as a user id; anything else is a reply not shaped as documented."""
    text = _positive_integer(value)
    if text is None:
        raise ValueError(f"requester id {str(value)[:80]!r} is not a positive integer")
    return text


def _plain(text: str) -> str:
    """``text`` for a one-line plain-text field (subject, name)."""
    return _CONTROL.sub(" ", text).strip()


def _carries(item: dict[str, Any], escalation: Escalation, *fields: str) -> bool:
    return any(marker(escalation) in str(item.get(name) or "") for name in fields)


class Zendesk:
    name = "zendesk"
    ticket_search_lag_s = 0.0

    def __init__(self, email: str, api_token: str, requesters: Requesters | None = None) -> None:
        self._email = email
        self._token = api_token
        self._requesters = requesters or Requesters()

    def auth_header(self) -> str:
        credentials = base64.b64encode(f"{self._email}/token:{self._token}".encode()).decode()
        return f"Basic {credentials}"

    def create(self, escalation: Escalation) -> HttpCall:
        ticket: dict[str, Any] = {
            "subject": _plain(escalation.subject),
            "comment": {"html_body": _html(note_lines(escalation)), "public": False},
            "priority": escalation.priority.value,
            "type": escalation.ticket_type.value,
            "tags": escalation.tags,
            "external_id": escalation.conversation_id,
        }
        requester = self._requesters.of(escalation)
        if requester.email:
            ticket["requester"] = {
                "name": _plain(requester.name or requester.email),
                "email": requester.email,
            }
        return HttpCall(
            "POST",
            "/api/v2/tickets.json",
            {"ticket": ticket},
            {"Idempotency-Key": escalation.event_id},
        )

    def ticket_id(self, reply: httpx.Response) -> str:
        return checked_ticket_id(reply.json()["ticket"]["id"])

    def add_note(self, ticket_id: str, escalation: Escalation) -> HttpCall:
        body = {
            "ticket": {"comment": {"html_body": _html(note_lines(escalation)), "public": False}}
        }
        return HttpCall("PUT", f"/api/v2/tickets/{checked_ticket_id(ticket_id)}.json", body)

    def note_id(self, reply: httpx.Response) -> str:
        events = reply.json()["audit"]["events"]
        return str([event["id"] for event in events if event["type"] == "Comment"][0])

    def show_ticket(self, ticket_id: str) -> HttpCall:
        return HttpCall("GET", f"/api/v2/tickets/{checked_ticket_id(ticket_id)}.json")

    def requester_id(self, reply: httpx.Response) -> str:
        return _user_id(reply.json()["ticket"]["requester_id"])

    def add_customer_message(
        self, ticket_id: str, requester_id: str, escalation: Escalation
    ) -> HttpCall:
        comment = {
            "html_body": _html(customer_message_lines(escalation)),
            "public": True,
            "author_id": int(requester_id),
        }
        path = f"/api/v2/tickets/{checked_ticket_id(ticket_id)}.json"
        return HttpCall("PUT", path, {"ticket": {"comment": comment}})

    def find_ticket(self, escalation: Escalation) -> HttpCall:
        params = {"external_id": escalation.conversation_id, "page[size]": _PAGE_SIZE}
        return HttpCall("GET", "/api/v2/tickets.json", params=params)

    def ticket_found(self, reply: httpx.Response, escalation: Escalation) -> Found:
        found = self._found(reply, "tickets", escalation, "description")
        return Found(checked_ticket_id(found.id), found.next) if found.id else found

    def find_note(self, ticket_id: str) -> HttpCall:
        path = f"/api/v2/tickets/{checked_ticket_id(ticket_id)}/comments.json"
        return HttpCall("GET", path, params={"page[size]": _PAGE_SIZE})

    def note_found(self, reply: httpx.Response, escalation: Escalation) -> Found:
        return self._found(reply, "comments", escalation, "body", "plain_body", "html_body")

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

    def __init__(
        self,
        api_key: str,
        *,
        ticket_search_lag_s: float = 300.0,
        requesters: Requesters | None = None,
    ) -> None:
        self._api_key = api_key
        self.ticket_search_lag_s = ticket_search_lag_s
        self._requesters = requesters or Requesters()

    def auth_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self._api_key}:X".encode()).decode()

    def create(self, escalation: Escalation) -> HttpCall:
        requester = self._requesters.of(escalation)
        ticket: dict[str, Any] = {
            "subject": _plain(escalation.subject),
            "description": _html(note_lines(escalation)),
            "priority": _FRESHDESK_PRIORITY[escalation.priority],
            "status": _FRESHDESK_OPEN,
            "source": _FRESHDESK_SOURCE_CHAT,
            "tags": [*escalation.tags, escalation_tag(escalation)],
        }
        if escalation.ticket_type in _FRESHDESK_TYPES:
            ticket["type"] = _FRESHDESK_TYPES[escalation.ticket_type]
        if requester.name:
            ticket["name"] = _plain(requester.name)
        if requester.email:
            ticket["email"] = requester.email
        elif requester.phone:
            ticket["phone"] = requester.phone
        else:  # Freshdesk needs some requester identity; the conversation is the only one.
            ticket["unique_external_id"] = f"techgear-conversation-{escalation.conversation_id}"
        return HttpCall("POST", "/api/v2/tickets", ticket)

    def ticket_id(self, reply: httpx.Response) -> str:
        return checked_ticket_id(reply.json()["id"])

    def add_note(self, ticket_id: str, escalation: Escalation) -> HttpCall:
        body = {"body": _html(note_lines(escalation)), "private": True}
        return HttpCall("POST", f"/api/v2/tickets/{checked_ticket_id(ticket_id)}/notes", body)

    def note_id(self, reply: httpx.Response) -> str:
        return str(reply.json()["id"])

    def show_ticket(self, ticket_id: str) -> HttpCall:
        return HttpCall("GET", f"/api/v2/tickets/{checked_ticket_id(ticket_id)}")

    def requester_id(self, reply: httpx.Response) -> str:
        return _user_id(reply.json()["requester_id"])

    def add_customer_message(
        self, ticket_id: str, requester_id: str, escalation: Escalation
    ) -> HttpCall:
        note = {
            "body": _html(customer_message_lines(escalation)),
            "private": False,
            "incoming": True,
            "user_id": int(requester_id),
        }
        return HttpCall("POST", f"/api/v2/tickets/{checked_ticket_id(ticket_id)}/notes", note)

    def find_ticket(self, escalation: Escalation) -> HttpCall:
        query = f"\"tag:'{escalation_tag(escalation)}'\""
        return HttpCall("GET", "/api/v2/search/tickets", params={"query": query})

    def ticket_found(self, reply: httpx.Response, escalation: Escalation) -> Found:
        results = reply.json()["results"]  # the query selects the escalation's tag only
        return Found(checked_ticket_id(results[0]["id"]) if results else None)

    def find_note(self, ticket_id: str) -> HttpCall:
        path = f"/api/v2/tickets/{checked_ticket_id(ticket_id)}/conversations"
        return HttpCall("GET", path, params={"per_page": _PAGE_SIZE})

    def note_found(self, reply: httpx.Response, escalation: Escalation) -> Found:
        made = [item for item in reply.json() if _carries(item, escalation, "body_text", "body")]
        following = reply.links.get("next", {}).get("url")
        return Found(
            str(made[0]["id"]) if made else None,
            HttpCall("GET", following) if following and not made else None,
        )
