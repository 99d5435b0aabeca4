"""Local Zendesk- and Freshdesk-shaped servers that check requests against the APIs'
documented fields (python -m tests.integration.fake_helpdesks PORT).

Zendesk Tickets API: ticket fields subject, comment{body, html_body, public}, requester
{name, email, locale_id}, priority (urgent|high|normal|low), type
(problem|incident|question|task), tags, external_id; Idempotency-Key honoured. Freshdesk
v2: name, email, phone, unique_external_id (one identity required), subject, description,
priority 1-4, status 2-5, source (1,2,3,7,9,10), type, tags (each at most 32 characters).
Unknown fields are refused with 400, as a strict client contract test should. Customer text
must arrive escaped: a Zendesk ``html_body``, Freshdesk ``description`` or note ``body`` with
any markup other than the bridge's own ``<br>``/``<p>`` is refused (a raw ``<img``, ``<a ``,
``<script``), and so is a Zendesk plain ``body`` holding HTML or a Markdown link or image,
which Zendesk would render. The first
ticket creation of each API answers 429 with Retry-After: 1, to exercise the client's
retries.

The lookups the bridge uses, shaped like the real ones: Zendesk's ticket list by
``external_id`` and a ticket's comments (cursor pagination: ``page[size]``, ``page[after]``,
``meta``, ``links``; the ticket's first comment is its ``description``), the update reply's
``audit``; Freshdesk's filter API (``query="tag:'...'"`` only, ``{"total", "results"}``; a
new ticket shows up there only after ``SEARCH_LAG_S``, as Freshdesk's index trails) and a
ticket's conversations (``page``, ``per_page``, ``Link: rel="next"``).

Customer replies: a Zendesk update's comment may name an ``author_id`` (a known user: the
ticket's requester, see ``GET /api/v2/tickets/{id}.json``'s ``requester_id``); a Freshdesk
note may be ``incoming`` and name a ``user_id`` (``GET /api/v2/tickets/{id}``'s
``requester_id``). Public comments and notes are kept apart from private notes.

A test acts as the agent (``POST /_agent/zendesk/tickets/{id}/comment`` and
``/_agent/freshdesk/tickets/{id}/reply`` with ``{"body", "author_name"}``;
``/_agent/zendesk/tickets/{id}/status`` and ``/_agent/freshdesk/tickets/{id}/status`` with
``{"status"}``): each is recorded on the ticket, then delivered as the helpdesk would, to
the webhook URLs set by ``POST /_webhooks`` ``{"zendesk": url, "freshdesk": url,
"zendesk_secret", "freshdesk_secret"}`` (or, at start, ``WEBHOOK_URL``, a gateway's base
URL, with ``ZENDESK_WEBHOOK_SECRET`` and ``FRESHDESK_WEBHOOK_SECRET``). Zendesk: a ticket
event webhook (``zendesk_event_version`` 2022-11-06, ``ticket.comment_added`` or
``ticket.status_changed``) signed as Zendesk signs, base64 of HMAC-SHA256 over the
``X-Zendesk-Webhook-Signature-Timestamp`` followed by the body, in
``X-Zendesk-Webhook-Signature``. Freshdesk: an automation rule's webhook, the documented
placeholders under ``freshdesk_webhook`` (``triggered_event`` tells a reply,
``{reply_sent:sent}``, from a status change, ``{status:{from:Open,to:Resolved}}``; the
agent's latest reply is there in both; no ``comment_id``, which Freshdesk's placeholders do
not offer), with the shared secret in ``X-TechGear-Webhook-Secret``. ``?deliver=2``
delivers the same request twice, as a helpdesk retrying does. The reply has each delivery's
HTTP status and answer (``null`` and the error when the URL did not answer).

``GET /_inspect`` lists every ticket, note and public comment ever made (so tests count
creations), every webhook delivered (without the Freshdesk secret), the write being held
and the path of every request received. ``POST /_faults`` with
``{"garble": [...], "hold": [...]}`` arms faults for the next write (ticket or note) whose
text contains one of the strings, once each: a garbled write is made and then answered 200
with a body that is not JSON; a held write is made and its answer withheld until
``POST /_release`` (a test kills the client meanwhile).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import itertools
import json
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

TICKETS: dict[str, list[dict[str, Any]]] = {"zendesk": [], "freshdesk": []}
NOTES: dict[str, list[dict[str, Any]]] = {"zendesk": [], "freshdesk": []}
"""Private notes, made through the API."""
PUBLIC: dict[str, list[dict[str, Any]]] = {"zendesk": [], "freshdesk": []}
"""Public comments, replies and notes: the customer's through the API, the agent's."""
USERS: dict[str, dict[str, int]] = {"zendesk": {}, "freshdesk": {}}
"""User ids by identity: ``email:…``, ``phone:…``, ``external:…`` or ``agent:<name>``."""
WEBHOOKS: dict[str, str] = {}
"""Where each helpdesk delivers its webhooks (``zendesk``, ``freshdesk``) and the secrets
it signs them with (``zendesk_secret``, ``freshdesk_secret``)."""
DELIVERIES: list[dict[str, Any]] = []
FRESHDESK_IDS = itertools.count(1)
"""Ids of Freshdesk conversations (notes and replies)."""
USER_IDS = itertools.count(9001)
_FRESHDESK_STATUSES = {"open": 2, "pending": 3, "resolved": 4, "closed": 5}
_ZENDESK_STATUSES = {"new", "open", "pending", "hold", "solved", "closed"}
IDEMPOTENCY: dict[str, dict[str, Any]] = {}
THROTTLED: set[str] = set()
COMMENTS: dict[int, list[dict[str, Any]]] = {}
"""Zendesk comments by ticket id, the first being the ticket's description."""
ZENDESK_IDS = itertools.count(1)
"""Ids of Zendesk comments and audits."""
SEARCHABLE_AT: dict[int, float] = {}
"""When each Freshdesk ticket shows up in the search."""
SEARCH_LAG_S = 1.0
GARBLE: set[str] = set()
HOLD: set[str] = set()
HELD: list[str] = []
RELEASE = asyncio.Event()
PATHS: list[str] = []

