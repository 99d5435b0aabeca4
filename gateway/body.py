"""Reading a JSON request body into a model, with a size limit and precise errors."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.errors import error_response

ModelT = TypeVar("ModelT", bound=BaseModel)


class _TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes | Response:
    """The raw body, or the 413 (or 400) response that refuses it."""
    try:
        return await _read(request, limit)
    except _TooLarge:
        return error_response(413, f"request body exceeds {limit} bytes")
    except ClientDisconnect:
        # Nobody reads this; it ends the request without an error traceback in the log.
        return error_response(400, "the client disconnected before sending the whole body")


async def parse_body(request: Request, model: type[ModelT], limit: int) -> ModelT | Response:
    """The validated body, or the 413/422 response that refuses it."""
    raw = await read_body(request, limit)
    if isinstance(raw, Response):
        return raw
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return error_response(422, f"body is not valid JSON: {exc}")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        return error_response(422, "request body is invalid", details=error_details(exc))


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def error_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(part) for part in error["loc"]) or "body", "problem": error["msg"]}
        for error in exc.errors()
    ]
