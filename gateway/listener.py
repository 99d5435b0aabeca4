"""The gateway's reader of the answer topics: no record stops it, and it restarts itself.

Whatever handling one record raises is logged (bounded, without the record's content),
counted in ``techgear_gateway_answer_records_skipped_total{reason}`` and skipped. Anything
else that ends the fetch loop ends that consumer too: after a backoff a new one resumes at
the next unread offset of every partition, so answers published meanwhile still reach
their callers. Until it reads again, ``health()`` says why and ``/ready`` fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from gateway.metrics import ANSWER_LISTENER_RESTARTS, ANSWER_RECORDS_SKIPPED
from runtime.errors import EventDecodeError

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = 0.5
"""First pause before a dead listener is restarted; it doubles with each death in a row."""
MAX_RESTART_BACKOFF_S = 30.0
STABLE_S = 60.0
"""A listener that ran this long before dying starts its backoff over."""
_MESSAGE_CHARS = 200
"""An error message in a log line is cut here: it may quote the record it failed on."""

RecordHandler = Callable[[ConsumerRecord[bytes, bytes]], None]
"""Called on the event loop for each record; what it raises skips that record only."""
ConsumerFactory = Callable[[], AIOKafkaConsumer]


class ListenerState(enum.StrEnum):
    NOT_STARTED = "not started"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"


class SkipReason(enum.StrEnum):
    UNDECODABLE = "undecodable"
    """Not JSON, or not the event its topic carries."""
    UNEXPECTED = "unexpected"
    """Any other error while handling the record."""


for _reason in SkipReason:  # every series exists from the start, at zero
    ANSWER_RECORDS_SKIPPED.labels(_reason.value)


class AnswerListener:
    def __init__(
        self,
        consumer_factory: ConsumerFactory,
        handle: RecordHandler,
        *,
        restart_backoff_s: float = RESTART_BACKOFF_S,
        max_restart_backoff_s: float = MAX_RESTART_BACKOFF_S,
    ) -> None:
        self._new_consumer = consumer_factory
        self._handle = handle
        self._restart_backoff_s = restart_backoff_s
        self._max_restart_backoff_s = max_restart_backoff_s
        self._positions: dict[TopicPartition, int] = {}
        """The next offset to read of every partition listened to."""
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._state = ListenerState.NOT_STARTED
        self._failure = ""
        self._restarts = 0

    async def start(self, partitions: Sequence[TopicPartition]) -> None:
        """Listen to ``partitions`` from their current ends: nothing published after this
        returns is missed."""
        consumer = self._new_consumer()
        try:
            await consumer.start()
            consumer.assign(list(partitions))
            await consumer.seek_to_end(*partitions)
            self._positions = {tp: await consumer.position(tp) for tp in partitions}
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._state = ListenerState.RUNNING
        self._task = asyncio.create_task(self._supervise(), name="answers-listener")

    def positions(self, topic: str) -> dict[int, int]:
        """The next offset to read of each partition of ``topic``: every record before it
        has been handled."""
        return {tp.partition: offset for tp, offset in self._positions.items() if tp.topic == topic}

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close_consumer()
        self._state = ListenerState.STOPPED

    def health(self) -> tuple[bool, str]:
        """Whether the listener reads, and a line for ``/ready`` saying so or why not."""
        if (
            self._task is not None
            and self._task.done()
            and self._state is not ListenerState.STOPPED
        ):
            return False, "not reading answers: its task ended"
        if self._state is ListenerState.RUNNING:
            return True, f"reading {len(self._positions)} partition(s)"
        if self._state is ListenerState.RESTARTING:
            return False, (
                f"not reading answers: died of {self._failure}; "
                f"restarting (restart {self._restarts})"
            )
        return False, f"not reading answers: {self._state.value}"

    async def _supervise(self) -> None:
        deaths_in_a_row = 0
        while True:
            began = time.monotonic()
            try:
                if self._consumer is None:
                    self._consumer = await self._resume()
                self._state = ListenerState.RUNNING
                await self._fetch(self._consumer)
            except Exception as exc:
                stable = time.monotonic() - began >= STABLE_S
                deaths_in_a_row = 1 if stable else deaths_in_a_row + 1
                delay = min(
                    self._restart_backoff_s * 2 ** (deaths_in_a_row - 1),
                    self._max_restart_backoff_s,
                )
                self._state = ListenerState.RESTARTING
                self._failure = type(exc).__name__
                self._restarts += 1
                ANSWER_LISTENER_RESTARTS.inc()
                log.error("answer listener died; restarting in %.1f s", delay, exc_info=exc)
                await self._close_consumer()
                await asyncio.sleep(delay)

    async def _resume(self) -> AIOKafkaConsumer:
        """A new consumer at the next unread offset of every partition."""
        consumer = self._new_consumer()
        try:
            await consumer.start()
            consumer.assign(list(self._positions))
            for tp, offset in self._positions.items():
                consumer.seek(tp, offset)
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    async def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception:
                log.warning("answer consumer did not stop cleanly", exc_info=True)

    async def _fetch(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            except KafkaError:
                log.exception("reading answers failed; retrying")
                await asyncio.sleep(1)
                continue
            for tp, records in batches.items():
                for record in records:
                    self._take(record)
                    self._positions[tp] = record.offset + 1

    def _take(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            self._handle(record)
        except EventDecodeError as exc:
            self._skip(record, SkipReason.UNDECODABLE, exc)
        except Exception as exc:
            self._skip(record, SkipReason.UNEXPECTED, exc)

    def _skip(
        self, record: ConsumerRecord[bytes, bytes], reason: SkipReason, exc: Exception
    ) -> None:
        ANSWER_RECORDS_SKIPPED.labels(reason.value).inc()
        log.warning(
            "skipped record %s/%d@%d (%s): %s at %s: %s",
            record.topic,
            record.partition,
            record.offset,
            reason.value,
            type(exc).__name__,
            _origin(exc),
            _bounded(str(exc)),
        )


def _origin(exc: BaseException) -> str:
    """Where ``exc`` was raised, as ``file:line``."""
    tb = exc.__traceback__
    if tb is None:
        return "unknown"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


def _bounded(message: str) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= _MESSAGE_CHARS else flat[:_MESSAGE_CHARS] + "…"
