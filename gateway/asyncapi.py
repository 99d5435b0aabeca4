"""``GET /asyncapi.json``: the Kafka topics' contract, public like ``/openapi.json``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from schemas.asyncapi import document


async def asyncapi_route(request: Request) -> Response:
    return JSONResponse(document())
