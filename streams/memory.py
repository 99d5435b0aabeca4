"""Conversation memory: the last turns of each conversation and what it is about.

In the worker the turns live in a changelog-backed Faust table keyed by
``conversation_id`` (``streams/app.py``), so they survive a restart and move with their
partition when workers rebalance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import orjson

from schemas import ChatAnswer, EscalationReason, HandoffState
from streams.context import ConversationContext

MAX_TURNS = 6
REMEMBERED_APPLIED = 200
"""Requests and agent actions remembered as applied: a redelivery within this many of a
conversation's later events is recognised and not applied again."""
KEPT_ANSWERS = 4
"""Answers kept per conversation (its last ones), to send again to a request that arrives
again: a caller's retry with the same ``X-Request-ID``, or a redelivery."""


@dataclass(frozen=True, slots=True)
class Turn:
    question: str
    answer: str
    doc_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TicketRef:
    event_id: str
    opened_at: float
    """Unix time the ticket's escalation was published."""


@dataclass(slots=True)
class ConversationState:
    """What the worker keeps per conversation: recent turns, its open ticket, its owner,
    who answers it (the handoff) and how far its transcript is numbered."""

    turns: list[Turn] = field(default_factory=list)
    ticket: TicketRef | None = None
    applied: list[str] = field(default_factory=list)
    """Ids of the requests and agent actions applied (the last ``REMEMBERED_APPLIED``), so
    a redelivered one is not applied twice."""
    owner: str | None = None
    """The principal that started the conversation; states from before owners were
    recorded adopt the first principal that asks."""
    handoff: HandoffState = HandoffState.BOT
    handoff_since: float | None = None
    """Unix time of the last handoff change."""
    handoff_reason: EscalationReason | None = None
    """Why the bot handed the conversation over, while a person owns it."""
    agent_name: str | None = None
    """The person who last wrote, while a person owns the conversation."""
    reminded: bool = False
    """Whether the customer was told the current wait for a person runs late."""
    last_seq: int = 0
    """The ``seq`` of the conversation's last transcript event published."""
    context: ConversationContext = field(default_factory=ConversationContext)
    """The products, order and topic being discussed (``streams.context``)."""
    answers: list[ChatAnswer] = field(default_factory=list)
    """The last ``KEPT_ANSWERS`` answers published, oldest first."""

    def admits(self, principal: str | None) -> bool:
        """Whether ``principal`` may read and write this conversation, claiming it when it
        has no owner yet. A request without a principal may use only an unowned one."""
        if self.owner is None:
            self.owner = principal
            return True
        return principal == self.owner

    def remember(self, turn: Turn) -> None:
        self.turns = [*self.turns, turn][-MAX_TURNS:]

    def open_ticket(self, now: float, window_s: float) -> TicketRef | None:
        if self.ticket is not None and now - self.ticket.opened_at < window_s:
            return self.ticket
        return None

    def has_applied(self, event_id: str) -> bool:
        return event_id in self.applied

    def mark_applied(self, event_id: str) -> None:
        self.applied = [*self.applied, event_id][-REMEMBERED_APPLIED:]

    def keep(self, answer: ChatAnswer) -> None:
        self.answers = [*self.answers, answer][-KEPT_ANSWERS:]

    def kept_answer(self, request_id: str) -> ChatAnswer | None:
        return next((a for a in reversed(self.answers) if a.request_id == request_id), None)


class ConversationMemory(Protocol):
    def load(self, conversation_id: str) -> ConversationState: ...

    def save(self, conversation_id: str, state: ConversationState) -> None: ...


class DictMemory:
    """Memory of one process, for tests and tools."""

    def __init__(self) -> None:
        self._states: dict[str, bytes] = {}

    def load(self, conversation_id: str) -> ConversationState:
        return decode_state(self._states.get(conversation_id))

    def save(self, conversation_id: str, state: ConversationState) -> None:
        self._states[conversation_id] = encode_state(state)


def encode_state(state: ConversationState) -> bytes:
    return orjson.dumps(
        {
            "turns": [
                {"q": t.question, "a": t.answer, "docs": list(t.doc_ids)} for t in state.turns
            ],
            "ticket": (
                {"event_id": state.ticket.event_id, "opened_at": state.ticket.opened_at}
                if state.ticket
                else None
            ),
            "applied": state.applied,
            "owner": state.owner,
            "handoff": state.handoff.value,
            "handoff_since": state.handoff_since,
            "handoff_reason": state.handoff_reason.value if state.handoff_reason else None,
            "agent_name": state.agent_name,
            "reminded": state.reminded,
            "last_seq": state.last_seq,
            "context": state.context.to_json(),
            "answers": [answer.model_dump(mode="json") for answer in state.answers],
        }
    )


def decode_state(data: bytes | None) -> ConversationState:
    if not data:
        return ConversationState()
    raw = orjson.loads(data)
    if isinstance(raw, list):  # the first format: the turns alone
        raw = {"turns": raw}
    ticket = raw.get("ticket")
    return ConversationState(
        turns=[Turn(t["q"], t["a"], tuple(t.get("docs", ()))) for t in raw.get("turns", [])],
        ticket=TicketRef(ticket["event_id"], float(ticket["opened_at"])) if ticket else None,
        # Before handoffs, only the requests that escalated were remembered.
        applied=list(raw.get("applied", raw.get("escalated", []))),
        owner=raw.get("owner"),
        handoff=HandoffState(raw.get("handoff", HandoffState.BOT)),
        handoff_since=raw.get("handoff_since"),
        handoff_reason=EscalationReason(reason) if (reason := raw.get("handoff_reason")) else None,
        agent_name=raw.get("agent_name"),
        reminded=bool(raw.get("reminded", False)),
        last_seq=int(raw.get("last_seq", 0)),
        context=ConversationContext.from_json(raw.get("context")),
        answers=[ChatAnswer.model_validate(answer) for answer in raw.get("answers", [])],
    )
