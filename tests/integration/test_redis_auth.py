"""Redis over TLS with one ACL user per service (Debian's redis-server, TLS built in): each
service's Redis use works as its own user, and only on its own keys; a wrong password and
an untrusted certificate fail at once, clearly, without the password in the message."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, NoPermissionError
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.answer_cache import LOOKUP_TIMEOUT_S, AnswerCacheReader
from gateway.ownership import ConversationRegistry
from gateway.rateable import RedisRateableAnswers
from gateway.ratelimit import RateLimiter
from gateway.reply_partitions import LeaseState, ReplyPartition, lease_key
from gateway.tickets import TicketConversations
from gateway.transcripts import RedisTranscripts
from runtime.redis import (
    ANSWER_PREFIX,
    ANSWER_SCOPE_KEY,
    AUTH_FAILURES_PREFIX,
    CONVERSATION_OWNER_PREFIX,
    HELPDESK_PREFIX,
    HELPDESK_TICKET_PREFIX,
    RATE_LIMIT_PREFIX,
    RATEABLE_PREFIX,
    REPLY_PARTITION_PREFIX,
    TRANSCRIPT_PREFIX,
    RedisSettings,
    answer_key,
    redis_client,
)
from schemas import Category, FeedbackRating, HandoffState, Source
from schemas.answer_cache import AnswerScope
from streams.cache import RedisAnswerCache
from streams.outcome import Outcome
from techgear.processes import stop as stop_process
from tests.certificates import Certificates, issue_certificates
from tests.handoff_events import handoff, message
from tests.integration.conftest import start_bridge, wait_for
from tests.integration.test_helpdesk import (  # noqa: F401  (fixtures used by name)
    assert_made_exactly_once,
    escalation,
    escalations_topic,
    produce,
)
from tests.rateable_store_behaviour import answer as rateable_answer
from tests.rateable_store_behaviour import question as rateable_question

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
]

TLS_REDIS_PORT = int(os.environ.get("TEST_TLS_REDIS_PORT", "16680"))

# Commands each service sends, its Lua scripts' included (Redis checks those too); SELECT
# for a REDIS_URL naming another database than 0.
ACL_RULES = {
    "gateway": (
        f"~{RATE_LIMIT_PREFIX}* ~{AUTH_FAILURES_PREFIX}* ~{CONVERSATION_OWNER_PREFIX}* "
        f"~{TRANSCRIPT_PREFIX}* ~{REPLY_PARTITION_PREFIX}* ~{RATEABLE_PREFIX}* "
        f"%R~{ANSWER_PREFIX}* "
        f"%R~{ANSWER_SCOPE_KEY} %R~{HELPDESK_TICKET_PREFIX}* "
        "resetchannels -@all +ping +select +get +evalsha +script|load +time +hmget +hset "
        "+hget +pexpire +set +expire +zadd +zcount "
        "+zrange +zrangebyscore +zremrangebyrank +zrem +del +multi +exec +discard"
    ),
    "worker": (
        f"~{ANSWER_PREFIX}* ~{ANSWER_SCOPE_KEY} resetchannels -@all +ping +select +get +set"
    ),
    "helpdesk": (
        f"~{HELPDESK_PREFIX}* ~{HELPDESK_TICKET_PREFIX}* resetchannels -@all +ping +select +get "
        "+set +exists +del "
        "+multi +exec +discard +zadd +zrank +zrem +zremrangebyscore +expire"
    ),
}


@dataclass(frozen=True, slots=True)
class SecuredRedis:
    url: str
    """``rediss://`` without credentials."""
    passwords: dict[str, str]
    certificates: Certificates

    def settings(self, user: str, **overrides: object) -> RedisSettings:
        return RedisSettings(
            _env_file=None,  # type: ignore[call-arg]
            redis_url=self.url,
            redis_username=user,
            redis_password=SecretStr(self.passwords[user]),
            redis_ssl_ca_file=self.certificates.ca,
        ).model_copy(update=overrides)


