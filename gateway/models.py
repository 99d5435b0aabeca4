"""The HTTP contract of ``POST /v1/chat``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas import (
    MAX_MESSAGE_CHARS,
    Category,
    ChatAnswer,
    ChatRequest,
    Customer,
    EscalationReason,
    Source,
)
from schemas.answer_cache import CachedAnswer


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    conversation_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$"
    )
    customer: Customer | None = None

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must not be blank")
        return value


class ChatResponse(BaseModel):
    request_id: str
    conversation_id: str
    answer: str
    category: Category
    confidence: float
    escalated: bool
    escalation_reason: EscalationReason | None
    sources: list[Source]
    cached: bool
    conversation_token: str | None = None
    """Brings the caller back into this conversation (``X-Conversation-Token``); the only
    way back for a publishable key. Absent on WebSocket answers (``ready`` carries it)."""

    @classmethod
    def from_answer(cls, answer: ChatAnswer) -> ChatResponse:
        return cls(
            request_id=answer.request_id,
            conversation_id=answer.conversation_id,
            answer=answer.answer,
            category=answer.category,
            confidence=answer.confidence,
            escalated=answer.escalated,
            escalation_reason=answer.escalation_reason,
            sources=answer.sources,
            cached=answer.cached,
        )

    @classmethod
    def from_cache(cls, request: ChatRequest, entry: CachedAnswer) -> ChatResponse:
        return cls(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            answer=entry.answer,
            category=entry.category,
            confidence=entry.confidence,
            escalated=False,
            escalation_reason=None,
            sources=entry.sources,
            cached=True,
        )


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
    request_id: str | None = None
