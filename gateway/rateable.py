"""The answers customers may rate, and each one's current rating, per ``request_id``.

The transcript projection (``gateway/projection.py``) records, from
``support.conversation-events``, each customer question (its message id is its request id)
and each bot answer carrying ``AnswerFacts`` (not a message forwarded to a person): what a
``Feedback`` event says the rating is about. Recording is idempotent, so an event read
twice changes nothing.

A rating goes through three steps (``gateway/feedback.py``): :meth:`reserve` hands out
the revision to publish (or says the rating is already the current one), the event is
published, and only then :meth:`settle` stores it, and only if no higher revision was
stored meanwhile. A revision is handed out once: after a failed publish the retry gets a
higher one, so whatever reached the topic, the highest revision on it is the stored one.

Two stores with one interface: :class:`RedisRateableAnswers`, shared by every gateway,
and :class:`LocalRateableAnswers`, in process, for one gateway without ``REDIS_URL``. Both
forget an answer ``CONVERSATION_TTL_S`` after the projection last wrote it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from gateway.conversation_events import ConversationEvent
from runtime.redis import RATEABLE_PREFIX
from schemas import AnswerFacts, ConversationMessage, FeedbackRating, FeedbackReason, TranscriptRole

_LOCAL_ANSWERS = 100_000
"""Answers the in-process store holds at most; the least recently written go first."""


@dataclass(frozen=True, slots=True)
class Rating:
    rating: FeedbackRating
    reason: FeedbackReason | None
    revision: int


@dataclass(frozen=True, slots=True)
class RateableAnswer:
    conversation_id: str
    question: str
    """The customer's message ("" when the projection has not seen it)."""
    facts: AnswerFacts
    answered_at: datetime
    rating: Rating | None


@dataclass(frozen=True, slots=True)
class Reservation:
    revision: int
    changed: bool
    """``False``: the rating asked for is the current one, of ``revision``."""


class RateableAnswers(Protocol):
    async def record(self, event: ConversationEvent) -> None:
        """Keep what ``event`` tells about a rateable answer; ignore anything else."""

    async def find(self, request_id: str) -> RateableAnswer | None:
        """The answer to ``request_id``; ``None`` while there is none to rate."""

    async def reserve(
        self, request_id: str, rating: FeedbackRating, reason: FeedbackReason | None
    ) -> Reservation | None:
        """The revision under which to publish this rating; ``None`` when the answer is
        gone."""

    async def settle(
        self,
        request_id: str,
        rating: FeedbackRating,
        reason: FeedbackReason | None,
        revision: int,
    ) -> Rating | None:
        """Store a published rating unless a higher revision is stored; the current rating
        afterwards (``None`` when the answer is gone)."""


def _question(event: ConversationMessage) -> bool:
    return event.role is TranscriptRole.CUSTOMER and event.message_id == event.request_id


def _answer(event: ConversationMessage) -> AnswerFacts | None:
    if event.role is not TranscriptRole.ASSISTANT or event.forwarded:
        return None
    return event.answer


def _rating(rating: bytes | None, reason: bytes | None, revision: bytes | None) -> Rating | None:
    if not rating or not revision:
        return None
    return Rating(
        FeedbackRating(rating.decode()),
        FeedbackReason(reason.decode()) if reason else None,
        int(revision),
    )


# KEYS: the answer's hash. ARGV: rating, reason or "". Returns {-1, 0} without an answer,
# {0, revision} when the rating is the current one, else {1, the revision handed out}.
_RESERVE = """
local v = redis.call('HMGET', KEYS[1], 'facts', 'rating', 'reason', 'revision', 'issued')
if not v[1] then return {-1, 0} end
local revision = tonumber(v[4] or '0')
if v[2] == ARGV[1] and (v[3] or '') == ARGV[2] then return {0, revision} end
local issued = math.max(tonumber(v[5] or '0'), revision) + 1
redis.call('HSET', KEYS[1], 'issued', issued)
return {1, issued}
"""

# KEYS: the answer's hash. ARGV: revision, rating, reason or "". Returns the current
# rating, reason and revision, or nil without an answer (never recreates an expired hash).
_SETTLE = """
if not redis.call('HGET', KEYS[1], 'facts') then return nil end
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'revision') or '0') then
  redis.call('HSET', KEYS[1], 'rating', ARGV[2], 'reason', ARGV[3], 'revision', ARGV[1])
end
return redis.call('HMGET', KEYS[1], 'rating', 'reason', 'revision')
"""


def _key(request_id: str) -> str:
    # Hashed: keys stay short and free of caller-chosen characters.
    return RATEABLE_PREFIX + hashlib.sha256(request_id.encode()).hexdigest()


