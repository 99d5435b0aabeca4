"""Dead letters for operators: list them, and replay chosen ones onto their source topic.

A replay republishes a letter's original bytes with its original key and the header
``replayed_from: <dead_letter_id>``, then records a ``DeadLetterReplay`` on
``support.deadletter-replays`` (compacted, keyed by the letter's id), which every later
run reads: a letter replayed once is skipped unless asked ``again``. A letter that holds
only a prefix of a large original (``original_truncated``) is replayed from the source
record itself, re-read at ``source_topic``/``source_partition``/``source_offset`` and
checked against ``original_sha256``; once the source topic has dropped it, it cannot be.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from runtime.codec import decode
from runtime.envelope import envelope
from runtime.errors import EventDecodeError
from runtime.kafka import KafkaConnection
from runtime.topics import ensure_topics
from schemas import DeadLetter, DeadLetterReplay
from schemas.topics import DEADLETTER, DEADLETTER_REPLAYS, REPLAYED_FROM_HEADER, TOPICS
from techgear.records import read_record, read_records

SOURCE = "/techgear/cli"
_MAX_REQUEST_BYTES = 16 * 1024 * 1024
"""Room for any original its source topic accepted: the broker, not this client, decides
what is too large."""


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    partition: int
    offset: int
    letter: DeadLetter
    replayed: DeadLetterReplay | None = None
    """The latest replay of this letter, if any."""

    @property
    def size(self) -> int:
        """Bytes of the original value (all of them, also when the letter holds a prefix)."""
        if self.letter.original_size is not None:
            return self.letter.original_size
        return len(base64.b64decode(self.letter.original_value_b64))


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters to replay: those matching every criterion given, or ``everything``.
    ``since`` is inclusive, ``until`` exclusive, both compared with ``occurred_at``."""

    ids: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    everything: bool = False

    def __post_init__(self) -> None:
        narrowed = bool(self.ids) or self.since is not None or self.until is not None
        if self.everything and narrowed:
            raise ValueError(
                "--all replays every dead letter: give it without --id/--since/--until"
            )
        if not self.everything and not narrowed:
            raise ValueError(
                "choose what to replay: --id ID (repeatable), --since/--until WHEN, or --all"
            )

    def matches(self, letter: DeadLetter) -> bool:
        if self.everything:
            return True
        return (
            (not self.ids or letter.dead_letter_id in self.ids)
            and (self.since is None or letter.occurred_at >= self.since)
            and (self.until is None or letter.occurred_at < self.until)
        )


class Outcome(enum.StrEnum):
    REPLAYED = "replayed"
    WOULD_REPLAY = "would replay"
    ALREADY_REPLAYED = "already replayed"
    NOT_REPLAYABLE = "not replayable"
    NOT_FOUND = "not found"
    FAILED = "failed"
    """Kafka refused the republished record, or the record of the replay."""

    @property
    def failed(self) -> bool:
        return self in (Outcome.NOT_REPLAYABLE, Outcome.NOT_FOUND, Outcome.FAILED)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    dead_letter_id: str
    outcome: Outcome
    detail: str


class _NotReplayableError(Exception):
    """The original bytes of a dead letter cannot be had, or are not the ones it describes."""


@dataclass(frozen=True, slots=True)
class _Original:
    key: bytes | None
    value: bytes
    from_source_record: bool


async def list_dead_letters(kafka: KafkaConnection) -> list[StoredDeadLetter]:
    """Every dead letter still retained (once each), oldest first within each partition,
    with its latest replay."""
    replays = await _latest_replays(kafka)
    letters: dict[str, StoredDeadLetter] = {}
    for record in await read_records(kafka, DEADLETTER):
        try:
            letter = decode(record.value or b"", DeadLetter)
        except EventDecodeError:
            continue
        letters.setdefault(
            letter.dead_letter_id,
            StoredDeadLetter(
                record.partition, record.offset, letter, replays.get(letter.dead_letter_id)
            ),
        )
    return list(letters.values())


async def _latest_replays(kafka: KafkaConnection) -> dict[str, DeadLetterReplay]:
    """Dead letter id → its latest recorded replay."""
    replays: dict[str, DeadLetterReplay] = {}
    for record in await read_records(kafka, DEADLETTER_REPLAYS):
        try:
            replay = decode(record.value or b"", DeadLetterReplay)
        except EventDecodeError:
            continue  # a tombstone, or not ours: it records nothing
        replays[replay.dead_letter_id] = replay
    return replays


