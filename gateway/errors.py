"""JSON error responses: every refusal names its problem and, when known, the request."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    431: "headers_too_large",
    500: "processing_failed",
    503: "unavailable",
    504: "timeout",
}

RETRY_AFTER_S = "5"
"""``Retry-After`` of a 503: a broker or store that failed is retried after this."""


def unavailable_response(message: str, *, request_id: str | None = None) -> JSONResponse:
    """A 503 for a broker or store that failed, with ``Retry-After``."""
    return error_response(
        503, message, request_id=request_id, headers={"Retry-After": RETRY_AFTER_S}
    )


class ApiError(HTTPException):
    """A refusal whose error code says more than its status does."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(status_code, detail)
        self.code = code


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    request_id: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """``code`` names the problem more precisely than the status's own code."""
    code = code or _CODES.get(status, "error")
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=headers)


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    code = exc.code if isinstance(exc, ApiError) else None
    return error_response(exc.status_code, str(exc.detail), code=code, headers=headers)


def authentication_error(conn: HTTPConnection, exc: Exception) -> JSONResponse:
    return error_response(401, str(exc) or "invalid credentials")
