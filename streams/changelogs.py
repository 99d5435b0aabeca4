"""The changelog topics of the worker's per-conversation tables, as Faust names them."""

from __future__ import annotations

from schemas.topics import REQUESTS, TOPICS, TopicSpec
from streams.settings import WorkerSettings

CONVERSATION_PARTITIONS = next(spec.partitions for spec in TOPICS if spec.name == REQUESTS)
"""Partitions of every topic keyed by conversation (requests, conversation events,
feedback) and of the tables that follow them: co-partitioned, so a conversation's state
sits on the worker that receives its events."""


def table_changelog(settings: WorkerSettings, table: str, *, retention_s: float) -> TopicSpec:
    """The changelog of ``table``, keyed by conversation: compacted, and deleted after
    ``retention_s`` (a conversation forgotten by the table is forgotten by its changelog)."""
    return TopicSpec(
        f"{settings.worker_app_id}-{table}-changelog",
        partitions=CONVERSATION_PARTITIONS,
        retention_ms=int(retention_s * 1000),
        cleanup_policy="compact,delete",
    )
