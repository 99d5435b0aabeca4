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

``GET /_inspect`` lists every ticket and note ever made (so tests count creations), the
write being held and the path of every request received. ``POST /_faults`` with
``{"garble": [...], "hold": [...]}`` arms faults for the next write (ticket or note) whose
text contains one of the strings, once each: a garbled write is made and then answered 200
with a body that is not JSON; a held write is made and its answer withheld until
``POST /_release`` (a test kills the client meanwhile).
"""

from __future__ import annotations

import asyncio
import base64
import html
import itertools
import re
import sys
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

TICKETS: dict[str, list[dict[str, Any]]] = {"zendesk": [], "freshdesk": []}
NOTES: dict[str, list[dict[str, Any]]] = {"zendesk": [], "freshdesk": []}
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


def _basic(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return (
        base64.b64decode(header.removeprefix("Basic ")).decode()
        if header.startswith("Basic ")
        else ""
    )


def _zendesk_comment_problems(comment: Any) -> list[str]:
    if not isinstance(comment, dict) or set(comment) - {"body", "html_body", "public"}:
        return ["comment takes body, html_body, public"]
    body, html_body = str(comment.get("body") or ""), str(comment.get("html_body") or "")
    if not body and not html_body:
        return ["comment.body or comment.html_body is required"]
    if _FOREIGN_MARKUP.search(html_body) or _RENDERED_IN_PLAIN_BODY.search(body):
        return ["comment holds unescaped markup"]
    return []


def _zendesk_comment(comment: dict[str, Any]) -> dict[str, Any]:
    """A comment as Zendesk stores it: ``body`` and ``plain_body`` are the text."""
    html_body = comment.get("html_body")
    text = comment.get("body") or html.unescape(html_body.replace("<br>", "\n"))
    return {
        "id": next(ZENDESK_IDS),
        "type": "Comment",
        "body": text,
        "plain_body": text,
        "html_body": html_body or html.escape(text),
        "public": comment.get("public", True),
    }


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
    comment = _zendesk_comment(body["ticket"]["comment"])
    ticket = body["ticket"] | {"id": len(TICKETS["zendesk"]) + 1, "description": comment["body"]}
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
    if not any(t["id"] == ticket_id for t in TICKETS["zendesk"]):
        return JSONResponse({"error": "RecordNotFound"}, 404)
    made = _zendesk_comment(comment)
    COMMENTS[ticket_id].append(made)
    NOTES["zendesk"].append({"ticket_id": ticket_id, **made})
    audit = {"id": next(ZENDESK_IDS), "ticket_id": ticket_id, "events": [made]}
    return await _answer(made["body"], JSONResponse({"ticket": {"id": ticket_id}, "audit": audit}))


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
    created = ticket | {"id": len(TICKETS["freshdesk"]) + 1}
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
        set(note) - {"body", "private", "notify_emails"}
        or not note.get("body")
        or _FOREIGN_MARKUP.search(str(note["body"]))
    ):
        return JSONResponse({"description": "Validation failed"}, 400)
    if not any(t["id"] == ticket_id for t in TICKETS["freshdesk"]):
        return JSONResponse({"code": "access_denied"}, 404)
    made = {"id": len(NOTES["freshdesk"]) + 1, "ticket_id": ticket_id, "incoming": False, **note}
    NOTES["freshdesk"].append(made)
    return await _answer(note["body"], JSONResponse(made, 201))


async def freshdesk_conversations(request: Request) -> JSONResponse:
    ticket_id = request.path_params["ticket_id"]
    if not any(t["id"] == ticket_id for t in TICKETS["freshdesk"]):
        return JSONResponse({"code": "access_denied"}, 404)
    per_page = min(int(request.query_params.get("per_page", "30")), 100)
    page = int(request.query_params.get("page", "1"))
    notes = [n for n in NOTES["freshdesk"] if n["ticket_id"] == ticket_id]
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
    return JSONResponse({"tickets": TICKETS, "notes": NOTES, "held": HELD, "paths": PATHS})


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
    ]
)

if __name__ == "__main__":
    uvicorn.run(RecordPaths(app), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
