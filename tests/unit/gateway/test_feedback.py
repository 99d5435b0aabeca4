"""Rating answers (``gateway/feedback.py``): who may, what is published, what is stored."""

from __future__ import annotations

import uuid
from typing import Literal, cast

import pytest

from gateway.auth import Principal
from gateway.bridge import KafkaBridge
from gateway.conversations import ConversationAccess
from gateway.feedback import FeedbackService, feedback_id
from gateway.models import FeedbackBody, FeedbackReceived
from gateway.ownership import ConversationRegistry
from gateway.rateable import LocalRateableAnswers, RedisRateableAnswers
from gateway.tokens import TokenService
from runtime.errors import AnswerNotFoundError, BrokerUnavailableError, DependencyUnavailableError
from runtime.redis import RedisSettings, redis_client
from schemas import Feedback, FeedbackRating, FeedbackReason
from tests.rateable_store_behaviour import ANSWERED_AT, FACTS, answer, question

SECRET = "s" * 48
OWNER = Principal("key:owner")
OTHER = Principal("key:other")
PAGE = Principal("key:page", publishable=True)


class StandInBridge:
    """Records what would be published; ``down`` makes Kafka refuse it."""

    def __init__(self) -> None:
        self.published: list[Feedback] = []
        self.down = False

    async def publish_feedback(self, feedback: Feedback) -> None:
        if self.down:
            raise BrokerUnavailableError("Kafka down")
        self.published.append(feedback)


class Stand:
    def __init__(self) -> None:
        self.answers = LocalRateableAnswers(ttl_s=3600)
        self.registry = ConversationRegistry(redis=None, ttl_s=3600)
        tokens = TokenService(
            algorithm="HS256", signing_key=SECRET, verifying_key=SECRET, ttl_s=600
        )
        self.access = ConversationAccess(self.registry, tokens, 3600)
        self.bridge = StandInBridge()
        self.service = FeedbackService(self.answers, self.access, cast(KafkaBridge, self.bridge))

    async def answered(self, owner: Principal = OWNER) -> tuple[str, str]:
        """A conversation of ``owner`` with one answered question: its id and request id."""
        conversation_id, request_id = f"c-{uuid.uuid4().hex}", uuid.uuid4().hex
        assert await self.registry.claim(conversation_id, owner.identity)
        await self.answers.record(question(conversation_id, request_id))
        await self.answers.record(answer(conversation_id, request_id))
        return conversation_id, request_id

    async def rate(
        self,
        principal: Principal,
        request_id: str,
        rating: Literal["up", "down"],
        reason: str | None = None,
        token: str | None = None,
    ) -> FeedbackReceived:
        body = FeedbackBody.model_validate(
            {"request_id": request_id, "rating": rating, "reason": reason}
        )
        return await self.service.rate(
            principal, body, channel="api", correlation_id="corr-1", conversation_token=token
        )


@pytest.fixture
def stand() -> Stand:
    return Stand()


async def test_a_first_rating_is_published_with_what_it_is_about_and_stored_as_revision_1(
    stand: Stand,
) -> None:
    conversation_id, request_id = await stand.answered()

    received = await stand.rate(OWNER, request_id, "down", "outdated")

    assert received == FeedbackReceived(
        request_id=request_id, rating="down", reason="outdated", revision=1
    )
    [event] = stand.bridge.published
    assert (event.request_id, event.conversation_id, event.principal) == (
        request_id,
        conversation_id,
        OWNER.identity,
    )
    assert (event.revision, event.rating, event.reason) == (
        1,
        FeedbackRating.DOWN,
        FeedbackReason.OUTDATED,
    )
    assert event.feedback_id == feedback_id(request_id, 1)
    assert (event.question, event.answer, event.answered_at) == (
        "How long is the warranty?",
        FACTS,
        ANSWERED_AT,
    )
    assert (event.channel, event.correlation_id) == ("api", "corr-1")


