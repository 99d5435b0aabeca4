"""``techgear dlq``: explicit selection, replays remembered on the broker, and truncated
letters replayed from their source records."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.structs import ConsumerRecord, RecordMetadata

from runtime.codec import decode, encode
from runtime.kafka import KafkaConnection
from runtime.topics import ensure_topics
from schemas import ChatAnswer, ChatRequest, DeadLetter
from schemas.events import DEAD_LETTER_MAX_VALUE_BYTES
from schemas.topics import (
    ANSWERS,
    DEADLETTER,
    REPLAYED_FROM_HEADER,
    REQUESTS,
    TopicSpec,
)
from techgear.records import end_offsets, read_records
from tests.conftest import REPO, process_env
from tests.integration.conftest import answer_to, produce_raw, read_until

pytestmark = pytest.mark.integration

REPLAY_TOPIC = "test.dlq-replay"
"""Where the tests' own dead letters come from (and go back to), so replaying them
disturbs no real topic; records are told apart by their letters' unique ids."""
EXPIRED_TOPIC = "test.dlq-expired"
"""A source topic whose records the tests delete, as retention would."""


@pytest.fixture(scope="module")
async def test_topics(kafka_bootstrap: str) -> None:
    await ensure_topics(
        KafkaConnection(kafka_bootstrap),
        specs=(
            TopicSpec(REPLAY_TOPIC, partitions=1, retention_ms=24 * 3600 * 1000),
            TopicSpec(EXPIRED_TOPIC, partitions=1, retention_ms=24 * 3600 * 1000),
        ),
    )


def dlq(kafka_bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "techgear", "dlq", *args],
        env=process_env(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def letter_for(
    value: bytes,
    key: bytes | None = b"conv-dlq",
    *,
    source_topic: str = REPLAY_TOPIC,
    source_offset: int = 0,
    occurred_at: datetime | None = None,
    request_id: str = "unknown",
    **bounded: object,
) -> DeadLetter:
    return DeadLetter(
        request_id=request_id,
        conversation_id="conv-dlq",
        occurred_at=occurred_at or datetime.now(UTC),
        source_topic=source_topic,
        source_partition=0,
        source_offset=source_offset,
        original_key_b64=base64.b64encode(key).decode() if key is not None else None,
        original_value_b64=base64.b64encode(value).decode(),
        error_class="LlmUnavailableError",
        error_message="quota exhausted during an outage",
        retryable=True,
        attempts=3,
        **bounded,  # type: ignore[arg-type]
    )


async def dead_letter(kafka_bootstrap: str, letter: DeadLetter) -> DeadLetter:
    await produce_raw(kafka_bootstrap, DEADLETTER, encode(letter), key=b"conv-dlq")
    return letter


def replayed_from(record: ConsumerRecord[bytes, bytes]) -> str | None:
    return next((v.decode() for k, v in record.headers if k == REPLAYED_FROM_HEADER and v), None)


async def replays_since(
    kafka_bootstrap: str, topic: str, start: dict[int, int]
) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        r
        for r in await read_records(KafkaConnection(kafka_bootstrap), topic, start)
        if replayed_from(r) is not None
    ]


