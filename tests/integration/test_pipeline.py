"""HTTP in → Kafka → Faust worker → Kafka → HTTP out, on a real broker."""

from __future__ import annotations

import base64
import uuid

import httpx
import orjson
import pytest

from runtime.codec import decode
from runtime.kafka import KafkaConnection
from schemas import ChatAnswer, DeadLetter, Escalation
from schemas.topics import ANSWERS, DEADLETTER, ESCALATIONS, REQUESTS
from techgear.records import end_offsets
from tests.conftest import API_KEY
from tests.integration.conftest import answer_to, decodes_as, produce_raw, read_until

pytestmark = pytest.mark.integration


async def ask(gateway_url: str, message: str, **extra: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return await client.post(
            "/v1/chat", json={"message": message, **extra}, headers={"X-API-Key": API_KEY}
        )


async def test_price_question_is_answered_with_price_and_source(gateway_url: str) -> None:
    response = await ask(gateway_url, "What is the price of SmartWatch Pro X?")

    assert response.status_code == 200
    body = response.json()
    assert "₹15,999" in body["answer"]
    assert body["category"] == "product_info"
    assert body["escalated"] is False and body["escalation_reason"] is None
    assert body["sources"][0]["doc_id"] == "product-smartwatch-pro-x"
    assert 0 <= body["confidence"] <= 1 and isinstance(body["cached"], bool)
    assert response.headers["X-Request-ID"]


async def test_answer_event_on_kafka_is_keyed_by_conversation(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    conversation = f"conv-{uuid.uuid4().hex}"
    response = await ask(gateway_url, "How long does a refund take?", conversation_id=conversation)
    assert response.status_code == 200
    request_id = response.json()["request_id"]

    record = await read_until(kafka_bootstrap, ANSWERS, answer_to(request_id))
    assert record.key == conversation.encode()
    answer = decode(record.value, ChatAnswer)
    assert answer.conversation_id == conversation
    assert "5-7 business days" in answer.answer


async def test_human_request_escalates_and_publishes_escalation(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    response = await ask(
        gateway_url,
        "I want to talk to a human",
        customer={"id": "c-42", "name": "Asha", "email": "asha@example.com"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["escalated"] is True
    assert body["escalation_reason"] == "human_requested"
    assert "will reply here" in body["answer"]
    record = await read_until(
        kafka_bootstrap,
        ESCALATIONS,
        lambda r: getattr(decodes_as(r, Escalation), "request_id", None) == body["request_id"],
    )
    escalation = decode(record.value, Escalation)
    assert record.key == body["conversation_id"].encode()
    assert escalation.reason == "human_requested"
    assert escalation.requester.email == "asha@example.com" and escalation.requester.name == "Asha"
    assert dict(record.headers)["correlation_id"] == response.headers["X-Request-ID"].encode()


async def test_question_without_relevant_knowledge_escalates(gateway_url: str) -> None:
    response = await ask(
        gateway_url, "Is my order #TG48213 covered by the festive cashback scheme from Axis?"
    )

    body = response.json()
    assert response.status_code == 200
    assert body["escalated"] is True
    assert body["escalation_reason"] in {"no_relevant_knowledge", "human_requested", "complaint"}


async def test_correlation_id_from_header_travels_to_the_answer_event(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    correlation = f"trace-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        response = await client.post(
            "/v1/chat",
            json={"message": "Do you offer cash on delivery?"},
            headers={"X-API-Key": API_KEY, "X-Request-ID": correlation},
        )
    assert response.headers["X-Request-ID"] == correlation
    record = await read_until(
        kafka_bootstrap,
        ANSWERS,
        lambda r: getattr(decodes_as(r, ChatAnswer), "correlation_id", None) == correlation,
    )
    assert dict(record.headers)["correlation_id"] == correlation.encode()


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({}, orjson.dumps({"message": "hello"}), 401),
        ({"X-API-Key": "wrong-key"}, orjson.dumps({"message": "hello"}), 401),
        ({"X-API-Key": API_KEY}, b"{not json", 422),
        ({"X-API-Key": API_KEY}, orjson.dumps({"text": "hello"}), 422),
        ({"X-API-Key": API_KEY}, orjson.dumps({"message": ""}), 422),
        ({"X-API-Key": API_KEY}, orjson.dumps({"message": "x" * 4001}), 422),
        ({"X-API-Key": API_KEY}, orjson.dumps({"message": "hi", "extra": 1}), 422),
        ({"X-API-Key": API_KEY}, orjson.dumps({"message": "y" * 20_000}), 413),
    ],
)
async def test_rejected_requests_publish_nothing(
    gateway_url: str, kafka_bootstrap: str, headers: dict[str, str], content: bytes, status: int
) -> None:
    before = await end_offsets(KafkaConnection(kafka_bootstrap), REQUESTS)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        response = await client.post("/v1/chat", content=content, headers=headers)

    assert response.status_code == status
    assert response.json()["error"]["message"]
    assert await end_offsets(KafkaConnection(kafka_bootstrap), REQUESTS) == before


async def test_second_configured_key_is_accepted(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        response = await client.post(
            "/v1/chat", json={"message": "hello"}, headers={"X-API-Key": f"second-key-{'y' * 24}"}
        )
    assert response.status_code == 200
    assert response.json()["category"] == "greeting"


async def test_ready_reports_kafka_and_worker(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        ready = await client.get("/ready")
        health = await client.get("/health")
    assert health.status_code == 200
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["kafka"]["ok"] and checks["workers"]["ok"]
    assert "member" in checks["workers"]["detail"]


async def test_poison_message_is_dead_lettered_and_stream_goes_on(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    poison = b'{"this is": "not a chat request", "id": "' + uuid.uuid4().hex.encode() + b'"}'
    await produce_raw(kafka_bootstrap, REQUESTS, poison, key=b"poison-conversation")

    record = await read_until(
        kafka_bootstrap,
        DEADLETTER,
        lambda r: base64.b64decode(decode(r.value, DeadLetter).original_value_b64) == poison,
    )
    letter = decode(record.value, DeadLetter)
    assert letter.source_topic == REQUESTS
    assert letter.error_class == "InvalidEventError"
    assert letter.retryable is False and letter.attempts == 1
    assert letter.conversation_id == "poison-conversation"

    after = await ask(gateway_url, "What is the price of Power Bank Ultra 20000mAh?")
    assert after.status_code == 200 and "₹2,499" in after.json()["answer"]
