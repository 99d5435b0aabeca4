"""Topic administration: creating the system's topics, aligning their configuration, and
listing their partitions. The topics themselves (names, partitions, retention) are a
contract, in ``schemas.topics``."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    InvalidPartitionsError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)

from runtime.errors import PartitionsMismatchError
from runtime.kafka import KafkaConnection
from schemas.topics import TOPICS, TopicSpec

log = logging.getLogger(__name__)

_DYNAMIC_TOPIC_CONFIG = 1
"""DescribeConfigs' config_source of a value set on the topic itself."""


async def ensure_topics(
    connection: KafkaConnection,
    *,
    replication_factor: int = 1,
    specs: tuple[TopicSpec, ...] = TOPICS,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the missing topics and bring existing ones' managed configuration (retention,
    cleanup policy) in line; return the names created. Partitions are added only to
    ``growable`` topics that have fewer than their spec: on any other topic that would move
    keys, and so conversations, between partitions (docs/capacity.md, "Partitions")."""
    admin = connection.admin(request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [
            _new_topic(spec, replication_factor) for spec in specs if spec.name not in existing
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
                if spec.growable:
                    await _grow(admin, spec)
        return [topic.name for topic in missing]
    finally:
        await admin.close()


async def require_co_partitioned(
    connection: KafkaConnection, *topics: str, timeout_s: float = 30.0
) -> None:
    """Raise ``PartitionsMismatchError`` unless those of ``topics`` that exist have one
    partition count: a key's partition in one must be its partition in the others."""
    admin = connection.admin(request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        counts = {
            topic: len(await partitions_of(admin, topic)) for topic in topics if topic in existing
        }
    finally:
        await admin.close()
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{topic} has {n}" for topic, n in counts.items())
        raise PartitionsMismatchError(
            f"topics keyed alike have different partition counts ({shown}): partitions were "
            "added to one of them; see docs/capacity.md, section Partitions"
        )


async def partitions_of(admin: AIOKafkaAdminClient, *topics: str) -> list[TopicPartition]:
    """Every partition of ``topics``, sorted; a topic the cluster does not have (or will not
    describe to us) raises its Kafka error."""
    partitions: list[TopicPartition] = []
    for described in await admin.describe_topics(list(topics)):
        if described["error_code"]:
            raise for_code(described["error_code"])(f"topic {described['topic']}")
        partitions.extend(
            TopicPartition(described["topic"], p["partition"]) for p in described["partitions"]
        )
    if not partitions:
        raise UnknownTopicOrPartitionError(f"no partitions for {', '.join(topics)}")
    return sorted(partitions)


async def topic_configs(admin: AIOKafkaAdminClient, name: str) -> dict[str, tuple[str, bool]]:
    """Config name -> (value, is an override set on the topic) of one topic."""
    (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    (resource,) = response.resources
    # DescribeConfigs v1+: (name, value, read_only, config_source, is_sensitive, synonyms).
    return {entry[0]: (entry[1], entry[3] == _DYNAMIC_TOPIC_CONFIG) for entry in resource[4]}


def _new_topic(spec: TopicSpec, replication_factor: int) -> NewTopic:
    return NewTopic(
        name=spec.name,
        num_partitions=spec.partitions,
        replication_factor=replication_factor,
        topic_configs=spec.configs,
    )


async def _grow(admin: AIOKafkaAdminClient, spec: TopicSpec) -> None:
    have = len(await partitions_of(admin, spec.name))
    if have >= spec.partitions:
        return
    try:
        await admin.create_partitions({spec.name: NewPartitions(total_count=spec.partitions)})
    except InvalidPartitionsError:
        log.info("partitions of %s added concurrently by another process", spec.name)
        return
    log.info("grew %s from %d to %d partitions", spec.name, have, spec.partitions)


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
