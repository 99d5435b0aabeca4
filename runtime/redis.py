"""Redis for every process: its connection settings, the one way to build a client, and
every key prefix the system writes (with how long each key lives).

A managed or shared Redis is reached over TLS (``rediss://``) as a per-service ACL user
that may touch only its own prefixes (docs/deployment.md lists the ACL rules).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import parse_url

from schemas.answer_cache import AnswerScope, answer_digest

# Gateway: token buckets per client, a per-minute and a per-hour one; each expires once it
# would have refilled (at most an hour after its last take).
RATE_LIMIT_PREFIX = "techgear:ratelimit:"
# Gateway: failed-authentication buckets per client address; they expire like the above.
AUTH_FAILURES_PREFIX = "techgear:authfail:"
# Gateway: the principal owning each conversation (keyed by the SHA-256 of its id); expires
# CONVERSATION_TTL_S after the conversation's last use.
CONVERSATION_OWNER_PREFIX = "techgear:conversation:owner:"
# Workers write, gateways read: cached answers; each expires after CACHE_TTL_S.
ANSWER_PREFIX = "techgear:answer:v1:"
# Workers write, gateways read: the current ``AnswerScope``. No TTL: each worker overwrites
# it at start and after an ingestion.
ANSWER_SCOPE_KEY = "techgear:answer-scope:v1"
# Helpdesk bridge, per target: ``event:``/``ticket:``/``note:`` records and ``attempt:``
# markers have no TTL (they are what makes redelivery once-only); ``tickets:<principal>``
# quota sets expire an hour after their last ticket.
HELPDESK_PREFIX = "techgear:helpdesk:"
# Helpdesk bridge writes, gateways read: the conversation of each ticket it opened or found,
# as ``<target>:<ticket id>`` -> conversation_id (a Freshdesk webhook names only the ticket);
# expires CONVERSATION_TTL_S after the ticket was last seen.
HELPDESK_TICKET_PREFIX = "techgear:ticket-conversation:"
# Gateways: each conversation's transcript and handoff state (projected from
# support.conversation-events) and the index of conversations awaiting a person.
TRANSCRIPT_PREFIX = "techgear:transcript:"
# Gateways: the lease of each reply partition of support.answers (``<prefix><partition>``
# -> the holding instance's id); expires LEASE_TTL_S (gateway/reply_partitions.py) after
# its last renewal, so a killed gateway's partition is free again within that.
REPLY_PARTITION_PREFIX = "techgear:reply-partition:"
# Gateways: each answer a customer may rate (keyed by the SHA-256 of its request id): its
# conversation, question, ``AnswerFacts`` and current rating (gateway/rateable.py); expires
# CONVERSATION_TTL_S after the projection last wrote it.
RATEABLE_PREFIX = "techgear:rateable:"

CLAIM_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
"""Lua: claim the key ``KEYS[1]`` for ``ARGV[1]`` for ``ARGV[2]`` ms, or renew it when
``ARGV[1]`` holds it already; 1 when ``ARGV[1]`` holds it after the call (a conversation's
owner, a gateway's reply partition)."""
_POOL_WAIT_S = 1.0


class RedisSettings(BaseSettings):
    """How a process reaches Redis. Each process's settings class inherits these.

    Behind TLS, ``REDIS_URL`` is ``rediss://host:port/db`` and ``REDIS_SSL_CA_FILE`` the CA
    that signed the server's certificate (unset: the system's trust store). The ACL user
    and password may be in the URL or, kept out of it (a Kubernetes Secret),
    in ``REDIS_USERNAME`` and ``REDIS_PASSWORD``, which win over the URL's.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    redis_url: str | None = None
    """``redis://`` or ``rediss://[user:password@]host:port/db``; unset: no Redis."""
    redis_username: str | None = None
    """The ACL user; overrides the URL's."""
    redis_password: SecretStr | None = None
    """The ACL user's password; overrides the URL's."""
    redis_ssl_ca_file: Path | None = None
    """PEM CA certificate(s) trusted for the server's certificate (``rediss://`` only)."""
    redis_ssl_cert_file: Path | None = None
    """PEM client certificate, for a server that requires one (``tls-auth-clients yes``)."""
    redis_ssl_key_file: Path | None = None
    """The client certificate's PEM private key."""
    redis_ssl_check_hostname: bool = True
    """Whether the server's certificate must name the host of ``REDIS_URL``."""
    redis_connect_timeout_s: float = Field(default=1.0, gt=0)
    """A slower connect (TLS handshake included) counts as Redis down: the gateway falls
    back to in-process limits, the worker answers without its cache, the helpdesk bridge
    retries."""
    redis_timeout_s: float = Field(default=1.0, gt=0)
    """A slower reply counts as Redis down, as above."""

    @model_validator(mode="after")
    def _tls_options_need_rediss(self) -> RedisSettings:
        tls_files = (self.redis_ssl_ca_file, self.redis_ssl_cert_file, self.redis_ssl_key_file)
        uses_tls = (self.redis_url or "").startswith("rediss://")
        if any(tls_files) and not uses_tls:
            # Otherwise the files would be ignored and the connection silently unencrypted.
            raise ValueError("REDIS_SSL_* files are set but REDIS_URL is not rediss://")
        return self


def redis_client(
    settings: RedisSettings,
    *,
    decode_responses: bool = False,
    max_connections: int = 32,
    timeout_s: float | None = None,
) -> Redis:
    """A client on a bounded pool for ``settings.redis_url``, which must be set; its owner
    closes it. ``timeout_s`` replaces both configured timeouts, for a caller that must
    give up sooner."""
    if not settings.redis_url:
        raise ValueError("REDIS_URL is not set")
    options: dict[str, Any] = dict(parse_url(settings.redis_url))
    if settings.redis_username is not None:
        options["username"] = settings.redis_username
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_url.startswith("rediss://"):
        options |= {
            "ssl_ca_certs": _path(settings.redis_ssl_ca_file),
            "ssl_certfile": _path(settings.redis_ssl_cert_file),
            "ssl_keyfile": _path(settings.redis_ssl_key_file),
            "ssl_check_hostname": settings.redis_ssl_check_hostname,
        }
    pool = BlockingConnectionPool(
        max_connections=max_connections,
        timeout=_POOL_WAIT_S,
        socket_connect_timeout=timeout_s or settings.redis_connect_timeout_s,
        socket_timeout=timeout_s or settings.redis_timeout_s,
        decode_responses=decode_responses,
        **options,
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the connections


def answer_key(*, question: str, context: str | None, scope: AnswerScope) -> str:
    """The cache key of the answer to ``question`` (asked after ``context``, if any)."""
    return ANSWER_PREFIX + answer_digest(question=question, context=context, scope=scope)


def _path(path: Path | None) -> str | None:
    return str(path) if path else None
