"""``GET /openapi.json``: the HTTP API, described from the models that validate it."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.agent_routes import DEFAULT_LIMIT, MAX_LIMIT
from gateway.models import (
    CONVERSATION_ID_PATTERN,
    ActionAccepted,
    AgentMessageBody,
    ChatBody,
    ChatResponse,
    ConversationMessages,
    ErrorResponse,
    FeedbackBody,
    FeedbackReceived,
    HandbackBody,
    WebhookOutcome,
)
from gateway.token_route import TokenBody, TokenResponse

_REF = "#/components/schemas/{model}"
_SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]
_CONVERSATION = {
    "name": "conversation_id",
    "in": "path",
    "required": True,
    "description": "the conversation (an Escalation's conversation_id, a ticket's external id)",
    "schema": {"type": "string", "pattern": CONVERSATION_ID_PATTERN},
}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", "content": _json(ErrorResponse)} for s in statuses}


@cache
def document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        ChatBody,
        ChatResponse,
        ErrorResponse,
        TokenBody,
        TokenResponse,
        AgentMessageBody,
        HandbackBody,
        ActionAccepted,
        ConversationMessages,
        WebhookOutcome,
        FeedbackBody,
        FeedbackReceived,
    ]
    _, schemas = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "TechGear Support Streams gateway", "version": "1.0.0"},
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "paths": {
            "/v1/chat": {
                "post": {
                    "summary": "Ask a question; the answer comes back through Kafka",
                    "security": _SECURITY,
                    "parameters": [
                        {
                            "name": "X-Request-ID",
                            "in": "header",
                            "required": False,
                            "description": "names the call: a retry with the same value gets "
                            "the same request_id and conversation, and the first answer "
                            "(replayed: true) rather than a second one",
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                        },
                        {
                            "name": "X-Conversation-Token",
                            "in": "header",
                            "required": False,
                            "description": "the conversation_token of an earlier answer: "
                            "continues that conversation",
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {"required": True, "content": _json(ChatBody)},
                    "responses": {
                        "200": {"description": "the answer", "content": _json(ChatResponse)},
                        **_errors(401, 403, 404, 409, 413, 422, 429, 500, 503, 504),
                    },
                }
            },
            "/v1/feedback": {
                "post": {
                    "summary": "Rate one of the bot's answers (scope chat, the conversation's "
                    "owner); a second rating replaces the first, the same one again changes "
                    "nothing; published on support.feedback",
                    "security": _SECURITY,
                    "parameters": [
                        {
                            "name": "X-Conversation-Token",
                            "in": "header",
                            "required": False,
                            "description": "the answer's conversation_token: required for a "
                            "publishable key",
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {"required": True, "content": _json(FeedbackBody)},
                    "responses": {
                        "202": {
                            "description": "the rating as stored",
                            "content": _json(FeedbackReceived),
                        },
                        **_errors(400, 401, 403, 404, 413, 422, 429, 503),
                    },
                }
            },
            "/v1/conversations/{conversation_id}/messages": {
                "post": {
                    "summary": "A person's message to the customer (scope agent); the person "
                    "takes the conversation from the bot",
                    "security": _SECURITY,
                    "parameters": [_CONVERSATION],
                    "requestBody": {"required": True, "content": _json(AgentMessageBody)},
                    "responses": {
                        "202": {"description": "published", "content": _json(ActionAccepted)},
                        **_errors(400, 401, 403, 404, 409, 413, 422, 429, 503),
                    },
                },
                "get": {
                    "summary": "The conversation's transcript after a conversation_seq: its "
                    "owner (scope chat, X-Conversation-Token for a publishable key) or an agent",
                    "security": _SECURITY,
                    "parameters": [
                        _CONVERSATION,
                        {
                            "name": "after",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 0, "default": 0},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_LIMIT,
                                "default": DEFAULT_LIMIT,
                            },
                        },
                        {
                            "name": "X-Conversation-Token",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "entries in conversation_seq order",
                            "content": _json(ConversationMessages),
                        },
                        **_errors(401, 403, 404, 422, 429, 503),
                    },
                },
            },
            "/v1/conversations/{conversation_id}/handback": {
                "post": {
                    "summary": "Give the conversation back to the bot (scope agent)",
                    "security": _SECURITY,
                    "parameters": [_CONVERSATION],
                    "requestBody": {"required": False, "content": _json(HandbackBody)},
                    "responses": {
                        "202": {"description": "published", "content": _json(ActionAccepted)},
                        **_errors(400, 401, 403, 404, 409, 413, 422, 429, 503),
                    },
                }
            },
            "/v1/webhooks/zendesk": _webhook(
                "Zendesk ticket events (comment_added, status_changed), signed with "
                "HMAC-SHA256 of timestamp + body (base64)",
                [
                    _header("X-Zendesk-Webhook-Signature"),
                    _header("X-Zendesk-Webhook-Signature-Timestamp"),
                ],
            ),
            "/v1/webhooks/freshdesk": _webhook(
                "Freshdesk automation rule deliveries, with the shared secret",
                [_header("X-TechGear-Webhook-Secret")],
            ),
            "/v1/auth/token": {
                "post": {
                    "summary": "Exchange a username and password for a signed JWT",
                    "security": [],
                    "requestBody": {"required": True, "content": _json(TokenBody)},
                    "responses": {
                        "200": {"description": "a token", "content": _json(TokenResponse)},
                        **_errors(401, 413, 422, 429, 503),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": {"description": "alive"}},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: Kafka, workers and Redis with their latency",
                    "security": [],
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not ready"},
                    },
                }
            },
        },
    }


def _header(name: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}


def _webhook(summary: str, headers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary + "; 404 while its secret is not configured",
            "security": [],
            "parameters": headers,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {"description": "not acted on", "content": _json(WebhookOutcome)},
                "202": {"description": "acted on", "content": _json(WebhookOutcome)},
                **_errors(400, 401, 404, 413, 429, 503),
            },
        }
    }


async def openapi_route(request: Request) -> Response:
    return JSONResponse(document())
