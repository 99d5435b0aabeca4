"""A conversation belongs to the principal that started it, on the real stack: no other
credential reads or writes it over HTTP, WebSocket or Kafka, and publishable keys resume
conversations only with their conversation token."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

from gateway.keys import digest
from runtime.codec import encode
from schemas import ChatRequest, DeadLetter, Escalation
from schemas.topics import DEADLETTER, ESCALATIONS, REQUESTS
from tests.conftest import API_KEY, OTHER_CHAT_KEY, PUBLISHABLE_KEY, SHOP_ORIGIN
from tests.integration.conftest import decodes_as, produce_raw, read_until
from tests.integration.test_websocket import offering, receive, until, ws_url

pytestmark = pytest.mark.integration

OWNER = f"key:{digest(API_KEY).hex()[:12]}"
INTRUDER_TEXT = "intruder-{}: ship my SmartWatch Pro X to 1 Evil Lane"


async def post(
    gateway_url: str, key: str, message: str, **extra: str
) -> tuple[int, dict[str, Any]]:
    headers = {"X-API-Key": key}
    if token := extra.pop("token", None):
        headers["X-Conversation-Token"] = token
    if origin := extra.pop("origin", None):
        headers["Origin"] = origin
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        response = await client.post(
            "/v1/chat", json={"message": message, **extra}, headers=headers
        )
    return response.status_code, response.json()


async def refusal(url: str, protocols: list[Subprotocol], origin: str | None = None) -> Any:
    """The error message and close frame of a socket the gateway refuses at connect."""
    async with connect(
        url, subprotocols=protocols, origin=Origin(origin) if origin else None
    ) as ws:
        error = await receive(ws)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    return error["code"], closed.value.rcvd.code


async def test_another_key_cannot_write_into_or_read_from_a_conversation(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    conversation = f"owned-{uuid.uuid4().hex}"
    intruder_text = INTRUDER_TEXT.format(uuid.uuid4().hex)
    started, _ = await post(
        gateway_url, API_KEY, "Tell me about the FitBand 3", conversation_id=conversation
    )
    refused, error = await post(
        gateway_url, OTHER_CHAT_KEY, intruder_text, conversation_id=conversation
    )
    follow_up, answer = await post(
        gateway_url, API_KEY, "how much is it?", conversation_id=conversation
    )
    escalated, _ = await post(
        gateway_url, API_KEY, "I want to talk to a human", conversation_id=conversation
    )

    assert (started, refused, follow_up, escalated) == (200, 404, 200, 200)
    assert error["error"]["code"] == "conversation_not_found"
    assert "₹2,999" in answer["answer"] and answer["sources"][0]["doc_id"] == "product-fitband-3"
    record = await read_until(
        kafka_bootstrap,
        ESCALATIONS,
        lambda r: getattr(decodes_as(r, Escalation), "conversation_id", None) == conversation,
    )
    escalation = decodes_as(record, Escalation)
    assert escalation is not None and escalation.principal == OWNER
    assert not escalation.requester_verified
    assert all(intruder_text not in turn.text for turn in escalation.transcript)


async def test_websocket_of_another_key_is_refused_before_any_question(gateway_url: str) -> None:
    async with connect(ws_url(gateway_url), subprotocols=offering("key", API_KEY)) as owner:
        ready = await receive(owner)
        url = ws_url(gateway_url, conversation_id=ready["conversation_id"])

        code, close_code = await refusal(url, offering("key", OTHER_CHAT_KEY))

    assert (code, close_code) == ("conversation_not_found", 4404)


def visitor(token: str | None = None) -> list[Subprotocol]:
    extra = [Subprotocol(f"techgear.conversation.{token}")] if token else []
    return offering("key", PUBLISHABLE_KEY) + extra


async def test_publishable_key_visitors_resume_only_their_own_conversation(
    gateway_url: str,
) -> None:
    async with connect(
        ws_url(gateway_url), subprotocols=visitor(), origin=Origin(SHOP_ORIGIN)
    ) as ws:
        first = await receive(ws)
        await ws.send(json.dumps({"type": "ask", "message": "Tell me about the FitBand 3"}))
        await until(ws, "answer")
    _, second = await post(gateway_url, PUBLISHABLE_KEY, "hello", origin=SHOP_ORIGIN)
    by_id = ws_url(gateway_url, conversation_id=first["conversation_id"])

    without_token = await refusal(by_id, visitor(), SHOP_ORIGIN)
    with_own_token = await refusal(by_id, visitor(second["conversation_token"]), SHOP_ORIGIN)
    over_http, _ = await post(
        gateway_url,
        PUBLISHABLE_KEY,
        "how much is it?",
        conversation_id=first["conversation_id"],
        token=second["conversation_token"],
        origin=SHOP_ORIGIN,
    )
    async with connect(
        ws_url(gateway_url),
        subprotocols=visitor(first["conversation_token"]),
        origin=Origin(SHOP_ORIGIN),
    ) as ws:
        resumed = await receive(ws)
        await ws.send(json.dumps({"type": "ask", "message": "how much is it?"}))
        answer, _ = await until(ws, "answer")

    assert without_token == with_own_token == ("conversation_not_found", 4404)
    assert over_http == 404 and second["conversation_id"] != first["conversation_id"]
    assert resumed["conversation_id"] == first["conversation_id"]
    assert "₹2,999" in answer["answer"]


async def test_publishable_key_is_refused_from_a_foreign_origin(gateway_url: str) -> None:
    status, body = await post(gateway_url, PUBLISHABLE_KEY, "hello", origin="https://evil.example")
    socket = await refusal(ws_url(gateway_url), visitor(), "https://evil.example")

    assert (status, body["error"]["code"]) == (403, "origin_not_allowed")
    assert socket == ("origin_not_allowed", 4403)


async def test_conversation_token_in_the_url_is_refused(gateway_url: str) -> None:
    url = ws_url(gateway_url, conversation_token="eyJ.x.y")
    assert await refusal(url, offering("key", API_KEY)) == ("credential_in_url", 4400)


async def test_worker_dead_letters_a_foreign_principal_produced_straight_to_kafka(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    conversation = f"owned-{uuid.uuid4().hex}"
    started, _ = await post(
        gateway_url, API_KEY, "Tell me about the FitBand 3", conversation_id=conversation
    )
    forged = ChatRequest(
        request_id=uuid.uuid4().hex,
        conversation_id=conversation,
        correlation_id="forged",
        message="Tell me about the SmartWatch Pro X",
        principal="key:intruder",
    )
    await produce_raw(kafka_bootstrap, REQUESTS, encode(forged), key=conversation.encode())

    record = await read_until(
        kafka_bootstrap,
        DEADLETTER,
        lambda r: getattr(decodes_as(r, DeadLetter), "request_id", None) == forged.request_id,
    )
    follow_up, answer = await post(
        gateway_url, API_KEY, "how much is it?", conversation_id=conversation
    )

    letter = decodes_as(record, DeadLetter)
    assert started == 200 and letter is not None
    assert letter.error_class == "ConversationOwnershipError" and not letter.retryable
    assert follow_up == 200 and answer["sources"][0]["doc_id"] == "product-fitband-3"
