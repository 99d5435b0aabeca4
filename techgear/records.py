"""Reading a topic's retained records, for operator tools (and the tests that check them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aiokafka import TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError
from aiokafka.structs import ConsumerRecord

from runtime.kafka import KafkaConnection
from runtime.topics import partitions_of

_FETCH_TIMEOUT_MS = 2000


async def end_offsets(kafka: KafkaConnection, topic: str) -> dict[int, int]:
    """The next offset of each partition of ``topic``: where a read "from now" starts."""
    consumer = kafka.consumer(group_id=None)
    await consumer.start()
    try:
        partitions = await _partitions(kafka, topic)
        offsets = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in offsets.items()}


async def offsets_at(kafka: KafkaConnection, topic: str, moment: datetime) -> dict[int, int]:
    """The first offset of each partition of ``topic`` whose record timestamp is at or after
    ``moment`` (the partition's end when none is): where a read "since then" starts."""
    consumer = kafka.consumer(group_id=None)
    await consumer.start()
    try:
        partitions = await _partitions(kafka, topic)
        found = await consumer.offsets_for_times(
            dict.fromkeys(partitions, int(moment.timestamp() * 1000))
        )
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {tp.partition: ends[tp] if found[tp] is None else found[tp].offset for tp in partitions}


async def read_records(
    kafka: KafkaConnection, topic: str, start: Mapping[int, int] | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of ``topic`` from the ``start`` offsets (the oldest retained when
    omitted) to its end as of this call, partition by partition in offset order."""
    consumer = kafka.consumer(group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        partitions = await _partitions(kafka, topic)
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        oldest = await consumer.beginning_offsets(partitions)
        for tp in partitions:
            # An explicit seek: seek_to_beginning() may lose to the default reset (latest).
            consumer.seek(tp, oldest[tp] if start is None else start.get(tp.partition, 0))
        while pending := [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(*pending, timeout_ms=_FETCH_TIMEOUT_MS)
            if not batches:
                break  # nothing more arrives below the recorded ends
            records.extend(r for batch in batches.values() for r in batch)
    finally:
        await consumer.stop()
    return [r for r in records if r.offset < ends[TopicPartition(topic, r.partition)]]


async def read_record(
    kafka: KafkaConnection, topic: str, partition: int, offset: int
) -> ConsumerRecord[bytes, bytes] | None:
    """The record at ``offset`` of one partition, or ``None`` when the topic no longer
    retains it (deleted by retention or compaction) or never held it."""
    tp = TopicPartition(topic, partition)
    consumer = kafka.consumer(group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        if tp not in await _partitions(kafka, topic):
            return None
        consumer.assign([tp])
        oldest = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not oldest <= offset < end:
            return None
        consumer.seek(tp, offset)
        while await consumer.position(tp) < end:
            batches = await consumer.getmany(tp, timeout_ms=_FETCH_TIMEOUT_MS, max_records=1)
            if not batches:
                return None
            for record in batches.get(tp, []):
                # A compacted-away offset is skipped over by the fetch, not returned.
                return record if record.offset == offset else None
    finally:
        await consumer.stop()
    return None


async def _partitions(kafka: KafkaConnection, topic: str) -> list[TopicPartition]:
    admin = kafka.admin()
    await admin.start()
    try:
        return await partitions_of(admin, topic)
    except UnknownTopicOrPartitionError:
        return []
    finally:
        await admin.close()
