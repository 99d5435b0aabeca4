"""Dead letters for operators: list them, and replay them onto their source topic."""

from __future__ import annotations

import base64
from collections.abc import Collection
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas import DeadLetter, EventDecodeError, decode
from schemas.topics import DEADLETTER

REPLAYED_FROM_HEADER = "replayed_from"


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    partition: int
    offset: int
    letter: DeadLetter


async def list_dead_letters(bootstrap_servers: str) -> list[StoredDeadLetter]:
    """Every dead letter still retained, oldest first."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([DEADLETTER])
    finally:
        await admin.close()
    partitions = [TopicPartition(DEADLETTER, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    letters: list[StoredDeadLetter] = []
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp, first in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, first)
        remaining = {tp for tp in partitions if ends[tp] > await consumer.position(tp)}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=2000)
            if not batches:
                break
            for tp, records in batches.items():
                for record in records:
                    try:
                        letters.append(
                            StoredDeadLetter(
                                tp.partition, record.offset, decode(record.value or b"", DeadLetter)
                            )
                        )
                    except EventDecodeError:
                        continue
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return letters


async def replay(bootstrap_servers: str, ids: Collection[str] = ()) -> list[DeadLetter]:
    """Republish the original bytes of the chosen dead letters (all when ``ids`` is empty)
    to their source topics, with their original keys."""
    chosen = [
        stored.letter
        for stored in await list_dead_letters(bootstrap_servers)
        if not ids or stored.letter.dead_letter_id in ids
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for letter in chosen:
            await producer.send_and_wait(
                letter.source_topic,
                value=base64.b64decode(letter.original_value_b64),
                key=base64.b64decode(letter.original_key_b64) if letter.original_key_b64 else None,
                headers=[(REPLAYED_FROM_HEADER, letter.dead_letter_id.encode())],
            )
    finally:
        await producer.stop()
    return chosen
