from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, RecordMetadata

from runtime.codec import EventT, decode, encode
from runtime.errors import EventDecodeError
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
) -> RecordMetadata:
    """One record exactly as given; a header value may be ``None`` (``kcat -H name``)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return await producer.send_and_wait(topic, value=value, key=key, headers=list(headers))
    finally:
        await producer.stop()
