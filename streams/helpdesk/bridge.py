"""``techgear helpdesk``: consume ``support.escalations``, create tickets, exactly once.

The bridge reads in its own consumer group and commits an escalation's offset only once
its ticket (or note) exists. Redis remembers which escalation became which ticket, so a
restart mid-stream, or a redelivered event, never opens a second ticket; Zendesk's
``Idempotency-Key`` covers the instant between creating a ticket and remembering it.
Rate limits (429) and server errors (5xx) are retried with backoff, honouring
``Retry-After``, for as long as it takes; a request the helpdesk refuses as invalid
(other 4xx) goes to ``support.helpdesk-deadletter`` with the helpdesk's reply.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis

from schemas import Escalation, EscalationKind, EventDecodeError, decode
from schemas.topics import ESCALATIONS, HELPDESK_DEADLETTER
from streams.helpdesk.targets import HttpCall, Target

log = logging.getLogger(__name__)

_KEY_PREFIX = "techgear:helpdesk:"
_MAX_BACKOFF_S = 60.0


class RefusedError(Exception):
    """The helpdesk refused the request as invalid; retrying cannot help."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


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
        self._redis = Redis.from_url(config.redis_url)
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
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=1000, max_records=50)
                for records in batches.values():
                    for record in records:
                        await self._handle(record, producer)
                        await consumer.commit()
        finally:
            await consumer.stop()
            await producer.stop()
            await self._http.aclose()
            await self._redis.aclose()

    async def _handle(
        self, record: ConsumerRecord[bytes, bytes], producer: AIOKafkaProducer
    ) -> None:
        try:
            escalation = decode(record.value or b"", Escalation)
        except EventDecodeError as exc:
            await self._dead_letter(producer, record, f"undecodable escalation: {exc}")
            return
        done_key = f"{_KEY_PREFIX}{self._target.name}:event:{escalation.event_id}"
        if await self._redis.exists(done_key):
            return  # already a ticket or a note: a redelivery
        try:
            ticket_id = await self._deliver(escalation)
        except RefusedError as exc:
            await self._dead_letter(producer, record, str(exc))
            return
        await self._redis.set(done_key, ticket_id)
        log.info("escalation %s is %s ticket %s", escalation.event_id, self._target.name, ticket_id)

    async def _deliver(self, escalation: Escalation) -> str:
        ticket_key = f"{_KEY_PREFIX}{self._target.name}:ticket:{escalation.ticket_event_id}"
        if escalation.kind is EscalationKind.FOLLOW_UP:
            existing = await self._redis.get(ticket_key)
            if existing is not None:
                ticket_id = existing.decode() if isinstance(existing, bytes) else str(existing)
                await self._send(self._target.add_note(ticket_id, escalation))
                return ticket_id
        response = await self._send(self._target.create(escalation))
        ticket_id = self._target.ticket_id(response)
        await self._redis.set(ticket_key, ticket_id)
        return ticket_id

    async def _send(self, call: HttpCall) -> dict[str, Any]:
        delay = self._config.backoff_s
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, json=call.body, headers=call.headers
                )
            except httpx.TransportError as exc:
                log.warning("%s unreachable (%s); retrying in %.1fs", self._target.name, exc, delay)
            else:
                if response.status_code < 300:
                    result: dict[str, Any] = response.json()
                    return result
                if response.status_code != 429 and response.status_code < 500:
                    raise RefusedError(response.status_code, response.text)
                delay = _retry_after(response) or delay
                log.warning(
                    "%s answered %d; retrying in %.1fs",
                    self._target.name,
                    response.status_code,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)

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
