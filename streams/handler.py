"""Processing of one ``support.requests`` message, independent of Faust.

A message is a customer's ``ChatRequest`` or an ``AgentAction`` (told apart by its
``event_type``; ``streams.conversation`` applies either). It is applied (its transcript
events, escalations and answer published, then the conversation state saved) or
dead-lettered with its original bytes (bounded: see ``streams.deadletters``); ``handle``
returns only once one of these is durably written, and raises when neither could be
(the broker refused even the bounded letter), so the caller never counts an unprocessed
message as done. A message already applied (redelivered after its state was saved, or a
caller's retry with the same ``X-Request-ID``) is not applied again: an agent action is
skipped, a request gets its kept answer again (``Conversations.replay``). Calls for one
conversation must not overlap (the dispatcher runs them in order).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import orjson

from runtime import correlation
from runtime.codec import decode
from runtime.errors import (
    KAFKA_REFUSALS,
    ConversationOwnershipError,
    EventDecodeError,
    InvalidEventError,
    is_retryable,
)
from schemas import AgentAction, ChatRequest, DeadLetter
from schemas.topics import CORRELATION_HEADER, DEADLETTER, REQUEST_ID_HEADER
from streams import metrics
from streams.conversation import Conversations
from streams.deadletters import bounded_headers, dead_letter_for
from streams.inbound import InboundMessage
from streams.memory import ConversationMemory, ConversationState
from streams.publisher import Publisher
from streams.routing import Outbound, reply_partition

log = logging.getLogger(__name__)

_MAX_PUBLISH_BACKOFF_S = 30.0
_LOGGED_CHARS = 300
_EVENT_TYPES: dict[str, type[ChatRequest] | type[AgentAction]] = {
    "chat.request": ChatRequest,
    "agent.action": AgentAction,
}

Inbound = ChatRequest | AgentAction


class RequestHandler:
    def __init__(
        self,
        conversations: Conversations,
        publisher: Publisher,
        memory: ConversationMemory,
        *,
        attempts: int,
        backoff_s: float,
    ) -> None:
        self._conversations = conversations
        self._publisher = publisher
        self._memory = memory
        self._attempts = attempts
        self._backoff_s = backoff_s

    async def handle(self, message: InboundMessage) -> None:
        try:
            event = decode_inbound(message.value)
        except EventDecodeError as exc:
            await self._dead_letter(message, InvalidEventError(str(exc)), attempts=1, event=None)
            return
        with correlation.bound(
            request_id=event.request_id,
            correlation_id=event.correlation_id,
            conversation_id=event.conversation_id,
        ):
            await self._process(message, event)

    async def _process(self, message: InboundMessage, event: Inbound) -> None:
        started = time.perf_counter()
        if isinstance(event, ChatRequest):
            log.info(
                "question received: %s",
                event.message[:_LOGGED_CHARS],
                extra={"partition": message.partition, "offset": message.offset},
            )
        outbound = Outbound(_outbound_headers(event), reply_partition(message.headers))
        for attempt in range(1, self._attempts + 1):
            state: ConversationState | None = None
            try:
                state = self._memory.load(event.conversation_id)
                # An agent's credential is not the conversation's owner: the gateway let it
                # act on the conversation by its agent scope.
                if isinstance(event, ChatRequest) and not state.admits(event.principal):
                    # Never answered from, nor written into, another principal's conversation.
                    raise ConversationOwnershipError("the conversation has another owner")
                if state.has_applied(_event_id(event)):
                    if isinstance(event, ChatRequest):  # a retry, or redelivered
                        await self._conversations.replay(event, state, outbound)
                    else:
                        log.info("already applied; skipped (redelivered)")
                    return
                if isinstance(event, ChatRequest):
                    await self._conversations.on_request(event, state, outbound)
                else:
                    await self._conversations.on_action(event, state, outbound.headers)
                state.mark_applied(_event_id(event))
                self._memory.save(event.conversation_id, state)
                log.info("processed in %.1f ms", (time.perf_counter() - started) * 1000)
                return
            except Exception as exc:  # every failure is either retried or dead-lettered
                if not is_retryable(exc) or attempt == self._attempts:
                    await self._dead_letter(message, exc, attempts=attempt, event=event)
                    self._keep_numbering(event.conversation_id, state)
                    return
                delay = self._backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "processing failed (attempt %d), retrying: %r",
                    attempt,
                    exc,
                    extra={
                        "request_id": event.request_id,
                        "attempt": attempt,
                        "error": repr(exc),
                    },
                )
                await asyncio.sleep(delay)

    def _keep_numbering(self, conversation_id: str, state: ConversationState | None) -> None:
        """After a dead letter, the transcript events the message did publish keep their
        numbers: the next message must not reuse them, as readers keep the first."""
        if state is None:
            return
        saved = self._memory.load(conversation_id)
        if state.last_seq > saved.last_seq:
            saved.last_seq = state.last_seq
            self._memory.save(conversation_id, saved)

    async def _dead_letter(
        self,
        message: InboundMessage,
        error: BaseException,
        *,
        attempts: int,
        event: Inbound | None,
    ) -> None:
        letter = dead_letter_for(message, error, attempts=attempts, event=event)
        metrics.DEAD_LETTERS.labels(letter.error_class).inc()
        if isinstance(event, ChatRequest):
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
                message, error, attempts=attempts, event=event, keep_original=False
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


def decode_inbound(value: bytes) -> Inbound:
    """The request or agent action ``value`` holds, by its ``event_type`` (records from
    before the field are chat requests); ``EventDecodeError`` for anything else."""
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError:
        payload = None
    kind = payload.get("event_type", "chat.request") if isinstance(payload, dict) else None
    event_type = _EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if isinstance(payload, dict) and event_type is None:
        raise EventDecodeError(f"unknown event_type {str(kind)[:64]!r}")
    # ``decode`` reports what is wrong with a value that is not an object.
    return decode(value, event_type or ChatRequest)


def _event_id(event: Inbound) -> str:
    return event.request_id if isinstance(event, ChatRequest) else event.action_id


def _outbound_headers(event: Inbound) -> dict[str, bytes]:
    return {
        CORRELATION_HEADER: event.correlation_id.encode(),
        REQUEST_ID_HEADER: event.request_id.encode(),
    }
