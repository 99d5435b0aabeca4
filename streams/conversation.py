"""What one customer message or agent action does to its conversation.

A customer's message is answered by the bot while the bot owns the conversation (and may
hand it to a person), forwarded to the person while one is awaited or owns it, and
refused once the conversation is closed. An agent action goes through the handoff state
machine (``streams.handoff``). Each publishes its transcript events, escalations and
answer, in that order, and changes the state it is given; the caller saves that state
only after all of them are acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from schemas import (
    AgentAction,
    AnswerFacts,
    Category,
    ChatAnswer,
    ChatDelta,
    ChatRequest,
    HandoffState,
    TranscriptRole,
    utc_now,
)
from schemas.topics import ANSWER_DELTAS, ANSWERS, ESCALATIONS
from streams import escalations, metrics, replies, triage
from streams.handoff import HandoffMachine
from streams.memory import ConversationState, TicketRef, Turn
from streams.publisher import Publisher
from streams.routing import Outbound
from streams.transcript import TranscriptWriter
from streams.workflow import AnswerWorkflow

log = logging.getLogger(__name__)

_WORDS_PER_DELTA = 6
HANDOFF_RESPONDER = "handoff"
"""The ``responder`` of answers the bot did not write (forwarded, or refused as closed)."""


class DeltaEmitter:
    """Publishes one request's answer deltas with consecutive ``seq`` numbers, on its
    reply partition."""

    def __init__(self, publisher: Publisher, request: ChatRequest, outbound: Outbound) -> None:
        self._publisher = publisher
        self._request = request
        self._outbound = outbound
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
            headers=self._outbound.headers,
            wait=False,
            partition=self._outbound.reply_partition,
        )

    async def emit_whole(self, text: str) -> None:
        """A reply that was not streamed, in word groups, so clients see one protocol."""
        words = text.split(" ")
        for start in range(0, len(words), _WORDS_PER_DELTA):
            piece = " ".join(words[start : start + _WORDS_PER_DELTA])
            await self.emit(piece if start + _WORDS_PER_DELTA >= len(words) else piece + " ")


class Conversations:
    def __init__(
        self,
        workflow: AnswerWorkflow,
        publisher: Publisher,
        machine: HandoffMachine,
        *,
        escalation_window_s: float,
        timeout_s: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._workflow = workflow
        self._publisher = publisher
        self._machine = machine
        self._escalation_window_s = escalation_window_s
        self._timeout_s = timeout_s
        self._clock = clock

    async def on_request(
        self, request: ChatRequest, state: ConversationState, outbound: Outbound
    ) -> None:
        now = self._clock()
        transcript = TranscriptWriter(
            self._publisher, request, state, outbound.headers, self._clock
        )
        match state.handoff:
            case HandoffState.BOT:
                await self._answer(request, state, transcript, outbound, now)
            case HandoffState.AWAITING_AGENT | HandoffState.AGENT:
                await self._forward(request, state, transcript, outbound)
            case HandoffState.CLOSED:
                await self._publish_answer(
                    request, state, outbound, replies.CONVERSATION_CLOSED, state.handoff
                )
                log.info("refused: the conversation is closed")

    async def replay(
        self, request: ChatRequest, state: ConversationState, outbound: Outbound
    ) -> None:
        """Sends the answer ``request`` got again, marked ``replayed``, to the gateway that
        sent it this time: the request arrived again once applied. Nothing else is done
        again (no transcript entry, escalation, delta or workflow run)."""
        kept = state.kept_answer(request.request_id)
        if kept is None:
            metrics.REPLAYS.labels("not_kept").inc()
            log.warning("already applied, and its answer is no longer kept: not answered again")
            return
        await self._send(kept.model_copy(update={"replayed": True}), state, outbound)
        metrics.REPLAYS.labels("replayed").inc()
        log.info("already applied: its answer sent again (replayed)")

    async def on_action(
        self, action: AgentAction, state: ConversationState, headers: Mapping[str, bytes]
    ) -> None:
        previous, now = state.handoff, self._clock()
        steps = self._machine.apply(state, action, now)
        transcript = TranscriptWriter(self._publisher, action, state, headers, self._clock)
        await transcript.steps(steps)
        log.info(
            "agent action %s from %s: %s -> %s%s",
            action.action.value,
            action.source,
            previous.value,
            state.handoff.value,
            "" if steps else " (nothing to do)",
        )

    async def _answer(
        self,
        request: ChatRequest,
        state: ConversationState,
        transcript: TranscriptWriter,
        outbound: Outbound,
        now: datetime,
    ) -> None:
        await transcript.message(request.request_id, TranscriptRole.CUSTOMER, request.message)
        promise = self._machine.promise(now)
        # Live chat streams the answer; an API caller waits for the whole of it.
        deltas = (
            DeltaEmitter(self._publisher, request, outbound) if request.channel == "chat" else None
        )
        outcome = await asyncio.wait_for(
            self._workflow.run(
                request_id=request.request_id,
                question=request.message,
                history=state.turns,
                context=state.context,
                on_delta=deltas.emit if deltas else None,
                promise=promise.notice,
            ),
            self._timeout_s,
        )
        if deltas and deltas.sent == 0:
            await deltas.emit_whole(outcome.answer)
        ticket = None
        reason = outcome.escalation_reason
        if reason is not None:
            event_id = triage.escalation_event_id(request.request_id)
            ticket = state.open_ticket(now.timestamp(), self._escalation_window_s) or TicketRef(
                event_id, now.timestamp()
            )
            escalation = escalations.ticket_escalation(
                request,
                outcome,
                reason,
                state,
                ticket,
                promise.expected_by,
                language=outcome.language,
            )
            await self._publisher.publish(
                ESCALATIONS, escalation, key=request.conversation_id, headers=outbound.headers
            )
            state.ticket = ticket
            metrics.ESCALATIONS.labels(
                escalation.reason.value, escalation.priority.value, escalation.kind.value
            ).inc()
        answer_seq = await transcript.message(
            f"{request.request_id}:answer",
            TranscriptRole.ASSISTANT,
            outcome.answer,
            answer=AnswerFacts(
                category=outcome.category,
                confidence=outcome.confidence,
                responder=outcome.responder,
                sources=outcome.sources,
                escalation_reason=reason,
                cached=outcome.cached,
                approved_answer_id=outcome.approved_answer_id,
            ),
        )
        if reason is not None and ticket is not None:
            await transcript.change(
                self._machine.escalate(state, reason, promise, ticket.event_id, now)
            )
        answer = ChatAnswer(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            correlation_id=request.correlation_id,
            answer=outcome.answer,
            category=outcome.category,
            confidence=outcome.confidence,
            escalated=outcome.escalated,
            escalation_reason=reason,
            sources=outcome.sources,
            responder=outcome.responder,
            cached=outcome.cached,
            request_created_at=request.created_at,
            handoff_state=state.handoff,
            expected_response_by=promise.expected_by if reason is not None else None,
            transcript_seq=answer_seq,
            language=outcome.language,
            approved_answer_id=outcome.approved_answer_id,
        )
        await self._send(answer, state, outbound)
        _count(request, outcome.category, "escalated" if outcome.escalated else "answered")
        metrics.CONFIDENCE.observe(outcome.confidence)
        log.info(
            "answered as %s (%.2f) by %s%s%s",
            outcome.category.value,
            outcome.confidence,
            outcome.responder,
            " from cache" if outcome.cached else "",
            f", escalated: {reason.value}" if reason else "",
        )
        state.remember(
            Turn(request.message, outcome.answer, tuple(s.doc_id for s in outcome.sources))
        )
        if outcome.context is not None:
            state.context = outcome.context

    async def _forward(
        self,
        request: ChatRequest,
        state: ConversationState,
        transcript: TranscriptWriter,
        outbound: Outbound,
    ) -> None:
        """The person who owns the conversation gets the message; the bot stays silent."""
        seq = await transcript.message(
            request.request_id, TranscriptRole.CUSTOMER, request.message, forwarded=True
        )
        expected_by = self._machine.expected_by(state)
        if state.ticket is not None:
            await self._publisher.publish(
                ESCALATIONS,
                escalations.customer_message(request, state.ticket, state, expected_by),
                key=request.conversation_id,
                headers=outbound.headers,
            )
        await self._publish_answer(
            request,
            state,
            outbound,
            replies.forwarded(state.agent_name),
            state.handoff,
            forwarded=True,
            expected_by=expected_by,
            seq=seq,
        )
        metrics.HANDOFF_FORWARDED.inc()
        log.info("forwarded to %s", state.agent_name or "the support team")

    async def _publish_answer(
        self,
        request: ChatRequest,
        state: ConversationState,
        outbound: Outbound,
        text: str,
        handoff: HandoffState,
        *,
        forwarded: bool = False,
        expected_by: datetime | None = None,
        seq: int | None = None,
    ) -> None:
        """An answer the bot did not write."""
        answer = ChatAnswer(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            correlation_id=request.correlation_id,
            answer=text,
            category=Category.HUMAN_AGENT,
            confidence=1.0,
            responder=HANDOFF_RESPONDER,
            request_created_at=request.created_at,
            forwarded=forwarded,
            handoff_state=handoff,
            expected_response_by=expected_by,
            transcript_seq=seq,
        )
        await self._send(answer, state, outbound)
        _count(request, Category.HUMAN_AGENT, "forwarded" if forwarded else handoff.value)

    async def _send(self, answer: ChatAnswer, state: ConversationState, outbound: Outbound) -> None:
        """The one way answers are published; each first answer is kept for replays."""
        await self._publisher.publish(
            ANSWERS,
            answer,
            key=answer.conversation_id,
            headers=outbound.headers,
            partition=outbound.reply_partition,
        )
        if not answer.replayed:
            state.keep(answer)


def _count(request: ChatRequest, category: Category, outcome: str) -> None:
    metrics.MESSAGES.labels(category.value, outcome).inc()
    metrics.END_TO_END.observe(max((utc_now() - request.created_at).total_seconds(), 0.0))