_FOREIGN_MARKUP = re.compile(r"<(?!br>|p>|/p>)", re.IGNORECASE)
"""Markup other than the bridge's template (``<br>``, ``<p>``): customer text unescaped."""
_RENDERED_IN_PLAIN_BODY = re.compile(r"<[a-z/!]|\]\(", re.IGNORECASE)
"""HTML, or a Markdown link or image, which Zendesk renders in a comment's plain ``body``."""

_ZENDESK_TICKET = {"subject", "comment", "requester", "priority", "type", "tags", "external_id"}
_FRESHDESK_TICKET = {
    "name",
    "email",
    "phone",
    "unique_external_id",
    "subject",
    "description",
    "priority",
    "status",
    "source",
    "type",
    "tags",
}
_FRESHDESK_TYPES = {"Question", "Incident", "Problem", "Feature Request", "Refund"}
_FRESHDESK_SOURCE_REPLY = 0
_FRESHDESK_SOURCE_NOTE = 2


def _basic(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return (
        base64.b64decode(header.removeprefix("Basic ")).decode()
        if header.startswith("Basic ")
        else ""
    )


def _user(target: str, identity: str) -> int:
    """The id of the user with ``identity``, made on first sight."""
    return USERS[target].setdefault(identity, next(USER_IDS))


def _zendesk_comment_problems(comment: Any) -> list[str]:
    if not isinstance(comment, dict) or set(comment) - {"body", "html_body", "public", "author_id"}:
        return ["comment takes body, html_body, public, author_id"]
    if "author_id" in comment and comment["author_id"] not in USERS["zendesk"].values():
        return ["comment.author_id is not a user"]
    body, html_body = str(comment.get("body") or ""), str(comment.get("html_body") or "")
    if not body and not html_body:
        return ["comment.body or comment.html_body is required"]
    if _FOREIGN_MARKUP.search(html_body) or _RENDERED_IN_PLAIN_BODY.search(body):
        return ["comment holds unescaped markup"]
    return []


def _zendesk_comment(comment: dict[str, Any], author_id: int) -> dict[str, Any]:
    """A comment as Zendesk stores it: ``body`` and ``plain_body`` are the text."""
    html_body = comment.get("html_body")
    text = comment.get("body") or html.unescape(html_body.replace("<br>", "\n"))
    return {
        "id": next(ZENDESK_IDS),
        "type": "Comment",
        "author_id": comment.get("author_id", author_id),
        "body": text,
        "plain_body": text,
        "html_body": html_body or html.escape(text),
        "public": comment.get("public", True),
    }


def _api_user(request: Request) -> int:
    """The Zendesk agent the request authenticates as (``email/token:…``)."""
    return _user("zendesk", "email:" + _basic(request).partition("/token:")[0])


def _problems_zendesk(ticket: Any) -> list[str]:
    if not isinstance(ticket, dict):
        return ["ticket must be an object"]
    problems = [f"unknown field {k}" for k in ticket if k not in _ZENDESK_TICKET]
    problems += _zendesk_comment_problems(ticket.get("comment"))
    if ticket.get("priority") not in {"urgent", "high", "normal", "low"}:
        problems.append("priority")
    if ticket.get("type") not in {"problem", "incident", "question", "task"}:
        problems.append("type")
    if not isinstance(ticket.get("subject"), str) or not ticket["subject"]:
        problems.append("subject")
    requester = ticket.get("requester")
    if requester is not None and (
        set(requester) - {"name", "email", "locale_id"} or "email" not in requester
    ):
        problems.append("requester takes name, email, locale_id")
    if not all(isinstance(t, str) for t in ticket.get("tags", [])):
        problems.append("tags")
    return problems


async def zendesk_create(request: Request) -> Response:
    if "/token:" not in _basic(request):
        return JSONResponse({"error": "Couldn't authenticate you"}, 401)
    if "zendesk" not in THROTTLED:
        THROTTLED.add("zendesk")
        return JSONResponse({"error": "TooManyRequests"}, 429, headers={"Retry-After": "1"})
    key = request.headers.get("idempotency-key")
    if key and key in IDEMPOTENCY:
        return JSONResponse(IDEMPOTENCY[key], 201, headers={"x-idempotency-lookup": "hit"})
    body = await request.json()
    problems = _problems_zendesk(body.get("ticket")) + [
        f"unknown field {k}" for k in body if k != "ticket"
    ]
    if problems:
        return JSONResponse({"error": "RecordInvalid", "details": problems}, 422)
    api_user = _api_user(request)
    comment = _zendesk_comment(body["ticket"]["comment"], api_user)
    requester = body["ticket"].get("requester")
    ticket = body["ticket"] | {
        "id": len(TICKETS["zendesk"]) + 1,
        "description": comment["body"],
        "requester_id": _user("zendesk", "email:" + requester["email"]) if requester else api_user,
        "status": "new",
    }
    TICKETS["zendesk"].append(ticket)
    COMMENTS[ticket["id"]] = [comment]
    response = {"ticket": ticket}
    if key:
        IDEMPOTENCY[key] = response
    return await _answer(comment["body"], JSONResponse(response, 201))


async def zendesk_update(request: Request) -> Response:
    body = await request.json()
    ticket_id = int(request.path_params["ticket_id"].removesuffix(".json"))
    comment = body.get("ticket", {}).get("comment", {})
    if (
        set(body) != {"ticket"}
        or set(body["ticket"]) - {"comment", "status", "priority"}
        or _zendesk_comment_problems(comment)
    ):
        return JSONResponse({"error": "RecordInvalid"}, 422)
    if _ticket("zendesk", ticket_id) is None:
        return JSONResponse({"error": "RecordNotFound"}, 404)
    made = _zendesk_comment(comment, _api_user(request))
    COMMENTS[ticket_id].append(made)
    (PUBLIC if made["public"] else NOTES)["zendesk"].append({"ticket_id": ticket_id, **made})
    audit = {"id": next(ZENDESK_IDS), "ticket_id": ticket_id, "events": [made]}
    return await _answer(made["body"], JSONResponse({"ticket": {"id": ticket_id}, "audit": audit}))


def _ticket(target: str, ticket_id: int) -> dict[str, Any] | None:
    return next((t for t in TICKETS[target] if t["id"] == ticket_id), None)


async def ticket_show(request: Request) -> JSONResponse:
    """Zendesk's ``GET /api/v2/tickets/{id}.json`` or Freshdesk's ``GET /api/v2/tickets/{id}``."""
    path_id = request.path_params["ticket_id"]
    target = "zendesk" if path_id.endswith(".json") else "freshdesk"
    ticket_id = path_id.removesuffix(".json")
    ticket = _ticket(target, int(ticket_id)) if ticket_id.isdigit() else None
    if ticket is None:
        return JSONResponse({"error": "RecordNotFound"}, 404)
    return JSONResponse({"ticket": ticket} if target == "zendesk" else ticket)


async def zendesk_tickets(request: Request) -> JSONResponse:
    external_id = request.query_params.get("external_id")
    if external_id is None:
        return JSONResponse({"error": "this fake lists tickets by external_id only"}, 400)
    tickets = [t for t in TICKETS["zendesk"] if t.get("external_id") == external_id]
    return _cursor_page(request, "tickets", tickets)


async def zendesk_comments(request: Request) -> JSONResponse:
    ticket_id = request.path_params["ticket_id"]
    if ticket_id not in COMMENTS:
        return JSONResponse({"error": "RecordNotFound"}, 404)
    return _cursor_page(request, "comments", COMMENTS[ticket_id])


def _cursor_page(request: Request, key: str, items: list[dict[str, Any]]) -> JSONResponse:
    size = int(request.query_params.get("page[size]", "100"))
    start = int(request.query_params.get("page[after]", "0"))
    more = start + size < len(items)
    following = str(request.url.include_query_params(**{"page[after]": start + size}))
    return JSONResponse(
        {
            key: items[start : start + size],
            "meta": {"has_more": more, "after_cursor": str(start + size) if more else None},
            "links": {"next": following if more else None, "prev": None},
        }
    )


async def freshdesk_create(request: Request) -> Response:
    if not _basic(request).endswith(":X"):
        return JSONResponse({"code": "invalid_credentials"}, 401)
    if "freshdesk" not in THROTTLED:
        THROTTLED.add("freshdesk")
        return JSONResponse({"code": "rate_limited"}, 429, headers={"Retry-After": "1"})
    ticket = await request.json()
    errors = [{"field": k, "code": "invalid_field"} for k in ticket if k not in _FRESHDESK_TICKET]
    if not any(ticket.get(k) for k in ("email", "phone", "unique_external_id")):
        errors.append({"field": "requester", "code": "missing_field"})
    for name, allowed in (
        ("priority", {1, 2, 3, 4}),
        ("status", {2, 3, 4, 5}),
        ("source", {1, 2, 3, 7, 9, 10}),
    ):
        if ticket.get(name) not in allowed:
            errors.append({"field": name, "code": "invalid_value"})
    if "type" in ticket and ticket["type"] not in _FRESHDESK_TYPES:
        errors.append({"field": "type", "code": "invalid_value"})
    if not ticket.get("subject") or not ticket.get("description"):
        errors.append({"field": "subject/description", "code": "missing_field"})
    if "REFUSE-ME" in str(ticket.get("description", "")):
        errors.append({"field": "description", "code": "invalid_value"})
    if _FOREIGN_MARKUP.search(str(ticket.get("description", ""))):
        errors.append({"field": "description", "code": "unescaped_markup"})
    tags = ticket.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and len(t) <= 32 for t in tags):
        errors.append({"field": "tags", "code": "invalid_value"})
    if errors:
        return JSONResponse({"description": "Validation failed", "errors": errors}, 400)
    identity = next(
        f"{kind}:{ticket[field]}"
        for kind, field in (
            ("email", "email"),
            ("phone", "phone"),
            ("external", "unique_external_id"),
        )
        if ticket.get(field)
    )
    created = ticket | {
        "id": len(TICKETS["freshdesk"]) + 1,
        "requester_id": _user("freshdesk", identity),
    }
    TICKETS["freshdesk"].append(created)
    SEARCHABLE_AT[created["id"]] = time.monotonic() + SEARCH_LAG_S
    return await _answer(ticket["description"], JSONResponse(created, 201))


