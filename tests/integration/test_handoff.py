"""The worker's side of a handover on the real Kafka: a conversation's customer messages
and agent actions on support.requests, its transcript and handoff changes on
support.conversation-events numbered without gaps, forwarding to the ticket, and a worker
killed in the middle of it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiokafka.structs import ConsumerRecord

from runtime.codec import encode
from runtime.kafka import KafkaConnection
from schemas import (
    AgentActionKind,
    ChatAnswer,
    ConversationMessage,
    Escalation,
    EscalationKind,
    HandoffChanged,
    HandoffState,
)
from schemas.events import Event
from schemas.topics import ANSWERS, CONVERSATION_EVENTS, ESCALATIONS, REQUESTS
from streams import triage
from techgear.records import end_offsets, read_records
from tests.conftest import WorkerProcess, substitute_worker
from tests.integration.conftest import (
    agent_action,
    answer_to,
    chat_request,
    decodes_as,
    produce_raw,
    read_until,
)

pytestmark = pytest.mark.integration

OWNER = "key:handoff-owner"
PRICE_QUESTION = "What is the price of SmartWatch Pro X?"
Entry = ConversationMessage | HandoffChanged


def what(entry: Entry) -> str:
    return entry.role.value if isinstance(entry, ConversationMessage) else f"->{entry.state.value}"


async def produce(bootstrap: str, *events: Event) -> None:
    for event in events:
        await produce_raw(bootstrap, REQUESTS, encode(event), key=event.conversation_id.encode())


async def conversation_events(
    bootstrap: str, conversation: str, since: dict[int, int]
) -> list[Entry]:
    """Every transcript record of ``conversation`` published since ``since``, in order."""
    records = await read_records(KafkaConnection(bootstrap), CONVERSATION_EVENTS, since)
    entries: list[Entry] = []
    for record in records:
        if record.key == conversation.encode():
            entry = decodes_as(record, ConversationMessage) or decodes_as(record, HandoffChanged)
            assert entry is not None, record.value
            entries.append(entry)
    return entries


def first_of_each_seq(entries: list[Entry]) -> list[Entry]:
    """What a reader keeps: the first event of each ``seq``."""
    kept: dict[int, Entry] = {}
    for entry in entries:
        kept.setdefault(entry.seq, entry)
    return [kept[seq] for seq in sorted(kept)]


async def escalations_since(
    bootstrap: str, conversation: str, since: dict[int, int]
) -> list[Escalation]:
    records = await read_records(KafkaConnection(bootstrap), ESCALATIONS, since)
    found = (decodes_as(r, Escalation) for r in records if r.key == conversation.encode())
    return [e for e in found if e is not None]


async def answer_of(bootstrap: str, request_id: str, timeout_s: float = 60) -> ChatAnswer:
    record = await read_until(bootstrap, ANSWERS, answer_to(request_id), timeout_s=timeout_s)
    answer = decodes_as(record, ChatAnswer)
    assert answer is not None
    return answer


async def test_handover_agent_reply_and_handback_are_numbered_without_gaps(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    conversation = f"handoff-{uuid.uuid4().hex}"
    events_from = await end_offsets(KafkaConnection(kafka_bootstrap), CONVERSATION_EVENTS)
    escalations_from = await end_offsets(KafkaConnection(kafka_bootstrap), ESCALATIONS)
    human = chat_request(conversation, "I want to talk to a human", principal=OWNER)
    order = chat_request(conversation, "My order number is TG-48213", principal=OWNER)
    price = chat_request(conversation, PRICE_QUESTION, principal=OWNER)
    comment = agent_action(
        conversation,
        AgentActionKind.MESSAGE,
        author="Asha",
        text="Hi, Asha here. Let me look at your order.",
        action_id=f"zendesk:comment:{uuid.uuid4().int % 10**9}",
        source="zendesk",
        principal="webhook:zendesk",
    )
    solved = agent_action(conversation, AgentActionKind.HANDBACK, source="zendesk")

    # The comment's webhook arrives twice; both records reach the worker.
    await produce(kafka_bootstrap, human, comment, comment, order, solved, price)

    last = await answer_of(kafka_bootstrap, price.request_id)
    handed_over = await answer_of(kafka_bootstrap, human.request_id)
    forwarded = await answer_of(kafka_bootstrap, order.request_id)
    entries = await conversation_events(kafka_bootstrap, conversation, events_from)
    assert [(e.seq, what(e)) for e in entries] == [
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
    handover, joined, agent_message, fed_back = entries[2], entries[3], entries[4], entries[6]
    assert isinstance(handover, HandoffChanged) and handover.reason == "human_requested"
    assert isinstance(joined, HandoffChanged) and joined.actor_name == "Asha"
    assert isinstance(agent_message, ConversationMessage)
    assert agent_message.message_id == comment.action_id and agent_message.text == comment.text
    assert isinstance(fed_back, HandoffChanged) and fed_back.reason == "ticket_solved"
    customer_message = entries[5]
    assert isinstance(customer_message, ConversationMessage) and customer_message.forwarded

    [ticket, forward] = await escalations_since(kafka_bootstrap, conversation, escalations_from)
    assert ticket.kind is EscalationKind.NEW and forward.kind is EscalationKind.CUSTOMER_MESSAGE
    assert forward.ticket_event_id == ticket.event_id
    assert forward.event_id == triage.escalation_event_id(order.request_id)
    assert forward.summary == order.message
    assert ticket.expected_response_by is not None
    assert handover.expected_response_by == ticket.expected_response_by
    assert handed_over.expected_response_by == ticket.expected_response_by
    assert handover.notice in handed_over.answer
    assert (handed_over.transcript_seq, handed_over.handoff_state) == (
        2,
        HandoffState.AWAITING_AGENT,
    )
    assert forwarded.forwarded and forwarded.handoff_state is HandoffState.AGENT
    assert forwarded.answer == "Passed on to Asha; they will reply here."
    assert forwarded.transcript_seq == 6
    assert last.handoff_state is HandoffState.BOT and last.transcript_seq == 9
    assert "₹15,999" in last.answer


@pytest.mark.fault
@pytest.mark.timeout(900)  # two worker starts, each waiting for a stable, probed group
async def test_worker_killed_mid_conversation_republishes_the_same_seqs_and_forwards_once(
    worker: WorkerProcess, kafka_bootstrap: str, tmp_path: Path
) -> None:
    conversation = f"handoff-kill-{uuid.uuid4().hex}"
    outage = tmp_path / "llm-hangs"
    outage.touch()  # every LLM call hangs until the outage ends
    events_from = await end_offsets(KafkaConnection(kafka_bootstrap), CONVERSATION_EVENTS)
    escalations_from = await end_offsets(KafkaConnection(kafka_bootstrap), ESCALATIONS)
    human = chat_request(conversation, "I want to talk to a human", principal=OWNER)
    order = chat_request(conversation, "My order number is TG-48213", principal=OWNER)
    price = chat_request(conversation, PRICE_QUESTION, principal=OWNER)
    comment = agent_action(
        conversation, AgentActionKind.MESSAGE, author="Asha", text="Asha here, on it."
    )
    handback = agent_action(conversation, AgentActionKind.HANDBACK)

    with substitute_worker(
        worker,
        RESPONDER="simulated",
        SIMULATED_LATENCY_S="0",
        SIMULATED_FAILURE_MODE="timeout",
        SIMULATED_OUTAGE_FILE=str(outage),
        LLM_TIMEOUT_S="600",
        LLM_MAX_RETRIES="0",
        PROCESSING_TIMEOUT_S="600",
        # Nothing of this conversation is committed before the kill: all of it is read again.
        BROKER_COMMIT_INTERVAL_S="600",
    ) as substitute:
        # The handover, the forward and the agent's turn need no LLM; the price question
        # publishes its customer message, then hangs in the LLM call.
        await produce(kafka_bootstrap, human, order, comment, handback, price)

        def price_question_in_transcript(record: ConsumerRecord[bytes, bytes]) -> bool:
            entry = decodes_as(record, ConversationMessage)
            return entry is not None and entry.message_id == price.request_id

        await read_until(
            kafka_bootstrap, CONVERSATION_EVENTS, price_question_in_transcript, timeout_s=120
        )
        substitute.process.kill()  # SIGKILL: no commit, no state saved for the question
        outage.unlink()
        substitute.restart()

        last = await answer_of(kafka_bootstrap, price.request_id, timeout_s=300)

    entries = await conversation_events(kafka_bootstrap, conversation, events_from)
    kept = first_of_each_seq(entries)
    assert [(e.seq, what(e)) for e in kept] == [
        (1, "customer"),
        (2, "assistant"),
        (3, "->awaiting_agent"),
        (4, "customer"),  # forwarded to the person
        (5, "->agent"),
        (6, "agent"),
        (7, "->bot"),
        (8, "customer"),
        (9, "assistant"),
    ]
    # A seq published again after the restart is the same event, whichever copy is kept.
    for entry in entries:
        first = kept[entry.seq - 1]
        assert (what(entry), entry.request_id) == (what(first), first.request_id)
    assert sum(e.seq == 8 for e in entries) >= 2  # the question's message was re-published
    assert last.transcript_seq == 9 and last.handoff_state is HandoffState.BOT

    escalations = await escalations_since(kafka_bootstrap, conversation, escalations_from)
    forwards = {e.event_id for e in escalations if e.kind is EscalationKind.CUSTOMER_MESSAGE}
    tickets = {e.event_id for e in escalations if e.kind is EscalationKind.NEW}
    assert forwards == {triage.escalation_event_id(order.request_id)}
    assert tickets == {triage.escalation_event_id(human.request_id)}