class RedisRateableAnswers:
    """Raises ``RedisError``/``OSError`` when Redis cannot be asked; callers decide."""

    def __init__(self, redis: Redis, *, ttl_s: int) -> None:
        """``redis`` is shared; its owner closes it."""
        self._redis = redis
        self._ttl_s = ttl_s
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)

    async def record(self, event: ConversationEvent) -> None:
        if not isinstance(event, ConversationMessage):
            return
        fields: dict[FieldT, EncodableT]
        if _question(event):
            fields = {"question": event.text}
        elif (facts := _answer(event)) is not None:
            fields = {
                "facts": facts.model_dump_json(),
                "answered_at": event.occurred_at.isoformat(),
            }
        else:
            return
        key = _key(event.request_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"conversation_id": event.conversation_id} | fields)
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def find(self, request_id: str) -> RateableAnswer | None:
        fields = ["conversation_id", "question", "facts", "answered_at", "rating", "reason"]
        values = cast(
            list[bytes | None], await self._redis.hmget(_key(request_id), [*fields, "revision"])
        )
        conversation_id, question, facts, answered_at, rating, reason, revision = values
        if conversation_id is None or facts is None or answered_at is None:
            return None
        return RateableAnswer(
            conversation_id=conversation_id.decode(),
            question=question.decode() if question else "",
            facts=AnswerFacts.model_validate_json(facts),
            answered_at=datetime.fromisoformat(answered_at.decode()),
            rating=_rating(rating, reason, revision),
        )

    async def reserve(
        self, request_id: str, rating: FeedbackRating, reason: FeedbackReason | None
    ) -> Reservation | None:
        outcome, revision = await self._reserve(
            keys=[_key(request_id)], args=[rating.value, reason.value if reason else ""]
        )
        if int(outcome) < 0:
            return None
        return Reservation(int(revision), changed=bool(outcome))

    async def settle(
        self,
        request_id: str,
        rating: FeedbackRating,
        reason: FeedbackReason | None,
        revision: int,
    ) -> Rating | None:
        current = await self._settle(
            keys=[_key(request_id)], args=[revision, rating.value, reason.value if reason else ""]
        )
        return _rating(*current) if current else None


@dataclass(slots=True)
class _Answer:
    conversation_id: str
    question: str = ""
    facts: AnswerFacts | None = None
    answered_at: datetime | None = None
    rating: Rating | None = None
    issued: int = 0


class LocalRateableAnswers:
    """The same store in this process, for one gateway without Redis."""

    def __init__(self, *, ttl_s: int) -> None:
        # The TTL restarts on every write of the projection, as the Redis key's EXPIRE does.
        self._answers: TTLCache[str, _Answer] = TTLCache(
            _LOCAL_ANSWERS, ttl_s, timer=time.monotonic
        )
        self._lock = threading.Lock()

    async def record(self, event: ConversationEvent) -> None:
        if not isinstance(event, ConversationMessage):
            return
        facts = _answer(event)
        if not _question(event) and facts is None:
            return
        with self._lock:
            answer = self._answers.get(event.request_id) or _Answer(event.conversation_id)
            if facts is None:
                answer.question = event.text
            else:
                answer.facts, answer.answered_at = facts, event.occurred_at
            self._answers[event.request_id] = answer

    async def find(self, request_id: str) -> RateableAnswer | None:
        with self._lock:
            answer = self._answers.get(request_id)
            if answer is None or answer.facts is None or answer.answered_at is None:
                return None
            return RateableAnswer(
                answer.conversation_id,
                answer.question,
                answer.facts,
                answer.answered_at,
                answer.rating,
            )

    async def reserve(
        self, request_id: str, rating: FeedbackRating, reason: FeedbackReason | None
    ) -> Reservation | None:
        with self._lock:
            answer = self._answers.get(request_id)
            if answer is None or answer.facts is None:
                return None
            current = answer.rating
            revision = current.revision if current else 0
            if current is not None and (current.rating, current.reason) == (rating, reason):
                return Reservation(revision, changed=False)
            answer.issued = max(answer.issued, revision) + 1
            return Reservation(answer.issued, changed=True)

    async def settle(
        self,
        request_id: str,
        rating: FeedbackRating,
        reason: FeedbackReason | None,
        revision: int,
    ) -> Rating | None:
        with self._lock:
            answer = self._answers.get(request_id)
            if answer is None or answer.facts is None:
                return None
            if answer.rating is None or revision > answer.rating.revision:
                answer.rating = Rating(rating, reason, revision)
            return answer.rating
