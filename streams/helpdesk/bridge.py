"""``techgear helpdesk``: consume ``support.escalations``, create tickets, nothing lost.

* The bridge reads in its own consumer group and commits record by record
  (``{partition: offset + 1}``), only once that record's ticket or note exists at the
  helpdesk *and* is recorded in Redis, or the record went to
  ``support.helpdesk-deadletter``. A crash anywhere before that leaves the record, and
  everything after it, to be delivered again.
* Handling a record is retried with exponential backoff (honouring ``Retry-After``) for as
  long as it fails transiently: Redis or the network down, 429, 5xx, a reply not shaped as
  the API documents. Meanwhile nothing after it on its partition is touched. A request the
  helpdesk refuses as invalid (another 4xx) goes to the dead letters with the helpdesk's
  reply. Any other error stops the bridge, loudly, with the record uncommitted.
* Redis remembers which escalation became which ticket, so a redelivered event never opens
  a second ticket; Zendesk's ``Idempotency-Key`` covers the instant between creating a
  ticket and remembering it. A Freshdesk ticket or a note made in that instant can still
  be repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis
from redis.exceptions import RedisError

from schemas import Escalation, EscalationKind, EventDecodeError, decode
from schemas.topics import ESCALATIONS, HELPDESK_DEADLETTER
from streams.helpdesk.errors import RefusedError, TransientError
from streams.helpdesk.targets import HttpCall, Target

log = logging.getLogger(__name__)

_KEY_PREFIX = "techgear:helpdesk:"
_MAX_BACKOFF_S = 60.0
_RETRIED = (TransientError, RedisError, KafkaConnectionError, KafkaTimeoutError)
"""Failures of handling a record that a later try can overcome."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    bootstrap_servers: str
    base_url: str
    redis_url: str
    backoff_s: float = 1.0
    timeout_s: float = 30.0


class HelpdeskBridge:
    def __init__(self, target: Target, config: BridgeConfig) -> None:
        self._target = target
        self._config = config
        self._redis = Redis.from_url(config.redis_url, decode_responses=True)
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=config.timeout_s,
            headers={"Authorization": target.auth_header(), "Content-Type": "application/json"},
        )

    @property
    def group_id(self) -> str:
        return f"techgear-helpdesk-{self._target.name}"

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            ESCALATIONS,
            bootstrap_servers=self._config.bootstrap_servers,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        producer = AIOKafkaProducer(bootstrap_servers=self._config.bootstrap_servers, acks="all")
        await consumer.start()
        await producer.start()
        try:
            await self.consume(consumer, producer, stop)
        finally:
            await consumer.stop()
            await producer.stop()
            await self._http.aclose()
            await self._redis.aclose()

    async def consume(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        """Settle and commit records one by one until ``stop``; a record still unsettled
        when ``stop`` comes stays uncommitted."""
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=1000, max_records=50)
            for partition, records in batches.items():
                for record in records:
                    if not await self._settle(record, producer, stop):
                        return
                    await consumer.commit({partition: record.offset + 1})

    async def _settle(
        self,
        record: ConsumerRecord[bytes, bytes],
        producer: AIOKafkaProducer,
        stop: asyncio.Event,
    ) -> bool:
        """Handle ``record`` until it is durable or dead-lettered (True), or until ``stop``
        (False)."""
        delay = self._config.backoff_s
        while not stop.is_set():
            try:
                await self._handle(record, producer)
                return True
            except _RETRIED as exc:
                wait = getattr(exc, "retry_after", None) or delay
                log.warning(
                    "escalation at %s/%d@%d not settled (%s: %s); retrying in %.1fs",
                    record.topic,
                    record.partition,
                    record.offset,
                    type(exc).__name__,
                    exc,
                    wait,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                delay = min(delay * 2, _MAX_BACKOFF_S)
            except Exception:
                log.exception(
                    "escalation at %s/%d@%d failed unexpectedly; stopping, uncommitted",
                    record.topic,
                    record.partition,
                    record.offset,
                )
                raise
        return False

    async def _handle(
        self, record: ConsumerRecord[bytes, bytes], producer: AIOKafkaProducer
    ) -> None:
        try:
            escalation = decode(record.value or b"", Escalation)
        except EventDecodeError as exc:
            await self._dead_letter(producer, record, f"undecodable escalation: {exc}")
            return
        if await self._redis.exists(self._key("event", escalation.event_id)):
            return  # already a ticket or a note: a redelivery
        try:
            ticket_id = await self._deliver(escalation)
        except RefusedError as exc:
            await self._dead_letter(producer, record, str(exc))
            return
        await self._redis.set(self._key("event", escalation.event_id), ticket_id)
        log.info("escalation %s is %s ticket %s", escalation.event_id, self._target.name, ticket_id)

    async def _deliver(self, escalation: Escalation) -> str:
        ticket_key = self._key("ticket", escalation.ticket_event_id)
        if escalation.kind is EscalationKind.FOLLOW_UP:
            ticket_id = await self._get("ticket", escalation.ticket_event_id)
            if ticket_id is not None:
                await self._send(self._target.add_note(ticket_id, escalation))
                return ticket_id
        reply = await self._send(self._target.create(escalation))
        ticket_id = self._read(reply, lambda r: self._target.ticket_id(r.json()))
        await self._redis.set(ticket_key, ticket_id)
        return ticket_id

    def _key(self, kind: str, event_id: str) -> str:
        return f"{_KEY_PREFIX}{self._target.name}:{kind}:{event_id}"

    async def _get(self, kind: str, event_id: str) -> str | None:
        return cast(str | None, await self._redis.get(self._key(kind, event_id)))  # decoded

    async def _send(self, call: HttpCall) -> httpx.Response:
        name = self._target.name
        try:
            response = await self._http.request(
                call.method, call.path, json=call.body, headers=call.headers
            )
        except httpx.TransportError as exc:
            raise TransientError(f"{name} did not answer: {exc!r}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"{name} answered {status}", retry_after=_retry_after(response))
        if status >= 300:
            raise RefusedError(status, response.text)
        return response

    def _read(self, reply: httpx.Response, read: Callable[[httpx.Response], T]) -> T:
        try:
            return read(reply)
        except (ValueError, LookupError, TypeError) as exc:  # includes a body that is not JSON
            raise TransientError(
                f"{self._target.name} answered {reply.status_code} with a reply not shaped as "
                f"documented ({type(exc).__name__}: {exc}): {reply.text[:200]!r}"
            ) from exc

    async def _dead_letter(
        self, producer: AIOKafkaProducer, record: ConsumerRecord[bytes, bytes], error: str
    ) -> None:
        log.error(
            "escalation at %s/%d@%d refused: %s",
            record.topic,
            record.partition,
            record.offset,
            error,
        )
        letter = {
            "event_type": "helpdesk.deadletter",
            "target": self._target.name,
            "source_topic": record.topic,
            "source_partition": record.partition,
            "source_offset": record.offset,
            "error": error,
            "escalation": (record.value or b"").decode("utf-8", "replace"),
        }
        await producer.send_and_wait(HELPDESK_DEADLETTER, orjson.dumps(letter), key=record.key)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None
