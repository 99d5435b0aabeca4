"""Topic configuration declared in code, applied idempotently, and described."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from runtime.errors import PartitionsMismatchError
from runtime.kafka import KafkaConnection
from runtime.topics import ensure_topics, partitions_of, require_co_partitioned, topic_configs
from schemas.topics import ESCALATIONS, TOPICS, TopicSpec
from streams.app import memory_changelog
from streams.settings import WorkerSettings
from tests.conftest import REPO, WorkerProcess, process_env
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration


async def test_drifted_configuration_is_put_back_and_other_overrides_kept(
    kafka_bootstrap: str,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await ensure_topics(KafkaConnection(kafka_bootstrap))
        drifted = {"retention.ms": "60000", "max.message.bytes": "2000000"}
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, ESCALATIONS, configs=drifted)]
        )

        assert await ensure_topics(KafkaConnection(kafka_bootstrap)) == []
        configs = await topic_configs(admin, ESCALATIONS)
    finally:
        await admin.close()

    spec = next(s for s in TOPICS if s.name == ESCALATIONS)
    assert configs["retention.ms"][0] == str(spec.retention_ms)
    assert configs["cleanup.policy"][0] == "delete"
    assert configs["max.message.bytes"] == ("2000000", True)


async def test_only_growable_topics_get_the_partitions_their_spec_adds(
    kafka_bootstrap: str,
) -> None:
    nonce = uuid.uuid4().hex[:8]
    replies = TopicSpec(f"test.replies-{nonce}", partitions=2, retention_ms=60_000)
    keyed = TopicSpec(f"test.keyed-{nonce}", partitions=2, retention_ms=60_000)
    connection = KafkaConnection(kafka_bootstrap)
    assert await ensure_topics(connection, specs=(replies, keyed)) == [replies.name, keyed.name]

    grown = (
        TopicSpec(replies.name, partitions=5, retention_ms=60_000, growable=True),
        TopicSpec(keyed.name, partitions=5, retention_ms=60_000),
    )
    assert await ensure_topics(connection, specs=grown) == []
    assert await ensure_topics(connection, specs=grown) == []  # nothing left to add

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    counts: dict[str, int] = {}

    async def described() -> bool:  # the brokers' metadata catches up with the controller
        for name in (replies.name, keyed.name):
            counts[name] = len(await partitions_of(admin, name))
        return counts[replies.name] == 5

    try:
        await wait_until(described, "the growable topic's new partitions")
    finally:
        await admin.close()
    assert counts == {replies.name: 5, keyed.name: 2}


def test_describe_shows_every_topic_and_the_worker_group_lag(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "techgear", "topics", "describe"],
        env=process_env(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for spec in TOPICS:
        assert f"{spec.name}: {spec.partitions} partitions" in printed
    assert "group techgear-worker: lag" in printed


async def test_conversation_changelog_forgets_conversations_after_their_ttl(
    kafka_bootstrap: str, worker: WorkerProcess
) -> None:
    """The worker puts its table's changelog in line at start, even one created before
    (the ``worker`` fixture returns once the worker has joined its group, which it does
    after aligning its topics)."""
    changelog = memory_changelog(WorkerSettings(_env_file=None))  # type: ignore[call-arg]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        configs = await topic_configs(admin, changelog.name)
    finally:
        await admin.close()

    assert configs["cleanup.policy"][0] == "compact,delete"
    assert configs["retention.ms"][0] == str(7 * 24 * 3600 * 1000)


async def test_keyed_topics_whose_partition_counts_drifted_apart_are_refused(
    kafka_bootstrap: str,
) -> None:
    nonce = uuid.uuid4().hex[:8]
    requests = TopicSpec(f"test.requests-{nonce}", partitions=3, retention_ms=60_000)
    changelog = TopicSpec(f"test.changelog-{nonce}", partitions=3, retention_ms=60_000)
    connection = KafkaConnection(kafka_bootstrap)
    await ensure_topics(connection, specs=(requests, changelog))
    await require_co_partitioned(connection, requests.name, changelog.name, "test.absent")

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_partitions({requests.name: NewPartitions(total_count=4)})

        async def grown() -> bool:  # the brokers' metadata catches up with the controller
            return len(await partitions_of(admin, requests.name)) == 4

        await wait_until(grown, "the added partition")
    finally:
        await admin.close()
    with pytest.raises(PartitionsMismatchError, match=f"{requests.name} has 4"):
        await require_co_partitioned(connection, requests.name, changelog.name)
