"""A conversation through the handler: transcript numbering, handover, forwarding to the
person, dedupe of agent actions, handback and close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from runtime.errors import ContentRefusedError
from schemas import (
    ChatAnswer,
    ConversationMessage,
    DeadLetter,
    Escalation,
    EscalationKind,
    HandoffChanged,
    HandoffState,
    TranscriptRole,
)
from schemas.topics import ANSWERS, DEADLETTER, ESCALATIONS
from streams import triage
from streams.memory import DictMemory
from tests.unit.streams.doubles import (
    ANSWERED,
    ESCALATED,
    OPEN_MONDAY,
    TARGET_S,
    Clock,
    RecordingPublisher,
    ScriptedWorkflow,
    action_bytes,
    handler,
    message,
    request_bytes,
)


def answers(publisher: RecordingPublisher) -> list[ChatAnswer]:
    return [e for e in publisher.events(ANSWERS) if isinstance(e, ChatAnswer)]


def escalations(publisher: RecordingPublisher) -> list[Escalation]:
    return [e for e in publisher.events(ESCALATIONS) if isinstance(e, Escalation)]


def shape(publisher: RecordingPublisher) -> list[tuple[int, str]]:
    """Each transcript event as (seq, role or new state)."""
    return [
        (e.seq, e.role.value if isinstance(e, ConversationMessage) else f"->{e.state.value}")
        for e in publisher.transcript
    ]


async def test_a_bot_answer_is_numbered_in_the_transcript_after_the_question() -> None:
    publisher = RecordingPublisher()
    await handler(ScriptedWorkflow(ANSWERED), publisher).handle(message(request_bytes()))

    customer, assistant = publisher.transcript
    assert isinstance(customer, ConversationMessage) and isinstance(assistant, ConversationMessage)
    assert (customer.seq, customer.role, customer.message_id) == (
        1,
        TranscriptRole.CUSTOMER,
        "req-1",
    )
    assert (assistant.seq, assistant.message_id, assistant.text) == (
        2,
        "req-1:answer",
        ANSWERED.answer,
    )
    [answer] = answers(publisher)
    assert answer.transcript_seq == 2 and answer.handoff_state is HandoffState.BOT
    assert answer.expected_response_by is None and not answer.forwarded


async def test_escalation_tells_the_same_truth_in_answer_handoff_and_ticket() -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ESCALATED)
    await handler(workflow, publisher).handle(message(request_bytes()))

    assert shape(publisher) == [(1, "customer"), (2, "assistant"), (3, "->awaiting_agent")]
    change = publisher.transcript[2]
    [escalation] = escalations(publisher)
    [answer] = answers(publisher)
    expected = OPEN_MONDAY + timedelta(seconds=TARGET_S)
    assert isinstance(change, HandoffChanged)
    assert (change.actor, change.reason, change.previous_state) == (
        "bot",
        "human_requested",
        HandoffState.BOT,
    )
    assert change.ticket_event_id == escalation.event_id
    assert change.expected_response_by == escalation.expected_response_by == expected
    assert answer.expected_response_by == expected and answer.transcript_seq == 2
    assert answer.handoff_state is HandoffState.AWAITING_AGENT and answer.escalated
    assert workflow.promises == [change.notice]
    assert "will reply here, usually within 15 minutes" in change.notice


async def test_outside_hours_the_notice_says_when_a_person_will_be_back() -> None:
    publisher = RecordingPublisher()
    sunday = Clock(datetime(2026, 12, 6, 10, 0, tzinfo=UTC))
    await handler(ScriptedWorkflow(ESCALATED), publisher, clock=sunday).handle(
        message(request_bytes())
    )

    [escalation] = escalations(publisher)
    assert escalation.expected_response_by == datetime(2026, 12, 7, 3, 45, tzinfo=UTC)
    change = publisher.transcript[-1]
    assert isinstance(change, HandoffChanged)
    assert "after we open on Monday 7 December at 09:00 IST" in change.notice


async def test_while_a_person_is_awaited_messages_are_forwarded_not_answered() -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ESCALATED)
    handle = handler(workflow, publisher)
    await handle.handle(message(request_bytes(request_id="req-1", message="I want a human")))
    forwarded_before = REGISTRY.get_sample_value("techgear_handoff_messages_forwarded_total")

    await handle.handle(
        message(request_bytes(request_id="req-2", message="Order TG-1234", channel="chat"))
    )

    assert workflow.calls == 1 and publisher.deltas == []
    customer = publisher.transcript[-1]
    assert isinstance(customer, ConversationMessage)
    assert (customer.seq, customer.role, customer.forwarded) == (4, TranscriptRole.CUSTOMER, True)
    ticket, forward = escalations(publisher)
    assert forward.kind is EscalationKind.CUSTOMER_MESSAGE
    assert forward.event_id == triage.escalation_event_id("req-2")
    assert forward.ticket_event_id == ticket.event_id and forward.summary == "Order TG-1234"
    assert [(t.role, t.text) for t in forward.transcript] == [("customer", "Order TG-1234")]
    assert forward.reason == "human_requested"
    assert forward.expected_response_by == ticket.expected_response_by
    answer = answers(publisher)[-1]
    assert answer.forwarded and answer.responder == "handoff" and answer.confidence == 1.0
    assert answer.answer == "Passed on to our support team; they will reply here."
    assert answer.transcript_seq == 4 and answer.handoff_state is HandoffState.AWAITING_AGENT
    assert (
        REGISTRY.get_sample_value("techgear_handoff_messages_forwarded_total")
        == (forwarded_before or 0) + 1
    )


async def test_an_agent_conversation_end_to_end_with_a_doubly_delivered_comment() -> None:
    publisher = RecordingPublisher()
    memory = DictMemory()
    workflow = ScriptedWorkflow(ESCALATED)
    clock = Clock()
    handle = handler(workflow, publisher, memory=memory, clock=clock)
    comment = action_bytes(action_id="zendesk:comment:9", source="zendesk")

    await handle.handle(message(request_bytes(request_id="req-1", principal="key:owner")))
    clock.now += timedelta(minutes=4)
    await handle.handle(message(comment))
    await handle.handle(message(comment))  # the webhook delivered twice
    await handle.handle(message(request_bytes(request_id="req-2", principal="key:owner")))
    await handle.handle(
        message(action_bytes(action_id="zendesk:status:1:solved:e", action="handback", text=None))
    )
    workflow.outcome = ANSWERED
    await handle.handle(message(request_bytes(request_id="req-3", principal="key:owner")))

    assert shape(publisher) == [
        (1, "customer"),
        (2, "assistant"),
        (3, "->awaiting_agent"),
        (4, "->agent"),
        (5, "agent"),
        (6, "customer"),
        (7, "->bot"),
        (8, "customer"),
        (9, "assistant"),
    ]
    agent = publisher.transcript[4]
    assert isinstance(agent, ConversationMessage) and agent.message_id == "zendesk:comment:9"
    assert agent.author is not None and agent.author.name == "Asha"
    forwarded = answers(publisher)[1]
    assert forwarded.answer == "Passed on to Asha; they will reply here."
    assert forwarded.handoff_state is HandoffState.AGENT
    assert answers(publisher)[2].handoff_state is HandoffState.BOT and workflow.calls == 2
    state = memory.load("conv-1")
    assert state.owner == "key:owner" and state.last_seq == 9  # agents do not own it


async def test_a_closed_conversation_refuses_messages_without_a_transcript_entry() -> None:
    publisher = RecordingPublisher()
    workflow = ScriptedWorkflow(ANSWERED)
    handle = handler(workflow, publisher)
    await handle.handle(message(action_bytes(action="close", text=None, author=None)))

    await handle.handle(message(request_bytes(request_id="req-2")))
    await handle.handle(message(action_bytes(action_id="api:late")))

    assert shape(publisher) == [(1, "->closed")]
    [answer] = answers(publisher)
    assert answer.handoff_state is HandoffState.CLOSED and answer.responder == "handoff"
    assert "start a new chat" in answer.answer and workflow.calls == 0


async def test_a_reminder_is_a_system_message_once_per_wait() -> None:
    publisher = RecordingPublisher()
    handle = handler(ScriptedWorkflow(ESCALATED), publisher)
    await handle.handle(message(request_bytes()))

    for action_id in ("remind:3", "remind:3", "remind:again"):
        await handle.handle(
            message(action_bytes(action="remind", source="system", action_id=action_id))
        )

    reminder = publisher.transcript[-1]
    assert shape(publisher)[-1] == (4, "system") and len(publisher.transcript) == 4
    assert isinstance(reminder, ConversationMessage) and reminder.message_id == "remind:3"


async def test_a_dead_lettered_question_keeps_the_number_its_transcript_entry_took() -> None:
    publisher = RecordingPublisher()
    memory = DictMemory()
    workflow = ScriptedWorkflow(ANSWERED, [ContentRefusedError("refused")])
    handle = handler(workflow, publisher, memory=memory)

    await handle.handle(message(request_bytes(request_id="req-1")))
    await handle.handle(message(request_bytes(request_id="req-2")))

    assert publisher.events(DEADLETTER)
    assert shape(publisher) == [(1, "customer"), (2, "customer"), (3, "assistant")]


async def test_an_unknown_event_type_and_an_agent_message_without_text_are_dead_lettered() -> None:
    publisher = RecordingPublisher()
    handle = handler(ScriptedWorkflow(ANSWERED), publisher)

    await handle.handle(message(b'{"event_type": "agent.telepathy", "request_id": "r"}'))
    await handle.handle(message(action_bytes(text=None)))

    first, second = publisher.events(DEADLETTER)
    assert isinstance(first, DeadLetter) and isinstance(second, DeadLetter)
    assert first.error_class == second.error_class == "InvalidEventError"
    assert "agent.telepathy" in first.error_message and first.request_id == "r"
    assert second.request_id == "act-req-1" and publisher.transcript == []
