"""``techgear helpdesk``: consume ``support.escalations``; one ticket per escalation, one
private note per follow-up, one public reply from the requester per customer message, none
lost and none doubled.

Delivery is at least once, and deduplicated into once:

* The bridge reads in its own consumer group and commits record by record
  (``{partition: offset + 1}``), only once that record's ticket or note is durable (made at
  the helpdesk *and* recorded in Redis) or the record went to
  ``support.helpdesk-deadletter``. A crash anywhere before that leaves the record, and
  everything after it, to be delivered again.
* Handling a record is retried with exponential backoff (honouring ``Retry-After``) for as
  long as it fails transiently: Redis or the network down, 429, 5xx, a reply not shaped as
  the API documents. Meanwhile nothing after it on its partition is touched. What retrying
  cannot fix goes to the dead letters with a ``reason`` (see ``errors``): a request the
  helpdesk refuses as invalid (another 4xx, with the helpdesk's reply), a ticket id that is
  not a positive integer, a new ticket over its principal's hourly quota (``quota``). Any
  other error stops the bridge, loudly, with the record uncommitted.
* A follow-up becomes a note on the ticket its ``ticket_event_id`` opened; a customer
  message (the customer wrote while a person owns the conversation) becomes a public reply
  from the ticket's requester there (see ``targets``). A ``new`` escalation opens a ticket,
  also in a conversation that had one: the worker sends ``new`` only once the
  conversation's ticket is older than its escalation window, and a replayed record keeps
  its ``event_id``, so it is found done rather than made again. A follow-up or customer
  message whose ticket the bridge does not know (it was dead-lettered) opens one.
* Redis keeps, per target, ``event:<event_id>`` (done: the ticket's id),
  ``ticket:<event_id>`` (the ticket an escalation opened, for its follow-ups) and
  ``note:<event_id>`` (the note or reply a follow-up or customer message became). A
  redelivered record Redis knows is committed without calling the helpdesk. With them, in
  the same transaction, ``HELPDESK_TICKET_PREFIX<target>:<ticket id>`` names the ticket's
  conversation for ``conversation_ttl_s`` after the ticket's latest escalation (a Freshdesk
  webhook names only the ticket; the gateways read it).
* Before each write to the helpdesk the bridge stores ``attempt:<event_id>``. Finding it
  means an earlier try may have reached the helpdesk without being recorded, so the bridge
  looks there first for the ticket, note or reply carrying the escalation's marker (see
  ``targets``) and records the one it finds. Zendesk ticket creation also sends the
  ``Idempotency-Key``. A write the helpdesk certainly did not act on (429, no connection)
  clears the marker again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from aiokafka.structs import ConsumerRecord
from redis.exceptions import RedisError

from helpdesk import metrics
from helpdesk.quota import TicketQuota
from helpdesk.targets import Found, HttpCall, Target
from runtime.codec import decode
from runtime.envelope import envelope
from runtime.errors import (
    EventDecodeError,
    ForeignUrlError,
    HelpdeskPermanentError,
    HelpdeskTransientError,
    NotAppliedError,
    RateLimitedError,
    RefusedError,
)
from runtime.kafka import KafkaConnection
from runtime.redis import HELPDESK_PREFIX, HELPDESK_TICKET_PREFIX, RedisSettings, redis_client
from schemas import Escalation, EscalationKind, HelpdeskDeadLetter
from schemas.events import DEAD_LETTER_MAX_VALUE_BYTES
from schemas.topics import ESCALATIONS, HELPDESK_DEADLETTER

log = logging.getLogger(__name__)

SOURCE = "/techgear/helpdesk"
_MAX_ERROR_CHARS = 2000
_MAX_BACKOFF_S = 60.0
_RETRIED = (HelpdeskTransientError, RedisError, KafkaConnectionError, KafkaTimeoutError)
"""Failures of handling a record that a later try can overcome."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    kafka: KafkaConnection
    base_url: str
    redis: RedisSettings
    backoff_s: float = 1.0
    timeout_s: float = 30.0
    tickets_per_principal_per_hour: int = 20
    """0: no limit."""
    conversation_ttl_s: int = 7 * 24 * 3600
    """How long a ticket's conversation is remembered after its latest escalation."""


