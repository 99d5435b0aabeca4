from __future__ import annotations

from schemas.topics import (
    ANSWER_DELTAS,
    ANSWERS,
    APPROVED_ANSWERS,
    CONVERSATION_EVENTS,
    DEADLETTER,
    DEADLETTER_REPLAYS,
    ESCALATIONS,
    FEEDBACK,
    HELPDESK_DEADLETTER,
    REQUESTS,
    TOPICS,
)


def test_every_topic_is_defined_once_with_retention() -> None:
    names = [spec.name for spec in TOPICS]
    assert sorted(names) == sorted(
        {
            REQUESTS,
            ANSWERS,
            ANSWER_DELTAS,
            ESCALATIONS,
            FEEDBACK,
            CONVERSATION_EVENTS,
            DEADLETTER,
            DEADLETTER_REPLAYS,
            HELPDESK_DEADLETTER,
            APPROVED_ANSWERS,
        }
    )
    assert all(spec.partitions >= 1 and spec.retention_ms > 0 for spec in TOPICS)


def test_replays_are_compacted_by_dead_letter_and_kept_as_long_as_the_dead_letters() -> None:
    specs = {spec.name: spec for spec in TOPICS}
    replays = specs[DEADLETTER_REPLAYS]
    assert replays.configs["cleanup.policy"] == "compact,delete"
    assert replays.retention_ms == specs[DEADLETTER].retention_ms


def test_feedback_is_co_partitioned_with_requests_and_transcripts() -> None:
    specs = {spec.name: spec for spec in TOPICS}
    assert specs[FEEDBACK].partitions == specs[REQUESTS].partitions
    assert specs[FEEDBACK].partitions == specs[CONVERSATION_EVENTS].partitions
    assert not specs[FEEDBACK].growable


def test_approved_answers_are_one_compacted_log_kept_by_approval() -> None:
    spec = next(spec for spec in TOPICS if spec.name == APPROVED_ANSWERS)
    assert spec.partitions == 1 and spec.configs["cleanup.policy"] == "compact"
