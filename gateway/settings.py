"""Configuration of a gateway process, read from the environment and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from gateway.reply_partitions import AnswerRouting
from runtime.chroma import ChromaServerSettings
from runtime.settings import RuntimeSettings


class GatewaySettings(RuntimeSettings, ChromaServerSettings):
    """Every knob of ``techgear gateway``.

    Behind a load balancer, set ``REQUEST_TIMEOUT_S`` below the balancer's own timeout so
    callers get our 504 with a ``request_id`` rather than the balancer's anonymous one.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Plaintext keys with the ``chat`` scope, for development; prefer ``API_KEY_DIGESTS``."""
    api_key_digests: str = ""
    """``<sha256 hex>=<scope>+<scope>`` entries, comma-separated (``techgear keys create``);
    a publishable key's entry ends ``;publishable=<origin>|<origin>``."""
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr | None = None
    """HS256 secret, at least 32 bytes; every gateway instance needs the same one. Unset:
    a random one per process (tokens then die with it)."""
    jwt_private_key_file: Path | None = None
    jwt_public_key_file: Path | None = None
    jwt_ttl_s: int = Field(default=3600, ge=60)
    users_file: Path = Path(".local/users.json")
    knowledge_path: Path = Path("data/knowledge")
    """Knowledge-base documents the chat page's source links open (``/kb/{doc_id}``)."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed to call the API from a browser; ``*`` allows any, without credentials."""
    redis_url: str | None = None
    """Rate limits, failed-authentication budgets and conversation ownership shared by every
    gateway, and the workers' answer cache; unset: each process alone, no cache."""
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    request_timeout_s: float = Field(default=30.0, gt=0)
    """How long a caller waits for the worker's answer before a 504."""
    kafka_publish_timeout_s: float = Field(default=5.0, gt=0)
    """How long Kafka may take to accept a question before the caller gets a 503."""
    answer_routing: AnswerRouting = AnswerRouting.PARTITION
    """``partition``: read only this gateway's reply partition of the answer topics (the
    workers send each answer to the partition its request names). ``broadcast``: read every
    partition, while workers that predate reply partitions still run (a rolling upgrade),
    or to measure what routing saves. Requests name the reply partition either way."""
    gateway_reply_partition: int | None = Field(default=None, ge=0, le=9999)
    """A fixed reply partition (e.g. a StatefulSet's ordinal); unset: leased in Redis, one
    partition per gateway while there are enough (partition 0 without ``REDIS_URL``)."""
    max_body_bytes: int = Field(default=16_384, ge=1024)
    readiness_cache_s: float = Field(default=2.0, ge=0)
    """Readiness probes hit Kafka at most this often; Kubernetes probes every few seconds."""
    rate_limit_per_minute: int = Field(default=60, ge=1)
    rate_limit_per_hour: int = Field(default=1000, ge=1)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Addresses or CIDRs of proxies whose ``X-Forwarded-For`` is believed."""
    http_max_header_bytes: int = Field(default=16_384, ge=1024)
    """Request line plus headers larger than this are refused with 400 and the connection
    closed; bounds the memory one connection can make the gateway hold before the app runs."""
    http_max_headers: int = Field(default=100, ge=10)
    """Requests with more header fields are refused with 431."""
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    """A request's line and headers must arrive within this many seconds of the connection
    opening (or of the previous response): slower clients get 408 and are disconnected."""
    http_body_timeout_s: float = Field(default=30.0, gt=0)
    """Once its headers are in, a request's whole body must arrive within this many seconds."""
    http_keepalive_timeout_s: int = Field(default=5, ge=1)
    """An idle keep-alive connection is closed after this many seconds. Behind a load balancer
    that reuses connections, set it above the balancer's idle timeout, so the balancer never
    sends a request on a connection the gateway is closing."""
    conversation_ttl_s: int = Field(default=7 * 24 * 3600, ge=3600)
    """How long a conversation stays its owner's after its last use, and how long a
    conversation token (the browser's way back into a conversation) is valid. The same
    variable tells the workers when to forget a conversation's memory: keep it one value."""
    auth_failures_per_minute: int = Field(default=20, ge=1)
    """Failed authentications one client address may make a minute (wrong API keys, bad
    tokens, wrong passwords); past it the address gets 429 before any credential check."""
    password_checks_concurrent: int = Field(default=2, ge=1)
    """bcrypt checks of ``POST /v1/auth/token`` run at once (each takes a core for ~0.2 s)."""
    password_check_wait_s: float = Field(default=2.0, gt=0)
    """How long a token request waits for a free check before a 503 with ``Retry-After``."""
    ws_max_connections_per_principal: int = Field(default=20, ge=1)
    """Open WebSockets one API key or user may hold on one gateway process."""

    zendesk_webhook_secret: SecretStr | None = None
    """The signing secret of the Zendesk webhook that calls ``POST /v1/webhooks/zendesk``;
    unset: that webhook does not exist here (404)."""
    freshdesk_webhook_secret: SecretStr | None = None
    """The secret the Freshdesk automation rule sends in ``X-TechGear-Webhook-Secret`` to
    ``POST /v1/webhooks/freshdesk``; unset: that webhook does not exist here (404)."""
    webhook_max_age_s: int = Field(default=300, ge=10)
    """A Zendesk delivery signed longer ago (or further ahead) than this is refused as a
    replay; keep the gateways' clocks in sync (NTP)."""
    webhook_max_body_bytes: int = Field(default=262_144, ge=1024)
    """A webhook body larger than this is refused with 413 before its signature is checked."""
    handoff_reminder_interval_s: float = Field(default=30.0, gt=0)
    """How often each gateway looks for conversations waiting too long for a person."""
    handoff_overdue_after_s: int = Field(default=0, ge=0)
    """A wait is overdue this long after the reply's expected time (the handoff's
    ``expected_response_by``): the customer gets one reminder and the overdue gauge counts it."""

    @field_validator("api_keys", "cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value
