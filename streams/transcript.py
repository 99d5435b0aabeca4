"""Publishing a conversation's transcript: messages and handoff changes on
``support.conversation-events``, numbered ``seq`` 1, 2, 3, … without gaps.

The worker is the transcript's only writer, and numbers from the conversation state's
``last_seq``. A request processed again after a crash, before its state was saved,
publishes the same numbers again; readers keep the first event of each ``seq``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from schemas import AnswerFacts, Author, ConversationMessage, HandoffChanged, TranscriptRole
from schemas.events import Event
from schemas.topics import CONVERSATION_EVENTS
from streams.handoff import Change, Note, Step, count
from streams.memory import ConversationState
from streams.publisher import Publisher


class TranscriptWriter:
    """Publishes the transcript events caused by ``cause`` (a request or an agent
    action), advancing ``state.last_seq`` as each is acknowledged."""

    def __init__(
        self,
        publisher: Publisher,
        cause: Event,
        state: ConversationState,
        headers: Mapping[str, bytes],
        clock: Callable[[], datetime],
    ) -> None:
        self._publisher = publisher
        self._common = {
            "request_id": cause.request_id,
            "conversation_id": cause.conversation_id,
            "correlation_id": cause.correlation_id,
        }
        self._state = state
        self._headers = headers
        self._clock = clock

    async def message(
        self,
        message_id: str,
        role: TranscriptRole,
        text: str,
        *,
        author: Author | None = None,
        forwarded: bool = False,
        answer: AnswerFacts | None = None,
    ) -> int:
        """Publish one message; its ``seq``."""
        seq = self._state.last_seq + 1
        event = ConversationMessage(
            **self._common,
            seq=seq,
            message_id=message_id,
            role=role,
            text=text,
            author=author,
            forwarded=forwarded,
            answer=answer,
            occurred_at=self._clock(),
        )
        await self._publish(event)
        return seq

    async def change(self, change: Change) -> int:
        seq = self._state.last_seq + 1
        event = HandoffChanged(
            **self._common,
            seq=seq,
            state=change.state,
            previous_state=change.previous,
            actor=change.actor,
            actor_name=change.actor_name,
            reason=change.reason,
            notice=change.notice,
            ticket_event_id=change.ticket_event_id,
            expected_response_by=change.expected_response_by,
            occurred_at=self._clock(),
        )
        await self._publish(event)
        count(change)
        return seq

    async def steps(self, steps: list[Step]) -> None:
        for step in steps:
            if isinstance(step, Note):
                await self.message(step.message_id, step.role, step.text, author=step.author)
            else:
                await self.change(step)

    async def _publish(self, event: ConversationMessage | HandoffChanged) -> None:
        await self._publisher.publish(
            CONVERSATION_EVENTS,
            event,
            key=event.conversation_id,
            headers=self._headers,
        )
        self._state.last_seq = event.seq
