from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, RecordMetadata
from redis.asyncio import Redis

from runtime.codec import EventT, decode, encode
from runtime.errors import EventDecodeError
from runtime.kafka import KafkaConnection
from schemas import (
    AgentAction,
    AgentActionKind,
    Author,
    ChatAnswer,
    ChatRequest,
    HandoffChanged,
    new_id,
)
from schemas.topics import CONVERSATION_EVENTS, REQUESTS
from techgear.records import end_offsets
from tests.conftest import (
    FRESHDESK_WEBHOOK_SECRET,
    REPO,
    STATE_DIR,
    ZENDESK_WEBHOOK_SECRET,
    process_env,
    stop_process,
)

pytestmark = pytest.mark.integration


def decodes_as(record: ConsumerRecord[bytes, bytes], event_type: type[EventT]) -> EventT | None:
    """The record's event, or ``None`` for records of another shape (older runs' data)."""
    try:
        return decode(record.value or b"", event_type)
    except EventDecodeError:
        return None


def answer_to(request_id: str) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    """A ``read_until`` predicate for the answer event of ``request_id``; records of another
    shape (hostile ones included) do not match."""
    return lambda r: getattr(decodes_as(r, ChatAnswer), "request_id", None) == request_id


def chat_request(conversation_id: str, message: str, **fields: object) -> ChatRequest:
    """A customer's question as a gateway would publish it."""
    return ChatRequest.model_validate(
        {
            "request_id": new_id(),
            "conversation_id": conversation_id,
            "correlation_id": new_id(),
            "message": message,
        }
        | fields
    )


def agent_action(
    conversation_id: str,
    action: AgentActionKind,
    *,
    author: str | None = None,
    **fields: object,
) -> AgentAction:
    """An agent's action as a gateway would publish it on ``support.requests``."""
    return AgentAction.model_validate(
        {
            "request_id": new_id(),
            "conversation_id": conversation_id,
            "correlation_id": new_id(),
            "action_id": f"api:{new_id()}",
            "action": action,
            "author": Author(name=author) if author else None,
            "principal": "key:agent-console",
        }
        | fields
    )


def change_by(action: AgentAction) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    """A ``read_until`` predicate for the handoff change ``action`` made."""
    return lambda r: (
        getattr(decodes_as(r, HandoffChanged), "request_id", None) == (action.request_id)
    )


async def hand_back(bootstrap: str, conversation_id: str) -> None:
    """Give the conversation back to the bot as a person would, once the worker has."""
    action = agent_action(conversation_id, AgentActionKind.HANDBACK)
    await produce_raw(bootstrap, REQUESTS, encode(action), key=conversation_id.encode())
    await read_until(bootstrap, CONVERSATION_EVENTS, change_by(action))


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Poll ``condition`` every half second; ``TimeoutError(what)`` when it never holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise TimeoutError(what)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 30
) -> None:
    """``wait_for`` for a condition that needs the event loop (a Kafka client)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(what)


Marks = dict[str, dict[int, int]]
"""Topic -> partition -> offset: where a test starts reading what it caused."""


async def group_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The offsets ``group`` has committed, by partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: int(meta.offset) for tp, meta in offsets.items()}


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer for records a test writes as some other producer would."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the test Redis (database 0, where the gateway keeps its state)."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def end_marks(bootstrap: str, topics: Iterable[str]) -> Marks:
    """The end offsets of ``topics`` now."""
    kafka = KafkaConnection(bootstrap)
    return {topic: await end_offsets(kafka, topic) for topic in topics}


async def read_until(
    bootstrap: str,
    topic: str,
    predicate: Callable[[ConsumerRecord[bytes, bytes]], bool],
    *,
    timeout_s: float = 20.0,
) -> ConsumerRecord[bytes, bytes]:
    """The first record of ``topic`` (from the beginning) that matches ``predicate``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout_s):
            async for record in consumer:
                if predicate(record):
                    return record
    finally:
        await consumer.stop()
    raise AssertionError("unreachable")


