"""The worker never commits past a message it has not answered or dead-lettered, whatever
order its concurrent handlers finish in, and a worker killed then loses nothing.

The scenario of faust-streaming's gap-check bug: a slow question at the head of a
partition (its LLM call hangs), later questions of that partition answered and
acknowledged, a commit cycle, then ``SIGKILL``. The slow question must be read again and
answered by the next worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from runtime.codec import decode, encode
from runtime.kafka import KafkaConnection
from runtime.settings import WORKER_GROUP_ID
from runtime.topics import ensure_topics
from schemas import ChatAnswer, ChatRequest, DeadLetter
from schemas.topics import ANSWERS, DEADLETTER, REQUESTS
from techgear.records import end_offsets, read_records
from tests.conftest import WorkerProcess, substitute_worker
from tests.integration.conftest import decodes_as, group_offsets, read_until

pytestmark = pytest.mark.integration

SLOW_PARTITION, WITNESS_PARTITION = 3, 4
OUT_OF_SCOPE = "What's the weather like in Paris this weekend?"  # declined without the LLM


async def committed(bootstrap: str, partition: int) -> int:
    offsets = await group_offsets(bootstrap, WORKER_GROUP_ID)
    return offsets.get(TopicPartition(REQUESTS, partition), -1)


async def produce(bootstrap: str, partition: int, message: str) -> tuple[str, int]:
    """A question produced straight to ``partition``; its request id and offset."""
    request = ChatRequest(
        request_id=uuid.uuid4().hex,
        conversation_id=f"conv-{uuid.uuid4().hex[:12]}",
        correlation_id=uuid.uuid4().hex,
        message=message,
        channel="api",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        async with asyncio.timeout(60):  # a topic just created may lack its partitions
            while partition not in (await producer.partitions_for(REQUESTS) or set()):
                await asyncio.sleep(0.25)
        metadata = await producer.send_and_wait(
            REQUESTS,
            value=encode(request),
            key=request.conversation_id.encode(),
            partition=partition,
        )
    finally:
        await producer.stop()
    return request.request_id, metadata.offset


async def answered(bootstrap: str, since: dict[int, int], request_ids: set[str]) -> set[str]:
    records = await read_records(KafkaConnection(bootstrap), ANSWERS, since)
    answers = (decodes_as(record, ChatAnswer) for record in records)
    return {a.request_id for a in answers if a is not None and a.request_id in request_ids}


async def until(
    condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 120
) -> None:
    """Poll ``condition`` until it holds; ``TimeoutError(what)`` when it never does."""
    try:
        async with asyncio.timeout(timeout_s):
            while not await condition():
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise TimeoutError(what) from None


@pytest.mark.fault
@pytest.mark.timeout(900)  # two worker starts, each waiting for a stable, probed group
async def test_slow_head_message_is_not_committed_past_and_is_answered_after_sigkill(
    worker: WorkerProcess, kafka_bootstrap: str, tmp_path: Path
) -> None:
    await ensure_topics(KafkaConnection(kafka_bootstrap))
    outage = tmp_path / "llm-hangs"
    outage.touch()  # every LLM call hangs until the outage ends
    since = await end_offsets(KafkaConnection(kafka_bootstrap), ANSWERS)
    with substitute_worker(
        worker,
        RESPONDER="simulated",
        SIMULATED_LATENCY_S="0",
        SIMULATED_FAILURE_MODE="timeout",
        SIMULATED_OUTAGE_FILE=str(outage),
        LLM_TIMEOUT_S="600",
        LLM_MAX_RETRIES="0",
        PROCESSING_TIMEOUT_S="600",
        BROKER_COMMIT_INTERVAL_S="0.5",
    ) as substitute:
        probe, _ = await produce(kafka_bootstrap, WITNESS_PARTITION, OUT_OF_SCOPE)

        async def probe_answered() -> bool:
            return bool(await answered(kafka_bootstrap, since, {probe}))

        await until(probe_answered, "the substitute worker answering", 600)

        slow, slow_offset = await produce(
            kafka_bootstrap,
            SLOW_PARTITION,
            f"How long does the SmartWatch Pro X battery last? (ref {uuid.uuid4().hex[:8]})",
        )
        quick = {
            (await produce(kafka_bootstrap, SLOW_PARTITION, OUT_OF_SCOPE))[0] for _ in range(5)
        }

        async def quick_answered() -> bool:
            return await answered(kafka_bootstrap, since, quick) == quick

        await until(quick_answered, "the later questions of the slow partition answered")
        # A commit cycle after those acknowledgements: the witness partition's commit
        # passes a question produced after them.
        witness, witness_offset = await produce(kafka_bootstrap, WITNESS_PARTITION, OUT_OF_SCOPE)

        async def witness_committed() -> bool:
            return await committed(kafka_bootstrap, WITNESS_PARTITION) > witness_offset

        await until(witness_committed, "a commit after the later questions were acknowledged")

        assert await committed(kafka_bootstrap, SLOW_PARTITION) == slow_offset
        assert slow not in await answered(kafka_bootstrap, since, {slow})

        substitute.process.kill()  # SIGKILL: no shutdown, no last commit
        substitute.process.wait()
        outage.unlink()
        substitute.restart()

        async def slow_answered() -> bool:
            return bool(await answered(kafka_bootstrap, since, {slow}))

        await until(slow_answered, "the slow question answered by the next worker", 180)

        async def partition_drained() -> bool:
            # At or past its end: the restarted worker's readiness probes add records here.
            return await committed(kafka_bootstrap, SLOW_PARTITION) >= slow_offset + 6

        await until(partition_drained, "the slow partition committed to its end")


async def test_record_over_the_dead_letter_size_gets_a_bounded_letter_and_is_committed(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    await ensure_topics(KafkaConnection(kafka_bootstrap))
    value = b"a" * 900_000  # its letter with every byte in base64 would exceed 1 MiB
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2**20)
    await producer.start()
    try:
        sent = await producer.send_and_wait(REQUESTS, value=value, key=b"k", partition=0)
        offset: int = sent.offset
    finally:
        await producer.stop()

    record = await read_until(
        kafka_bootstrap,
        DEADLETTER,
        lambda r: (
            (letter := decodes_as(r, DeadLetter)) is not None
            and (letter.source_partition, letter.source_offset) == (0, sent.offset)
        ),
        timeout_s=300,
    )
    letter = decode(record.value or b"", DeadLetter)
    assert len(record.value or b"") <= 256 * 1024
    assert letter.original_truncated and letter.original_size == len(value)
    assert letter.original_sha256 == hashlib.sha256(value).hexdigest()
    assert letter.error_class == "InvalidEventError"

    async def committed_past() -> bool:
        return await committed(kafka_bootstrap, 0) > offset

    await until(committed_past, "the oversized record's offset committed")
