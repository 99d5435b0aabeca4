"""``POST /v1/webhooks/zendesk`` and ``POST /v1/webhooks/freshdesk``: a helpdesk's agents
act on the conversation of a ticket.

No credential: the signature (Zendesk) or shared secret (Freshdesk) is the credential,
checked on the raw body, within ``WEBHOOK_MAX_BODY_BYTES``, before it is parsed. A wrong
or missing one gets 401 and nothing is published; a malformed body 400; a delivery we do
not act on (a private comment, the bridge's own comment, a status we ignore, an unknown or
closed conversation) 200 ``{"status": "ignored", "reason": …}``; an action published 202.
A helpdesk whose secret is not configured has no webhook here: 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.body import read_body
from gateway.bridge import KafkaBridge
from gateway.errors import error_response, unavailable_response
from gateway.handoff import submit
from gateway.helpdesk_events import (
    Helpdesk,
    HelpdeskAction,
    Ignored,
    MalformedPayload,
    parse_freshdesk,
    parse_zendesk,
)
from gateway.metrics import AGENT_MESSAGES, HANDBACKS, WEBHOOKS
from gateway.models import WebhookOutcome
from gateway.settings import GatewaySettings
from gateway.tickets import TicketConversations
from gateway.transcripts import TranscriptStore
from gateway.webhook_signatures import Verdict, verify_shared_secret, verify_zendesk
from runtime.errors import (
    ConversationClosedError,
    ConversationNotFoundError,
    DependencyUnavailableError,
)
from schemas import AgentAction, AgentActionKind, Author, new_id

ZENDESK_SIGNATURE = "x-zendesk-webhook-signature"
ZENDESK_TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
FRESHDESK_SECRET = "x-techgear-webhook-secret"

Parser = Callable[[bytes], HelpdeskAction | Ignored]

OUTCOMES = ("accepted", "ignored", "bad_signature", "stale", "malformed")
for _helpdesk in ("zendesk", "freshdesk"):  # every series exists from the start, at zero
    for _result in OUTCOMES:
        WEBHOOKS.labels(_helpdesk, _result)


async def zendesk(request: Request) -> Response:
    settings: GatewaySettings = request.app.state.settings
    if settings.zendesk_webhook_secret is None:
        return error_response(404, "not found")
    raw = await read_body(request, settings.webhook_max_body_bytes)
    if isinstance(raw, Response):
        return raw
    verdict = verify_zendesk(
        settings.zendesk_webhook_secret.get_secret_value(),
        timestamp=request.headers.get(ZENDESK_TIMESTAMP),
        signature=request.headers.get(ZENDESK_SIGNATURE),
        body=raw,
        now=datetime.now(UTC),
        max_age_s=settings.webhook_max_age_s,
    )
    return await _deliver(request, "zendesk", verdict, raw, parse_zendesk)


async def freshdesk(request: Request) -> Response:
    settings: GatewaySettings = request.app.state.settings
    if settings.freshdesk_webhook_secret is None:
        return error_response(404, "not found")
    raw = await read_body(request, settings.webhook_max_body_bytes)
    if isinstance(raw, Response):
        return raw
    verdict = verify_shared_secret(
        settings.freshdesk_webhook_secret.get_secret_value(),
        request.headers.get(FRESHDESK_SECRET),
    )
    return await _deliver(request, "freshdesk", verdict, raw, parse_freshdesk)


async def _deliver(
    request: Request, helpdesk: Helpdesk, verdict: Verdict, raw: bytes, parse: Parser
) -> Response:
    if verdict is not Verdict.GENUINE:
        WEBHOOKS.labels(helpdesk, verdict.value).inc()
        message = "stale signature timestamp" if verdict is Verdict.STALE else "bad signature"
        return error_response(401, message)
    try:
        parsed = parse(raw)
    except MalformedPayload as exc:
        WEBHOOKS.labels(helpdesk, "malformed").inc()
        return error_response(400, str(exc)[:500])
    if isinstance(parsed, Ignored):
        return _ignored(helpdesk, parsed.reason)
    tickets: TicketConversations = request.app.state.tickets
    try:
        conversation_id = parsed.conversation_id or await tickets.conversation_of(
            helpdesk, parsed.ticket_id
        )
        if conversation_id is None:
            return _ignored(helpdesk, "unknown_ticket")
        action = AgentAction(
            request_id=new_id(),
            conversation_id=conversation_id,
            correlation_id=request.state.correlation_id,
            action_id=parsed.action_id,
            action=parsed.kind,
            text=parsed.text,
            author=Author(name=parsed.author) if parsed.author else None,
            source=helpdesk,
            principal=f"webhook:{helpdesk}",
        )
        store: TranscriptStore = request.app.state.transcripts
        bridge: KafkaBridge = request.app.state.bridge
        await submit(store, bridge, action)
    except ConversationNotFoundError:
        return _ignored(helpdesk, "conversation_not_found")
    except ConversationClosedError:
        return _ignored(helpdesk, "conversation_closed")
    except DependencyUnavailableError:  # Kafka or Redis: the helpdesk retries
        return unavailable_response("unavailable; retry shortly")
    WEBHOOKS.labels(helpdesk, "accepted").inc()
    if action.action is AgentActionKind.MESSAGE:
        AGENT_MESSAGES.labels(helpdesk).inc()
    elif action.action is AgentActionKind.HANDBACK:
        HANDBACKS.labels(helpdesk).inc()
    return _outcome(WebhookOutcome(status="accepted", action_id=action.action_id), 202)


def _ignored(helpdesk: Helpdesk, reason: str) -> Response:
    WEBHOOKS.labels(helpdesk, "ignored").inc()
    return _outcome(WebhookOutcome(status="ignored", reason=reason), 200)


def _outcome(outcome: WebhookOutcome, status: int) -> Response:
    body = outcome.model_dump(mode="json", exclude_none=True)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
