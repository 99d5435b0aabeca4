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
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

_HOUR_MS = 60 * 60 * 1000
_DAY_MS = 24 * _HOUR_MS

REQUESTS = "support.requests"
ANSWERS = "support.answers"
ANSWER_DELTAS = "support.answer-deltas"
ESCALATIONS = "support.escalations"
DEADLETTER = "support.deadletter"
DEADLETTER_REPLAYS = "support.deadletter-replays"
HELPDESK_DEADLETTER = "support.helpdesk-deadletter"

WORKER_GROUP_ID = "techgear-worker"
"""Consumer group (the Faust app id) of the workers; the gateway's readiness probe checks
that it has members."""

_DYNAMIC_TOPIC_CONFIG = 1
"""DescribeConfigs' config_source of a value set on the topic itself."""

CORRELATION_HEADER = "correlation_id"
REQUEST_ID_HEADER = "request_id"
REPLAYED_FROM_HEADER = "replayed_from"
"""Set by ``techgear dlq replay`` on a republished record: the ``dead_letter_id`` it came from."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: str = "delete"

    @property
    def configs(self) -> dict[str, str]:
        """The topic configuration this code manages; other overrides are left alone."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}

    def new_topic(self, replication_factor: int) -> NewTopic:
        return NewTopic(
            name=self.name,
            num_partitions=self.partitions,
            replication_factor=replication_factor,
            topic_configs=self.configs,
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
    # Which dead letters were replayed, keyed by dead_letter_id: compaction keeps the latest
    # replay of each; deletion after the dead letters' own retention (a replay is always
    # written after its letter, so it outlives it) keeps the topic from growing forever.
    TopicSpec(
        DEADLETTER_REPLAYS,
        partitions=1,
        retention_ms=30 * _DAY_MS,
        cleanup_policy="compact,delete",
    ),
    TopicSpec(HELPDESK_DEADLETTER, partitions=1, retention_ms=30 * _DAY_MS),
)


async def ensure_topics(
    bootstrap_servers: str,
    *,
    replication_factor: int = 1,
    specs: tuple[TopicSpec, ...] = TOPICS,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the missing topics and bring existing ones' managed configuration (retention,
    cleanup policy) in line; return the names created. Partition counts of existing topics
    are never changed: that would move keys, and so conversations, between partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [
            spec.new_topic(replication_factor) for spec in specs if spec.name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
            log.info("created topics %s", ", ".join(topic.name for topic in missing))
        for spec in specs:
            if spec.name in existing:
                await _align_configs(admin, spec)
        return [topic.name for topic in missing]
    finally:
        await admin.close()


async def topic_configs(admin: AIOKafkaAdminClient, name: str) -> dict[str, tuple[str, bool]]:
    """Config name -> (value, is an override set on the topic) of one topic."""
    (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    (resource,) = response.resources
    # DescribeConfigs v1+: (name, value, read_only, config_source, is_sensitive, synonyms).
    return {entry[0]: (entry[1], entry[3] == _DYNAMIC_TOPIC_CONFIG) for entry in resource[4]}


async def _align_configs(admin: AIOKafkaAdminClient, spec: TopicSpec) -> None:
    current = await topic_configs(admin, spec.name)
    if all(current.get(key, ("", True))[0] == value for key, value in spec.configs.items()):
        return
    # AlterConfigs replaces a topic's overrides as a whole: keep the ones we do not manage.
    overrides = {key: value for key, (value, is_override) in current.items() if is_override}
    await admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=overrides | spec.configs)]
    )
    log.info("updated configuration of %s to %s", spec.name, spec.configs)
