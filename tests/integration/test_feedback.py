"""Rating answers over HTTP and WebSocket against the real stack: the worker answers, the
gateway's projection makes the answer rateable, each rating is a ``Feedback`` event on
``support.feedback`` (docs/operations.md, "Feedback")."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from websockets.asyncio.client import connect

from runtime.kafka import KafkaConnection
from schemas import Feedback
from schemas.cloudevents import header_value
from schemas.topics import FEEDBACK
from techgear.records import read_records
from tests.conftest import ADMIN_KEY, API_KEY, OTHER_CHAT_KEY, PUBLISHABLE_KEY, SHOP_ORIGIN
from tests.integration.conftest import Marks, decodes_as, end_marks, wait_until
from tests.integration.test_websocket import offering, until, ws_url

pytestmark = pytest.mark.integration

QUESTION = "What is the price of SmartWatch Pro X?"


def key(api_key: str) -> dict[str, str]:
    return {"X-API-Key": api_key}


async def ask(client: httpx.AsyncClient, api_key: str = API_KEY) -> dict[str, Any]:
    response = await client.post("/v1/chat", json={"message": QUESTION}, headers=key(api_key))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def rate(
    client: httpx.AsyncClient, body: dict[str, Any], api_key: str = API_KEY, **headers: str
) -> httpx.Response:
    return await client.post("/v1/feedback", json=body, headers=key(api_key) | headers)


async def first_rating(
    client: httpx.AsyncClient, body: dict[str, Any], api_key: str = API_KEY, **headers: str
) -> httpx.Response:
    """The first rating of an answer, once the gateways' projection has stored it."""
    response: httpx.Response | None = None

    async def accepted() -> bool:
        nonlocal response
        response = await rate(client, body, api_key, **headers)
        return response.status_code != 404

    await wait_until(accepted, "the answer to become rateable", timeout_s=20)
    assert response is not None
    return response


async def ratings_of(
    bootstrap: str, request_id: str, since: Marks
) -> list[tuple[ConsumerRecord[bytes, bytes], Feedback]]:
    """The Feedback events of ``request_id`` published since ``since``, with their records."""
    records = await read_records(KafkaConnection(bootstrap), FEEDBACK, since[FEEDBACK])
    events = [(r, decodes_as(r, Feedback)) for r in records]
    return [(r, e) for r, e in events if e is not None and e.request_id == request_id]


