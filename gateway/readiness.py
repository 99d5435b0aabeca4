"""``GET /ready``: each dependency's state and latency; 503 when a required one is down.

Kafka, the workers (their consumer group has members) and this gateway's answer listener
(without it every caller would wait for an answer it never reads) are required. Redis is
reported but not required: rate limits fall back to each instance's memory. ChromaDB
is checked when the workers use a Chroma server (``CHROMA_HOST``), with their
``CHROMA_AUTH_TOKEN``, so a wrong token shows here as HTTP 401; an embedded store lives
inside the workers and is covered by their check.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.bridge import KafkaBridge, Probe
from gateway.projection import TranscriptProjection
from gateway.ratelimit import RateLimiter
from runtime.chroma import heartbeat


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


async def probe_chroma(url: str, token: SecretStr | None) -> Probe:
    """The Chroma server's heartbeat at ``url``, asked with ``token`` as the workers ask."""
    started = time.perf_counter()
    try:
        response = await heartbeat(url, token)
        ok, detail = response.status_code == 200, f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        ok, detail = False, f"unreachable: {type(exc).__name__}"
    return Probe(ok, round((time.perf_counter() - started) * 1000, 2), detail)


class ReadinessChecks:
    """Runs the dependency probes, the remote ones at most once per ``cache_s`` seconds.
    Redis is not required: without it rate limits fall back to each instance's memory."""

    def __init__(
        self,
        bridge: KafkaBridge,
        limiter: RateLimiter,
        *,
        cache_s: float,
        chroma_url: str | None = None,
        chroma_token: SecretStr | None = None,
        projection: TranscriptProjection | None = None,
    ) -> None:
        self._bridge = bridge
        self._projection = projection
        self._limiter = limiter
        self._chroma_url = chroma_url
        self._chroma_token = chroma_token
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

    async def _probe_chroma(self) -> Probe:
        if self._chroma_url is None:
            return Probe(True, 0.0, "embedded in the workers", required=False)
        return await probe_chroma(self._chroma_url, self._chroma_token)

    async def run(self) -> dict[str, Probe]:
        remote = await self._remote_probes()
        # In-process state costs nothing to read, so it is never stale.
        probes = {**remote, "answer_listener": self._bridge.probe_listener()}
        if self._projection is not None:
            # Not required: questions are answered without it; the transcript lags meanwhile.
            writing, detail = self._projection.health()
            probes["transcripts"] = Probe(writing, 0.0, detail, required=False)
        return probes

    async def _remote_probes(self) -> dict[str, Probe]:
        async with self._lock:
            now = time.monotonic()
            if self._last and now - self._last[0] < self._cache_s:
                return self._last[1]
            kafka, workers, redis, chroma = await asyncio.gather(
                self._bridge.probe_kafka(),
                self._bridge.probe_workers(),
                self._probe_redis(),
                self._probe_chroma(),
            )
            probes = {"kafka": kafka, "workers": workers, "redis": redis, "chroma": chroma}
            self._last = (now, probes)
            return probes