async def freshdesk_search(request: Request) -> JSONResponse:
    match = re.fullmatch(r"\"tag:'([^']+)'\"", request.query_params.get("query", ""))
    if match is None:
        return JSONResponse({"description": "this fake searches by one quoted tag only"}, 400)
    results = [
        {k: v for k, v in t.items() if k != "description"}
        for t in TICKETS["freshdesk"]
        if match[1] in t.get("tags", []) and SEARCHABLE_AT[t["id"]] <= time.monotonic()
    ]
    return JSONResponse({"total": len(results), "results": results})


async def freshdesk_note(request: Request) -> Response:
    note = await request.json()
    ticket_id = int(request.path_params["ticket_id"])
    if (
        set(note) - {"body", "private", "notify_emails", "incoming", "user_id"}
        or not note.get("body")
        or _FOREIGN_MARKUP.search(str(note["body"]))
        or not isinstance(note.get("incoming", False), bool)
        or not isinstance(note.get("private", True), bool)
        or ("user_id" in note and note["user_id"] not in USERS["freshdesk"].values())
    ):
        return JSONResponse({"description": "Validation failed"}, 400)
    if _ticket("freshdesk", ticket_id) is None:
        return JSONResponse({"code": "access_denied"}, 404)
    made = {
        "id": next(FRESHDESK_IDS),
        "ticket_id": ticket_id,
        "source": _FRESHDESK_SOURCE_NOTE,
        "incoming": False,
        "private": True,
        "body_text": html.unescape(note["body"].replace("<br>", "\n")),
        **note,
    }
    (NOTES if made["private"] else PUBLIC)["freshdesk"].append(made)
    return await _answer(note["body"], JSONResponse(made, 201))