async def replay(
    kafka: KafkaConnection,
    selection: Selection,
    *,
    again: bool = False,
    dry_run: bool = False,
    create_topics: bool = True,
    replication_factor: int = 1,
) -> list[ReplayResult]:
    """Republish the selected dead letters' originals to their source topics and record
    each replay; letters replayed before are skipped unless ``again``. ``dry_run`` checks
    and reports without publishing or recording anything."""
    stored = await list_dead_letters(kafka)
    chosen = [s for s in stored if selection.matches(s.letter)]
    results = [
        ReplayResult(missing, Outcome.NOT_FOUND, "no retained dead letter has this id")
        for missing in sorted(selection.ids - {s.letter.dead_letter_id for s in stored})
    ]
    if dry_run:
        for letter in chosen:
            results.append(await _replay_one(kafka, None, letter, again))
        return results
    if create_topics:
        await ensure_topics(
            kafka,
            replication_factor=replication_factor,
            specs=tuple(spec for spec in TOPICS if spec.name == DEADLETTER_REPLAYS),
        )
    producer = kafka.producer(max_request_size=_MAX_REQUEST_BYTES)
    await producer.start()
    try:
        for letter in chosen:
            results.append(await _replay_one(kafka, producer, letter, again))
    finally:
        await producer.stop()
    return results


async def _replay_one(
    kafka: KafkaConnection,
    producer: AIOKafkaProducer | None,
    stored: StoredDeadLetter,
    again: bool,
) -> ReplayResult:
    """Replays one letter with ``producer``; without one, only says what it would do."""
    letter, previous = stored.letter, stored.replayed
    if previous is not None and not again:
        return ReplayResult(
            letter.dead_letter_id,
            Outcome.ALREADY_REPLAYED,
            f"replayed {previous.replayed_at:%Y-%m-%d %H:%M:%S}Z to "
            f"{previous.target_topic}/{previous.target_partition}@{previous.target_offset}; "
            "--again replays it again",
        )
    try:
        original = await _original(kafka, letter)
    except _NotReplayableError as exc:
        return ReplayResult(letter.dead_letter_id, Outcome.NOT_REPLAYABLE, str(exc))
    how = " (re-read from the source record)" if original.from_source_record else ""
    if producer is None:
        return ReplayResult(
            letter.dead_letter_id,
            Outcome.WOULD_REPLAY,
            f"{len(original.value)} bytes to {letter.source_topic}{how}",
        )
    try:
        sent = await producer.send_and_wait(
            letter.source_topic,
            value=original.value,
            key=original.key,
            headers=[(REPLAYED_FROM_HEADER, letter.dead_letter_id.encode())],
        )
    except KafkaError as exc:
        return ReplayResult(
            letter.dead_letter_id, Outcome.FAILED, f"{letter.source_topic} refused it: {exc!r}"
        )
    where = f"{sent.topic}/{sent.partition}@{sent.offset}"
    record = DeadLetterReplay(
        dead_letter_id=letter.dead_letter_id,
        request_id=letter.request_id,
        target_topic=sent.topic,
        target_partition=sent.partition,
        target_offset=sent.offset,
        original_size=len(original.value),
        original_sha256=hashlib.sha256(original.value).hexdigest(),
        from_source_record=original.from_source_record,
    )
    try:
        await envelope(record, source=SOURCE, key=letter.dead_letter_id).send(
            producer, DEADLETTER_REPLAYS
        )
    except KafkaError as exc:
        return ReplayResult(
            letter.dead_letter_id,
            Outcome.FAILED,
            f"replayed to {where}{how} but not recorded on {DEADLETTER_REPLAYS} ({exc!r}): "
            "a later run would replay it again",
        )
    return ReplayResult(letter.dead_letter_id, Outcome.REPLAYED, f"to {where}{how}")


async def _original(kafka: KafkaConnection, letter: DeadLetter) -> _Original:
    """The whole original key and value of ``letter``, checked against its hash."""
    source = f"{letter.source_topic}/{letter.source_partition}@{letter.source_offset}"
    if letter.original_truncated:
        if letter.original_sha256 is None:
            raise _NotReplayableError("the letter holds a prefix and no hash to check a copy by")
        record = await read_record(
            kafka, letter.source_topic, letter.source_partition, letter.source_offset
        )
        if record is None:
            raise _NotReplayableError(
                f"the letter holds the first {_prefix_size(letter)} of {letter.original_size} "
                f"bytes and the source record {source} is no longer retained; only the prefix, "
                "size and SHA-256 remain"
            )
        original = _Original(record.key, record.value or b"", from_source_record=True)
    else:
        original = _Original(
            base64.b64decode(letter.original_key_b64) if letter.original_key_b64 else None,
            base64.b64decode(letter.original_value_b64),
            from_source_record=False,
        )
    digest = hashlib.sha256(original.value).hexdigest()
    if letter.original_sha256 is not None and digest != letter.original_sha256.lower():
        where = f"the source record {source}" if original.from_source_record else "the letter"
        raise _NotReplayableError(
            f"the bytes of {where} do not match the letter's SHA-256 "
            f"({digest[:12]}… instead of {letter.original_sha256[:12]}…)"
        )
    return original


def _prefix_size(letter: DeadLetter) -> int:
    return len(base64.b64decode(letter.original_value_b64))
