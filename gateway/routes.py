"""HTTP endpoints: ``POST /v1/chat``, ``GET /health``, ``GET /ready``."""

from __future__ import annotations

import asyncio
import time

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import scopes
from gateway.auth import authorize
from gateway.body import parse_body
from gateway.bridge import BrokerUnavailableError, KafkaBridge, Probe, ProcessingFailedError
from gateway.errors import error_response
from gateway.metrics import ANSWER_CACHE
from gateway.models import ChatBody, ChatResponse
from gateway.ratelimit import RateLimiter
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
    ANSWER_CACHE.labels("hit" if answer.cached else "miss").inc()
    response = ChatResponse.from_answer(answer)
    return Response(
        orjson.dumps(response.model_dump(mode="json")),
        media_type="application/json",
        headers={"X-Cache": "HIT" if answer.cached else "MISS"},
    )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    checks: ReadinessChecks = request.app.state.readiness
    probes = await checks.run()
    ok = all(probe.ok for probe in probes.values() if probe.required)
    body = {
        "status": "ready" if ok else "not_ready",
        "checks": {
            name: {
                "ok": p.ok,
                "required": p.required,
                "latency_ms": p.latency_ms,
                "detail": p.detail,
            }
            for name, p in probes.items()
        },
    }
    return JSONResponse(body, status_code=200 if ok else 503)


class ReadinessChecks:
    """Runs the dependency probes, at most once per ``cache_s`` seconds. Redis is not
    required: without it rate limits fall back to each instance's memory."""

    def __init__(self, bridge: KafkaBridge, limiter: RateLimiter, *, cache_s: float) -> None:
        self._bridge = bridge
        self._limiter = limiter
        self._cache_s = cache_s
        self._last: tuple[float, dict[str, Probe]] | None = None
        self._lock = asyncio.Lock()

    async def _probe_redis(self) -> Probe:
        started = time.perf_counter()
        reachable = await self._limiter.ping()
        latency = round((time.perf_counter() - started) * 1000, 2)
        detail = self._limiter.degraded_reason or "reachable; shared rate limits"
        if not reachable and self._limiter.degraded_reason is None:
            detail = "unreachable: per-instance rate limits"
        return Probe(reachable, latency, detail, required=False)

    async def run(self) -> dict[str, Probe]:
        async with self._lock:
            now = time.monotonic()
            if self._last and now - self._last[0] < self._cache_s:
                return self._last[1]
            kafka, workers, redis = await asyncio.gather(
                self._bridge.probe_kafka(), self._bridge.probe_workers(), self._probe_redis()
            )
            probes = {"kafka": kafka, "workers": workers, "redis": redis}
            self._last = (now, probes)
            return probes