async def freshdesk_conversations(request: Request) -> JSONResponse:
    ticket_id = request.path_params["ticket_id"]
    if not any(t["id"] == ticket_id for t in TICKETS["freshdesk"]):
        return JSONResponse({"code": "access_denied"}, 404)
    per_page = min(int(request.query_params.get("per_page", "30")), 100)
    page = int(request.query_params.get("page", "1"))
    notes = sorted(
        (n for n in NOTES["freshdesk"] + PUBLIC["freshdesk"] if n["ticket_id"] == ticket_id),
        key=lambda n: int(n["id"]),
    )
    shown = notes[(page - 1) * per_page : page * per_page]
    headers = {}
    if page * per_page < len(notes):
        following = request.url.include_query_params(page=page + 1, per_page=per_page)
        headers["Link"] = f'<{following}>; rel="next"'
    return JSONResponse(shown, headers=headers)


async def _answer(text: str, response: JSONResponse) -> Response:
    """``response`` to a write of ``text``, unless a fault armed for it strikes."""
    if garbled := next((g for g in GARBLE if g in text), None):
        GARBLE.discard(garbled)
        return Response("<html>upstream hiccup</html>", 200, media_type="text/html")
    if held := next((h for h in HOLD if h in text), None):
        HOLD.discard(held)
        HELD.append(held)
        await RELEASE.wait()
        RELEASE.clear()
        HELD.remove(held)
    return response


