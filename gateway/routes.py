"""HTTP endpoints: ``POST /v1/chat``, ``GET /health``, ``GET /ready``."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import scopes
from gateway.answer_cache import AnswerCacheReader
from gateway.auth import authorize
from gateway.body import parse_body
from gateway.bridge import KafkaBridge
from gateway.conversations import CONVERSATION_NOT_FOUND, TOKEN_HEADER, ConversationAccess
from gateway.correlation import supplied_request_id
from gateway.errors import error_response, unavailable_response
from gateway.handoff import CONVERSATION_CLOSED, is_closed
from gateway.idempotency import CallIds
from gateway.metrics import ANSWER_CACHE
from gateway.models import ChatBody, ChatResponse
from gateway.settings import GatewaySettings
from runtime import correlation
from runtime.errors import (
    BrokerUnavailableError,
    ConversationNotFoundError,
    ConversationNotOwnedError,
    ProcessingFailedError,
)
from schemas import ChatRequest, new_id


async def chat(request: Request) -> Response:
    principal = authorize(request, scopes.CHAT)
    settings: GatewaySettings = request.app.state.settings
    bridge: KafkaBridge = request.app.state.bridge
    access: ConversationAccess = request.app.state.conversations
    body = await parse_body(request, ChatBody, settings.max_body_bytes)
    if isinstance(body, Response):
        return body

    call_ids: CallIds = request.app.state.call_ids
    supplied = supplied_request_id(request.headers)
    token = request.headers.get(TOKEN_HEADER)
    try:
        conversation_id = await access.open(
            principal,
            body.conversation_id,
            token,
            new_conversation_id=call_ids.new_conversation_id(principal, supplied),
        )
    except ConversationNotFoundError:
        return _not_found(new_id())  # nothing was asked: an id for the caller's report
    request_id = call_ids.request_id(principal, conversation_id, supplied)
    # Only a conversation named by the caller can have been closed (a retry of a first
    # question that names none is replayed by the worker, closed or not).
    new_conversation = body.conversation_id is None and token is None
    if not new_conversation and await is_closed(request.app.state.transcripts, conversation_id):
        return error_response(
            409,
            "this conversation was closed; omit conversation_id to start a new one",
            code=CONVERSATION_CLOSED,
            request_id=request_id,
        )
    customer, verified = principal.customer(body.customer)
    chat_request = ChatRequest(
        request_id=request_id,
        conversation_id=conversation_id,
        correlation_id=request.state.correlation_id,
        message=body.message,
        customer=customer,
        customer_verified=verified,
        principal=principal.identity,
        channel="api",
    )
    correlation.bind(request_id=request_id, conversation_id=conversation_id)
    resume = access.token(conversation_id, principal)
    if new_conversation:
        cache: AnswerCacheReader = request.app.state.answer_cache
        if (hit := await cache.first_answer(body.message)) is not None:
            bridge.publish_in_background(chat_request)  # the worker records turn and answer
            response = ChatResponse.from_cache(chat_request, hit)
            return _answer_response(response, resume, cached=True)
    try:
        answer = await bridge.ask(chat_request, timeout_s=settings.request_timeout_s)
    except ConversationNotOwnedError:
        return _not_found(request_id)
    except BrokerUnavailableError:
        return unavailable_response(
            "the message broker is unavailable; retry shortly", request_id=request_id
        )
    except ProcessingFailedError:
        return error_response(
            500,
            "the request could not be processed; it was kept for an operator to replay",
            request_id=request_id,
        )
    except TimeoutError:
        return error_response(
            504,
            f"no answer within {settings.request_timeout_s:g}s; the request is still queued",
            request_id=request_id,
        )
    return _answer_response(ChatResponse.from_answer(answer), resume, cached=answer.cached)


def _not_found(request_id: str) -> Response:
    return error_response(
        404,
        "no such conversation for this credential; omit conversation_id to start one",
        code=CONVERSATION_NOT_FOUND,
        request_id=request_id,
    )


def _answer_response(response: ChatResponse, token: str, *, cached: bool) -> Response:
    ANSWER_CACHE.labels("hit" if cached else "miss").inc()
    body = response.model_copy(update={"conversation_token": token})
    return Response(
        orjson.dumps(body.model_dump(mode="json")),
        media_type="application/json",
        # The body carries a conversation token: no cache may keep it.
        headers={"X-Cache": "HIT" if cached else "MISS", "Cache-Control": "no-store"},
    )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})
