"""The gateway's Starlette application."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute

from gateway import agent_routes, asyncapi, openapi, pages, readiness, routes, scopes, webhooks
from gateway.answer_cache import LOOKUP_TIMEOUT_S, AnswerCacheReader
from gateway.auth import CredentialsBackend
from gateway.auth_failures import AuthFailureMiddleware, AuthFailures, credentials_refused
from gateway.bridge import KafkaBridge
from gateway.client_ip import parse_networks
from gateway.conversations import ConversationAccess
from gateway.correlation import CorrelationMiddleware
from gateway.errors import http_exception_handler
from gateway.feedback import FeedbackService
from gateway.feedback_route import post_feedback
from gateway.idempotency import KEY_LABEL, CallIds
from gateway.keys import ApiKeyEntry, KeyRing, digest, parse_entries
from gateway.metrics import MetricsMiddleware, metrics_endpoint
from gateway.middleware import RateLimitMiddleware
from gateway.ownership import ConversationRegistry
from gateway.projection import TranscriptProjection
from gateway.rateable import LocalRateableAnswers, RateableAnswers, RedisRateableAnswers
from gateway.ratelimit import RateLimiter
from gateway.reminders import HandoffReminders
from gateway.reply_partitions import ReplyPartition
from gateway.settings import GatewaySettings
from gateway.socket_limits import OpenSockets
from gateway.tickets import TicketConversations
from gateway.token_route import issue_token
from gateway.tokens import TokenService
from gateway.transcripts import LocalTranscripts, RedisTranscripts, TranscriptStore
from gateway.users import UserStore
from gateway.websocket import chat_socket
from runtime.redis import redis_client

log = logging.getLogger(__name__)


def create_app(
    settings: GatewaySettings | None = None, bridge: KafkaBridge | None = None
) -> Starlette:
    """``bridge`` stands in for the gateway's whole side of Kafka (tests): the transcript
    projection and the reminder timer, Kafka's too, then do not run."""
    settings = settings or GatewaySettings()
    own_kafka = bridge is None
    tokens = token_service(settings)
    redis = redis_client(settings, max_connections=64) if settings.redis_url else None
    bridge = bridge or KafkaBridge(
        settings.kafka,
        create_topics=settings.kafka_create_topics,
        replication_factor=settings.kafka_replication_factor,
        worker_group=settings.worker_app_id,
        publish_timeout_s=settings.kafka_publish_timeout_s,
        routing=settings.answer_routing,
        reply_partition=ReplyPartition(redis, fixed=settings.gateway_reply_partition),
    )
    answer_cache = AnswerCacheReader(
        redis_client(settings, timeout_s=LOOKUP_TIMEOUT_S) if settings.redis_url else None
    )
    limiter = RateLimiter(
        per_minute=settings.rate_limit_per_minute,
        per_hour=settings.rate_limit_per_hour,
        redis=redis,
    )
    registry = ConversationRegistry(redis=redis, ttl_s=settings.conversation_ttl_s)
    auth_failures = AuthFailures(per_minute=settings.auth_failures_per_minute, redis=redis)
    trusted_proxies = parse_networks(settings.trusted_proxies)
    transcripts: TranscriptStore = (
        RedisTranscripts(redis, ttl_s=settings.conversation_ttl_s)
        if redis is not None
        else LocalTranscripts(ttl_s=settings.conversation_ttl_s)
    )
    answers: RateableAnswers = (
        RedisRateableAnswers(redis, ttl_s=settings.conversation_ttl_s)
        if redis is not None
        else LocalRateableAnswers(ttl_s=settings.conversation_ttl_s)
    )
    projection = TranscriptProjection(settings.kafka, transcripts, answers) if own_kafka else None
    reminders = (
        HandoffReminders(
            transcripts,
            bridge,
            interval_s=settings.handoff_reminder_interval_s,
            overdue_after_s=settings.handoff_overdue_after_s,
        )
        if own_kafka
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bridge.start()
        if projection is not None and reminders is not None:
            projection.start()
            reminders.start()
        try:
            yield
        finally:
            if projection is not None and reminders is not None:
                await reminders.stop()
                await projection.stop()
            await bridge.stop()
            if redis is not None:
                await redis.aclose()
            await answer_cache.close()

    app = Starlette(
        routes=[
            Route("/v1/chat", routes.chat, methods=["POST"]),
            Route("/v1/feedback", post_feedback, methods=["POST"]),
            Route("/v1/auth/token", issue_token, methods=["POST"]),
            Route(
                "/v1/conversations/{conversation_id}/messages",
                agent_routes.post_message,
                methods=["POST"],
            ),
            Route(
                "/v1/conversations/{conversation_id}/messages",
                agent_routes.get_messages,
                methods=["GET"],
            ),
            Route(
                "/v1/conversations/{conversation_id}/handback",
                agent_routes.post_handback,
                methods=["POST"],
            ),
            Route("/v1/webhooks/zendesk", webhooks.zendesk, methods=["POST"]),
            Route("/v1/webhooks/freshdesk", webhooks.freshdesk, methods=["POST"]),
            Route("/health", routes.health, methods=["GET"]),
            Route("/ready", readiness.ready, methods=["GET"]),
            Route("/openapi.json", openapi.openapi_route, methods=["GET"], include_in_schema=False),
            Route(
                "/asyncapi.json", asyncapi.asyncapi_route, methods=["GET"], include_in_schema=False
            ),
            WebSocketRoute("/v1/ws", chat_socket),
            Route("/", pages.chat_page, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/kb/{doc_id}", pages.knowledge_document, methods=["GET"]),
            Mount("/static", app=pages.static_files, name="static"),
        ],
        middleware=[
            Middleware(CorrelationMiddleware),
            Middleware(MetricsMiddleware),
            *_cors(settings),
            Middleware(
                AuthFailureMiddleware, failures=auth_failures, trusted_proxies=trusted_proxies
            ),
            Middleware(
                AuthenticationMiddleware,
                backend=CredentialsBackend(key_ring(settings), tokens),
                on_error=credentials_refused,
            ),
            Middleware(RateLimitMiddleware, limiter=limiter, trusted_proxies=trusted_proxies),
        ],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.bridge = bridge
    app.state.users = UserStore(
        settings.users_file,
        concurrent_checks=settings.password_checks_concurrent,
        wait_s=settings.password_check_wait_s,
    )
    app.state.limiter = limiter
    app.state.auth_failures = auth_failures
    app.state.open_sockets = OpenSockets(settings.ws_max_connections_per_principal)
    app.state.answer_cache = answer_cache
    app.state.trusted_proxies = trusted_proxies
    app.state.transcripts = transcripts
    app.state.tickets = TicketConversations(redis)
    app.state.tokens = tokens
    app.state.conversations = ConversationAccess(registry, tokens, settings.conversation_ttl_s)
    app.state.feedback = FeedbackService(answers, app.state.conversations, bridge)
    app.state.call_ids = CallIds(tokens.derived_key(KEY_LABEL))
    app.state.readiness = readiness.ReadinessChecks(
        bridge,
        limiter,
        cache_s=settings.readiness_cache_s,
        chroma_url=settings.chroma_url,
        chroma_token=settings.chroma_auth_token,
        projection=projection,
    )
    return app


def key_ring(settings: GatewaySettings) -> KeyRing:
    plain = [
        ApiKeyEntry(digest(key.get_secret_value()), frozenset({scopes.CHAT}))
        for key in settings.api_keys
    ]
    return KeyRing(plain + parse_entries(settings.api_key_digests))


def token_service(settings: GatewaySettings) -> TokenService:
    if settings.jwt_algorithm == "RS256":
        if settings.jwt_private_key_file is None or settings.jwt_public_key_file is None:
            raise ValueError("RS256 needs JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE")
        return TokenService(
            algorithm="RS256",
            signing_key=settings.jwt_private_key_file.read_bytes(),
            verifying_key=settings.jwt_public_key_file.read_bytes(),
            ttl_s=settings.jwt_ttl_s,
        )
    if settings.jwt_secret is None:
        log.warning("JWT_SECRET not set: using a random secret; tokens die with this process")
        secret = secrets.token_urlsafe(48)
    else:
        secret = settings.jwt_secret.get_secret_value()
    return TokenService(
        algorithm="HS256", signing_key=secret, verifying_key=secret, ttl_s=settings.jwt_ttl_s
    )


def _cors(settings: GatewaySettings) -> list[Middleware]:
    if not settings.cors_origins:
        return []
    wildcard = "*" in settings.cors_origins
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-API-Key",
                "X-Conversation-Token",
                "X-Request-ID",
            ],
            expose_headers=[
                "X-Request-ID",
                "X-Cache",
                "Retry-After",
                "X-RateLimit-Limit-Minute",
                "X-RateLimit-Limit-Hour",
                "X-RateLimit-Remaining-Minute",
                "X-RateLimit-Remaining-Hour",
            ],
            # Credentials with a wildcard origin would let any site act as the user.
            allow_credentials=not wildcard,
        )
    ]
