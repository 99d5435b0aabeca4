"""Escalations as helpdesks receive them: one per request, follow-ups in a conversation."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from runtime.codec import encode
from runtime.kafka import KafkaConnection
from schemas import ChatAnswer, Escalation, EscalationKind
from schemas.topics import ANSWERS, ESCALATIONS, REQUESTS
from techgear.records import end_offsets, read_records
from tests.conftest import API_KEY, WorkerProcess
from tests.integration.conftest import (
    answer_to,
    chat_request,
    decodes_as,
    hand_back,
    produce_raw,
    read_until,
)

pytestmark = pytest.mark.integration


async def escalations_of(bootstrap: str, conversation_id: str, expected: int) -> list[Escalation]:
    found: list[Escalation] = []

    def collect(record: object) -> bool:
        event = decodes_as(record, Escalation)  # type: ignore[arg-type]
        if event is not None and event.conversation_id == conversation_id:
            found.append(event)
        return len(found) >= expected

    await read_until(bootstrap, ESCALATIONS, collect)
    return found


async def every_escalation_of(bootstrap: str, conversation_id: str) -> list[Escalation]:
    """All of ``conversation_id``'s escalations on the topic now, up to its end: a duplicate
    shows up here, where reading until the first match would stop before it."""
    consumer = AIOKafkaConsumer(
        ESCALATIONS,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Escalation] = []
    try:
        async with asyncio.timeout(20):
            while not consumer.assignment():  # every partition, once metadata arrives
                await asyncio.sleep(0.1)
            ends = await consumer.end_offsets(list(consumer.assignment()))
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found += [
                        event
                        for event in (decodes_as(r, Escalation) for r in records)
                        if event is not None and event.conversation_id == conversation_id
                    ]
    finally:
        await consumer.stop()
    return found


async def test_redelivered_request_yields_one_escalation_and_one_answer(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    conversation = f"redelivery-{uuid.uuid4().hex}"
    answers_from = await end_offsets(KafkaConnection(kafka_bootstrap), ANSWERS)
    request = chat_request(conversation, "Please connect me to a human agent")
    later = chat_request(conversation, "My order number is TG-48213")
    for event in (request, request, later):  # what Kafka does after a worker dies uncommitted
        await produce_raw(kafka_bootstrap, REQUESTS, encode(event), key=conversation.encode())

    # A conversation's records are handled in order, and a request's escalations are
    # published before its answer: after the later answer, every escalation is on the topic.
    await read_until(kafka_bootstrap, ANSWERS, answer_to(later.request_id))
    first, forwarded = await every_escalation_of(kafka_bootstrap, conversation)
    assert first.request_id == request.request_id and first.kind is EscalationKind.NEW
    assert forwarded.kind is EscalationKind.CUSTOMER_MESSAGE
    records = await read_records(KafkaConnection(kafka_bootstrap), ANSWERS, answers_from)
    answered = [decodes_as(r, ChatAnswer) for r in records if r.key == conversation.encode()]
    # The redelivery gets the kept answer again, marked replayed: no second answer.
    assert [a.request_id for a in answered if a and not a.replayed] == [
        request.request_id,
        later.request_id,
    ]
    assert [a.request_id for a in answered if a and a.replayed] == [request.request_id]


async def test_escalation_after_a_handback_is_a_follow_up(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    conversation = f"follow-up-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=30, headers={"X-API-Key": API_KEY}
    ) as client:

        async def ask(message: str) -> dict[str, object]:
            response = await client.post(
                "/v1/chat", json={"message": message, "conversation_id": conversation}
            )
            body: dict[str, object] = response.json()
            return body

        assert (await ask("I want to talk to a human"))["escalated"] is True
        await hand_back(kafka_bootstrap, conversation)  # a follow-up needs the bot again
        assert (await ask("This is unacceptable, I will go to consumer court!"))["escalated"]

    first, second = await escalations_of(kafka_bootstrap, conversation, expected=2)
    assert first.kind is EscalationKind.NEW and second.kind is EscalationKind.FOLLOW_UP
    assert second.ticket_event_id == first.event_id
    assert second.priority == "urgent" and second.reason == "complaint"
    assert [t.role for t in second.transcript] == ["customer", "assistant", "customer"]
