"""The transcript projection on the real broker and Redis: what a gateway wrote but had not
committed when it died is read again by the next one, and kept once."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis

from gateway.projection import TranscriptProjection
from gateway.rateable import RedisRateableAnswers
from gateway.transcripts import RedisTranscripts
from runtime.kafka import KafkaConnection
from schemas.topics import CONVERSATION_EVENTS
from tests.handoff_events import message
from tests.integration.conftest import end_marks, group_offsets, wait_until
from tests.integration.test_handoff_gateway import publish

pytestmark = pytest.mark.integration

_NEVER_S = 3600.0


async def test_events_written_but_not_committed_by_a_stopped_projection_are_kept_once(
    kafka_bootstrap: str, redis: Redis, producer: AIOKafkaProducer
) -> None:
    store = RedisTranscripts(redis, ttl_s=3600)
    answers = RedisRateableAnswers(redis, ttl_s=3600)
    group = f"test-projection-{uuid.uuid4().hex}"
    conversation = f"projection-{uuid.uuid4().hex}"
    kafka = KafkaConnection(kafka_bootstrap)

    async def _committed() -> dict[TopicPartition, int]:
        offsets = await group_offsets(kafka_bootstrap, group)
        return {tp: offset for tp, offset in offsets.items() if tp.topic == CONVERSATION_EVENTS}

    async def holds(seq: int) -> bool:
        transcript = await store.read(conversation)
        return transcript is not None and transcript.last_seq >= seq

    first = TranscriptProjection(kafka, store, answers, group_id=group, commit_interval_s=_NEVER_S)
    first.start()
    try:
        await publish(producer, message(conversation, 1), message(conversation, 2))
        await wait_until(lambda: holds(2), "the first projection to write both events")
    finally:
        await first.stop()  # as a crash would: written, never committed
    assert await _committed() == {}

    second = TranscriptProjection(kafka, store, answers, group_id=group, commit_interval_s=0.0)
    second.start()
    try:
        await publish(producer, message(conversation, 3))
        await wait_until(lambda: holds(3), "the second projection to write the third event")
        ends = (await end_marks(kafka_bootstrap, [CONVERSATION_EVENTS]))[CONVERSATION_EVENTS]

        async def committed_to_the_end() -> bool:
            committed = {tp.partition: offset for tp, offset in (await _committed()).items()}
            return all(committed.get(p, 0) >= end for p, end in ends.items() if end > 0)

        await wait_until(committed_to_the_end, "the second projection to commit what it wrote")
    finally:
        await second.stop()

    transcript = await store.read(conversation)
    assert transcript is not None
    assert [entry["conversation_seq"] for entry in transcript.entries] == [1, 2, 3]
