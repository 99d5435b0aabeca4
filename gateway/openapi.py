"""``GET /openapi.json``: the HTTP API, described from the models that validate it."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.models import ChatBody, ChatResponse, ErrorResponse
from gateway.token_route import TokenBody, TokenResponse

_REF = "#/components/schemas/{model}"
_SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]


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
                        **_errors(401, 403, 404, 413, 422, 429, 500, 503, 504),
                    },
                }
            },
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


async def openapi_route(request: Request) -> Response:
    return JSONResponse(document())
