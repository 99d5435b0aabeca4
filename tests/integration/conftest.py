from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from schemas import EventDecodeError, decode
from schemas.codec import EventT

pytestmark = pytest.mark.integration


def decodes_as(record: ConsumerRecord[bytes, bytes], event_type: type[EventT]) -> EventT | None:
    """The record's event, or ``None`` for records of another shape (older runs' data)."""
    try:
        return decode(record.value or b"", event_type)
    except EventDecodeError:
        return None


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Poll ``condition`` every half second; ``TimeoutError(what)`` when it never holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
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


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        offsets = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in offsets.items()}


async def produce_raw(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def records_since(
    bootstrap: str, topic: str, start: dict[int, int]
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the ``start`` offsets (see ``end_offsets``) to its end now."""
    end = await end_offsets(bootstrap, topic)
    partitions = [TopicPartition(topic, p) for p in end if end[p] > start.get(p, 0)]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, start.get(tp.partition, 0))
        async with asyncio.timeout(30):
            while [tp for tp in partitions if await consumer.position(tp) < end[tp.partition]]:
                batches = await consumer.getmany(timeout_ms=1000)
                records.extend(r for batch in batches.values() for r in batch)
    finally:
        await consumer.stop()
    return [r for r in records if r.offset < end[r.partition]]