async def faults(request: Request) -> JSONResponse:
    armed = await request.json()
    GARBLE.update(armed.get("garble", []))
    HOLD.update(armed.get("hold", []))
    return JSONResponse({"garble": sorted(GARBLE), "hold": sorted(HOLD)})


async def release(request: Request) -> JSONResponse:
    RELEASE.set()
    return JSONResponse({"released": list(HELD)})


async def inspect(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "tickets": TICKETS,
            "notes": NOTES,
            "public_comments": PUBLIC,
            "webhooks": DELIVERIES,
            "held": HELD,
            "paths": PATHS,
        }
    )


async def webhooks(request: Request) -> JSONResponse:
    configured = await request.json()
    known = {"zendesk", "freshdesk", "zendesk_secret", "freshdesk_secret"}
    if not isinstance(configured, dict) or set(configured) - known:
        return JSONResponse({"error": f"takes {sorted(known)}"}, 400)
    WEBHOOKS.update(configured)
    return JSONResponse({"configured": sorted(WEBHOOKS)})


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """How Zendesk signs a webhook: base64 of HMAC-SHA256 over the timestamp and the body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zendesk_ticket_event(ticket: dict[str, Any], kind: str, event: dict[str, Any]) -> Any:
    """A Zendesk ticket event webhook's payload (``zendesk_event_version`` 2022-11-06)."""
    return {
        "type": f"zen:event-type:ticket.{kind}",
        "account_id": 1,
        "id": str(uuid.uuid4()),
        "time": _now(),
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket['id']}",
        "detail": {
            "id": str(ticket["id"]),
            "external_id": ticket.get("external_id"),
            "status": ticket["status"].upper(),
            "subject": ticket["subject"],
            "requester_id": str(ticket["requester_id"]),
            "priority": ticket["priority"].upper(),
            "type": ticket["type"].upper(),
            "tags": ticket.get("tags", []),
            "via": {"channel": "web_service"},
        },
        "event": event,
    }