async def test_the_same_rating_again_publishes_nothing_and_keeps_its_revision(
    stand: Stand,
) -> None:
    _, request_id = await stand.answered()
    first = await stand.rate(OWNER, request_id, "up")
    again = await stand.rate(OWNER, request_id, "up")
    assert first == again and again.revision == 1
    assert len(stand.bridge.published) == 1


async def test_a_changed_rating_replaces_the_first_as_the_next_revision(stand: Stand) -> None:
    _, request_id = await stand.answered()
    await stand.rate(OWNER, request_id, "down")
    with_reason = await stand.rate(OWNER, request_id, "down", "wrong")
    up = await stand.rate(OWNER, request_id, "up")
    assert (with_reason.revision, up.revision, up.reason) == (2, 3, None)
    assert [(e.revision, e.reason) for e in stand.bridge.published] == [
        (1, None),
        (2, FeedbackReason.WRONG),
        (3, None),
    ]
    assert len({e.feedback_id for e in stand.bridge.published}) == 3


async def test_unknown_unanswered_and_other_principals_answers_are_all_not_found(
    stand: Stand,
) -> None:
    conversation_id, request_id = await stand.answered()
    unanswered = uuid.uuid4().hex
    await stand.answers.record(question(conversation_id, unanswered, seq=3))
    for principal, rid in ((OTHER, request_id), (OWNER, uuid.uuid4().hex), (OWNER, unanswered)):
        with pytest.raises(AnswerNotFoundError):
            await stand.rate(principal, rid, "up")
    assert stand.bridge.published == []


async def test_rating_checks_ownership_without_claiming_an_unowned_conversation(
    stand: Stand,
) -> None:
    conversation_id, request_id = f"c-{uuid.uuid4().hex}", uuid.uuid4().hex
    await stand.answers.record(answer(conversation_id, request_id))  # nobody's claim

    with pytest.raises(AnswerNotFoundError):
        await stand.rate(OWNER, request_id, "up")
    assert await stand.registry.claim(conversation_id, OTHER.identity)  # still free


async def test_a_conversation_token_rates_only_its_own_conversations_answers(
    stand: Stand,
) -> None:
    conversation_id, request_id = await stand.answered(PAGE)
    other_conversation, _ = await stand.answered(PAGE)
    with pytest.raises(AnswerNotFoundError):
        await stand.rate(PAGE, request_id, "up")  # a publishable key needs its token
    with pytest.raises(AnswerNotFoundError):
        await stand.rate(PAGE, request_id, "up", token=stand.access.token(other_conversation, PAGE))
    own = stand.access.token(conversation_id, PAGE)
    assert (await stand.rate(PAGE, request_id, "up", token=own)).revision == 1


async def test_a_rating_kafka_refused_is_not_stored_and_its_retry_converges(
    stand: Stand,
) -> None:
    _, request_id = await stand.answered()
    stand.bridge.down = True
    with pytest.raises(BrokerUnavailableError):
        await stand.rate(OWNER, request_id, "down", "wrong")
    found = await stand.answers.find(request_id)
    assert found is not None and found.rating is None

    stand.bridge.down = False
    retried = await stand.rate(OWNER, request_id, "down", "wrong")

    # Revision 1 may have reached the topic after all: the stored one is above it.
    assert retried.revision == 2
    assert [e.revision for e in stand.bridge.published] == [2]
    assert (await stand.rate(OWNER, request_id, "down", "wrong")).revision == 2


async def test_an_unreachable_rating_store_is_a_dependency_failure_and_publishes_nothing() -> None:
    redis = redis_client(RedisSettings(redis_url="redis://127.0.0.1:1/0"), timeout_s=0.2)
    stand = Stand()
    stand.service = FeedbackService(
        RedisRateableAnswers(redis, ttl_s=60), stand.access, cast(KafkaBridge, stand.bridge)
    )
    try:
        with pytest.raises(DependencyUnavailableError):
            await stand.rate(OWNER, uuid.uuid4().hex, "up")
    finally:
        await redis.aclose()
    assert stand.bridge.published == []
