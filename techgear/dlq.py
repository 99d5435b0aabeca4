"""Dead letters for operators: list them, and replay them onto their source topic."""

from __future__ import annotations

import base64
from collections.abc import Collection
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from schemas import DeadLetter, EventDecodeError, decode
from schemas.topics import DEADLETTER
from techgear.records import read_records

REPLAYED_FROM_HEADER = "replayed_from"


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    partition: int
    offset: int
    letter: DeadLetter


async def list_dead_letters(bootstrap_servers: str) -> list[StoredDeadLetter]:
    """Every dead letter still retained, oldest first within each partition."""
    letters: list[StoredDeadLetter] = []
    for record in await read_records(bootstrap_servers, DEADLETTER):
        try:
            letter = decode(record.value or b"", DeadLetter)
        except EventDecodeError:
            continue
        letters.append(StoredDeadLetter(record.partition, record.offset, letter))
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
