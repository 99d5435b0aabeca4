"""Customers' ratings of answers, for ``POST /v1/feedback`` and the WebSocket's
``feedback`` message alike (docs/operations.md, "Feedback").

Only the principal owning the answer's conversation may rate it (checked without claiming
the conversation; with the caller's conversation token when it gave one, as a WebSocket
always does, so a socket rates only its own conversation's answers). Every refusal is the
same :class:`AnswerNotFoundError`, whether the answer is unknown, not rateable yet or
another's. A rating that changes the stored one is published as a ``Feedback`` event
first and stored after (``gateway/rateable.py``): the stored revision is always one that
reached ``support.feedback``, and a retry after a failure converges on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Literal, TypeVar

from redis.exceptions import RedisError

from gateway.auth import Principal
from gateway.bridge import KafkaBridge
from gateway.conversations import ConversationAccess
from gateway.metrics import FEEDBACK
from gateway.models import FeedbackBody, FeedbackReceived
from gateway.rateable import RateableAnswers
from runtime.errors import AnswerNotFoundError, DependencyUnavailableError
from schemas import Feedback

T = TypeVar("T")

ANSWER_NOT_FOUND = "not_found"
"""The error code of every refusal to rate, over HTTP and WebSocket alike."""

_FEEDBACK_IDS = uuid.UUID("0b5cad18-f33d-4bac-8000-000000000018")
"""The namespace of feedback ids (UUIDv5 of request id and revision)."""


def feedback_id(request_id: str, revision: int) -> str:
    """The same for every publication of one revision, another for each replacement."""
    return uuid.uuid5(_FEEDBACK_IDS, f"{request_id}:{revision}").hex


async def _from_store(store_call: Awaitable[T]) -> T:
    try:
        return await store_call
    except (RedisError, OSError) as exc:
        raise DependencyUnavailableError(f"rating store unavailable: {exc!r}") from exc


class FeedbackService:
    def __init__(
        self, answers: RateableAnswers, access: ConversationAccess, bridge: KafkaBridge
    ) -> None:
        self._answers = answers
        self._access = access
        self._bridge = bridge

    async def rate(
        self,
        principal: Principal,
        body: FeedbackBody,
        *,
        channel: Literal["chat", "api"],
        correlation_id: str,
        conversation_token: str | None,
    ) -> FeedbackReceived:
        """The rating as stored. Raises ``AnswerNotFoundError``,
        ``BrokerUnavailableError`` (Kafka) or ``DependencyUnavailableError`` (the store)."""
        request_id = body.request_id
        answer = await _from_store(self._answers.find(request_id))
        if answer is None or not await self._access.owns(
            principal, answer.conversation_id, conversation_token
        ):
            raise AnswerNotFoundError(request_id)
        reserved = await _from_store(self._answers.reserve(request_id, body.rating, body.reason))
        if reserved is None:
            raise AnswerNotFoundError(request_id)  # expired since it was found
        if not reserved.changed:
            return FeedbackReceived(
                request_id=request_id,
                rating=body.rating,
                reason=body.reason,
                revision=reserved.revision,
            )
        await self._bridge.publish_feedback(
            Feedback(
                request_id=request_id,
                conversation_id=answer.conversation_id,
                correlation_id=correlation_id,
                feedback_id=feedback_id(request_id, reserved.revision),
                revision=reserved.revision,
                rating=body.rating,
                reason=body.reason,
                principal=principal.identity,
                channel=channel,
                question=answer.question,
                answer=answer.facts,
                answered_at=answer.answered_at,
            )
        )
        FEEDBACK.labels(body.rating.value).inc()
        stored = await _from_store(
            self._answers.settle(request_id, body.rating, body.reason, reserved.revision)
        )
        if stored is None:
            raise AnswerNotFoundError(request_id)
        # A concurrent rating of a higher revision wins; it is the one on the topic too.
        return FeedbackReceived(
            request_id=request_id,
            rating=stored.rating,
            reason=stored.reason,
            revision=stored.revision,
        )