@pytest.fixture
async def client(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        yield client


async def test_ratings_are_published_once_per_change_with_what_they_are_about(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    since = await end_marks(kafka_bootstrap, [FEEDBACK])
    answer = await ask(client)
    request_id = answer["request_id"]

    first = await first_rating(client, {"request_id": request_id, "rating": "up"})
    replaced = await rate(
        client, {"request_id": request_id, "rating": "down", "reason": "outdated"}
    )
    again = await rate(client, {"request_id": request_id, "rating": "down", "reason": "outdated"})

    assert first.status_code == 202
    assert first.json() == {"request_id": request_id, "rating": "up", "reason": None, "revision": 1}
    assert replaced.status_code == again.status_code == 202
    assert (
        replaced.json()
        == again.json()
        == {
            "request_id": request_id,
            "rating": "down",
            "reason": "outdated",
            "revision": 2,
        }
    )
    published = await ratings_of(kafka_bootstrap, request_id, since)
    assert [(e.revision, e.rating, e.reason) for _, e in published] == [
        (1, "up", None),
        (2, "down", "outdated"),
    ]  # the same rating again published nothing
    record, latest = published[-1]
    assert record.key == answer["conversation_id"].encode()
    assert (latest.conversation_id, latest.channel, latest.question) == (
        answer["conversation_id"],
        "api",
        QUESTION,
    )
    assert latest.principal.startswith("key:") and API_KEY not in latest.principal
    assert latest.answer.category == answer["category"] == "product_info"
    assert [s.doc_id for s in latest.answer.sources] == [s["doc_id"] for s in answer["sources"]]
    assert "product-smartwatch-pro-x" in [s.doc_id for s in latest.answer.sources]
    assert header_value(record.headers, "ce_specversion") == "1.0"
    assert header_value(record.headers, "ce_id") == latest.feedback_id
    assert header_value(record.headers, "ce_type") == "com.techgear.support.support.feedback"
    assert header_value(record.headers, "ce_source") == "/techgear/gateway"
    assert published[0][1].feedback_id != latest.feedback_id
    metrics = await client.get("/metrics", headers=key(ADMIN_KEY))
    assert 'techgear_gateway_feedback_total{rating="down"}' in metrics.text


async def test_another_principals_answer_and_an_unknown_one_are_the_same_404(
    client: httpx.AsyncClient,
) -> None:
    answer = await ask(client)
    request_id = answer["request_id"]
    await first_rating(client, {"request_id": request_id, "rating": "up"})

    others = await rate(client, {"request_id": request_id, "rating": "down"}, OTHER_CHAT_KEY)
    unknown = await rate(client, {"request_id": uuid.uuid4().hex, "rating": "down"})

    assert others.status_code == unknown.status_code == 404
    assert others.json()["error"] == unknown.json()["error"]
    assert others.json()["error"]["code"] == "not_found"
    mine = await rate(client, {"request_id": request_id, "rating": "up"})
    assert mine.json()["revision"] == 1  # the other principal changed nothing


@pytest.mark.parametrize(
    "body",
    [
        {"request_id": "r-1", "rating": "up", "reason": "wrong"},
        {"request_id": "r-1", "rating": "meh"},
        {"request_id": "r-1", "rating": "down", "reason": "rude"},
        {"request_id": "r/../1", "rating": "up"},
        {"request_id": "r-1", "rating": "up", "extra": 1},
        {"rating": "up"},
    ],
)
async def test_invalid_ratings_are_refused_with_the_field_named(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await rate(client, body)
    assert response.status_code == 422
    assert response.json()["error"]["details"]


async def test_rating_needs_a_chat_credential(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/feedback", json={"request_id": "r-1", "rating": "up"})
    assert response.status_code == 401


async def test_a_publishable_key_rates_only_with_its_conversations_token(
    client: httpx.AsyncClient,
) -> None:
    origin = {"Origin": SHOP_ORIGIN}
    response = await client.post(
        "/v1/chat", json={"message": QUESTION}, headers=key(PUBLISHABLE_KEY) | origin
    )
    answer = response.json()
    body = {"request_id": answer["request_id"], "rating": "up"}
    token = {"X-Conversation-Token": answer["conversation_token"]}

    rated = await first_rating(client, body, PUBLISHABLE_KEY, **origin, **token)
    without_token = await rate(client, body, PUBLISHABLE_KEY, **origin)

    assert rated.status_code == 202 and without_token.status_code == 404


async def test_feedback_over_the_websocket_follows_the_same_rules(
    gateway_url: str, kafka_bootstrap: str, client: httpx.AsyncClient
) -> None:
    since = await end_marks(kafka_bootstrap, [FEEDBACK])
    foreign = await ask(client)  # the same principal's answer in another conversation
    async with connect(ws_url(gateway_url), subprotocols=offering("key", API_KEY)) as ws:
        await until(ws, "ready")
        await ws.send(json.dumps({"type": "ask", "message": QUESTION}))
        answer, _ = await until(ws, "answer")
        request_id = answer["request_id"]

        async def rated(**fields: Any) -> dict[str, Any]:
            await ws.send(json.dumps({"type": "feedback", "request_id": request_id} | fields))
            while True:
                message = json.loads(await ws.recv())
                if message["type"] in {"feedback_received", "error"}:
                    reply: dict[str, Any] = message
                    return reply

        first: dict[str, Any] = {}

        async def received() -> bool:
            nonlocal first
            first = await rated(rating="down")
            return first["type"] == "feedback_received"

        await wait_until(received, "the answer to become rateable", timeout_s=20)
        with_reason = await rated(rating="down", reason="didnt_answer")
        invalid = await rated(rating="up", reason="wrong")
        request_id = foreign["request_id"]
        other_conversation = await rated(rating="up")

    assert (first["rating"], first["reason"], first["revision"]) == ("down", None, 1)
    assert (with_reason["type"], with_reason["reason"], with_reason["revision"]) == (
        "feedback_received",
        "didnt_answer",
        2,
    )
    assert (invalid["type"], invalid["code"]) == ("error", "invalid_message")
    assert (other_conversation["type"], other_conversation["code"]) == ("error", "not_found")
    published = await ratings_of(kafka_bootstrap, answer["request_id"], since)
    assert [(e.revision, e.reason, e.channel) for _, e in published] == [
        (1, None, "chat"),
        (2, "didnt_answer", "chat"),
    ]