async def produce_raw(
    bootstrap: str,
    topic: str,
    value: bytes,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes | None]] = (),
    partition: int | None = None,
) -> RecordMetadata:
    """One record exactly as given; a header value may be ``None`` (``kcat -H name``)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return await producer.send_and_wait(
            topic, value=value, key=key, headers=list(headers), partition=partition
        )
    finally:
        await producer.stop()


FAKE_PORT = int(os.environ.get("TEST_FAKE_HELPDESK_PORT", "18901"))
FAKE_URL = f"http://127.0.0.1:{FAKE_PORT}"


@pytest.fixture(scope="module")
def fake_helpdesks() -> Iterator[str]:
    """The fake Zendesk and Freshdesk (tests/integration/fake_helpdesks.py) on ``FAKE_PORT``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.fake_helpdesks", str(FAKE_PORT)], cwd=REPO
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{FAKE_URL}/_inspect", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield FAKE_URL
    stop_process(process)


def start_bridge(
    target: str,
    kafka_bootstrap: str,
    redis_url: str,
    log_path: Path | None = None,
    **settings: str,
) -> subprocess.Popen[bytes]:
    env = process_env(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        REDIS_URL=redis_url,
        HELPDESK_BACKOFF_S="0.2",
        FRESHDESK_SEARCH_LAG_S="3",  # the fake's search trails by 1 s
        ZENDESK_URL=FAKE_URL,
        ZENDESK_EMAIL="bot@techgear.in",
        ZENDESK_API_TOKEN="zd-token",
        FRESHDESK_URL=FAKE_URL,
        FRESHDESK_API_KEY="fd-key",
        # No ticket quota unless a test sets one: the topic holds every earlier test's
        # escalations, most of them from the one test API key, and a bridge reading them
        # all would otherwise spend that principal's quota before the test's own.
        **(
            {"HELPDESK_METRICS_PORT": "0", "HELPDESK_TICKETS_PER_PRINCIPAL_PER_HOUR": "0"}
            | settings
        ),
    )
    log_path = log_path or STATE_DIR / f"helpdesk-{target}.log"
    with log_path.open("ab") as log:  # the child keeps its own
        return subprocess.Popen(
            [sys.executable, "-m", "techgear", "helpdesk", "--target", target],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=log,
        )


@pytest.fixture(scope="module")
def zendesk_bridge(
    fake_helpdesks: str, kafka_bootstrap: str, redis_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`techgear helpdesk --target zendesk` against the fake, for the module's tests."""
    bridge = start_bridge("zendesk", kafka_bootstrap, redis_url)
    yield bridge
    stop_process(bridge)


def deliver_webhooks_to(gateway_url: str) -> None:
    """The fake helpdesks deliver their webhooks to ``gateway_url``, signed with the secrets
    the test gateways hold."""
    httpx.post(
        f"{FAKE_URL}/_webhooks",
        json={
            "zendesk": f"{gateway_url}/v1/webhooks/zendesk",
            "freshdesk": f"{gateway_url}/v1/webhooks/freshdesk",
            "zendesk_secret": ZENDESK_WEBHOOK_SECRET,
            "freshdesk_secret": FRESHDESK_WEBHOOK_SECRET,
        },
    ).raise_for_status()


async def zendesk_ticket(conversation_id: str) -> dict[str, Any]:
    """The fake Zendesk's ticket for the conversation, once the bridge has made it."""
    found: list[dict[str, Any]] = []

    async def made() -> bool:
        tickets = (await inspect())["tickets"]["zendesk"]
        found[:] = [t for t in tickets if t.get("external_id") == conversation_id]
        return bool(found)

    await wait_until(made, f"a Zendesk ticket for {conversation_id}", timeout_s=90)
    [ticket] = found
    return ticket


async def inspect() -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        state: dict[str, Any] = (await client.get(f"{FAKE_URL}/_inspect")).json()
    return state


async def as_the_agent(path: str, deliver: int = 1, **body: Any) -> list[Any]:
    """Acts on the fake helpdesk as its agent; the status of each webhook delivery."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{FAKE_URL}/_agent/{path}?deliver={deliver}", json=body)
    response.raise_for_status()
    return [d["status"] for d in response.json()["deliveries"]]


async def customer_replies(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """The public comments on the fake Zendesk ``ticket`` not written by its agents: the
    customer's messages the bridge passed on."""
    public = (await inspect())["public_comments"]["zendesk"]
    return [c for c in public if c["ticket_id"] == ticket["id"] and "agent" not in c]


async def customer_replied(ticket: dict[str, Any]) -> None:
    async def replied() -> bool:
        return bool(await customer_replies(ticket))

    await wait_until(replied, "the customer's message on the ticket", timeout_s=60)