def _freshdesk_webhook(ticket: dict[str, Any], triggered_event: str) -> Any:
    """A Freshdesk automation rule's webhook, its body made of the documented placeholders."""
    status = next(n for n, v in _FRESHDESK_STATUSES.items() if v == ticket["status"])
    replies = [c for c in PUBLIC["freshdesk"] if c["ticket_id"] == ticket["id"] and c.get("agent")]
    latest = replies[-1] if replies else None
    return {
        "freshdesk_webhook": {
            "ticket_id": ticket["id"],
            "ticket_status": status.title(),
            "triggered_event": triggered_event,
            "ticket_latest_public_comment": latest["body_text"] if latest else "",
            "ticket_agent_name": latest["agent"] if latest else "",
        }
    }


async def _deliver(request: Request, target: str, payload: Any) -> list[dict[str, Any]]:
    """``payload`` POSTed as ``target``'s webhook (``?deliver=N`` times): each answer."""
    url = WEBHOOKS.get(target)
    if not url:
        return []
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    secret = WEBHOOKS.get(f"{target}_secret", "")
    if target == "zendesk":
        timestamp = _now()
        headers["X-Zendesk-Webhook-Signature-Timestamp"] = timestamp
        headers["X-Zendesk-Webhook-Signature"] = zendesk_signature(secret, timestamp, body)
    elif secret:
        headers["X-TechGear-Webhook-Secret"] = secret
    shown = {k: v for k, v in headers.items() if k != "X-TechGear-Webhook-Secret"}
    answers: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(int(request.query_params.get("deliver", "1"))):
            try:
                answer = await client.post(url, content=body, headers=headers)
                answers.append({"status": answer.status_code, "reply": _json_or_text(answer)})
            except httpx.TransportError as exc:
                answers.append({"status": None, "reply": repr(exc)})
            DELIVERIES.append(
                {"target": target, "url": url, "headers": shown, "body": body.decode()}
                | {"status": answers[-1]["status"]}
            )
    return answers


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


async def _agent_request(request: Request, target: str) -> tuple[dict[str, Any], Any] | Response:
    """The ticket a test acts on as the agent and what it asks, or the answer refusing it."""
    ticket = _ticket(target, request.path_params["ticket_id"])
    if ticket is None:
        return JSONResponse({"error": "no such ticket"}, 404)
    return ticket, await request.json()


async def agent_zendesk_comment(request: Request) -> Response:
    asked = await _agent_request(request, "zendesk")
    if isinstance(asked, Response):
        return asked
    ticket, said = asked
    name = said["author_name"]
    agent_id = _user("zendesk", f"agent:{name}")
    comment = _zendesk_comment({"body": said["body"], "public": True}, agent_id)
    COMMENTS[ticket["id"]].append(comment)
    PUBLIC["zendesk"].append({"ticket_id": ticket["id"], "agent": name, **comment})
    if ticket["status"] == "new":
        ticket["status"] = "open"
    event = {
        "comment": {
            "id": str(comment["id"]),
            "body": comment["body"],
            "is_public": True,
            "author": {"id": str(agent_id), "is_staff": True, "name": name},
        }
    }
    payload = _zendesk_ticket_event(ticket, "comment_added", event)
    deliveries = await _deliver(request, "zendesk", payload)
    return JSONResponse({"comment_id": comment["id"], "deliveries": deliveries})


async def agent_zendesk_status(request: Request) -> Response:
    asked = await _agent_request(request, "zendesk")
    if isinstance(asked, Response):
        return asked
    ticket, said = asked
    status = str(said["status"]).lower()
    if status not in _ZENDESK_STATUSES:
        return JSONResponse({"error": f"status is one of {sorted(_ZENDESK_STATUSES)}"}, 400)
    previous, ticket["status"] = ticket["status"], status
    event = {"current": status.upper(), "previous": previous.upper()}
    payload = _zendesk_ticket_event(ticket, "status_changed", event)
    return JSONResponse({"deliveries": await _deliver(request, "zendesk", payload)})


