"""The agent API: ``POST /v1/conversations/{conversation_id}/messages`` and
``…/handback`` (scope ``agent``), and ``GET …/messages`` (the conversation's owner, or an
``agent`` credential). Each action is checked against the transcript projection (404 for
a conversation it never saw, 409 for a closed one) and published for the worker."""

from __future__ import annotations

import re

import orjson
from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from gateway import scopes
from gateway.auth import Principal, authorize
from gateway.body import parse_body
from gateway.bridge import KafkaBridge
from gateway.conversations import CONVERSATION_NOT_FOUND, TOKEN_HEADER, ConversationAccess
from gateway.errors import error_response, unavailable_response
from gateway.handoff import CONVERSATION_CLOSED, submit
from gateway.metrics import AGENT_MESSAGES, HANDBACKS
from gateway.models import (
    CONVERSATION_ID_PATTERN,
    ActionAccepted,
    AgentMessageBody,
    ConversationMessages,
    HandbackBody,
)
from gateway.settings import GatewaySettings
from gateway.transcripts import TranscriptStore
from runtime.errors import (
    BrokerUnavailableError,
    ConversationClosedError,
    ConversationNotFoundError,
    DependencyUnavailableError,
)
from schemas import AgentAction, AgentActionKind, new_id

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_CONVERSATION_ID = re.compile(CONVERSATION_ID_PATTERN)
_INTEGER = re.compile(r"^[0-9]{1,15}$")


async def post_message(request: Request) -> Response:
    principal = authorize(request, scopes.AGENT)
    conversation_id = request.path_params["conversation_id"]
    if not _CONVERSATION_ID.match(conversation_id):
        return _not_found()
    settings: GatewaySettings = request.app.state.settings
    body = await parse_body(request, AgentMessageBody, settings.max_body_bytes)
    if isinstance(body, Response):
        return body
    action = _action(request, principal, conversation_id, AgentActionKind.MESSAGE, body)
    response = await _submit(request, action)
    if response.status_code == 202:
        AGENT_MESSAGES.labels("api").inc()
    return response


async def post_handback(request: Request) -> Response:
    principal = authorize(request, scopes.AGENT)
    conversation_id = request.path_params["conversation_id"]
    if not _CONVERSATION_ID.match(conversation_id):
        return _not_found()
    settings: GatewaySettings = request.app.state.settings
    body: HandbackBody | Response = HandbackBody()
    if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
        body = await parse_body(request, HandbackBody, settings.max_body_bytes)
    if isinstance(body, Response):
        return body
    action = _action(request, principal, conversation_id, AgentActionKind.HANDBACK, body)
    response = await _submit(request, action)
    if response.status_code == 202:
        HANDBACKS.labels("api").inc()
    return response


async def get_messages(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    if scopes.AGENT in request.auth.scopes:
        authorize(request, scopes.AGENT)
        if not _CONVERSATION_ID.match(conversation_id):
            return _not_found()
    else:
        principal = authorize(request, scopes.CHAT)
        if not _CONVERSATION_ID.match(conversation_id):
            return _not_found()
        access: ConversationAccess = request.app.state.conversations
        try:
            await access.open(principal, conversation_id, request.headers.get(TOKEN_HEADER))
        except ConversationNotFoundError:
            return _not_found()
    after = request.query_params.get("after", "0")
    limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
    if not _INTEGER.match(after) or not _INTEGER.match(limit) or not 1 <= int(limit) <= MAX_LIMIT:
        return error_response(
            422,
            f"after must be an integer ≥ 0 and limit an integer from 1 to {MAX_LIMIT}",
        )
    store: TranscriptStore = request.app.state.transcripts
    try:
        transcript = await store.read(conversation_id, after=int(after), limit=int(limit))
    except (RedisError, OSError):
        return unavailable_response("the transcript store is unavailable; retry shortly")
    if transcript is None:
        return _not_found()
    return _json(
        ConversationMessages(
            conversation_id=conversation_id,
            handoff_state=transcript.handoff_state,
            messages=transcript.entries,
            last_seq=transcript.last_seq,
        ),
        200,
    )


def _action(
    request: Request,
    principal: Principal,
    conversation_id: str,
    kind: AgentActionKind,
    body: AgentMessageBody | HandbackBody,
) -> AgentAction:
    return AgentAction(
        request_id=new_id(),
        conversation_id=conversation_id,
        correlation_id=request.state.correlation_id,
        action_id="api:" + (body.message_id or new_id()),
        action=kind,
        text=body.text if isinstance(body, AgentMessageBody) else None,
        author=body.author,
        source="api",
        principal=principal.identity,
    )


async def _submit(request: Request, action: AgentAction) -> Response:
    """Publish ``action`` through the projection's checks: the 202, or the refusal."""
    store: TranscriptStore = request.app.state.transcripts
    bridge: KafkaBridge = request.app.state.bridge
    try:
        await submit(store, bridge, action)
    except ConversationNotFoundError:
        return _not_found()
    except ConversationClosedError:
        return error_response(409, "this conversation was closed", code=CONVERSATION_CLOSED)
    except BrokerUnavailableError:
        return unavailable_response("the message broker is unavailable; retry shortly")
    except DependencyUnavailableError:
        return unavailable_response("the transcript store is unavailable; retry shortly")
    accepted = ActionAccepted(conversation_id=action.conversation_id, action_id=action.action_id)
    return _json(accepted, 202)


def _not_found() -> Response:
    return error_response(404, "no such conversation", code=CONVERSATION_NOT_FOUND)


def _json(model: BaseModel, status: int) -> Response:
    return Response(
        orjson.dumps(model.model_dump(mode="json")),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
