"""Kafka topics of the system: names, partition counts and retention in one place.

Partition counts bound parallelism: worker replicas beyond ``support.requests``'
partition count sit idle. Every event is keyed by ``conversation_id`` so a
conversation stays ordered on one partition.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

_HOUR_MS = 60 * 60 * 1000
_DAY_MS = 24 * _HOUR_MS

REQUESTS = "support.requests"
ANSWERS = "support.answers"
ANSWER_DELTAS = "support.answer-deltas"
ESCALATIONS = "support.escalations"
DEADLETTER = "support.deadletter"

WORKER_GROUP_ID = "techgear-worker"
"""Consumer group (the Faust app id) of the workers; the gateway's readiness probe checks
that it has members."""

CORRELATION_HEADER = "correlation_id"
REQUEST_ID_HEADER = "request_id"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int

    def new_topic(self, replication_factor: int) -> NewTopic:
        return NewTopic(
            name=self.name,
            num_partitions=self.partitions,
            replication_factor=replication_factor,
            topic_configs={"retention.ms": str(self.retention_ms)},
        )


TOPICS: tuple[TopicSpec, ...] = (
    # Requests are replayable for a week: long enough to reprocess after an outage.
    TopicSpec(REQUESTS, partitions=6, retention_ms=7 * _DAY_MS),
    # Answers only matter to a caller still waiting; a day leaves room for debugging.
    TopicSpec(ANSWERS, partitions=6, retention_ms=1 * _DAY_MS),
    # Deltas only matter while an answer streams; an hour is plenty.
    TopicSpec(ANSWER_DELTAS, partitions=6, retention_ms=_HOUR_MS),
    # Helpdesk bridges may be down for a while; keep escalations a month.
    TopicSpec(ESCALATIONS, partitions=3, retention_ms=30 * _DAY_MS),
    # Dead letters wait for an operator; a month.
    TopicSpec(DEADLETTER, partitions=1, retention_ms=30 * _DAY_MS),
)


async def ensure_topics(
    bootstrap_servers: str,
    *,
    replication_factor: int = 1,
    specs: tuple[TopicSpec, ...] = TOPICS,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the missing topics; return the names created. Existing topics are left as
    they are (their partition count is never changed behind an operator's back)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [
            spec.new_topic(replication_factor) for spec in specs if spec.name not in existing
        ]
        if not missing:
            return []
        try:
            await admin.create_topics(missing)
        except TopicAlreadyExistsError:
            log.info("topics created concurrently by another process")
        created = [topic.name for topic in missing]
        log.info("created topics %s", ", ".join(created))
        return created
    finally:
        await admin.close()
