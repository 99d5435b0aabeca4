"""``techgear topics describe``: each topic's configuration and each group's lag on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import TopicPartition

from runtime.kafka import KafkaConnection
from runtime.topics import topic_configs
from schemas.topics import TOPICS


@dataclass(frozen=True, slots=True)
class TopicReport:
    name: str
    partitions: int
    replication_factor: int
    retention_ms: str
    cleanup_policy: str
    lag_by_group: dict[str, int] = field(default_factory=dict)


async def describe(kafka: KafkaConnection) -> list[TopicReport]:
    admin = kafka.admin()
    consumer = kafka.consumer(group_id=None)
    await admin.start()
    await consumer.start()
    try:
        names = [spec.name for spec in TOPICS]
        described = {
            t["topic"]: t for t in await admin.describe_topics(names) if t["error_code"] == 0
        }
        partitions = [
            TopicPartition(name, p["partition"])
            for name, t in described.items()
            for p in t["partitions"]
        ]
        ends = await consumer.end_offsets(partitions)
        lag: dict[str, dict[str, int]] = {name: {} for name in described}
        for group_id, protocol in await admin.list_consumer_groups():
            if protocol not in ("consumer", ""):
                continue
            committed = await admin.list_consumer_group_offsets(group_id)
            for tp, offset in committed.items():
                if tp.topic in lag and offset.offset >= 0:
                    lag[tp.topic][group_id] = lag[tp.topic].get(group_id, 0) + max(
                        ends[tp] - offset.offset, 0
                    )
        reports = []
        for name, topic in described.items():
            configs = await topic_configs(admin, name)
            reports.append(
                TopicReport(
                    name=name,
                    partitions=len(topic["partitions"]),
                    replication_factor=len(topic["partitions"][0]["replicas"])
                    if topic["partitions"]
                    else 0,
                    retention_ms=configs.get("retention.ms", ("?", False))[0],
                    cleanup_policy=configs.get("cleanup.policy", ("?", False))[0],
                    lag_by_group=lag[name],
                )
            )
        return reports
    finally:
        await consumer.stop()
        await admin.close()
