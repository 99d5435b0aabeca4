from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from prometheus_client import REGISTRY
from pydantic import BaseModel

from runtime.codec import encode
from runtime.errors import ContentRefusedError, LlmUnavailableError
from schemas import (
    Category,
    ChatAnswer,
    DeadLetter,
    Escalation,
    EscalationKind,
    EscalationReason,
    Priority,
    TicketType,
)
from schemas.topics import ANSWERS, DEADLETTER, ESCALATIONS
from streams.inbound import InboundMessage
from streams.memory import KEPT_ANSWERS, DictMemory
from streams.outcome import Outcome
from tests.unit.streams.doubles import (
    ANSWERED,
    ESCALATED,
    RecordingPublisher,
    ScriptedWorkflow,
    action_bytes,
    handler,
    message,
    request_bytes,
)


async def test_answer_is_published_keyed_by_conversation_with_correlation_header() -> None:
    publisher = RecordingPublisher()
    await handler(ScriptedWorkflow(ANSWERED), publisher).handle(message(request_bytes()))

    [(topic, event, key, headers)] = publisher.sent
    assert topic == ANSWERS and key == "conv-1"
    assert isinstance(event, ChatAnswer) and event.request_id == "req-1" and not event.escalated
    assert headers["correlation_id"] == b"corr-1"


async def test_escalation_is_published_before_the_answer() -> None:
    publisher = RecordingPublisher()
    await handler(ScriptedWorkflow(ESCALATED), publisher).handle(message(request_bytes()))

    assert [topic for topic, *_ in publisher.sent] == [ESCALATIONS, ANSWERS]
    escalation = publisher.sent[0][1]
    assert (
        isinstance(escalation, Escalation) and escalation.reason is EscalationReason.HUMAN_REQUESTED
    )
    answer = publisher.sent[1][1]
    assert isinstance(answer, ChatAnswer) and answer.escalated


@pytest.mark.parametrize("value", [b"garbage", b'{"message": "no ids"}', b""])
async def test_undecodable_message_is_dead_lettered_with_original_bytes(value: bytes) -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ANSWERED)
    await handler(workflow, publisher).handle(message(value))

    [(topic, letter, key, _)] = publisher.sent
    assert topic == DEADLETTER and isinstance(letter, DeadLetter)
    assert base64.b64decode(letter.original_value_b64) == value
    assert (letter.source_partition, letter.source_offset, letter.attempts) == (2, 41, 1)
    assert letter.error_class == "InvalidEventError" and not letter.retryable
    assert key == "conv-1" and workflow.calls == 0


async def test_retryable_failure_is_retried_then_succeeds() -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ANSWERED, [LlmUnavailableError("quota"), TimeoutError()])
    await handler(workflow, publisher).handle(message(request_bytes()))

    assert workflow.calls == 3
    assert [topic for topic, *_ in publisher.sent] == [ANSWERS]


async def test_persistent_retryable_failure_is_dead_lettered_after_bounded_attempts() -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ANSWERED, [RuntimeError("boom")] * 5)
    await handler(workflow, publisher, attempts=3).handle(message(request_bytes()))

    [(topic, letter, _, _)] = publisher.sent
    assert topic == DEADLETTER and isinstance(letter, DeadLetter)
    assert (letter.attempts, letter.error_class, letter.retryable) == (3, "RuntimeError", True)
    assert letter.request_id == "req-1" and workflow.calls == 3


async def test_permanent_failure_is_dead_lettered_at_once() -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ANSWERED, [ContentRefusedError("refused")])
    await handler(workflow, publisher).handle(message(request_bytes()))

    [(topic, letter, _, _)] = publisher.sent
    assert topic == DEADLETTER and isinstance(letter, DeadLetter)
    assert letter.attempts == 1 and workflow.calls == 1


async def test_unstreamed_chat_answer_is_sent_as_ordered_deltas_before_the_answer() -> None:
    publisher = RecordingPublisher()
    long_answer = Outcome(
        answer="The SmartWatch Pro X costs ₹15,999 and comes with a one year standard warranty.",
        category=Category.PRODUCT_INFO,
        confidence=0.9,
        responder="offline",
    )
    await handler(ScriptedWorkflow(long_answer), publisher).handle(
        message(request_bytes(channel="chat"))
    )

    assert [d.seq for d in publisher.deltas] == list(range(len(publisher.deltas)))
    assert len(publisher.deltas) > 1
    assert "".join(d.text for d in publisher.deltas) == long_answer.answer
    assert all(d.request_id == "req-1" for d in publisher.deltas)


