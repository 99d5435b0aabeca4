"""The gateway's side of Kafka: publish a request, wait for its answer.

Each request names this gateway's reply partition (``gateway/reply_partitions.py``) in
its ``reply_partition`` header, and the workers send its answer and deltas there. The
gateway reads, without a consumer group, that partition of ``support.answers`` and
``support.answer-deltas`` (every partition with ``ANSWER_ROUTING=broadcast``) and all of
``support.deadletter``, to fail a caller whose request could not be processed, and
resolves the callers it is holding; events for other instances' callers are skipped (and
counted). This keeps any number of gateways stateless behind a load balancer.
The same reader takes ``support.conversation-events`` from its end, every partition, and
hands each event of a conversation with a socket open here to that socket
(``gateway/live.py``): a customer's socket may be on any gateway.
Reading is the ``AnswerListener``'s job (``gateway/listener.py``); what the records mean
is this module's. Agents' actions are published here too, on the requests' topic, so the
worker sees a conversation's questions and actions in one order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, RecordMetadata

from gateway.conversation_events import decode_event
from gateway.listener import AnswerListener
from gateway.live import LiveConversations
from gateway.metrics import FOREIGN_ANSWER_RECORDS, KAFKA_PRODUCE_ERRORS, KAFKA_PRODUCE_LATENCY
from gateway.reply_partitions import AnswerRouting, ReplyPartition
from runtime.codec import decode
from runtime.envelope import envelope
from runtime.errors import (
    BrokerUnavailableError,
    ConversationNotOwnedError,
    ConversationOwnershipError,
    ProcessingFailedError,
)
from runtime.kafka import KafkaConnection
from runtime.settings import WORKER_GROUP_ID
from runtime.topics import ensure_topics, partitions_of
from schemas import AgentAction, ChatAnswer, ChatDelta, ChatRequest, DeadLetter, Feedback
from schemas.cloudevents import header_value
from schemas.topics import (
    ANSWER_DELTAS,
    ANSWERS,
    CONVERSATION_EVENTS,
    DEADLETTER,
    FEEDBACK,
    REPLY_PARTITION_HEADER,
    REQUEST_ID_HEADER,
    REQUESTS,
)

log = logging.getLogger(__name__)

SOURCE = "/techgear/gateway"
_PROBE_TIMEOUT_S = 3.0
_PUBLISH_GRACE_S = 1.0
"""Past the producer's own deadline, in case it never reports back."""
_METADATA_ATTEMPTS = 20
_LISTENED = frozenset({ANSWERS, ANSWER_DELTAS, DEADLETTER, CONVERSATION_EVENTS})
_REPLY_TOPICS = frozenset({ANSWERS, ANSWER_DELTAS})

DeltaCallback = Callable[[ChatDelta], None]
"""Called on the event loop for each delta; must not block."""


@dataclass(slots=True)
class _DeltaRoute:
    callback: DeltaCallback
    next_seq: int = 0
    """A request redelivered to a worker (after a crash) streams again from seq 0; what the
    caller already has is not sent twice."""

    def forward(self, delta: ChatDelta) -> None:
        if delta.seq >= self.next_seq:
            self.next_seq = delta.seq + 1
            self.callback(delta)


@dataclass(slots=True)
class _Pending:
    """The answer awaited for one request id, by every caller here asking it: a retry
    while the first call still waits shares its wait rather than publishing again."""

    future: asyncio.Future[ChatAnswer]
    callers: int = 0


_NOT_OWNED = ConversationOwnershipError.__name__
"""The worker's error class for that refusal, named in the letter."""


@dataclass(frozen=True, slots=True)
class Probe:
    ok: bool
    latency_ms: float
    detail: str
    required: bool = True


