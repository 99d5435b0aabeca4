"""Escalations as helpdesks receive them: one per request, follow-ups in a conversation."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from runtime.codec import encode
from schemas import ChatAnswer, ChatRequest, Escalation, EscalationKind
from schemas.topics import ANSWERS, ESCALATIONS, REQUESTS
from tests.conftest import API_KEY
from tests.integration.conftest import decodes_as, produce_raw, read_until

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


async def test_redelivered_request_yields_one_escalation(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    conversation = f"redelivery-{uuid.uuid4().hex}"
    request = ChatRequest(
        request_id=uuid.uuid4().hex,
        conversation_id=conversation,
        correlation_id="c",
        message="Please connect me to a human agent",
    )
    for _ in range(2):  # what Kafka does after a worker dies before committing
        await produce_raw(kafka_bootstrap, REQUESTS, encode(request), key=conversation.encode())

    answers = 0

    def two_answers(record: ConsumerRecord[bytes, bytes]) -> bool:
        nonlocal answers
        answers += getattr(decodes_as(record, ChatAnswer), "request_id", None) == request.request_id
        return answers == 2

    # The worker publishes a request's escalation before its answer: after both answers,
    # every escalation either delivery made is on the topic.
    await read_until(kafka_bootstrap, ANSWERS, two_answers)
    [escalation] = await every_escalation_of(kafka_bootstrap, conversation)
    assert escalation.request_id == request.request_id and escalation.kind is EscalationKind.NEW


async def test_second_escalation_in_a_conversation_is_a_follow_up(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    conversation = f"follow-up-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=30, headers={"X-API-Key": API_KEY}
    ) as client:
        for message in (
            "I want to talk to a human",
            "This is unacceptable, I will go to consumer court!",
        ):
            response = await client.post(
                "/v1/chat", json={"message": message, "conversation_id": conversation}
            )
            assert response.json()["escalated"] is True

    first, second = await escalations_of(kafka_bootstrap, conversation, expected=2)
    assert first.kind is EscalationKind.NEW and second.kind is EscalationKind.FOLLOW_UP
    assert second.ticket_event_id == first.event_id
    assert second.priority == "urgent" and second.reason == "complaint"
    assert [t.role for t in second.transcript] == ["customer", "assistant", "customer"]