async def agent_freshdesk_reply(request: Request) -> Response:
    asked = await _agent_request(request, "freshdesk")
    if isinstance(asked, Response):
        return asked
    ticket, said = asked
    name, text = said["author_name"], said["body"]
    reply = {
        "id": next(FRESHDESK_IDS),
        "ticket_id": ticket["id"],
        "source": _FRESHDESK_SOURCE_REPLY,
        "incoming": False,
        "private": False,
        "user_id": _user("freshdesk", f"agent:{name}"),
        "body": html.escape(text),
        "body_text": text,
        "agent": name,
    }
    PUBLIC["freshdesk"].append(reply)
    payload = _freshdesk_webhook(ticket, "{reply_sent:sent}")
    deliveries = await _deliver(request, "freshdesk", payload)
    return JSONResponse({"comment_id": reply["id"], "deliveries": deliveries})


async def agent_freshdesk_status(request: Request) -> Response:
    asked = await _agent_request(request, "freshdesk")
    if isinstance(asked, Response):
        return asked
    ticket, said = asked
    status = str(said["status"]).lower()
    if status not in _FRESHDESK_STATUSES:
        return JSONResponse({"error": f"status is one of {sorted(_FRESHDESK_STATUSES)}"}, 400)
    previous = next(n for n, v in _FRESHDESK_STATUSES.items() if v == ticket["status"])
    ticket["status"] = _FRESHDESK_STATUSES[status]
    changed = f"{{status:{{from:{previous.title()},to:{status.title()}}}}}"
    payload = _freshdesk_webhook(ticket, changed)
    return JSONResponse({"deliveries": await _deliver(request, "freshdesk", payload)})


class RecordPaths:
    """Remembers the path of every request, routed or not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_"):
            PATHS.append(scope["path"])
        await self.app(scope, receive, send)


app = Starlette(
    routes=[
        Route("/api/v2/tickets.json", zendesk_create, methods=["POST"]),
        Route("/api/v2/tickets.json", zendesk_tickets, methods=["GET"]),
        Route("/api/v2/tickets/{ticket_id:int}/comments.json", zendesk_comments, methods=["GET"]),
        Route("/api/v2/tickets/{ticket_id}", zendesk_update, methods=["PUT"]),
        Route("/api/v2/tickets/{ticket_id}", ticket_show, methods=["GET"]),
        Route("/api/v2/tickets", freshdesk_create, methods=["POST"]),
        Route("/api/v2/search/tickets", freshdesk_search, methods=["GET"]),
        Route("/api/v2/tickets/{ticket_id:int}/notes", freshdesk_note, methods=["POST"]),
        Route(
            "/api/v2/tickets/{ticket_id:int}/conversations",
            freshdesk_conversations,
            methods=["GET"],
        ),
        Route("/_inspect", inspect, methods=["GET"]),
        Route("/_faults", faults, methods=["POST"]),
        Route("/_release", release, methods=["POST"]),
        Route("/_webhooks", webhooks, methods=["POST"]),
        Route(
            "/_agent/zendesk/tickets/{ticket_id:int}/comment",
            agent_zendesk_comment,
            methods=["POST"],
        ),
        Route(
            "/_agent/zendesk/tickets/{ticket_id:int}/status", agent_zendesk_status, methods=["POST"]
        ),
        Route(
            "/_agent/freshdesk/tickets/{ticket_id:int}/reply",
            agent_freshdesk_reply,
            methods=["POST"],
        ),
        Route(
            "/_agent/freshdesk/tickets/{ticket_id:int}/status",
            agent_freshdesk_status,
            methods=["POST"],
        ),
    ]
)

if __name__ == "__main__":
    if base_url := os.environ.get("WEBHOOK_URL"):
        WEBHOOKS["zendesk"] = base_url.rstrip("/") + "/v1/webhooks/zendesk"
        WEBHOOKS["freshdesk"] = base_url.rstrip("/") + "/v1/webhooks/freshdesk"
    for secret in ("zendesk_secret", "freshdesk_secret"):
        if value := os.environ.get(secret.upper().replace("_SECRET", "_WEBHOOK_SECRET")):
            WEBHOOKS[secret] = value
    uvicorn.run(RecordPaths(app), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
