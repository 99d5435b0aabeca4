"""Keeps the transcript store (``gateway/transcripts.py``) and the index of rateable
answers (``gateway/rateable.py``) up to date from ``support.conversation-events``.

The gateways share the consumer group ``TRANSCRIPT_GROUP_ID``: each event is written once
by one of them, and its offset committed only after the write (at most once a second), so
an event is never lost to a gateway that died or a Redis that was down (the write is
retried until it succeeds; an event read twice is kept once, by its ``seq``). Between the
two it advances the store's watermark of each partition it holds to the consumer's
position there, so a socket knows when every event the live listener passed before it
opened is stored (``gateway/feed.py``). A record that is not a conversation event is
logged, counted and skipped. Anything else that ends the consumer ends only that
consumer: after a backoff a new one joins the group and resumes from the committed offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from redis.exceptions import RedisError

from gateway.conversation_events import decode_event
from gateway.listener import MAX_RESTART_BACKOFF_S, RESTART_BACKOFF_S, STABLE_S
from gateway.metrics import TRANSCRIPT_PROJECTION_RESTARTS, TRANSCRIPT_RECORDS_SKIPPED
from gateway.rateable import RateableAnswers
from gateway.transcripts import TranscriptStore
from runtime.errors import EventDecodeError
from runtime.kafka import KafkaConnection
from runtime.settings import TRANSCRIPT_GROUP_ID
from schemas.topics import CONVERSATION_EVENTS

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 1.0
"""At most this often the consumer commits what it has written."""


class TranscriptProjection:
    def __init__(
        self,
        connection: KafkaConnection,
        store: TranscriptStore,
        answers: RateableAnswers,
        *,
        group_id: str = TRANSCRIPT_GROUP_ID,
        restart_backoff_s: float = RESTART_BACKOFF_S,
        commit_interval_s: float = COMMIT_INTERVAL_S,
    ) -> None:
        self._kafka = connection
        self._commit_interval_s = commit_interval_s
        self._store = store
        self._answers = answers
        self._group_id = group_id
        self._restart_backoff_s = restart_backoff_s
        self._task: asyncio.Task[None] | None = None
        self._trouble: str | None = "starting"
        """Why the projection is not writing now, for ``/ready``; ``None`` while it is."""
        self._marked: dict[int, int] = {}
        """The watermark this projection last recorded per partition."""

    def health(self) -> tuple[bool, str]:
        """Whether transcripts are kept up to date, and a line for ``/ready``."""
        if self._trouble is None:
            return True, "writing transcripts"
        return False, f"not writing transcripts: {self._trouble}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="transcript-projection")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _supervise(self) -> None:
        delay = self._restart_backoff_s
        while True:
            began = time.monotonic()
            consumer = self._kafka.consumer(
                CONVERSATION_EVENTS,
                group_id=self._group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                self._trouble = None
                await self._consume(consumer)
            except Exception as exc:
                self._trouble = f"died of {type(exc).__name__}; restarting"
                TRANSCRIPT_PROJECTION_RESTARTS.inc()
                log.exception("transcript projection died; restarting in %.1f s", delay)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            if time.monotonic() - began >= STABLE_S:
                delay = self._restart_backoff_s
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_BACKOFF_S)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        written: dict[TopicPartition, OffsetAndMetadata] = {}
        committed_at = time.monotonic()
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=200)
            except KafkaError:
                log.exception("reading conversation events failed; retrying")
                await asyncio.sleep(1)
                continue
            for records in batches.values():
                for record in records:
                    await self._write(record)
            await self._advance_watermarks(consumer)
            written |= {tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in batches.items()}
            # A commit per batch costs the broker a write; what a restart re-reads for
            # committing less often is kept once.
            if written and time.monotonic() - committed_at >= self._commit_interval_s:
                await self._commit(consumer, written)
                written, committed_at = {}, time.monotonic()

    async def _advance_watermarks(self, consumer: AIOKafkaConsumer) -> None:
        """Below its position in each partition held, every event has been written: by this
        consumer, or before the group's committed offset it started from."""
        for tp in consumer.assignment():
            try:
                position = await consumer.position(tp)
            except IllegalStateError:
                continue  # revoked meanwhile: its next owner advances it
            if position > self._marked.get(tp.partition, -1):
                await self._until_stored(
                    functools.partial(self._store.advance_watermark, tp.partition, position)
                )
                self._marked[tp.partition] = position

    async def _write(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            event = decode_event(record.value or b"")
        except EventDecodeError as exc:
            TRANSCRIPT_RECORDS_SKIPPED.inc()
            log.warning(
                "skipped record %s/%d@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                str(exc)[:200],
            )
            return
        await self._until_stored(functools.partial(self._store.append, event))
        await self._until_stored(functools.partial(self._answers.record, event))

    async def _until_stored(self, write: Callable[[], Awaitable[object]]) -> None:
        delay = self._restart_backoff_s
        while True:
            try:
                await write()
                self._trouble = None
                return
            except (RedisError, OSError) as exc:
                self._trouble = f"store unavailable ({type(exc).__name__}); retrying"
                log.warning("transcript store unavailable (%r); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RESTART_BACKOFF_S)

    async def _commit(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> None:
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # After a rebalance the next owner re-reads these; the store keeps them once.
            log.warning("could not commit %s: %r", sorted(map(str, offsets)), exc)
