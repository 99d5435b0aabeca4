"""Local Zendesk- and Freshdesk-shaped servers that check requests against the APIs'
documented fields (python -m tests.integration.fake_helpdesks PORT).

Zendesk Tickets API: ticket fields subject, comment{body, html_body, public}, requester
{name, email, locale_id}, priority (urgent|high|normal|low), type
(problem|incident|question|task), tags, external_id; Idempotency-Key honoured. Freshdesk
v2: name, email, phone, unique_external_id (one identity required), subject, description,
priority 1-4, status 2-5, source (1,2,3,7,9,10), type, tags. Unknown fields are refused
with 400, as a strict client contract test should. The first ticket creation of each API
answers 429 with Retry-After: 1, to exercise the client's retries.
"""

from __future__ import annotations

import base64
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TICKETS: dict[str, list[dict[str, Any]]] = {"zendesk": [], "freshdesk": []}
NOTES: dict[str, list[dict[str, Any]]] = {"zendesk": [], "freshdesk": []}
IDEMPOTENCY: dict[str, dict[str, Any]] = {}
THROTTLED: set[str] = set()

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


def _problems_zendesk(ticket: Any) -> list[str]:
    if not isinstance(ticket, dict):
        return ["ticket must be an object"]
    problems = [f"unknown field {k}" for k in ticket if k not in _ZENDESK_TICKET]
    comment = ticket.get("comment")
    if (
        not isinstance(comment, dict)
        or not comment.get("body")
        or set(comment) - {"body", "html_body", "public"}
    ):
        problems.append("comment.body is required; comment takes body, html_body, public")
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


async def zendesk_create(request: Request) -> JSONResponse:
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
    ticket = body["ticket"] | {"id": len(TICKETS["zendesk"]) + 1}
    TICKETS["zendesk"].append(ticket)
    response = {"ticket": ticket}
    if key:
        IDEMPOTENCY[key] = response
    return JSONResponse(response, 201)


async def zendesk_update(request: Request) -> JSONResponse:
    body = await request.json()
    ticket_id = int(request.path_params["ticket_id"].removesuffix(".json"))
    comment = body.get("ticket", {}).get("comment", {})
    if (
        set(body) != {"ticket"}
        or set(body["ticket"]) - {"comment", "status", "priority"}
        or not comment.get("body")
    ):
        return JSONResponse({"error": "RecordInvalid"}, 422)
    if not any(t["id"] == ticket_id for t in TICKETS["zendesk"]):
        return JSONResponse({"error": "RecordNotFound"}, 404)
    NOTES["zendesk"].append({"ticket_id": ticket_id, **comment})
    return JSONResponse({"ticket": {"id": ticket_id}}, 200)


async def freshdesk_create(request: Request) -> JSONResponse:
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
    if errors:
        return JSONResponse({"description": "Validation failed", "errors": errors}, 400)
    created = ticket | {"id": len(TICKETS["freshdesk"]) + 1}
    TICKETS["freshdesk"].append(created)
    return JSONResponse(created, 201)


async def freshdesk_note(request: Request) -> JSONResponse:
    note = await request.json()
    ticket_id = int(request.path_params["ticket_id"])
    if set(note) - {"body", "private", "notify_emails"} or not note.get("body"):
        return JSONResponse({"description": "Validation failed"}, 400)
    if not any(t["id"] == ticket_id for t in TICKETS["freshdesk"]):
        return JSONResponse({"code": "access_denied"}, 404)
    NOTES["freshdesk"].append({"ticket_id": ticket_id, **note})
    return JSONResponse({"id": len(NOTES["freshdesk"]), "ticket_id": ticket_id}, 201)


async def inspect(request: Request) -> JSONResponse:
    return JSONResponse({"tickets": TICKETS, "notes": NOTES})


app = Starlette(
    routes=[
        Route("/api/v2/tickets.json", zendesk_create, methods=["POST"]),
        Route("/api/v2/tickets/{ticket_id}", zendesk_update, methods=["PUT"]),
        Route("/api/v2/tickets", freshdesk_create, methods=["POST"]),
        Route("/api/v2/tickets/{ticket_id:int}/notes", freshdesk_note, methods=["POST"]),
        Route("/_inspect", inspect, methods=["GET"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
