"""HTTP endpoints: ``POST /v1/chat``, ``GET /health``, ``GET /ready``."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import scopes
from gateway.answer_cache import AnswerCacheReader
from gateway.auth import authorize
from gateway.body import parse_body
from gateway.bridge import BrokerUnavailableError, KafkaBridge, ProcessingFailedError
from gateway.errors import error_response
from gateway.metrics import ANSWER_CACHE
from gateway.models import ChatBody, ChatResponse
from gateway.settings import GatewaySettings
from schemas import ChatRequest, correlation, new_id

_RETRY_AFTER_S = "5"


async def chat(request: Request) -> Response:
    authorize(request, scopes.CHAT)
    settings: GatewaySettings = request.app.state.settings
    bridge: KafkaBridge = request.app.state.bridge
    body = await parse_body(request, ChatBody, settings.max_body_bytes)
    if isinstance(body, Response):
        return body

    request_id = new_id()
    chat_request = ChatRequest(
        request_id=request_id,
        conversation_id=body.conversation_id or new_id(),
        correlation_id=request.state.correlation_id,
        message=body.message,
        customer=body.customer,
        channel="api",
    )
    correlation.bind(request_id=request_id, conversation_id=chat_request.conversation_id)
    if body.conversation_id is None:
        cache: AnswerCacheReader = request.app.state.answer_cache
        if (hit := await cache.first_answer(body.message)) is not None:
            bridge.publish_in_background(chat_request)  # the worker records turn and answer
            return _answer_response(ChatResponse.from_cache(chat_request, hit), cached=True)
    try:
        answer = await bridge.ask(chat_request, timeout_s=settings.request_timeout_s)
    except BrokerUnavailableError:
        return error_response(
            503,
            "the message broker is unavailable; retry shortly",
            request_id=request_id,
            headers={"Retry-After": _RETRY_AFTER_S},
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
    return _answer_response(ChatResponse.from_answer(answer), cached=answer.cached)


def _answer_response(response: ChatResponse, *, cached: bool) -> Response:
    ANSWER_CACHE.labels("hit" if cached else "miss").inc()
    return Response(
        orjson.dumps(response.model_dump(mode="json")),
        media_type="application/json",
        headers={"X-Cache": "HIT" if cached else "MISS"},
    )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})