@dataclass(frozen=True, slots=True)
class Delivery:
    ticket_id: str
    note_id: str | None = None
    """Set when the escalation became a note or reply on ``ticket_id``."""
    found: bool = False
    """Made by an earlier try that was not recorded, and found at the helpdesk."""


class HelpdeskBridge:
    def __init__(self, target: Target, config: BridgeConfig) -> None:
        self._target = target
        self._config = config
        self._redis = redis_client(config.redis, decode_responses=True)
        self._quota = TicketQuota(
            self._redis,
            f"{HELPDESK_PREFIX}{target.name}:tickets:",
            config.tickets_per_principal_per_hour,
        )
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=config.timeout_s,
            headers={"Authorization": target.auth_header(), "Content-Type": "application/json"},
        )

    @property
    def group_id(self) -> str:
        return f"techgear-helpdesk-{self._target.name}"

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._config.kafka.consumer(
            ESCALATIONS,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        producer = self._config.kafka.producer()
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
            await self._dead_letter(producer, record, None, "undecodable", f"undecodable: {exc}")
            return
        if await self._redis.exists(self._key("event", escalation.event_id)):
            self._count(escalation, "redelivered")  # already a ticket, note or reply
            return
        try:
            delivery = await self._deliver(escalation)
        except HelpdeskPermanentError as exc:
            await self._redis.delete(self._key("attempt", escalation.event_id))
            await self._dead_letter(producer, record, escalation, exc.reason, str(exc))
            self._count(escalation, "dead_lettered")
            return
        await self._record(escalation, delivery)
        self._count(escalation, "found" if delivery.found else "written")
        log.info(
            "escalation %s is %s ticket %s%s",
            escalation.event_id,
            self._target.name,
            delivery.ticket_id,
            f" note {delivery.note_id}" if delivery.note_id else "",
        )

    async def _deliver(self, escalation: Escalation) -> Delivery:
        ticket_id = None
        if escalation.kind is not EscalationKind.NEW:
            ticket_id = await self._get("ticket", escalation.ticket_event_id)
        attempt = self._key("attempt", escalation.event_id)
        attempted_at = await self._get("attempt", escalation.event_id)
        if attempted_at is not None:
            found = await self._find(escalation, ticket_id)
            if found is not None:
                return found
            since = time.time() - float(attempted_at)
            if ticket_id is None and since < self._target.ticket_search_lag_s:
                raise HelpdeskTransientError(
                    f"the ticket tried {since:.0f}s ago may not be searchable yet"
                )
        if ticket_id is None and not await self._quota.claim(
            escalation.principal, escalation.event_id
        ):
            raise RateLimitedError(
                f"its principal opened {self._quota.per_hour} tickets in the past hour"
            )
        write = await self._write(escalation, ticket_id)
        await self._redis.set(attempt, str(time.time()))
        try:
            reply = await self._send(write)
            if ticket_id is None:
                return Delivery(self._read(reply, self._target.ticket_id))
            return Delivery(ticket_id, self._read(reply, self._target.note_id))
        except NotAppliedError:
            await self._redis.delete(attempt)
            raise

    async def _write(self, escalation: Escalation, ticket_id: str | None) -> HttpCall:
        """The call that makes the escalation's ticket, note or customer reply; a customer
        reply is written as the ticket's requester, read here, before anything is written."""
        if ticket_id is None:
            return self._target.create(escalation)
        if escalation.kind is not EscalationKind.CUSTOMER_MESSAGE:
            return self._target.add_note(ticket_id, escalation)
        ticket = await self._send(self._target.show_ticket(ticket_id))
        requester_id = self._read(ticket, self._target.requester_id)
        return self._target.add_customer_message(ticket_id, requester_id, escalation)

    async def _find(self, escalation: Escalation, ticket_id: str | None) -> Delivery | None:
        """The ticket (or, given ``ticket_id``, the note or reply) an earlier try made, if any."""
        call: HttpCall | None
        if ticket_id is None:
            call, read = self._target.find_ticket(escalation), self._target.ticket_found
        else:
            call, read = self._target.find_note(ticket_id), self._target.note_found
        while call is not None:
            reply = await self._send(call)
            found: Found = self._read(reply, lambda r: read(r, escalation))
            if found.id is not None:
                log.info(
                    "escalation %s found made by an earlier try: %s", escalation.event_id, found.id
                )
                if ticket_id is None:
                    return Delivery(found.id, found=True)
                return Delivery(ticket_id, found.id, found=True)
            call = found.next
        return None

    async def _record(self, escalation: Escalation, delivery: Delivery) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key("event", escalation.event_id), delivery.ticket_id)
            if delivery.note_id is None:
                pipe.set(self._key("ticket", escalation.ticket_event_id), delivery.ticket_id)
            else:
                pipe.set(self._key("note", escalation.event_id), delivery.note_id)
            pipe.delete(self._key("attempt", escalation.event_id))
            pipe.set(
                f"{HELPDESK_TICKET_PREFIX}{self._target.name}:{delivery.ticket_id}",
                escalation.conversation_id,
                ex=self._config.conversation_ttl_s,
            )
            await pipe.execute()

    def _count(self, escalation: Escalation, outcome: str) -> None:
        metrics.ESCALATIONS.labels(self._target.name, escalation.kind.value, outcome).inc()

    def _key(self, kind: str, event_id: str) -> str:
        return f"{HELPDESK_PREFIX}{self._target.name}:{kind}:{event_id}"

    async def _get(self, kind: str, event_id: str) -> str | None:
        return cast(str | None, await self._redis.get(self._key(kind, event_id)))  # decoded

    async def _send(self, call: HttpCall) -> httpx.Response:
        name = self._target.name
        url = self._http.base_url.join(call.path)
        if (url.scheme, url.host, url.port) != (
            self._http.base_url.scheme,
            self._http.base_url.host,
            self._http.base_url.port,
        ):
            # A next-page link is a whole URL from a reply; our credentials go nowhere else.
            raise ForeignUrlError(f"{name} pointed a listing at another origin: {url.host}")
        try:
            response = await self._http.request(
                call.method, call.path, json=call.body, headers=call.headers, params=call.params
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise NotAppliedError(f"{name} unreachable: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise HelpdeskTransientError(f"{name} did not answer: {exc!r}") from exc
        status = response.status_code
        if status == 429:
            raise NotAppliedError(f"{name} answered 429", retry_after=_retry_after(response))
        if status >= 500:
            raise HelpdeskTransientError(
                f"{name} answered {status}", retry_after=_retry_after(response)
            )
        if status >= 300:
            raise RefusedError(status, response.text)
        return response

    def _read(self, reply: httpx.Response, read: Callable[[httpx.Response], T]) -> T:
        try:
            return read(reply)
        except (ValueError, LookupError, TypeError) as exc:  # includes a body that is not JSON
            raise HelpdeskTransientError(
                f"{self._target.name} answered {reply.status_code} with a reply not shaped as "
                f"documented ({type(exc).__name__}: {exc}): {reply.text[:200]!r}"
            ) from exc

    async def _dead_letter(
        self,
        producer: AIOKafkaProducer,
        record: ConsumerRecord[bytes, bytes],
        escalation: Escalation | None,
        reason: str,
        error: str,
    ) -> None:
        log.error(
            "escalation at %s/%d@%d dead-lettered (%s): %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            error,
        )
        value = record.value or b""
        letter = HelpdeskDeadLetter(
            target=self._target.name,
            reason=reason,
            escalation_event_id=escalation.event_id if escalation else None,
            request_id=escalation.request_id if escalation else None,
            conversation_id=escalation.conversation_id if escalation else None,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            original_value_b64=base64.b64encode(value[:DEAD_LETTER_MAX_VALUE_BYTES]).decode(),
            original_size=len(value),
            original_sha256=hashlib.sha256(value).hexdigest(),
            original_truncated=len(value) > DEAD_LETTER_MAX_VALUE_BYTES,
            error=error[:_MAX_ERROR_CHARS],
        )
        key = (record.key or b"").decode("utf-8", "replace")
        await envelope(letter, source=SOURCE, key=key).send(producer, HELPDESK_DEADLETTER)
        metrics.DEAD_LETTERS.labels(self._target.name, reason).inc()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None
