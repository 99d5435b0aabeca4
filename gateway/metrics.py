"""Prometheus metrics of a gateway process, served at ``/metrics`` (``admin`` scope).

Each gateway process serves its own figures; run one process per port and let
Prometheus scrape each, so several gateways on one host still add up correctly.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import scopes
from gateway.auth import authorize

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "techgear_gateway_http_requests_total",
    "HTTP requests by route and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "techgear_gateway_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("techgear_gateway_http_requests_in_flight", "HTTP requests being served.")
RATE_LIMITED = Counter(
    "techgear_gateway_rate_limited_total",
    "Requests and WebSocket questions refused by rate limits.",
    ["transport"],
)
AUTH_FAILURES = Counter(
    "techgear_gateway_auth_failures_total",
    "Failed authentications: a refused API key or token (http, websocket), or a wrong "
    "password at the token endpoint (password; each one ran bcrypt).",
    ["kind"],
)
AUTH_FAILURE_REFUSALS = Counter(
    "techgear_gateway_auth_failure_refusals_total",
    "Requests and sockets refused unchecked: their address used up its failure budget.",
    ["transport"],
)
WEBSOCKET_REFUSED = Counter(
    "techgear_gateway_websocket_refused_total",
    "WebSockets refused at opening or closed by the gateway, by reason.",
    ["reason"],
)
ANSWER_CACHE = Counter(
    "techgear_gateway_answer_cache_total", "Answers by cache result.", ["result"]
)
KAFKA_PRODUCE_LATENCY = Histogram(
    "techgear_gateway_kafka_produce_duration_seconds",
    "Time for Kafka to acknowledge a published request.",
    buckets=_LATENCY_BUCKETS,
)
KAFKA_PRODUCE_ERRORS = Counter(
    "techgear_gateway_kafka_produce_errors_total", "Requests Kafka did not accept."
)
ANSWER_RECORDS_SKIPPED = Counter(
    "techgear_gateway_answer_records_skipped_total",
    "Records of the answer and dead-letter topics skipped because handling them failed.",
    ["reason"],
)
FOREIGN_ANSWER_RECORDS = Counter(
    "techgear_gateway_foreign_answer_records_total",
    "Records of support.answers and support.answer-deltas read that no caller here waited "
    "for: other gateways' callers (ANSWER_ROUTING=broadcast, or a shared reply partition), "
    "callers that gave up, and questions this gateway answered from the cache.",
)
ANSWER_LISTENER_RESTARTS = Counter(
    "techgear_gateway_answer_listener_restarts_total",
    "Times the reader of the answer topics died and was restarted.",
)
WEBSOCKET_CONNECTIONS = Gauge(
    "techgear_gateway_websocket_connections", "Open WebSocket connections."
)
TRANSCRIPT_RECORDS_SKIPPED = Counter(
    "techgear_gateway_transcript_records_skipped_total",
    "Records of support.conversation-events the transcript projection could not decode.",
)
TRANSCRIPT_PROJECTION_RESTARTS = Counter(
    "techgear_gateway_transcript_projection_restarts_total",
    "Times the transcript projection's consumer died and was restarted.",
)
AGENT_MESSAGES = Counter(
    "techgear_gateway_agent_messages_total",
    "Agents' messages accepted and published, by where they came from.",
    ["source"],
)
HANDBACKS = Counter(
    "techgear_gateway_handbacks_requested_total",
    "Hand-backs to the bot requested, by where they came from.",
    ["source"],
)
WEBHOOKS = Counter(
    "techgear_gateway_webhooks_total",
    "Helpdesk webhook deliveries by helpdesk and outcome.",
    ["helpdesk", "outcome"],
)
FEEDBACK = Counter(
    "techgear_gateway_feedback_total",
    "Ratings of answers published on support.feedback, by rating (up, down); a rating "
    "repeated unchanged publishes nothing and is not counted.",
    ["rating"],
)
HANDOFF_AWAITING = Gauge(
    "techgear_handoff_awaiting_conversations", "Conversations waiting for a person."
)
HANDOFF_OVERDUE = Gauge(
    "techgear_handoff_overdue_conversations",
    "Conversations waiting for a person past the time they were promised a reply.",
)
HANDOFF_OLDEST_WAIT = Gauge(
    "techgear_handoff_oldest_wait_seconds",
    "How long the conversation waiting longest for a person has waited (0: none waits).",
)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (never its raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, record_status)
        finally:
            HTTP_IN_FLIGHT.dec()
            template = _route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(template, method, str(status)).inc()
            HTTP_LATENCY.labels(template, method).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """The matched route's path template, also for requests refused before routing
    (authentication, rate limits), so labels stay few and meaningful."""
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        for candidate in getattr(app, "routes", []):
            if candidate.matches(scope)[0] is Match.FULL:
                route = candidate
                break
    return str(getattr(route, "path", "unmatched"))


async def metrics_endpoint(request: Request) -> Response:
    authorize(request, scopes.ADMIN)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
