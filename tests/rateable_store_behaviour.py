"""What every store of rateable answers does (``gateway/rateable.py``), run against the
in-process store by the unit tests and against Redis by the integration tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from gateway.rateable import RateableAnswers, Rating, Reservation
from schemas import (
    AnswerFacts,
    ConversationMessage,
    FeedbackRating,
    FeedbackReason,
    Source,
    TranscriptRole,
)

FACTS = AnswerFacts(
    category="warranty",
    confidence=0.87,
    responder="offline",
    sources=[Source(doc_id="policy-warranty", title="Warranty", score=0.8)],
)
UP, DOWN = FeedbackRating.UP, FeedbackRating.DOWN
ANSWERED_AT = datetime(2026, 12, 1, 9, 30, 15, 250_000, tzinfo=UTC)


def question(conversation_id: str, request_id: str, seq: int = 1) -> ConversationMessage:
    return ConversationMessage(
        request_id=request_id,
        conversation_id=conversation_id,
        correlation_id=request_id,
        seq=seq,
        message_id=request_id,
        role=TranscriptRole.CUSTOMER,
        text="How long is the warranty?",
    )


def answer(
    conversation_id: str,
    request_id: str,
    seq: int = 2,
    *,
    facts: AnswerFacts | None = FACTS,
    forwarded: bool = False,
) -> ConversationMessage:
    return ConversationMessage(
        request_id=request_id,
        conversation_id=conversation_id,
        correlation_id=request_id,
        seq=seq,
        message_id=f"{request_id}:answer",
        role=TranscriptRole.ASSISTANT,
        text="One year.",
        forwarded=forwarded,
        answer=facts,
        occurred_at=ANSWERED_AT,
    )


def _ids() -> tuple[str, str]:
    return f"conversation-{uuid.uuid4().hex}", uuid.uuid4().hex


async def only_an_answer_with_facts_is_rateable(store: RateableAnswers) -> None:
    cid, rid = _ids()
    assert await store.find(rid) is None
    await store.record(question(cid, rid))
    assert await store.find(rid) is None  # asked, not answered yet
    await store.record(answer(cid, rid, facts=None))
    await store.record(answer(cid, rid, forwarded=True))
    assert await store.find(rid) is None
    assert await store.reserve(rid, UP, None) is None
    assert await store.settle(rid, UP, None, 1) is None


async def keeps_the_question_and_the_facts_once_whatever_the_order(
    store: RateableAnswers,
) -> None:
    cid, rid = _ids()
    for event in (answer(cid, rid), question(cid, rid), answer(cid, rid), question(cid, rid)):
        await store.record(event)  # read twice, the second time in another order
    found = await store.find(rid)
    assert found is not None
    assert (found.conversation_id, found.question, found.facts) == (
        cid,
        "How long is the warranty?",
        FACTS,
    )
    assert found.answered_at == ANSWERED_AT
    assert found.rating is None


async def an_answer_without_its_question_is_rateable_with_an_empty_question(
    store: RateableAnswers,
) -> None:
    cid, rid = _ids()
    await store.record(answer(cid, rid))
    found = await store.find(rid)
    assert found is not None and found.question == ""


async def a_changed_rating_gets_the_next_revision_an_unchanged_one_keeps_it(
    store: RateableAnswers,
) -> None:
    cid, rid = _ids()
    await store.record(answer(cid, rid))
    assert await store.reserve(rid, UP, None) == Reservation(1, changed=True)
    assert await store.settle(rid, UP, None, 1) == Rating(UP, None, 1)
    assert await store.reserve(rid, UP, None) == Reservation(1, changed=False)
    assert await store.reserve(rid, DOWN, None) == Reservation(2, changed=True)
    assert await store.settle(rid, DOWN, None, 2) == Rating(DOWN, None, 2)
    assert await store.reserve(rid, DOWN, FeedbackReason.OUTDATED) == Reservation(3, changed=True)
    found = await store.find(rid)
    assert found is not None and found.rating == Rating(DOWN, None, 2)


async def a_revision_is_handed_out_once_and_a_lower_one_never_replaces_a_higher(
    store: RateableAnswers,
) -> None:
    cid, rid = _ids()
    await store.record(answer(cid, rid))
    assert await store.reserve(rid, UP, None) == Reservation(1, changed=True)
    # Its publication failed: never settled. The retry gets the next revision.
    assert await store.reserve(rid, UP, None) == Reservation(2, changed=True)
    assert await store.settle(rid, UP, None, 2) == Rating(UP, None, 2)
    assert await store.settle(rid, DOWN, FeedbackReason.WRONG, 1) == Rating(UP, None, 2)


BEHAVIOURS = (
    only_an_answer_with_facts_is_rateable,
    keeps_the_question_and_the_facts_once_whatever_the_order,
    an_answer_without_its_question_is_rateable_with_an_empty_question,
    a_changed_rating_gets_the_next_revision_an_unchanged_one_keeps_it,
    a_revision_is_handed_out_once_and_a_lower_one_never_replaces_a_higher,
)
