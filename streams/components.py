"""Builds the worker's parts from its settings: embedder, store, classifier, responder."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chromadb.api import ClientAPI
from langchain_core.language_models import BaseChatModel

from runtime.chroma import verify_chroma_server
from runtime.redis import redis_client
from streams.approved import ApprovedAnswers
from streams.cache import AnswerCache, NoCache, RedisAnswerCache
from streams.classifier import QuestionClassifier, load_training_examples
from streams.embeddings import OnnxEmbedder
from streams.gemini import GeminiResponder, LlmClassifier, LlmQuestionRewriter, gemini_chat_model
from streams.language import default_glossary, preload
from streams.llm_guard import GuardedResponder
from streams.responder import OfflineResponder, Responder
from streams.retrieval import HybridRetriever
from streams.sentences import SentenceCache
from streams.settings import WorkerSettings
from streams.simulated import SimulatedResponder
from streams.store import KnowledgeStore, open_client
from streams.understanding import KnowledgeSnapshots
from streams.workflow import AnswerWorkflow

log = logging.getLogger(__name__)


class EmptyKnowledgeBaseError(RuntimeError):
    pass


def _connect(settings: WorkerSettings) -> ClientAPI:
    return open_client(
        path=settings.chroma_path,
        host=settings.chroma_host,
        port=settings.chroma_port,
        ssl=settings.chroma_ssl,
        token=settings.chroma_auth_token,
    )


def build_embedder(settings: WorkerSettings, *, threads: int | None = None) -> OnnxEmbedder:
    """The configured model; ``threads`` overrides ``EMBEDDING_THREADS`` (ingestion)."""
    return OnnxEmbedder(
        settings.embedding_model,
        models_dir=settings.models_dir,
        threads=settings.embedding_threads if threads is None else threads,
    )


def open_store(settings: WorkerSettings, embedder: OnnxEmbedder) -> KnowledgeStore:
    verify_chroma_server(settings)

    def reopen() -> ClientAPI:
        return _connect(settings)

    return KnowledgeStore(
        _connect(settings),
        settings.chroma_collection,
        embedder,
        reopen=None if settings.chroma_host else reopen,
    )


def drop_collection(settings: WorkerSettings) -> None:
    client = _connect(settings)
    if settings.chroma_collection in {c.name for c in client.list_collections()}:
        client.delete_collection(settings.chroma_collection)


def build_chat_model(settings: WorkerSettings) -> BaseChatModel | None:
    if settings.gemini_api_key is None:
        log.info("GEMINI_API_KEY not set: answering with the offline responder")
        return None
    log.info("answering with Gemini model %s", settings.gemini_model)
    return gemini_chat_model(
        settings.gemini_api_key.get_secret_value(),
        settings.gemini_model,
        timeout_s=settings.llm_timeout_s,
    )


def build_cache(settings: WorkerSettings) -> AnswerCache:
    if settings.redis_url is None:
        log.warning("REDIS_URL not set: the answer cache is off")
        return NoCache()
    return RedisAnswerCache(redis_client(settings), ttl_s=settings.cache_ttl_s)


def build_responder(
    settings: WorkerSettings, sentences: SentenceCache, chat_model: BaseChatModel | None
) -> Responder:
    llm: Responder
    if settings.responder == "simulated":
        log.warning("RESPONDER=simulated: answers are slowed down for benchmarks")
        llm = SimulatedResponder(
            OfflineResponder(sentences),
            latency_s=settings.simulated_latency_s,
            failure_rate=settings.simulated_failure_rate,
            failure_mode=settings.simulated_failure_mode,
            outage_file=settings.simulated_outage_file,
        )
    elif chat_model is not None:
        llm = GeminiResponder(chat_model)
    else:
        return OfflineResponder(sentences)
    return GuardedResponder(
        llm,
        timeout_s=settings.llm_timeout_s,
        attempts=settings.llm_max_retries + 1,
        backoff_s=settings.llm_retry_backoff_s,
        failure_threshold=settings.llm_breaker_threshold,
        open_s=settings.llm_breaker_open_s,
    )


@dataclass(frozen=True, slots=True)
class LocalModels:
    """The worker's own models and knowledge: everything but the responder and cache."""

    embedder: OnnxEmbedder
    store: KnowledgeStore
    classifier: QuestionClassifier
    snapshots: KnowledgeSnapshots
    retriever: HybridRetriever
    sentences: SentenceCache


def load_local_models(settings: WorkerSettings) -> LocalModels:
    embedder = build_embedder(settings)
    store = open_store(settings, embedder)
    if store.count() == 0:
        raise EmptyKnowledgeBaseError(
            f"the knowledge base collection {settings.chroma_collection!r} is empty: "
            "run `techgear ingest` first"
        )
    examples = load_training_examples(settings.classifier_examples_path)
    classifier = QuestionClassifier.train(
        examples, embedder, cache_dir=settings.worker_data_dir / "classifier"
    )
    retriever = HybridRetriever(store)
    preload()
    snapshots = KnowledgeSnapshots(retriever, vocabulary=default_glossary().entries())
    return LocalModels(embedder, store, classifier, snapshots, retriever, SentenceCache(embedder))


def build_workflow(
    settings: WorkerSettings,
    models: LocalModels | None = None,
    approved: ApprovedAnswers | None = None,
) -> AnswerWorkflow:
    """``approved``: the approved answers to serve (the worker's, which its feed fills)."""
    models = models or load_local_models(settings)
    chat_model = build_chat_model(settings) if settings.responder == "auto" else None
    return AnswerWorkflow(
        embedder=models.embedder,
        classifier=models.classifier,
        snapshots=models.snapshots,
        retriever=models.retriever,
        sentences=models.sentences,
        responder=build_responder(settings, models.sentences, chat_model),
        cache=build_cache(settings),
        retrieval_limit=settings.retrieval_limit,
        relevance_threshold=settings.relevance_threshold,
        second_opinion=LlmClassifier(chat_model) if chat_model else None,
        second_opinion_below=settings.llm_classification_below,
        rewriter=LlmQuestionRewriter(chat_model) if chat_model else None,
        approved=approved,
    )