async def test_an_api_answer_comes_whole_without_deltas() -> None:
    publisher = RecordingPublisher()
    await handler(ScriptedWorkflow(ANSWERED), publisher).handle(
        message(request_bytes(channel="api"))
    )
    assert publisher.deltas == []
    assert [topic for topic, _, _, _ in publisher.sent] == [ANSWERS]


def escalations(publisher: RecordingPublisher) -> list[Escalation]:
    return [event for topic, event, _, _ in publisher.sent if isinstance(event, Escalation)]


async def test_redelivered_request_is_not_applied_again() -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ESCALATED)
    handle = handler(workflow, publisher)

    await handle.handle(message(request_bytes()))
    await handle.handle(message(request_bytes()))

    [escalation] = escalations(publisher)
    assert (
        escalation.kind is EscalationKind.NEW and escalation.ticket_event_id == escalation.event_id
    )
    # The first delivery's answer was acknowledged before its state recorded it as applied.
    first, again = publisher.events(ANSWERS)
    assert isinstance(again, ChatAnswer) and again.replayed and workflow.calls == 1
    assert again == first.model_copy(update={"replayed": True})
    assert [event.seq for event in publisher.transcript] == [1, 2, 3]


def replays(outcome: str) -> float:
    return REGISTRY.get_sample_value("techgear_worker_replays_total", {"outcome": outcome}) or 0.0


async def test_a_request_arriving_again_gets_its_kept_answer_on_its_new_reply_partition() -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ESCALATED)
    handle = handler(workflow, publisher)
    replayed_before = replays("replayed")
    chat = request_bytes(channel="chat")

    await handle.handle(message(chat, headers={"reply_partition": b"3"}))
    streamed, recorded = len(publisher.deltas), len(publisher.transcript)
    await handle.handle(message(chat, offset=42, headers={"reply_partition": b"5"}))

    first, again = publisher.events(ANSWERS)
    assert again == first.model_copy(update={"replayed": True}) and not first.replayed
    assert publisher.partitions[ANSWERS] == [3, 5]
    assert workflow.calls == 1 and len(escalations(publisher)) == 1
    assert (len(publisher.deltas), len(publisher.transcript)) == (streamed, recorded)
    assert replays("replayed") == replayed_before + 1


async def test_a_request_whose_answer_is_no_longer_kept_is_counted_and_not_answered() -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ANSWERED)
    handle = handler(workflow, publisher)
    not_kept_before = replays("not_kept")
    later = [request_bytes(request_id=f"req-{n}") for n in range(2, KEPT_ANSWERS + 2)]

    for value in [request_bytes(), *later, request_bytes()]:
        await handle.handle(message(value))

    answered = publisher.events(ANSWERS)
    assert len(answered) == 1 + KEPT_ANSWERS and workflow.calls == 1 + KEPT_ANSWERS
    assert not any(isinstance(a, ChatAnswer) and a.replayed for a in answered)
    assert replays("not_kept") == not_kept_before + 1
    assert not publisher.events(DEADLETTER)


async def test_escalation_after_a_handback_is_a_follow_up_on_the_open_ticket() -> None:
    publisher = RecordingPublisher()
    handle = handler(ScriptedWorkflow(ESCALATED), publisher)

    await handle.handle(message(request_bytes(request_id="req-1")))
    await handle.handle(message(action_bytes(action="handback", text=None, author=None)))
    await handle.handle(message(request_bytes(request_id="req-2", message="still waiting!")))

    first, second = escalations(publisher)
    assert second.kind is EscalationKind.FOLLOW_UP and second.ticket_event_id == first.event_id
    assert second.event_id != first.event_id
    assert [t.role for t in second.transcript] == ["customer", "assistant", "customer"]


async def test_escalation_is_shaped_for_a_helpdesk() -> None:
    publisher = RecordingPublisher()
    customer = {"id": "c-7", "name": "Ravi", "email": "ravi@example.in", "phone": "+91 98765 43210"}
    await handler(ScriptedWorkflow(ESCALATED), publisher).handle(
        message(request_bytes(message="I want a human", customer=customer))
    )

    [escalation] = escalations(publisher)
    assert escalation.requester.phone == "+91 98765 43210" and escalation.requester.name == "Ravi"
    assert (
        escalation.subject.startswith("Human agent: I want a human")
        and len(escalation.subject) <= 150
    )
    assert "asked for a person" in escalation.summary
    assert escalation.priority is Priority.NORMAL and escalation.ticket_type is TicketType.QUESTION
    assert "reason-human_requested" in escalation.tags and escalation.channel == "api"


