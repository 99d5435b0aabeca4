"""Retries with the same ``X-Request-ID``: answered once, the retry gets that answer.

Two gateways of this module's own (``REQUEST_TIMEOUT_S`` long enough for a worker held
still a moment) share the session's worker, Kafka and Redis. Holding the worker still
(SIGSTOP, for less than its group session timeout) makes a retry or a second caller
arrive while the question is still unanswered, without depending on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.codec import EventT
from runtime.kafka import KafkaConnection
from schemas import ChatAnswer, ChatRequest, ConversationMessage, Escalation, TranscriptRole
from schemas.topics import ANSWERS, CONVERSATION_EVENTS, ESCALATIONS, REQUESTS
from techgear.records import read_records
from tests.conftest import (
    ADMIN_KEY,
    API_KEY,
    GATEWAY_PORT,
    OTHER_CHAT_KEY,
    WorkerProcess,
    running_gateway,
)
from tests.integration.conftest import Marks, decodes_as, end_marks, wait_until

pytestmark = pytest.mark.integration

WATCHED = (ANSWERS, CONVERSATION_EVENTS, ESCALATIONS, REQUESTS)


@pytest.fixture(scope="module")
def gateways(gateway_env: dict[str, str], worker: WorkerProcess) -> Iterator[tuple[str, str]]:
    env = gateway_env | {"REQUEST_TIMEOUT_S": "90"}
    with (
        running_gateway(env, GATEWAY_PORT + 40, worker) as one,
        running_gateway(env, GATEWAY_PORT + 41, worker) as another,
    ):
        yield one, another


@contextlib.contextmanager
def held_still(worker: WorkerProcess) -> Iterator[None]:
    """The worker stopped until the block ends: questions wait on Kafka meanwhile."""
    os.kill(worker.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(worker.process.pid, signal.SIGCONT)


async def marks(bootstrap: str) -> Marks:
    return await end_marks(bootstrap, WATCHED)


async def events_of(
    bootstrap: str, since: Marks, topic: str, event_type: type[EventT], request_id: str
) -> list[EventT]:
    """The events of ``request_id`` on ``topic`` since ``since``, in order per partition."""
    records = await read_records(KafkaConnection(bootstrap), topic, since[topic])
    events = (decodes_as(record, event_type) for record in records)
    return [e for e in events if e is not None and getattr(e, "request_id", None) == request_id]


async def customer_messages(bootstrap: str, since: Marks, request_id: str) -> list[str]:
    messages = await events_of(
        bootstrap, since, CONVERSATION_EVENTS, ConversationMessage, request_id
    )
    return [m.text for m in messages if m.role is TranscriptRole.CUSTOMER]


async def requests_asking(bootstrap: str, since: Marks, message: str) -> list[ChatRequest]:
    records = await read_records(KafkaConnection(bootstrap), REQUESTS, since[REQUESTS])
    requests = (decodes_as(record, ChatRequest) for record in records)
    return [r for r in requests if r is not None and r.message == message]


async def published(bootstrap: str, since: Marks, message: str, count: int) -> list[ChatRequest]:
    """The requests asking ``message``, once ``count`` of them are on support.requests."""
    found: list[ChatRequest] = []

    async def enough() -> bool:
        found[:] = await requests_asking(bootstrap, since, message)
        return len(found) >= count

    await wait_until(enough, f"{count} request(s) asking {message!r}")
    return found


async def chat(url: str, headers: dict[str, str], message: str, **body: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        return await client.post("/v1/chat", json={"message": message, **body}, headers=headers)


async def chats_in_flight(url: str) -> float:
    """The HTTP requests the gateway is serving, but for this scrape."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        scraped = (await client.get("/metrics", headers={"X-API-Key": ADMIN_KEY})).text
    [family] = [
        f
        for f in text_string_to_metric_families(scraped)
        if f.name == "techgear_gateway_http_requests_in_flight"
    ]
    return family.samples[0].value - 1


def retry_headers(key: str = API_KEY, request_id: str | None = None) -> dict[str, str]:
    return {"X-API-Key": key, "X-Request-ID": request_id or f"retry-{uuid.uuid4().hex}"}


def nonce() -> str:
    return uuid.uuid4().hex[:8]


