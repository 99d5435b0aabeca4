"""Who answers a conversation: the handoff state machine over a ``ConversationState``.

::

    bot ──escalation──▶ awaiting_agent ──agent message──▶ agent
     ▲  ╲                    │   ╲                          │
     │   ╲─agent message─────┼────╲────────────────────────▶│
     └───────── handback ────┴─────╲────────────────────────┘
                                    ╲ close (from any state) ──▶ closed (final)

The machine decides; it publishes nothing. Each transition returns the steps the
customer sees (``Change`` and ``Note``), which ``streams.transcript`` numbers and
publishes. A ``remind`` adds a note once per wait for a person, and only while waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from runtime.errors import InvalidEventError
from schemas import (
    AgentAction,
    AgentActionKind,
    Author,
    EscalationReason,
    HandoffState,
    TranscriptRole,
)
from streams import metrics, replies
from streams.memory import ConversationState
from streams.support_hours import ResponsePromise, SupportHours

_HELPDESKS = frozenset({"zendesk", "freshdesk"})
_WITH_A_PERSON = frozenset({HandoffState.AWAITING_AGENT, HandoffState.AGENT})


@dataclass(frozen=True, slots=True)
class Change:
    """A change of owner, as ``HandoffChanged`` will carry it."""

    state: HandoffState
    previous: HandoffState
    actor: Literal["bot", "agent", "system"]
    reason: str
    notice: str
    actor_name: str | None = None
    expected_response_by: datetime | None = None
    ticket_event_id: str | None = None
    waited_s: float | None = None
    """On the first reply of a person: how long the customer waited for it."""
    source: str | None = None
    """The agent action's source (api, zendesk, freshdesk, system) that caused it."""


@dataclass(frozen=True, slots=True)
class Note:
    """A transcript message of an agent or of the service itself."""

    message_id: str
    role: TranscriptRole
    text: str
    author: Author | None = None


Step = Change | Note


class HandoffMachine:
    def __init__(self, hours: SupportHours, response_target_s: float) -> None:
        self._hours = hours
        self._target_s = response_target_s

    def promise(self, now: datetime) -> ResponsePromise:
        return self._hours.promise(now, self._target_s)

    def expected_by(self, state: ConversationState) -> datetime | None:
        """When the current wait for a person is due to end (``None`` when not waiting)."""
        if state.handoff is not HandoffState.AWAITING_AGENT or state.handoff_since is None:
            return None
        return self.promise(datetime.fromtimestamp(state.handoff_since, UTC)).expected_by

    def escalate(
        self,
        state: ConversationState,
        reason: EscalationReason,
        promise: ResponsePromise,
        ticket_event_id: str,
        now: datetime,
    ) -> Change:
        """The bot hands the conversation to a person."""
        change = Change(
            state=HandoffState.AWAITING_AGENT,
            previous=state.handoff,
            actor="bot",
            reason=reason.value,
            notice=promise.notice,
            expected_response_by=promise.expected_by,
            ticket_event_id=ticket_event_id,
        )
        _enter(state, HandoffState.AWAITING_AGENT, now)
        state.handoff_reason = reason
        return change

    def apply(self, state: ConversationState, action: AgentAction, now: datetime) -> list[Step]:
        """What ``action`` does to ``state`` (changed in place); nothing in a closed
        conversation, nor for actions that do not apply in the current state."""
        if state.handoff is HandoffState.CLOSED:
            return []
        match action.action:
            case AgentActionKind.MESSAGE:
                return self._message(state, action, now)
            case AgentActionKind.HANDBACK:
                return self._handback(state, action, now)
            case AgentActionKind.CLOSE:
                return self._close(state, action, now)
            case AgentActionKind.REMIND:
                return self._remind(state, action)

    def _message(self, state: ConversationState, action: AgentAction, now: datetime) -> list[Step]:
        if action.text is None or action.author is None:
            raise InvalidEventError("an agent message needs text and author")
        steps: list[Step] = []
        if state.handoff is not HandoffState.AGENT:
            waited = (
                now.timestamp() - state.handoff_since
                if state.handoff is HandoffState.AWAITING_AGENT and state.handoff_since
                else None
            )
            steps.append(
                Change(
                    state=HandoffState.AGENT,
                    previous=state.handoff,
                    actor="agent",
                    actor_name=action.author.name,
                    reason="agent_replied",
                    notice=replies.agent_joined(action.author.name),
                    waited_s=waited,
                    source=action.source,
                )
            )
            _enter(state, HandoffState.AGENT, now)
        state.agent_name = action.author.name
        steps.append(Note(action.action_id, TranscriptRole.AGENT, action.text, action.author))
        return steps

    def _handback(self, state: ConversationState, action: AgentAction, now: datetime) -> list[Step]:
        if state.handoff not in _WITH_A_PERSON:
            return []
        change = Change(
            state=HandoffState.BOT,
            previous=state.handoff,
            actor=_actor(action),
            actor_name=action.author.name if action.author else None,
            reason="ticket_solved" if action.source in _HELPDESKS else "handback",
            notice=replies.HANDED_BACK,
            source=action.source,
        )
        _enter(state, HandoffState.BOT, now)
        state.handoff_reason = None
        state.agent_name = None
        return [change]

    def _close(self, state: ConversationState, action: AgentAction, now: datetime) -> list[Step]:
        change = Change(
            state=HandoffState.CLOSED,
            previous=state.handoff,
            actor=_actor(action),
            actor_name=action.author.name if action.author else None,
            reason="ticket_closed" if action.source in _HELPDESKS else "closed",
            notice=replies.CLOSED,
            source=action.source,
        )
        _enter(state, HandoffState.CLOSED, now)
        return [change]

    def _remind(self, state: ConversationState, action: AgentAction) -> list[Step]:
        expected_by = self.expected_by(state)
        if expected_by is None or state.reminded:
            return []
        state.reminded = True
        text = replies.still_waiting(self._hours.local_time(expected_by))
        return [Note(action.action_id, TranscriptRole.SYSTEM, text)]


def count(change: Change) -> None:
    """Metrics of a change once it is published."""
    metrics.HANDOFF_CHANGES.labels(change.state.value).inc()
    if change.waited_s is not None:
        metrics.HANDOFF_FIRST_AGENT_REPLY.observe(max(change.waited_s, 0.0))
    if change.state is HandoffState.BOT and change.source is not None:
        metrics.HANDOFF_HANDBACKS.labels(change.source).inc()


def _enter(state: ConversationState, handoff: HandoffState, now: datetime) -> None:
    state.handoff = handoff
    state.handoff_since = now.timestamp()
    state.reminded = False


def _actor(action: AgentAction) -> Literal["agent", "system"]:
    return "system" if action.source == "system" else "agent"
