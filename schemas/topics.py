"""Kafka topics of the system: names, partition counts and retention in one place.

Partition counts bound parallelism: worker replicas beyond ``support.requests``'
partition count sit idle. Every event is keyed by ``conversation_id`` so a
conversation stays ordered on one partition.
"""

from __future__ import annotations

from dataclasses import dataclass

_HOUR_MS = 60 * 60 * 1000
_DAY_MS = 24 * _HOUR_MS

REQUESTS = "support.requests"
ANSWERS = "support.answers"
ANSWER_DELTAS = "support.answer-deltas"
ESCALATIONS = "support.escalations"
DEADLETTER = "support.deadletter"
DEADLETTER_REPLAYS = "support.deadletter-replays"
HELPDESK_DEADLETTER = "support.helpdesk-deadletter"
CONVERSATION_EVENTS = "support.conversation-events"
FEEDBACK = "support.feedback"
APPROVED_ANSWERS = "support.approved-answers"

CORRELATION_HEADER = "correlation_id"
REQUEST_ID_HEADER = "request_id"
REPLAYED_FROM_HEADER = "replayed_from"
"""Set by ``techgear dlq replay`` on a republished record: the ``dead_letter_id`` it came from."""
REPLY_PARTITION_HEADER = "reply_partition"
"""Set by a gateway on each ``chat.request``: the partition (ASCII decimal) of
``support.answers`` and ``support.answer-deltas`` it reads, where the request's answer and
deltas go. Without it (another producer) they go to the key's partition."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: str = "delete"
    growable: bool = False
    """Whether ``ensure_topics`` adds partitions to an existing topic that has fewer: only
    where nothing is kept per partition by key (a reply goes to the partition its request
    names), so adding partitions moves nothing."""

    @property
    def configs(self) -> dict[str, str]:
        """The topic configuration this code manages; other overrides are left alone."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


TOPICS: tuple[TopicSpec, ...] = (
    # Requests are replayable for a week: long enough to reprocess after an outage.
    TopicSpec(REQUESTS, partitions=6, retention_ms=7 * _DAY_MS),
    # Answers only matter to a caller still waiting; a day leaves room for debugging. Each
    # gateway reads one partition of answers and of deltas (its reply partition): as many
    # partitions as gateways may ever run (the gateway autoscaler's maximum is 10).
    TopicSpec(ANSWERS, partitions=12, retention_ms=1 * _DAY_MS, growable=True),
    # Transcripts and handoff changes: a customer may come back to a conversation within
    # its lifetime (CONVERSATION_TTL_S, a week by default); co-partitioned with requests.
    TopicSpec(CONVERSATION_EVENTS, partitions=6, retention_ms=7 * _DAY_MS),
    # Customers' ratings of answers, co-partitioned with requests and transcripts (the
    # outcomes agent reads them together); a month, for the knowledge-gap report.
    TopicSpec(FEEDBACK, partitions=6, retention_ms=30 * _DAY_MS),
    # Deltas only matter while an answer streams; an hour is plenty.
    TopicSpec(ANSWER_DELTAS, partitions=12, retention_ms=_HOUR_MS, growable=True),
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
    # Operator-approved answers, keyed by approval_id: compaction alone keeps the latest
    # record of each for ever (compaction ignores retention.ms; the value is a formality).
    # Every worker reads the whole topic: one partition keeps it one ordered log.
    TopicSpec(APPROVED_ANSWERS, partitions=1, retention_ms=365 * _DAY_MS, cleanup_policy="compact"),
)