async def test_a_dead_letter_is_replayed_once_and_again_only_when_asked(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    request = ChatRequest(
        request_id=f"replay-{uuid.uuid4().hex}",
        conversation_id="conv-replay",
        correlation_id="corr-replay",
        message="What is the price of the Laptop Sleeve 14?",
    )
    letter = await dead_letter(
        kafka_bootstrap,
        letter_for(
            encode(request),
            b"conv-replay",
            source_topic=REQUESTS,
            request_id=request.request_id,
        ),
    )
    start = await end_offsets(KafkaConnection(kafka_bootstrap), REQUESTS)

    listed = dlq(kafka_bootstrap, "list")
    first = dlq(kafka_bootstrap, "replay", "--id", letter.dead_letter_id)
    answer = decode(
        (
            await read_until(
                kafka_bootstrap,
                ANSWERS,
                answer_to(request.request_id),
            )
        ).value,
        ChatAnswer,
    )
    second = dlq(kafka_bootstrap, "replay", "--id", letter.dead_letter_id)
    relisted = dlq(kafka_bootstrap, "list")
    again = dlq(kafka_bootstrap, "replay", "--id", letter.dead_letter_id, "--again")
    republished = [
        r
        for r in await replays_since(kafka_bootstrap, REQUESTS, start)
        if replayed_from(r) == letter.dead_letter_id
    ]

    assert letter.dead_letter_id in listed.stdout and "quota exhausted" in listed.stdout
    assert first.returncode == 0 and "1 dead letter(s) replayed" in first.stdout
    assert "₹1,299" in answer.answer and answer.conversation_id == "conv-replay"
    assert second.returncode == 0 and "0 dead letter(s) replayed, 1 already replayed" in (
        second.stdout
    )
    assert f"already replayed {letter.dead_letter_id}: replayed " in second.stdout
    line = next(line for line in relisted.stdout.splitlines() if letter.dead_letter_id in line)
    assert "  replayed " in line
    assert again.returncode == 0 and f"replayed {letter.dead_letter_id}: to " in again.stdout
    assert len(republished) == 2
    assert all(r.value == encode(request) and r.key == b"conv-replay" for r in republished)


async def test_a_time_range_replays_only_the_letters_inside_it(
    kafka_bootstrap: str, test_topics: None
) -> None:
    # A window of this run's own in 2001, so older runs' letters cannot fall in it.
    base = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(hours=uuid.uuid4().int % 80_000)
    early, inside, late = [
        await dead_letter(
            kafka_bootstrap, letter_for(f"{name}".encode(), occurred_at=base + timedelta(hours=h))
        )
        for name, h in (("early", 0), ("inside", 2), ("late", 4))
    ]
    start = await end_offsets(KafkaConnection(kafka_bootstrap), REPLAY_TOPIC)

    since, until = (base + timedelta(hours=1)).isoformat(), (base + timedelta(hours=4)).isoformat()
    result = dlq(kafka_bootstrap, "replay", "--since", since, "--until", until)
    republished = await replays_since(kafka_bootstrap, REPLAY_TOPIC, start)

    assert result.returncode == 0, result.stderr
    assert [replayed_from(r) for r in republished] == [inside.dead_letter_id]
    assert republished[0].value == b"inside" and republished[0].key == b"conv-dlq"
    assert early.dead_letter_id not in result.stdout and late.dead_letter_id not in result.stdout


async def test_a_dry_run_lists_recent_letters_and_changes_nothing(
    kafka_bootstrap: str, test_topics: None
) -> None:
    letter = await dead_letter(kafka_bootstrap, letter_for(b"dry"))
    start = await end_offsets(KafkaConnection(kafka_bootstrap), REPLAY_TOPIC)

    dry = dlq(kafka_bootstrap, "replay", "--since", "10m", "--dry-run")
    published_by_dry_run = await replays_since(kafka_bootstrap, REPLAY_TOPIC, start)
    real = dlq(kafka_bootstrap, "replay", "--id", letter.dead_letter_id)

    assert dry.returncode in (0, 1), dry.stderr  # other tests' unreplayable letters fail
    assert f"would replay {letter.dead_letter_id}: 3 bytes to {REPLAY_TOPIC}" in dry.stdout
    assert published_by_dry_run == []
    assert f"replayed {letter.dead_letter_id}: to {REPLAY_TOPIC}/0@" in real.stdout


async def test_all_replays_every_letter_not_replayed_before(
    kafka_bootstrap: str, test_topics: None
) -> None:
    letters = [await dead_letter(kafka_bootstrap, letter_for(b"all-%d" % i)) for i in range(2)]
    start = await end_offsets(KafkaConnection(kafka_bootstrap), REPLAY_TOPIC)

    first = dlq(kafka_bootstrap, "replay", "--all")
    second = dlq(kafka_bootstrap, "replay", "--all")
    republished = {
        replayed_from(r) for r in await replays_since(kafka_bootstrap, REPLAY_TOPIC, start)
    }

    # --all takes every other letter too: those other tests left unreplayable make it exit
    # 1, and poison messages it replays come back as new letters the second run replays.
    for letter in letters:
        assert f"replayed {letter.dead_letter_id}: to {REPLAY_TOPIC}/0@" in first.stdout
        assert f"already replayed {letter.dead_letter_id}:" in second.stdout
        assert f"\nreplayed {letter.dead_letter_id}:" not in "\n" + second.stdout
        assert letter.dead_letter_id in republished


def test_replay_refuses_to_guess_what_to_replay(kafka_bootstrap: str) -> None:
    bare = dlq(kafka_bootstrap, "replay")
    mixed = dlq(kafka_bootstrap, "replay", "--all", "--since", "2h")

    assert bare.returncode == 2
    assert "choose what to replay: --id ID (repeatable), --since/--until WHEN, or --all" in (
        bare.stderr
    )
    assert mixed.returncode == 2 and "--all replays every dead letter" in mixed.stderr


async def produce(kafka_bootstrap: str, topic: str, value: bytes, key: bytes) -> RecordMetadata:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2**20)
    await producer.start()
    try:
        sent: RecordMetadata = await producer.send_and_wait(topic, value=value, key=key)
        return sent
    finally:
        await producer.stop()