class RefusingPublisher(RecordingPublisher):
    """Refuses dead letters larger than ``max_bytes``, as a broker's message size does."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes

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
        if topic == DEADLETTER and len(encode(event)) > self.max_bytes:
            raise MessageSizeTooLargeError()
        await super().publish(
            topic, event, key=key, headers=headers, wait=wait, partition=partition
        )


async def test_oversized_record_gets_a_bounded_dead_letter_naming_its_source() -> None:
    value = b"a" * 900_000
    publisher = RecordingPublisher()
    hostile = InboundMessage(
        topic="support.requests",
        partition=2,
        offset=201,
        key=b"k" * 5000,
        value=value,
        headers={"big": b"h" * 100_000, "correlation_id": b"c"},
    )
    await handler(ScriptedWorkflow(ANSWERED), publisher).handle(hostile)

    [(topic, letter, _, headers)] = publisher.sent
    assert topic == DEADLETTER and isinstance(letter, DeadLetter)
    assert len(encode(letter)) + sum(len(v) for v in headers.values()) <= 256 * 1024
    assert letter.original_truncated and letter.original_size == len(value)
    assert letter.original_sha256 == hashlib.sha256(value).hexdigest()
    assert value.startswith(base64.b64decode(letter.original_value_b64))
    assert (letter.source_partition, letter.source_offset) == (2, 201)
    assert "big" not in headers


async def test_small_record_dead_letter_keeps_every_byte() -> None:
    publisher = RecordingPublisher()
    await handler(ScriptedWorkflow(ANSWERED), publisher).handle(message(b"not json"))

    [(_, letter, _, _)] = publisher.sent
    assert isinstance(letter, DeadLetter) and not letter.original_truncated
    assert base64.b64decode(letter.original_value_b64) == b"not json"


async def test_letter_refused_as_too_large_is_sent_without_the_original_bytes() -> None:
    publisher = RefusingPublisher(max_bytes=2000)
    await handler(ScriptedWorkflow(ANSWERED), publisher).handle(message(b"x" * 10_000))

    [(_, letter, _, _)] = publisher.sent
    assert isinstance(letter, DeadLetter) and letter.original_truncated
    assert letter.original_value_b64 == "" and letter.original_size == 10_000


async def test_handle_raises_when_even_the_bare_letter_is_refused() -> None:
    publisher = RefusingPublisher(max_bytes=10)
    with pytest.raises(MessageSizeTooLargeError):
        await handler(ScriptedWorkflow(ANSWERED), publisher).handle(message(b"x"))
    assert publisher.sent == []


async def test_foreign_principal_is_dead_lettered_and_leaves_the_owners_state() -> None:
    publisher = RecordingPublisher()
    memory = DictMemory()
    workflow = ScriptedWorkflow(ESCALATED)
    handle = handler(workflow, publisher, memory=memory)
    await handle.handle(message(request_bytes(request_id="req-a", principal="key:aaa")))
    owners_state = memory.load("conv-1")

    await handle.handle(
        message(request_bytes(request_id="req-b", principal="key:bbb", message="intruder"))
    )

    topic, letter, _, _ = publisher.sent[-1]
    assert topic == DEADLETTER and isinstance(letter, DeadLetter)
    assert letter.request_id == "req-b" and letter.error_class == "ConversationOwnershipError"
    assert workflow.calls == 1 and len(escalations(publisher)) == 1
    assert memory.load("conv-1") == owners_state and owners_state.owner == "key:aaa"


async def test_request_without_a_principal_cannot_use_an_owned_conversation() -> None:
    publisher = RecordingPublisher()
    handle = handler(ScriptedWorkflow(ANSWERED), publisher)
    await handle.handle(message(request_bytes(request_id="req-a", principal="user:asha")))

    await handle.handle(message(request_bytes(request_id="req-b")))

    assert [topic for topic, _, _, _ in publisher.sent] == [ANSWERS, DEADLETTER]


async def test_owner_continues_its_conversation() -> None:
    publisher = RecordingPublisher()
    memory = DictMemory()
    handle = handler(ScriptedWorkflow(ANSWERED), publisher, memory=memory)

    for request_id in ("req-1", "req-2"):
        await handle.handle(message(request_bytes(request_id=request_id, principal="key:aaa")))

    assert [topic for topic, _, _, _ in publisher.sent] == [ANSWERS, ANSWERS]
    assert len(memory.load("conv-1").turns) == 2
