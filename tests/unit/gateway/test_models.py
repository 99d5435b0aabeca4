from __future__ import annotations

from gateway.models import ChatResponse
from schemas import Category, ChatAnswer, ChatRequest, Source, utc_now
from schemas.answer_cache import CachedAnswer

REQUEST = ChatRequest(request_id="r-1", conversation_id="c-1", correlation_id="r-1", message="q")
SOURCES = [Source(doc_id="policy-refunds", title="Refunds", score=0.9)]


def test_an_approved_answer_is_marked_whether_answered_or_cached() -> None:
    answer = ChatAnswer(
        request_id="r-1",
        conversation_id="c-1",
        correlation_id="r-1",
        answer="5-7 business days.",
        category=Category.RETURNS_REFUNDS,
        confidence=0.9,
        sources=SOURCES,
        responder="approved",
        request_created_at=utc_now(),
        approved_answer_id="apr-1",
    )
    entry = CachedAnswer(
        answer="5-7 business days.",
        category=Category.RETURNS_REFUNDS,
        confidence=0.9,
        responder="approved",
        sources=SOURCES,
        approved_answer_id="apr-1",
    )

    assert ChatResponse.from_answer(answer).approved_answer_id == "apr-1"
    assert ChatResponse.from_cache(REQUEST, entry).approved_answer_id == "apr-1"
    unmarked = entry.model_copy(update={"approved_answer_id": None})
    assert ChatResponse.from_cache(REQUEST, unmarked).approved_answer_id is None
