"""What a helpdesk's webhook delivery asks of a conversation, read from its (verified)
body: an agent's public comment becomes a message, a solved or resolved ticket a
handback, a closed one a close; anything else is ignored, with the reason.

Zendesk: ticket event webhooks (``zendesk_event_version`` 2022-11-06),
``zen:event-type:ticket.comment_added`` and ``…ticket.status_changed``; the conversation
is the ticket's ``external_id``. Freshdesk: the automation rule's JSON template
``{"freshdesk_webhook": {"ticket_id", "ticket_status", "ticket_latest_public_comment",
"ticket_agent_name", "comment_id"?}}``; the conversation is found by ticket id
(``gateway/tickets.py``). Comments the helpdesk bridge wrote itself (they carry its
``Escalation: <id>`` line) are ignored: they are the customer's own words or the ticket.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.models import CONVERSATION_ID_PATTERN
from schemas import MAX_MESSAGE_CHARS, AgentActionKind

Helpdesk = Literal["zendesk", "freshdesk"]
ModelT = TypeVar("ModelT", bound=BaseModel)

COMMENT_ADDED = "zen:event-type:ticket.comment_added"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"
DEFAULT_AUTHOR = "TechGear support"
"""The name shown when a helpdesk does not say which agent wrote."""

_BRIDGE_MARKER = re.compile(r"(?m)^\s*(?:<[^>]*>\s*)*Escalation: \S+")
_TICKET_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONVERSATION_ID = re.compile(CONVERSATION_ID_PATTERN)
_ZENDESK_STATUSES = {"solved": AgentActionKind.HANDBACK, "closed": AgentActionKind.CLOSE}
_FRESHDESK_STATUSES = {"resolved": AgentActionKind.HANDBACK, "closed": AgentActionKind.CLOSE}


class MalformedPayload(ValueError):
    """Not the JSON the helpdesk documents."""


@dataclass(frozen=True, slots=True)
class HelpdeskAction:
    helpdesk: Helpdesk
    ticket_id: str
    conversation_id: str | None
    """From the payload when it names it; else looked up by ticket."""
    action_id: str
    kind: AgentActionKind
    text: str | None = None
    author: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class _ZendeskAuthor(_Lenient):
    is_staff: bool = False
    name: str | None = None


class _ZendeskComment(_Lenient):
    id: str
    body: str = ""
    is_public: bool = False
    author: _ZendeskAuthor = Field(default_factory=_ZendeskAuthor)


class _ZendeskChange(_Lenient):
    comment: _ZendeskComment | None = None
    current: str | None = None


class _ZendeskTicket(_Lenient):
    id: str
    external_id: str | None = None


class _ZendeskEvent(_Lenient):
    type: str
    id: str
    detail: _ZendeskTicket
    event: _ZendeskChange


class _FreshdeskTicket(_Lenient):
    ticket_id: str
    ticket_status: str = ""
    ticket_latest_public_comment: str | None = None
    ticket_agent_name: str | None = None
    comment_id: str | None = None


class _FreshdeskEvent(_Lenient):
    freshdesk_webhook: _FreshdeskTicket


def parse_zendesk(body: bytes) -> HelpdeskAction | Ignored:
    event = _parse(body, _ZendeskEvent)
    ticket_id = _ticket_id(event.detail.id)
    conversation_id = event.detail.external_id or None
    if conversation_id is not None and not _CONVERSATION_ID.match(conversation_id):
        return Ignored("foreign_external_id")
    if event.type == COMMENT_ADDED:
        comment = event.event.comment
        if comment is None:
            raise MalformedPayload("a comment_added event without its comment")
        if not comment.is_public:
            return Ignored("private_comment")
        if not comment.author.is_staff:
            return Ignored("not_from_staff")
        if _BRIDGE_MARKER.search(comment.body):
            return Ignored("written_by_bridge")
        if not comment.body.strip():
            return Ignored("empty_comment")
        return HelpdeskAction(
            "zendesk",
            ticket_id,
            conversation_id,
            f"zendesk:comment:{comment.id}",
            AgentActionKind.MESSAGE,
            _bounded(comment.body),
            _name(comment.author.name),
        )
    if event.type == STATUS_CHANGED:
        status = (event.event.current or "").lower()
        if (kind := _ZENDESK_STATUSES.get(status)) is None:
            return Ignored("status_not_acted_on")
        action_id = f"zendesk:status:{ticket_id}:{status}:{event.id}"
        return HelpdeskAction("zendesk", ticket_id, conversation_id, action_id, kind)
    return Ignored("event_type_not_acted_on")


def parse_freshdesk(body: bytes) -> HelpdeskAction | Ignored:
    ticket = _parse(body, _FreshdeskEvent).freshdesk_webhook
    ticket_id = _ticket_id(ticket.ticket_id)
    status = ticket.ticket_status.strip().lower()
    if (kind := _FRESHDESK_STATUSES.get(status)) is not None:
        # A retried delivery carries the same body: the same action id.
        delivery = hashlib.sha256(body).hexdigest()[:32]
        action_id = f"freshdesk:status:{ticket_id}:{status}:{delivery}"
        return HelpdeskAction("freshdesk", ticket_id, None, action_id, kind)
    comment = ticket.ticket_latest_public_comment or ""
    if not comment.strip():
        return Ignored("no_comment")
    if _BRIDGE_MARKER.search(comment):
        return Ignored("written_by_bridge")
    comment_key = (
        ticket.comment_id or hashlib.sha256((ticket_id + "\n" + comment).encode()).hexdigest()[:32]
    )
    return HelpdeskAction(
        "freshdesk",
        ticket_id,
        None,
        f"freshdesk:comment:{comment_key}",
        AgentActionKind.MESSAGE,
        _bounded(comment),
        _name(ticket.ticket_agent_name),
    )


def _parse(body: bytes, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise MalformedPayload(f"not a {model.__name__.strip('_')}: {exc}") from exc


def _ticket_id(value: str) -> str:
    if not _TICKET_ID.match(value):
        raise MalformedPayload("a ticket id must match [A-Za-z0-9_-]{1,64}")
    return value


def _name(name: str | None) -> str:
    return (name or "").strip()[:100] or DEFAULT_AUTHOR


def _bounded(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
