"""``POST /v1/feedback``: a customer rates one of the bot's answers (``gateway/feedback.py``)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway import scopes
from gateway.auth import authorize
from gateway.body import parse_body
from gateway.conversations import TOKEN_HEADER
from gateway.errors import error_response, unavailable_response
from gateway.feedback import ANSWER_NOT_FOUND, FeedbackService
from gateway.models import FeedbackBody
from gateway.settings import GatewaySettings
from runtime.errors import (
    AnswerNotFoundError,
    BrokerUnavailableError,
    DependencyUnavailableError,
)


async def post_feedback(request: Request) -> Response:
    principal = authorize(request, scopes.CHAT)
    settings: GatewaySettings = request.app.state.settings
    body = await parse_body(request, FeedbackBody, settings.max_body_bytes)
    if isinstance(body, Response):
        return body
    service: FeedbackService = request.app.state.feedback
    try:
        received = await service.rate(
            principal,
            body,
            channel="api",
            correlation_id=request.state.correlation_id,
            conversation_token=request.headers.get(TOKEN_HEADER),
        )
    except AnswerNotFoundError:
        return error_response(
            404, "no answer to rate with this request_id for this credential", code=ANSWER_NOT_FOUND
        )
    except BrokerUnavailableError:
        return unavailable_response("the message broker is unavailable; retry shortly")
    except DependencyUnavailableError:
        return unavailable_response("the rating store is unavailable; retry shortly")
    return Response(
        orjson.dumps(received.model_dump(mode="json")),
        status_code=202,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