@pytest.fixture(scope="module")
def secured_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredRedis]:
    home = tmp_path_factory.mktemp("tls-redis")
    certificates = issue_certificates(home / "certificates")
    passwords = {user: secrets.token_urlsafe(24) for user in ACL_RULES}
    acl = home / "users.acl"
    acl.touch(mode=0o600)
    acl.write_text(
        "user default off\n"
        + "".join(
            f"user {user} on >{passwords[user]} {rules}\n" for user, rules in ACL_RULES.items()
        )
    )
    # redis-server's own arguments carry file names only: the passwords stay in the 0600 file.
    with (home / "redis.log").open("ab") as log:  # the child keeps its own
        process = subprocess.Popen(
            [
                "redis-server",
                "--port", "0",
                "--tls-port", str(TLS_REDIS_PORT),
                "--bind", "127.0.0.1",
                "--tls-cert-file", str(certificates.server_cert),
                "--tls-key-file", str(certificates.server_key),
                "--tls-ca-cert-file", str(certificates.ca),
                "--tls-auth-clients", "optional",
                "--aclfile", str(acl),
                "--dir", str(home),
                "--save", "",
                "--appendonly", "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    secured = SecuredRedis(f"rediss://127.0.0.1:{TLS_REDIS_PORT}/0", passwords, certificates)
    try:
        wait_for(lambda: _answers(secured, process), "the TLS Redis to answer", timeout_s=30)
        yield secured
    finally:
        stop_process(process)


def _answers(secured: SecuredRedis, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"redis-server exited with {process.returncode}")
    client = redis.Redis(  # the synchronous client: this runs outside the event loop
        host="127.0.0.1",
        port=TLS_REDIS_PORT,
        username="gateway",
        password=secured.passwords["gateway"],
        ssl=True,
        ssl_ca_certs=str(secured.certificates.ca),
        socket_connect_timeout=1,
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture
async def gateway_redis(secured_redis: SecuredRedis) -> AsyncIterator[Redis]:
    client = redis_client(secured_redis.settings("gateway"))
    yield client
    await client.aclose()


async def test_gateway_leases_and_releases_a_reply_partition_as_its_own_user(
    gateway_redis: Redis,
) -> None:
    reply = ReplyPartition(gateway_redis)
    partition = await reply.start(partitions=6)
    leased = reply.state
    await reply.renew()
    renewed = reply.state
    await reply.stop()

    assert leased is renewed is LeaseState.LEASED
    assert await gateway_redis.get(lease_key(partition)) is None  # released


async def test_gateway_rate_limits_and_conversation_claims_work_as_its_own_user(
    secured_redis: SecuredRedis, gateway_redis: Redis
) -> None:
    limiter = RateLimiter(per_minute=2, per_hour=10, redis=gateway_redis)
    client = f"tls-{uuid.uuid4().hex}"
    decisions = [await limiter.take(client) for _ in range(3)]
    # Another instance with its own client: only a shared Redis makes it see the claim.
    other = redis_client(secured_redis.settings("gateway"))
    try:
        registry = ConversationRegistry(redis=gateway_redis, ttl_s=60)
        other_instance = ConversationRegistry(redis=other, ttl_s=60)
        conversation = f"c-{uuid.uuid4().hex}"
        claimed = await registry.claim(conversation, "key:a")
        taken_over = await other_instance.claim(conversation, "key:b")
    finally:
        await other.aclose()

    assert [d.allowed for d in decisions] == [True, True, False]
    assert limiter.degraded_reason is None  # not the in-process fallback
    assert claimed and not taken_over


async def test_gateway_answers_from_the_cache_the_worker_filled_as_its_own_user(
    secured_redis: SecuredRedis,
) -> None:
    question = f"What does the TLS cache hold {uuid.uuid4().hex}?"
    scope = AnswerScope(kb_version=7, responder="offline", prompt_version="tls-test")
    worker = RedisAnswerCache(redis_client(secured_redis.settings("worker")), ttl_s=60)
    reader = AnswerCacheReader(
        redis_client(secured_redis.settings("gateway"), timeout_s=LOOKUP_TIMEOUT_S)
    )
    try:
        await worker.publish_scope(scope)
        outcome = Outcome(
            answer="It holds answers.",
            category=Category.PRODUCT_INFO,
            confidence=0.9,
            responder="offline",
            sources=[Source(doc_id="doc", title="Doc", score=0.8)],
        )
        await worker.put(answer_key(question=question, context=None, scope=scope), outcome)
        cached = await reader.first_answer(question)
    finally:
        await worker.close()
        await reader.close()

    assert cached is not None and cached.answer == "It holds answers."


async def test_gateway_keeps_transcripts_and_reads_ticket_records_as_its_own_user(
    gateway_redis: Redis,
) -> None:
    store = RedisTranscripts(gateway_redis, ttl_s=60)
    conversation = f"c-{uuid.uuid4().hex}"
    await store.append(handoff(conversation, 1, HandoffState.AWAITING_AGENT))
    await store.append(message(conversation, 2))
    transcript = await store.read(conversation)
    waiting = [a.conversation_id for a in await store.awaiting()]
    claimed = await store.claim_reminder(conversation, 1)
    unknown_ticket = await TicketConversations(gateway_redis).conversation_of("zendesk", "1")

    assert transcript is not None and transcript.last_seq == 2
    assert conversation in waiting and claimed and unknown_ticket is None
    with pytest.raises(NoPermissionError):
        await gateway_redis.set(f"{HELPDESK_TICKET_PREFIX}zendesk:1", conversation)


async def test_gateway_keeps_rateable_answers_and_their_ratings_as_its_own_user(
    gateway_redis: Redis,
) -> None:
    answers = RedisRateableAnswers(gateway_redis, ttl_s=60)
    registry = ConversationRegistry(redis=gateway_redis, ttl_s=60)
    conversation, request_id = f"c-{uuid.uuid4().hex}", uuid.uuid4().hex
    await registry.claim(conversation, "key:a")
    await answers.record(rateable_question(conversation, request_id))
    await answers.record(rateable_answer(conversation, request_id))
    found = await answers.find(request_id)
    owned = await registry.owned_by(conversation, "key:a")
    reserved = await answers.reserve(request_id, FeedbackRating.UP, None)
    stored = await answers.settle(request_id, FeedbackRating.UP, None, 1)

    assert found is not None and found.conversation_id == conversation and owned
    assert reserved is not None and reserved.revision == 1
    assert stored is not None and stored.revision == 1


async def test_gateway_user_may_not_touch_the_workers_or_the_helpdesks_keys(
    gateway_redis: Redis,
) -> None:
    with pytest.raises(NoPermissionError):
        await gateway_redis.set(ANSWER_SCOPE_KEY, "{}")
    with pytest.raises(NoPermissionError):
        await gateway_redis.set(f"{ANSWER_PREFIX}forged", "{}")
    with pytest.raises(NoPermissionError):
        await gateway_redis.get(f"{HELPDESK_PREFIX}zendesk:event:1")
    with pytest.raises(NoPermissionError):
        await gateway_redis.flushdb()


async def test_a_wrong_password_fails_at_once_without_showing_it(
    secured_redis: SecuredRedis,
) -> None:
    wrong = "wrong-" + secrets.token_urlsafe(12)
    client = redis_client(secured_redis.settings("gateway", redis_password=SecretStr(wrong)))
    started = time.monotonic()
    try:
        with pytest.raises(AuthenticationError) as refused:
            await client.ping()
    finally:
        await client.aclose()

    assert time.monotonic() - started < 5
    assert "invalid username-password pair" in str(refused.value)
    assert wrong not in str(refused.value) and wrong not in repr(client)


async def test_a_server_whose_certificate_no_trusted_ca_signed_is_refused(
    secured_redis: SecuredRedis,
) -> None:
    foreign = secured_redis.settings(
        "gateway", redis_ssl_ca_file=secured_redis.certificates.foreign_ca
    )
    client = redis_client(foreign)
    try:
        with pytest.raises(RedisConnectionError, match="certificate verify failed"):
            await client.ping()
    finally:
        await client.aclose()


async def test_helpdesk_bridge_makes_tickets_and_notes_as_its_own_user(
    secured_redis: SecuredRedis,
    fake_helpdesks: str,
    escalations_topic: str,  # noqa: F811
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    new = escalation(f"hd-tls-{uuid.uuid4().hex}", principal="key:tls")
    follow_up = escalation(new.conversation_id, opened_by=new, principal="key:tls")
    password = secured_redis.passwords["helpdesk"]
    log_path = tmp_path / "helpdesk.log"
    bridge = start_bridge(
        "zendesk",
        kafka_bootstrap,
        secured_redis.url,
        log_path,
        REDIS_USERNAME="helpdesk",
        REDIS_PASSWORD=password,
        REDIS_SSL_CA_FILE=str(secured_redis.certificates.ca),
    )
    try:
        await produce(kafka_bootstrap, [new, follow_up])

        def made() -> bool:
            try:
                assert_made_exactly_once("zendesk", [new], [follow_up])
            except (AssertionError, StopIteration):
                return False
            return True

        wait_for(made, "the ticket and the note", timeout_s=60)
    finally:
        stop_process(bridge)
    assert password not in log_path.read_text()
