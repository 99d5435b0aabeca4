"""A scripted stand-in for the answer listener's ``AIOKafkaConsumer``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


def record(
    topic: str,
    offset: int,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
    partition: int = 0,
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value or b""),
        headers=list(headers),  # type: ignore[arg-type]  # aiokafka's hint omits None
    )


class FakeConsumer:
    """Returns the ``script``'s batches one per ``getmany``, raises its exceptions, then
    returns nothing. ``die`` (set from any thread) makes the next ``getmany`` raise;
    ``hold_start`` keeps ``start`` waiting until it is set."""

    def __init__(
        self,
        ends: Mapping[TopicPartition, int],
        script: Sequence[Batch | Exception] = (),
        *,
        die: threading.Event | None = None,
        hold_start: threading.Event | None = None,
    ) -> None:
        self.ends = dict(ends)
        self.script = list(script)
        self.die = die
        self.hold_start = hold_start
        self.positions: dict[TopicPartition, int] = {}
        self.stopped = False

    async def start(self) -> None:
        while self.hold_start is not None and not self.hold_start.is_set():
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.stopped = True

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.positions = dict.fromkeys(partitions, 0)

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self.positions[tp] = self.ends[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Batch:
        if self.die is not None and self.die.is_set():
            raise RuntimeError("fetcher task died")
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        await asyncio.sleep(0.01)
        return {}


class FakeConsumers:
    """A consumer factory handing out ``consumers`` in turn (the listener makes a new one
    on each restart)."""

    def __init__(self, *consumers: FakeConsumer) -> None:
        self.pending = list(consumers)
        self.made: list[FakeConsumer] = []

    def __call__(self, **_settings: object) -> FakeConsumer:
        consumer = self.pending.pop(0)
        self.made.append(consumer)
        return consumer
