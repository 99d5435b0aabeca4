"""Stand-ins for the worker's handler: a publisher that records, a scripted workflow, and
a handler built on them with a fixed clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from runtime.codec import encode
from schemas import (
    AgentAction,
    Category,
    ChatDelta,
    ChatRequest,
    ConversationMessage,
    EscalationReason,
    HandoffChanged,
)
from schemas.topics import ANSWER_DELTAS, CONVERSATION_EVENTS
from streams.conversation import Conversations
from streams.handler import RequestHandler
from streams.handoff import HandoffMachine
from streams.inbound import InboundMessage
from streams.memory import DictMemory
from streams.outcome import Outcome
from streams.support_hours import SupportHours

HOURS = SupportHours.parse("Mon-Sat 09:00-18:00 Asia/Kolkata")
TARGET_S = 900.0
OPEN_MONDAY = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
"""Monday 11:30 in Kolkata: support is open."""


class RecordingPublisher:
    """Deltas and transcript events apart from the rest (``sent``), in publishing order;
    the partition asked for each event, by topic, in ``partitions``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, BaseModel, str, Mapping[str, bytes]]] = []
        self.deltas: list[ChatDelta] = []
        self.transcript: list[ConversationMessage | HandoffChanged] = []
        self.partitions: dict[str, list[int | None]] = {}

    async def publish(
        self,
        topic: str,
        event: BaseModel,
        *,
        key: str,
        headers: Mapping[str, bytes],
        wait: bool = True,
        partition: int | None = None,
    ) -> None:
        self.partitions.setdefault(topic, []).append(partition)
        if topic == ANSWER_DELTAS:
            assert isinstance(event, ChatDelta) and not wait
            self.deltas.append(event)
        elif topic == CONVERSATION_EVENTS:
            assert isinstance(event, ConversationMessage | HandoffChanged) and wait
            assert key == event.conversation_id
            self.transcript.append(event)
        else:
            self.sent.append((topic, event, key, headers))

    def events(self, topic: str) -> list[BaseModel]:
        return [event for sent_to, event, _, _ in self.sent if sent_to == topic]


class ScriptedWorkflow:
    """Raises the scripted errors in turn, then returns the outcome."""

    def __init__(self, outcome: Outcome, errors: list[Exception] | None = None) -> None:
        self.outcome = outcome
        self.errors = list(errors or [])
        self.calls = 0
        self.promises: list[str | None] = []

    async def run(
        self,
        *,
        request_id: str,
        question: str,
        history: object = (),
        context: object = None,
        on_delta: object = None,
        promise: str | None = None,
    ) -> Outcome:
        self.calls += 1
        self.promises.append(promise)
        if self.errors:
            raise self.errors.pop(0)
        return self.outcome


ANSWERED = Outcome(
    answer="It costs ₹15,999.", category=Category.PRODUCT_INFO, confidence=0.9, responder="offline"
)
ESCALATED = Outcome(
    answer="A person will reply here.",
    category=Category.HUMAN_AGENT,
    confidence=0.8,
    responder="offline",
    escalation_reason=EscalationReason.HUMAN_REQUESTED,
)


def message(
    value: bytes,
    key: bytes | None = b"conv-1",
    offset: int = 41,
    headers: Mapping[str, bytes] | None = None,
) -> InboundMessage:
    return InboundMessage(
        topic="support.requests",
        partition=2,
        offset=offset,
        key=key,
        value=value,
        headers=headers or {},
    )


def request_bytes(**overrides: Any) -> bytes:
    fields = {
        "request_id": "req-1",
        "conversation_id": "conv-1",
        "correlation_id": "corr-1",
        "message": "hi",
    }
    return encode(ChatRequest.model_validate(fields | overrides))


def action_bytes(**overrides: Any) -> bytes:
    fields = {
        "request_id": "act-req-1",
        "conversation_id": "conv-1",
        "correlation_id": "corr-a",
        "action_id": "api:a-1",
        "action": "message",
        "text": "Hello, I am Asha and I will sort this out.",
        "author": {"name": "Asha"},
        "principal": "key:agent",
    }
    return encode(AgentAction.model_validate(fields | overrides))


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = OPEN_MONDAY) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def handler(
    workflow: ScriptedWorkflow,
    publisher: RecordingPublisher,
    attempts: int = 3,
    memory: DictMemory | None = None,
    clock: Clock | None = None,
) -> RequestHandler:
    conversations = Conversations(
        workflow,  # type: ignore[arg-type]
        publisher,
        HandoffMachine(HOURS, TARGET_S),
        escalation_window_s=24 * 3600,
        timeout_s=5,
        clock=clock or Clock(),
    )
    return RequestHandler(
        conversations, publisher, memory or DictMemory(), attempts=attempts, backoff_s=0.0
    )