class KafkaBridge:
    def __init__(
        self,
        connection: KafkaConnection,
        *,
        create_topics: bool = True,
        replication_factor: int = 1,
        worker_group: str = WORKER_GROUP_ID,
        publish_timeout_s: float = 5.0,
        routing: AnswerRouting = AnswerRouting.PARTITION,
        reply_partition: ReplyPartition | None = None,
    ) -> None:
        """``reply_partition`` defaults to the fixed partition 0."""
        self._kafka = connection
        self._routing = routing
        self._reply = reply_partition or ReplyPartition(None)
        self._create_topics = create_topics
        self._replication_factor = replication_factor
        self._worker_group = worker_group
        self._publish_timeout_s = publish_timeout_s
        self._waiting: dict[str, _Pending] = {}
        self._delta_routes: dict[str, _DeltaRoute] = {}
        self._listener = AnswerListener(self._new_consumer, self._on_record)
        self.live = LiveConversations(lambda: self._listener.positions(CONVERSATION_EVENTS))
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # aiokafka clients bind to the running event loop, so they are made here.
        self._producer = self._kafka.producer(
            linger_ms=1,
            # The producer gives up on (and drops) an unsent request at this deadline, so a
            # caller told 503 is not answered later behind their back.
            request_timeout_ms=int(self._publish_timeout_s * 1000),
        )
        self._admin = self._kafka.admin(request_timeout_ms=5000)
        try:
            if self._create_topics:
                await ensure_topics(self._kafka, replication_factor=self._replication_factor)
            await self._admin.start()
            await self._producer.start()
            partitions = await self._listened_partitions()
            await self._reply.start(sum(tp.topic == ANSWERS for tp in partitions))
            await self._listener.start(self._read(partitions))
        except BaseException:
            await self.stop()
            raise

    def _new_consumer(self) -> AIOKafkaConsumer:
        return self._kafka.consumer(group_id=None, enable_auto_commit=False)

    async def _listened_partitions(self) -> list[TopicPartition]:
        for _ in range(_METADATA_ATTEMPTS):  # a topic created a moment ago may lack metadata
            try:
                return await partitions_of(self._admin, *sorted(_LISTENED))
            except KafkaError as exc:
                last = exc
            await asyncio.sleep(0.5)
        raise BrokerUnavailableError(f"no partition metadata for {sorted(_LISTENED)}: {last!r}")

    def _read(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """What the listener reads of ``partitions``: in ``partition`` routing, only the
        reply partition of each reply topic (all of one that lacks it: its records then
        go to their key's partition)."""
        if self._routing is AnswerRouting.BROADCAST:
            return partitions
        reply = self._reply.partition
        lacking = {tp.topic for tp in partitions} & _REPLY_TOPICS
        lacking -= {tp.topic for tp in partitions if tp.partition == reply}
        if lacking:
            log.error("%s lack reply partition %d: reading them whole", sorted(lacking), reply)
        return [
            tp
            for tp in partitions
            if tp.topic not in _REPLY_TOPICS or tp.topic in lacking or tp.partition == reply
        ]

    async def stop(self) -> None:
        await self._listener.stop()
        await self._reply.stop()
        for pending in self._waiting.values():
            pending.future.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._producer.stop()
        await self._admin.close()

    def publish_in_background(self, request: ChatRequest) -> None:
        """Publish ``request`` without waiting; a failure is logged, not raised."""
        task = asyncio.create_task(self._publish(request), name=f"publish-{request.request_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish(self, request: ChatRequest) -> None:
        try:
            await self._send(request)
        except KafkaError as exc:
            KAFKA_PRODUCE_ERRORS.inc()
            log.warning("request %s not published: %r", request.request_id, exc)

    def _send(self, request: ChatRequest) -> Awaitable[RecordMetadata]:
        reply_to = {REPLY_PARTITION_HEADER: str(self._reply.partition).encode()}
        record = envelope(request, source=SOURCE, key=request.conversation_id, headers=reply_to)
        return record.send(self._producer, REQUESTS)

    async def publish_action(self, action: AgentAction) -> None:
        """Publish ``action`` and wait until Kafka has it; ``BrokerUnavailableError`` if not."""
        await self._publish_now(action, REQUESTS)

    async def publish_feedback(self, feedback: Feedback) -> None:
        """Publish ``feedback`` and wait until Kafka has it; ``BrokerUnavailableError`` if
        not (it may still have been written: a retry publishes a higher revision)."""
        await self._publish_now(feedback, FEEDBACK)

    async def _publish_now(self, event: AgentAction | Feedback, topic: str) -> None:
        record = envelope(event, source=SOURCE, key=event.conversation_id)
        try:
            await asyncio.wait_for(
                record.send(self._producer, topic), self._publish_timeout_s + _PUBLISH_GRACE_S
            )
        except (KafkaError, TimeoutError) as exc:
            KAFKA_PRODUCE_ERRORS.inc()
            error = f"Kafka did not accept the {topic} event: {exc!r}"
            raise BrokerUnavailableError(error) from exc

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def ask(
        self, request: ChatRequest, *, timeout_s: float, on_delta: DeltaCallback | None = None
    ) -> ChatAnswer:
        """Publish ``request`` and wait for its answer; ``TimeoutError`` after ``timeout_s``.
        ``on_delta`` receives the answer's deltas as the worker streams them. A request
        already awaited here is not published again: its callers share the answer, and
        one caller's timeout or cancellation ends only its own wait."""
        request_id = request.request_id
        pending = self._waiting.get(request_id)
        first = pending is None
        if pending is None:
            future: asyncio.Future[ChatAnswer] = asyncio.get_running_loop().create_future()
            pending = self._waiting[request_id] = _Pending(future)
        pending.callers += 1
        route = _DeltaRoute(on_delta) if on_delta is not None else None
        if route is not None:
            self._delta_routes[request_id] = route
        try:
            if first:
                await self._publish_awaited(request, pending.future, timeout_s)
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout_s)
        finally:
            pending.callers -= 1
            if pending.callers == 0:
                self._waiting.pop(request_id, None)
            if route is not None and self._delta_routes.get(request_id) is route:
                del self._delta_routes[request_id]

    async def _publish_awaited(
        self, request: ChatRequest, answer: asyncio.Future[ChatAnswer], timeout_s: float
    ) -> None:
        """Publish ``request``; when Kafka does not take it, ``answer`` (which every caller
        of the request awaits) fails with ``BrokerUnavailableError``."""
        started = time.perf_counter()
        try:
            await asyncio.wait_for(
                self._send(request), min(timeout_s, self._publish_timeout_s + _PUBLISH_GRACE_S)
            )
        except (KafkaError, TimeoutError) as exc:
            KAFKA_PRODUCE_ERRORS.inc()
            error = BrokerUnavailableError(f"Kafka did not accept the request: {exc!r}")
            error.__cause__ = exc
            if not answer.done():
                answer.set_exception(error)
            return
        KAFKA_PRODUCE_LATENCY.observe(time.perf_counter() - started)

    def _on_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Resolves the caller ``record`` answers, if this gateway holds it; raises
        ``EventDecodeError`` for a record that is not its topic's event."""
        if record.topic == CONVERSATION_EVENTS:
            # The key is the conversation: other gateways' conversations are not decoded.
            if record.value and record.key and record.key.decode(errors="replace") in self.live:
                self.live.deliver(decode_event(record.value))
        elif record.topic == DEADLETTER:
            if record.value and self._concerns_us(record.headers):
                self._fail(record.value)
        elif not (
            record.value
            and self._concerns_us(record.headers)
            and self._resolve(record.topic, record.value)
        ):
            FOREIGN_ANSWER_RECORDS.inc()

    def _concerns_us(self, headers: Iterable[tuple[str, bytes | None]]) -> bool:
        """Whether an event may be for a caller of this gateway. The request id header
        spares decoding the events of other gateways' callers (and of answers already
        given from the cache); an event without a usable one is decoded to find out."""
        request_id = header_value(headers, REQUEST_ID_HEADER)
        if request_id is None:
            return True
        return request_id in self._waiting or request_id in self._delta_routes

    def _resolve(self, topic: str, value: bytes) -> bool:
        """Hands an answer or delta to its caller; whether one here waited for it."""
        if topic == ANSWER_DELTAS:
            delta = decode(value, ChatDelta)
            if route := self._delta_routes.get(delta.request_id):
                route.forward(delta)
                return True
        else:
            answer = decode(value, ChatAnswer)
            if future := self._pending(answer.request_id):
                future.set_result(answer)
                return True
        return False

    def _fail(self, value: bytes) -> None:
        letter = decode(value, DeadLetter)
        if future := self._pending(letter.request_id):
            failure = f"{letter.error_class}: {letter.error_message}"
            refused = letter.error_class == _NOT_OWNED
            error = ConversationNotOwnedError if refused else ProcessingFailedError
            future.set_exception(error(failure))

    def _pending(self, request_id: str) -> asyncio.Future[ChatAnswer] | None:
        pending = self._waiting.get(request_id)
        return pending.future if pending is not None and not pending.future.done() else None

    def probe_listener(self) -> Probe:
        """Whether answers are being read: without that every caller would wait in vain."""
        reading, detail = self._listener.health()
        routing = (
            "; reading every answer partition (broadcast)"
            if self._routing is AnswerRouting.BROADCAST
            else ""
        )
        return Probe(reading, 0.0, f"{detail}; {self._reply.describe()}{routing}")

    async def probe_kafka(self) -> Probe:
        started = time.perf_counter()
        try:
            topics = await asyncio.wait_for(self._admin.list_topics(), _PROBE_TIMEOUT_S)
        except (KafkaError, TimeoutError, OSError) as exc:
            return Probe(False, _elapsed_ms(started), f"unreachable: {type(exc).__name__}")
        missing = {REQUESTS, ANSWERS} - set(topics)
        if missing:
            return Probe(False, _elapsed_ms(started), f"missing topics: {sorted(missing)}")
        return Probe(True, _elapsed_ms(started), "reachable")

    async def probe_workers(self) -> Probe:
        """Workers are alive when their consumer group has members."""
        started = time.perf_counter()
        try:
            responses = await asyncio.wait_for(
                self._admin.describe_consumer_groups([self._worker_group]), _PROBE_TIMEOUT_S
            )
        except (KafkaError, TimeoutError, OSError) as exc:
            return Probe(
                False, _elapsed_ms(started), f"cannot describe group: {type(exc).__name__}"
            )
        for response in responses:
            for group in response.groups:
                _error, group_id, state, _protocol_type, _protocol, members = group[:6]
                if group_id == self._worker_group and members:
                    return Probe(True, _elapsed_ms(started), f"{len(members)} member(s), {state}")
        detail = "no worker in consumer group " + self._worker_group
        return Probe(False, _elapsed_ms(started), detail)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
