"""Processing of one ``support.requests`` message, independent of Faust.

A message is either answered (a ``ChatAnswer``, plus an ``Escalation`` when a person must
take over) or dead-lettered with its original bytes (bounded: see ``streams.deadletters``);
``handle`` returns only once one of these is durably written, and raises when neither
could be (the broker refused even the bounded letter), so the caller never counts an
unprocessed message as done. Calls for one conversation must not overlap (the
dispatcher runs them in order).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel

from runtime import correlation
from runtime.codec import decode
from runtime.errors import (
    KAFKA_REFUSALS,
    ConversationOwnershipError,
    EventDecodeError,
    InvalidEventError,
    is_retryable,
)
from schemas import (
    ChatAnswer,
    ChatDelta,
    ChatRequest,
    Customer,
    DeadLetter,
    Escalation,
    EscalationKind,
    utc_now,
)
from schemas.topics import (
    ANSWER_DELTAS,
    ANSWERS,
    CORRELATION_HEADER,
    DEADLETTER,
    ESCALATIONS,
    REQUEST_ID_HEADER,
)
from streams import metrics, triage
from streams.deadletters import bounded_headers, dead_letter_for
from streams.inbound import InboundMessage
from streams.memory import ConversationMemory, ConversationState, TicketRef, Turn
from streams.outcome import Outcome
from streams.workflow import AnswerWorkflow

log = logging.getLogger(__name__)

_MAX_PUBLISH_BACKOFF_S = 30.0
_WORDS_PER_DELTA = 6
_LOGGED_CHARS = 300


class Publisher(Protocol):
    async def publish(
        self,
        topic: str,
        event: BaseModel,
        *,
        key: str,
        headers: Mapping[str, bytes],
        wait: bool = True,
    ) -> None:
        """Write ``event`` to ``topic``; with ``wait``, return only once the broker has
        acknowledged it (without, once it is queued in order behind earlier messages)."""
        ...


class DeltaEmitter:
    """Publishes one request's answer deltas with consecutive ``seq`` numbers."""

    def __init__(
        self, publisher: Publisher, request: ChatRequest, headers: Mapping[str, bytes]
    ) -> None:
        self._publisher = publisher
        self._request = request
        self._headers = headers
        self.sent = 0

    async def emit(self, text: str) -> None:
        if not text:
            return
        delta = ChatDelta(
            request_id=self._request.request_id,
            conversation_id=self._request.conversation_id,
            correlation_id=self._request.correlation_id,
            seq=self.sent,
            text=text,
        )
        self.sent += 1
        await self._publisher.publish(
            ANSWER_DELTAS,
            delta,
            key=self._request.conversation_id,
            headers=self._headers,
            wait=False,
        )

    async def emit_whole(self, text: str) -> None:
        """A reply that was not streamed, in word groups, so clients see one protocol."""
        words = text.split(" ")
        for start in range(0, len(words), _WORDS_PER_DELTA):
            piece = " ".join(words[start : start + _WORDS_PER_DELTA])
            await self.emit(piece if start + _WORDS_PER_DELTA >= len(words) else piece + " ")


