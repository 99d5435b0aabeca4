"""The Faust application: one named agent answering ``support.requests``.

The agent only takes messages in: a :class:`ConversationDispatcher` handles them
concurrently (a conversation's in order) and an :class:`InFlightLedger` keeps commits
below every message not yet answered or dead-lettered (see ``streams.commits``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Set
from typing import cast

import faust
from aiokafka.errors import KafkaError
from faust.types import TP, EventT, TableT
from pydantic import BaseModel

from runtime.envelope import envelope
from schemas.topics import REQUESTS, TopicSpec
from streams import metrics
from streams.changelogs import table_changelog
from streams.commits import DeliveringProducer, LedgerApp
from streams.dispatch import ConversationDispatcher
from streams.handler import RequestHandler
from streams.inbound import InboundMessage
from streams.inflight import InFlightLedger
from streams.lag import LagProbe
from streams.memory import ConversationMemory, ConversationState, decode_state, encode_state
from streams.outcomes_agent import OutcomeCounter
from streams.publisher import Publisher
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)

AGENT_NAME = "answer-requests"
SOURCE = "/techgear/streams"
MEMORY_TABLE = "conversation-memory"


class FaustTableMemory:
    """Conversation state in a Faust table; its changelog topic restores it after a restart."""

    def __init__(self, table: TableT[bytes, bytes | None]) -> None:
        self._table = table

    def load(self, conversation_id: str) -> ConversationState:
        return decode_state(self._table.get(conversation_id.encode()))

    def save(self, conversation_id: str, state: ConversationState) -> None:
        self._table[conversation_id.encode()] = encode_state(state)


class FaustPublisher:
    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._topics: dict[str, faust.TopicT] = {}

    async def publish(
        self,
        topic: str,
        event: BaseModel,
        *,
        key: str,
        headers: Mapping[str, bytes],
        wait: bool = True,
        partition: int | None = None,
    ) -> None:
        channel = self._topics.get(topic)
        if channel is None:
            channel = self._topics[topic] = self._app.topic(topic, value_type=bytes, key_type=bytes)
        if partition is not None:
            partition = await self._existing(topic, partition)
        record = envelope(event, source=SOURCE, key=key, headers=headers)
        delivery = await channel.send(
            key=record.key,
            value=record.value,
            partition=partition,
            headers=record.headers,
            force=True,
        )
        if wait:
            await delivery

    async def _existing(self, topic: str, partition: int) -> int | None:
        """``partition`` if ``topic`` has it, else ``None`` (the key's partition): the
        producer would refuse a partition its metadata does not show."""
        producer = cast(DeliveringProducer, self._app.producer)
        if partition in await producer.partitions_for(topic):
            return partition
        metrics.REPLY_PARTITION_INVALID.inc()
        log.warning("%s has no partition %d: sent to the key's partition", topic, partition)
        return None


def memory_changelog(settings: WorkerSettings) -> TopicSpec:
    """The conversation table's changelog topic, as Faust names it. Co-partitioned with
    ``support.requests``, so a conversation's memory sits on the worker that receives its
    questions."""
    return table_changelog(settings, MEMORY_TABLE, retention_s=settings.conversation_ttl_s)


def create_app(
    settings: WorkerSettings,
    handler_factory: Callable[[Publisher, ConversationMemory], RequestHandler],
) -> faust.App:
    ledger = InFlightLedger()
    dispatcher: ConversationDispatcher | None = None

    def abandon(partitions: Set[TP]) -> None:
        if dispatcher is not None:
            dispatcher.abandon(partitions)

    app = LedgerApp(
        settings.worker_app_id,
        ledger=ledger,
        # Within the rebalance timeout, so a slow handler cannot stall the whole group.
        drain_timeout_s=settings.broker_rebalance_timeout_s / 2,
        on_revoke=abandon,
        **settings.kafka.faust_options(),
        key_serializer="raw",
        value_serializer="raw",
        # On disk, so memory does not grow with the number of conversations.
        store="rocksdb://",
        datadir=str(settings.worker_data_dir),
        web_enabled=False,
        autodiscover=False,
        topic_disable_leader=True,
        topic_replication_factor=settings.kafka_replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
        broker_rebalance_timeout=settings.broker_rebalance_timeout_s,
        broker_max_poll_interval=settings.broker_max_poll_interval_s,
        broker_commit_interval=settings.broker_commit_interval_s,
        table_standby_replicas=settings.table_standby_replicas,
    )
    requests = app.topic(REQUESTS, key_type=bytes, value_type=bytes)
    changelog = memory_changelog(settings)
    memory = app.Table(
        MEMORY_TABLE,
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=changelog.partitions,
        # Conversations are forgotten after CONVERSATION_TTL_S, in the local store and in
        # the changelog, which otherwise keeps every conversation ever held.
        options={"ttl": int(settings.conversation_ttl_s)},
        extra_topic_configs=changelog.configs,
    )
    handler = handler_factory(FaustPublisher(app), FaustTableMemory(memory))
    dispatcher = ConversationDispatcher(
        handler.handle,
        ledger,
        concurrency=settings.worker_concurrency,
        max_pending=settings.worker_max_pending,
    )

    # One actor: it keeps each partition's order, and Faust acknowledges every message as
    # soon as it is taken in, so its acked offsets stay contiguous; the ledger decides
    # what is committed.
    @app.agent(requests, name=AGENT_NAME, concurrency=1)
    async def answer_requests(stream: faust.StreamT[bytes]) -> None:
        event: EventT[bytes]
        async for event in stream.events():
            message = event.message
            inbound = InboundMessage(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value or b"",
                headers=_header_map(message.headers),
            )
            # The task handling it inherits this context, where Faust's table writes
            # find the event (and so the partition) they belong to.
            await dispatcher.submit(inbound, context=event)

    OutcomeCounter(app, settings).install()

    lag = LagProbe(settings.kafka, settings.worker_app_id)

    async def measure_lag() -> None:
        try:
            await lag.measure()
        except KafkaError as exc:
            log.warning("cannot measure consumer lag: %s", exc)

    app.timer(interval=settings.lag_interval_s)(measure_lag)

    return app


def _header_map(
    headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None,
) -> dict[str, bytes]:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return {str(name): bytes(value or b"") for name, value in pairs}