def truncated_letter_for(
    value: bytes, key: bytes, sent: RecordMetadata, **fields: object
) -> DeadLetter:
    bounded: dict[str, object] = {
        "original_size": len(value),
        "original_sha256": hashlib.sha256(value).hexdigest(),
        "original_truncated": True,
    }
    return letter_for(
        value[:DEAD_LETTER_MAX_VALUE_BYTES],
        key,
        source_topic=sent.topic,
        source_offset=sent.offset,
        **(bounded | fields),
    )


async def test_a_truncated_letter_is_replayed_from_its_source_record(
    kafka_bootstrap: str, test_topics: None
) -> None:
    original, key = os.urandom(3 * DEAD_LETTER_MAX_VALUE_BYTES), b"conv-large"
    sent = await produce(kafka_bootstrap, REPLAY_TOPIC, original, key)
    letter = await dead_letter(kafka_bootstrap, truncated_letter_for(original, key, sent))

    listed = dlq(kafka_bootstrap, "list")
    replayed = dlq(kafka_bootstrap, "replay", "--id", letter.dead_letter_id)
    [copy] = [
        r
        for r in await replays_since(kafka_bootstrap, REPLAY_TOPIC, {0: sent.offset + 1})
        if replayed_from(r) == letter.dead_letter_id
    ]

    line = next(line for line in listed.stdout.splitlines() if letter.dead_letter_id in line)
    assert f"{len(original)} bytes truncated" in line
    assert replayed.returncode == 0, replayed.stderr
    assert "(re-read from the source record)" in replayed.stdout
    assert copy.value == original and copy.key == key


async def test_letters_whose_original_is_gone_or_altered_fail_and_the_others_are_replayed(
    kafka_bootstrap: str, test_topics: None
) -> None:
    original, key = os.urandom(2 * DEAD_LETTER_MAX_VALUE_BYTES), b"conv-large"
    expired = await produce(kafka_bootstrap, EXPIRED_TOPIC, original, key)
    kept = await produce(kafka_bootstrap, REPLAY_TOPIC, original, key)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:  # what retention would do
        await admin.delete_records(
            {TopicPartition(EXPIRED_TOPIC, 0): RecordsToDelete(before_offset=expired.offset + 1)}
        )
    finally:
        await admin.close()
    gone = await dead_letter(kafka_bootstrap, truncated_letter_for(original, key, expired))
    altered = await dead_letter(
        kafka_bootstrap, truncated_letter_for(original, key, kept, original_sha256="0" * 64)
    )
    fine = await dead_letter(kafka_bootstrap, letter_for(b"fine"))
    start = await end_offsets(KafkaConnection(kafka_bootstrap), REPLAY_TOPIC)

    result = dlq(
        kafka_bootstrap,
        *("replay", "--id", gone.dead_letter_id, "--id", altered.dead_letter_id),
        *("--id", fine.dead_letter_id, "--id", "no-such-letter"),
    )
    republished = [
        replayed_from(r) for r in await replays_since(kafka_bootstrap, REPLAY_TOPIC, start)
    ]

    assert result.returncode == 1
    assert f"not replayable {gone.dead_letter_id}: the letter holds the first " in result.stderr
    assert f"{EXPIRED_TOPIC}/0@{expired.offset} is no longer retained" in result.stderr
    assert f"not replayable {altered.dead_letter_id}: the bytes of the source record" in (
        result.stderr
    )
    assert "not found no-such-letter" in result.stderr
    assert "1 dead letter(s) replayed, 0 already replayed (skipped), 3 failed" in result.stdout
    assert republished == [fine.dead_letter_id]