class RequestHandler:
    def __init__(
        self,
        workflow: AnswerWorkflow,
        publisher: Publisher,
        memory: ConversationMemory,
        *,
        escalation_window_s: float = 24 * 3600,
        attempts: int,
        backoff_s: float,
        timeout_s: float,
    ) -> None:
        self._workflow = workflow
        self._publisher = publisher
        self._memory = memory
        self._escalation_window_s = escalation_window_s
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s

    async def handle(self, message: InboundMessage) -> None:
        try:
            request = decode(message.value, ChatRequest)
        except EventDecodeError as exc:
            await self._dead_letter(message, InvalidEventError(str(exc)), attempts=1, request=None)
            return
        with correlation.bound(
            request_id=request.request_id,
            correlation_id=request.correlation_id,
            conversation_id=request.conversation_id,
        ):
            await self._process(message, request)

    async def _process(self, message: InboundMessage, request: ChatRequest) -> None:
        started = time.perf_counter()
        log.info(
            "question received: %s",
            request.message[:_LOGGED_CHARS],
            extra={"partition": message.partition, "offset": message.offset},
        )
        headers = _outbound_headers(request)
        for attempt in range(1, self._attempts + 1):
            try:
                state = self._memory.load(request.conversation_id)
                if not state.admits(request.principal):
                    # Never answered from, nor written into, another principal's conversation.
                    raise ConversationOwnershipError("the conversation has another owner")
                history = state.turns
                # Live chat streams the answer; an API caller waits for the whole of it.
                deltas = (
                    DeltaEmitter(self._publisher, request, headers)
                    if request.channel == "chat"
                    else None
                )
                outcome = await asyncio.wait_for(
                    self._workflow.run(
                        request_id=request.request_id,
                        question=request.message,
                        history=history,
                        on_delta=deltas.emit if deltas else None,
                    ),
                    self._timeout_s,
                )
                if deltas and deltas.sent == 0:
                    await deltas.emit_whole(outcome.answer)
                await self._publish_outcome(request, outcome, state, headers)
                _count(outcome, request)
                log.info(
                    "answered as %s (%.2f) by %s%s%s in %.1f ms",
                    outcome.category.value,
                    outcome.confidence,
                    outcome.responder,
                    " from cache" if outcome.cached else "",
                    f", escalated: {outcome.escalation_reason.value}"
                    if outcome.escalation_reason
                    else "",
                    (time.perf_counter() - started) * 1000,
                )
                state.remember(
                    Turn(request.message, outcome.answer, tuple(s.doc_id for s in outcome.sources))
                )
                self._memory.save(request.conversation_id, state)
                return
            except Exception as exc:  # every failure is either retried or dead-lettered
                if not is_retryable(exc) or attempt == self._attempts:
                    await self._dead_letter(message, exc, attempts=attempt, request=request)
                    return
                delay = self._backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "processing failed (attempt %d), retrying: %r",
                    attempt,
                    exc,
                    extra={
                        "request_id": request.request_id,
                        "attempt": attempt,
                        "error": repr(exc),
                    },
                )
                await asyncio.sleep(delay)

    async def _publish_outcome(
        self,
        request: ChatRequest,
        outcome: Outcome,
        state: ConversationState,
        headers: Mapping[str, bytes],
    ) -> None:
        common = {
            "request_id": request.request_id,
            "conversation_id": request.conversation_id,
            "correlation_id": request.correlation_id,
        }
        reason = outcome.escalation_reason
        if reason is not None and request.request_id not in state.escalated_requests:
            event_id = triage.escalation_event_id(request.request_id)
            now = time.time()
            ticket = state.open_ticket(now, self._escalation_window_s) or TicketRef(event_id, now)
            escalation = Escalation(
                **common,
                event_id=event_id,
                kind=EscalationKind.NEW
                if ticket.event_id == event_id
                else EscalationKind.FOLLOW_UP,
                ticket_event_id=ticket.event_id,
                requester=request.customer or Customer(),
                requester_verified=request.customer_verified,
                principal=request.principal,
                subject=triage.subject(outcome.category, request.message),
                summary=triage.summary(reason, request.message, state.turns),
                transcript=triage.transcript(state.turns, request.message),
                category=outcome.category,
                confidence=outcome.confidence,
                reason=reason,
                priority=triage.priority(reason, outcome.category, request.message),
                ticket_type=triage.ticket_type(outcome.category),
                channel=request.channel,
                tags=triage.tags(outcome.category, reason, request.channel),
                sources=outcome.consulted,
            )
            await self._publisher.publish(
                ESCALATIONS, escalation, key=request.conversation_id, headers=headers
            )
            state.record_escalation(request.request_id, ticket)
            metrics.ESCALATIONS.labels(
                escalation.reason.value, escalation.priority.value, escalation.kind.value
            ).inc()
        answer = ChatAnswer(
            **common,
            answer=outcome.answer,
            category=outcome.category,
            confidence=outcome.confidence,
            escalated=outcome.escalated,
            escalation_reason=outcome.escalation_reason,
            sources=outcome.sources,
            responder=outcome.responder,
            cached=outcome.cached,
            request_created_at=request.created_at,
        )
        await self._publisher.publish(ANSWERS, answer, key=request.conversation_id, headers=headers)

    async def _dead_letter(
        self,
        message: InboundMessage,
        error: BaseException,
        *,
        attempts: int,
        request: ChatRequest | None,
    ) -> None:
        letter = dead_letter_for(message, error, attempts=attempts, request=request)
        metrics.DEAD_LETTERS.labels(letter.error_class).inc()
        if request is not None:
            metrics.MESSAGES.labels("unknown", "dead_lettered").inc()
        source = f"{message.topic}/{message.partition}@{message.offset}"
        log.error(
            "message %s dead-lettered after %d attempt(s): %s: %s",
            source,
            attempts,
            letter.error_class,
            letter.error_message,
            extra={
                "request_id": letter.request_id,
                "source": source,
                "error": f"{letter.error_class}: {letter.error_message}",
            },
        )
        headers = bounded_headers(message.headers)
        try:
            await self._publish_dead_letter(letter, headers)
        except KAFKA_REFUSALS as refusal:
            # The broker takes less than even a bounded letter: send the coordinates only.
            log.error("dead letter refused (%r); sending it without the original bytes", refusal)
            bare = dead_letter_for(
                message, error, attempts=attempts, request=request, keep_original=False
            )
            await self._publish_dead_letter(bare, {})

    async def _publish_dead_letter(self, letter: DeadLetter, headers: Mapping[str, bytes]) -> None:
        """Publish, retrying while the broker is unreachable (the offset must not pass this
        message meanwhile); a refusal of the record itself is raised at once."""
        delay = self._backoff_s or 0.1
        while True:
            try:
                await self._publisher.publish(
                    DEADLETTER,
                    letter,
                    key=letter.conversation_id,
                    headers=headers,
                )
                return
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                log.warning("cannot write dead letter (%r); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_PUBLISH_BACKOFF_S)


def _count(outcome: Outcome, request: ChatRequest) -> None:
    outcome_label = "escalated" if outcome.escalated else "answered"
    metrics.MESSAGES.labels(outcome.category.value, outcome_label).inc()
    metrics.CONFIDENCE.observe(outcome.confidence)
    metrics.END_TO_END.observe(max((utc_now() - request.created_at).total_seconds(), 0.0))


def _outbound_headers(request: ChatRequest) -> dict[str, bytes]:
    return {
        CORRELATION_HEADER: request.correlation_id.encode(),
        REQUEST_ID_HEADER: request.request_id.encode(),
    }
