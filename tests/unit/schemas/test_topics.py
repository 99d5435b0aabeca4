from __future__ import annotations

from schemas.topics import (
    ANSWER_DELTAS,
    ANSWERS,
    DEADLETTER,
    ESCALATIONS,
    HELPDESK_DEADLETTER,
    REQUESTS,
    TOPICS,
)


def test_every_topic_is_defined_once_with_retention() -> None:
    names = [spec.name for spec in TOPICS]
    assert sorted(names) == sorted(
        {REQUESTS, ANSWERS, ANSWER_DELTAS, ESCALATIONS, DEADLETTER, HELPDESK_DEADLETTER}
    )
    assert all(spec.partitions >= 1 and spec.retention_ms > 0 for spec in TOPICS)


def test_new_topic_carries_retention_config() -> None:
    topic = TOPICS[0].new_topic(replication_factor=3)
    assert topic.replication_factor == 3
    assert topic.topic_configs["retention.ms"] == str(TOPICS[0].retention_ms)