@contextlib.asynccontextmanager
async def calling(url: str, headers: dict[str, str], message: str) -> AsyncIterator[None]:
    """A call in flight for the block, hung up at its end (a dropped connection)."""
    task = asyncio.create_task(chat(url, headers, message))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_caller_retrying_on_another_gateway_gets_the_one_answer_and_one_escalation(
    gateways: tuple[str, str], worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    one, another = gateways
    since = await marks(kafka_bootstrap)
    headers = retry_headers()
    question = f"I want to talk to a human agent about order TG-{nonce()}"

    with held_still(worker):
        async with calling(one, headers, question):
            [first] = await published(kafka_bootstrap, since, question, 1)
        retried = asyncio.create_task(chat(another, headers, question))
        await published(kafka_bootstrap, since, question, 2)
    response = await retried

    body = response.json()
    assert response.status_code == 200, body
    assert (body["request_id"], body["conversation_id"]) == (
        first.request_id,
        first.conversation_id,
    )
    assert body["escalated"] and body["replayed"]
    answers = await events_of(kafka_bootstrap, since, ANSWERS, ChatAnswer, first.request_id)
    assert sorted(a.replayed for a in answers) == [False, True]
    assert len({a.transcript_seq for a in answers}) == 1
    escalations = await events_of(kafka_bootstrap, since, ESCALATIONS, Escalation, first.request_id)
    assert len(escalations) == 1
    assert await customer_messages(kafka_bootstrap, since, first.request_id) == [question]


async def test_a_retry_after_the_answer_gets_that_answer_replayed_whatever_its_message(
    gateways: tuple[str, str], kafka_bootstrap: str
) -> None:
    one, _ = gateways
    since = await marks(kafka_bootstrap)
    headers = retry_headers()
    conversation = f"retry-{nonce()}"
    question = f"How much does the FitBand 3 cost? (ref {nonce()})"

    first = await chat(one, headers, question, conversation_id=conversation)
    again = await chat(one, headers, question, conversation_id=conversation)
    reworded = await chat(one, headers, "and its battery life?", conversation_id=conversation)

    assert [r.status_code for r in (first, again, reworded)] == [200] * 3
    answered, replayed, replayed_too = (r.json() for r in (first, again, reworded))
    assert "₹2,999" in answered["answer"] and not answered["replayed"]
    for retry in (replayed, replayed_too):
        assert retry["replayed"]
        assert {k: retry[k] for k in ("request_id", "conversation_id", "answer")} == {
            k: answered[k] for k in ("request_id", "conversation_id", "answer")
        }
        assert retry["conversation_seq"] == answered["conversation_seq"]
    request_id = answered["request_id"]
    answers = await events_of(kafka_bootstrap, since, ANSWERS, ChatAnswer, request_id)
    assert [a.replayed for a in answers] == [False, True, True]
    assert await customer_messages(kafka_bootstrap, since, request_id) == [question]


async def test_concurrent_calls_with_one_request_id_share_its_one_publish_and_answer(
    gateways: tuple[str, str], worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    one, _ = gateways
    since = await marks(kafka_bootstrap)
    headers = retry_headers()
    conversation = f"retry-{nonce()}"
    question = f"How much does the FitBand 3 cost? (ref {nonce()})"

    with held_still(worker):
        calls = [
            asyncio.create_task(chat(one, headers, question, conversation_id=conversation))
            for _ in range(2)
        ]
        await published(kafka_bootstrap, since, question, 1)
        await wait_until(lambda: both_waiting(one), "both calls on the gateway")
    responses = await asyncio.gather(*calls)

    assert [r.status_code for r in responses] == [200, 200]
    bodies = [r.json() for r in responses]
    assert bodies[0]["request_id"] == bodies[1]["request_id"]
    assert bodies[0]["answer"] == bodies[1]["answer"] and "₹2,999" in bodies[0]["answer"]
    assert not bodies[0]["replayed"] and not bodies[1]["replayed"]
    assert len(await requests_asking(kafka_bootstrap, since, question)) == 1
    answers = await events_of(kafka_bootstrap, since, ANSWERS, ChatAnswer, bodies[0]["request_id"])
    assert len(answers) == 1


async def both_waiting(url: str) -> bool:
    return await chats_in_flight(url) >= 2


async def test_another_principal_sending_the_same_request_id_gets_its_own_conversation(
    gateways: tuple[str, str], kafka_bootstrap: str
) -> None:
    one, another = gateways
    request_id = f"retry-{uuid.uuid4().hex}"
    question = f"I want to talk to a human agent about order TG-{nonce()}"

    mine = await chat(one, retry_headers(API_KEY, request_id), question)
    theirs = await chat(another, retry_headers(OTHER_CHAT_KEY, request_id), question)

    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert theirs.json()["conversation_id"] != mine.json()["conversation_id"]
    assert theirs.json()["request_id"] != mine.json()["request_id"]
    assert theirs.json()["escalated"] and not theirs.json()["replayed"]
