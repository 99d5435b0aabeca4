"""HTTP endpoints: ``POST /v1/chat``, ``GET /health``, ``GET /ready``."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth import SCOPE_CHAT, authorize
from gateway.bridge import BrokerUnavailableError, KafkaBridge, Probe, ProcessingFailedError
from gateway.errors import error_response
from gateway.models import ChatBody, ChatResponse
from gateway.settings import GatewaySettings
from schemas import ChatRequest, new_id

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_RETRY_AFTER_S = "5"


class PayloadTooLargeError(Exception):
    pass


async def chat(request: Request) -> Response:
    authorize(request, SCOPE_CHAT)
    settings: GatewaySettings = request.app.state.settings
    bridge: KafkaBridge = request.app.state.bridge
    try:
        raw = await _read_body(request, settings.max_body_bytes)
    except PayloadTooLargeError:
        return error_response(413, f"request body exceeds {settings.max_body_bytes} bytes")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return error_response(422, f"body is not valid JSON: {exc}")
    try:
        body = ChatBody.model_validate(payload)
    except ValidationError as exc:
        return error_response(422, "request body is invalid", details=_validation_details(exc))

    request_id = new_id()
    correlation_id = _correlation_id(request) or request_id
    chat_request = ChatRequest(
        request_id=request_id,
        conversation_id=body.conversation_id or new_id(),
        correlation_id=correlation_id,
        message=body.message,
        customer=body.customer,
        channel="api",
    )
    headers = {REQUEST_ID_HEADER: correlation_id}
    try:
        answer = await bridge.ask(chat_request, timeout_s=settings.request_timeout_s)
    except BrokerUnavailableError:
        return error_response(
            503,
            "the message broker is unavailable; retry shortly",
            request_id=request_id,
            headers=headers | {"Retry-After": _RETRY_AFTER_S},
        )
    except ProcessingFailedError:
        return error_response(
            500,
            "the request could not be processed; it was kept for an operator to replay",
            request_id=request_id,
            headers=headers,
        )
    except TimeoutError:
        return error_response(
            504,
            f"no answer within {settings.request_timeout_s:g}s; the request is still queued",
            request_id=request_id,
            headers=headers,
        )
    response = ChatResponse.from_answer(answer)
    return Response(
        orjson.dumps(response.model_dump(mode="json")),
        media_type="application/json",
        headers=headers | {"X-Cache": "HIT" if answer.cached else "MISS"},
    )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    checks: ReadinessChecks = request.app.state.readiness
    probes = await checks.run()
    ok = all(probe.ok for probe in probes.values())
    body = {
        "status": "ready" if ok else "not_ready",
        "checks": {
            name: {"ok": p.ok, "latency_ms": p.latency_ms, "detail": p.detail}
            for name, p in probes.items()
        },
    }
    return JSONResponse(body, status_code=200 if ok else 503)


class ReadinessChecks:
    """Runs the dependency probes, at most once per ``cache_s`` seconds."""

    def __init__(self, bridge: KafkaBridge, *, cache_s: float) -> None:
        self._bridge = bridge
        self._cache_s = cache_s
        self._last: tuple[float, dict[str, Probe]] | None = None
        self._lock = asyncio.Lock()

    async def run(self) -> dict[str, Probe]:
        async with self._lock:
            now = time.monotonic()
            if self._last and now - self._last[0] < self._cache_s:
                return self._last[1]
            kafka, workers = await asyncio.gather(
                self._bridge.probe_kafka(), self._bridge.probe_workers()
            )
            probes = {"kafka": kafka, "workers": workers}
            self._last = (now, probes)
            return probes


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _correlation_id(request: Request) -> str | None:
    supplied = request.headers.get(REQUEST_ID_HEADER)
    return supplied if supplied and _SAFE_ID.match(supplied) else None


def _validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(part) for part in error["loc"]) or "body", "problem": error["msg"]}
        for error in exc.errors()
    ]
