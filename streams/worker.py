"""Entry points of the stream side: ``techgear worker`` and ``techgear ingest``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import uvloop
from faust.worker import Worker
from prometheus_client import start_http_server
from tqdm import tqdm

from runtime.errors import EmbeddingModelMismatchError
from runtime.kafka import verify_connection
from runtime.topics import ensure_topics, require_co_partitioned
from schemas.topics import CONVERSATION_EVENTS, FEEDBACK, REQUESTS, TOPICS
from streams.app import create_app, memory_changelog
from streams.approved import ApprovedAnswers
from streams.approved_feed import ApprovedAnswersFeed
from streams.components import (
    build_embedder,
    build_workflow,
    drop_collection,
    load_local_models,
    open_store,
)
from streams.conversation import Conversations
from streams.handler import RequestHandler
from streams.handoff import HandoffMachine
from streams.knowledge import chunk_tree
from streams.memory import ConversationMemory
from streams.outcomes_agent import outcome_topics
from streams.publisher import Publisher
from streams.settings import WorkerSettings
from streams.store import IngestReport
from streams.support_hours import SupportHours

log = logging.getLogger(__name__)


def run_worker(settings: WorkerSettings) -> None:
    """Run the Faust worker in the foreground until SIGINT or SIGTERM."""
    handoff = HandoffMachine(
        SupportHours.parse(settings.support_hours), settings.support_response_target_s
    )
    asyncio.run(_prepare_kafka(settings))
    models = load_local_models(settings)
    approved = ApprovedAnswers(
        models.embedder, min_similarity=settings.approved_answer_min_similarity
    )
    workflow = build_workflow(settings, models, approved)

    def handler_for(publisher: Publisher, memory: ConversationMemory) -> RequestHandler:
        conversations = Conversations(
            workflow,
            publisher,
            handoff,
            escalation_window_s=settings.escalation_window_s,
            timeout_s=settings.processing_timeout_s,
        )
        return RequestHandler(
            conversations,
            publisher,
            memory,
            attempts=settings.processing_attempts,
            backoff_s=settings.retry_backoff_s,
        )

    app = create_app(settings, handler_for)
    app.task(ApprovedAnswersFeed(settings.kafka, approved).run)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, settings.worker_metrics_host)
        log.info(
            "metrics on http://%s:%d/metrics",
            settings.worker_metrics_host,
            settings.worker_metrics_port,
        )
    # uvloop, as the gateway runs on: Kafka and Redis I/O and the hand-offs to the model's
    # thread cost less CPU than on asyncio's own loop.
    asyncio.set_event_loop(uvloop.new_event_loop())
    Worker(
        app, loglevel=settings.log_level.lower(), override_logging=False
    ).execute_from_commandline()


async def _prepare_kafka(settings: WorkerSettings) -> None:
    """Fail at once on a broker that is unreachable or refuses us, or on topics keyed by
    conversation whose partitions no longer match (someone added some); create the shared
    topics when allowed, and always the worker's own (its ACL's prefix)."""
    await verify_connection(settings.kafka)
    changelog = memory_changelog(settings)
    own = (changelog, *outcome_topics(settings))
    # A topic created once the consumer has joined stays unknown to it: Faust's own
    # creation of the outcome tables' changelogs fails their first write.
    await ensure_topics(
        settings.kafka,
        replication_factor=settings.kafka_replication_factor,
        specs=(*TOPICS, *own) if settings.kafka_create_topics else own,
    )
    await require_co_partitioned(
        settings.kafka,
        REQUESTS,
        CONVERSATION_EVENTS,
        FEEDBACK,
        *(spec.name for spec in own),
    )


def ingest(
    settings: WorkerSettings,
    path: Path | None = None,
    *,
    show_progress: bool = True,
    rebuild: bool = False,
) -> IngestReport:
    """Bring the vector store in line with the Markdown tree at ``path``; ``rebuild`` drops
    the collection first (needed after changing the embedding model of a Chroma server's
    collection: workers may still be reading it; an embedded store is rebuilt by itself)."""
    root = path or settings.knowledge_path
    chunks = chunk_tree(root)
    if rebuild:
        drop_collection(settings)
    embedder = build_embedder(settings, threads=0)
    try:
        store = open_store(settings, embedder)
    except EmbeddingModelMismatchError as exc:
        if settings.chroma_host:
            raise
        log.warning("rebuilding the embedded store with %s: %s", embedder.model_name, exc)
        drop_collection(settings)
        store = open_store(settings, embedder)
    with tqdm(total=len(chunks), desc="embedding", unit="chunk", disable=not show_progress) as bar:
        report = store.ingest(chunks, progress=bar.update)
    log.info(
        "ingested %s: %d added, %d removed, %d unchanged, version %d",
        root,
        report.added,
        report.removed,
        report.unchanged,
        report.version,
    )
    return report
