"""Configuration of a stream worker, read from the environment and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from runtime.chroma import ChromaServerSettings
from runtime.settings import RuntimeSettings
from streams.embeddings import DEFAULT_MODELS_DIR, EmbeddingModel


class WorkerSettings(RuntimeSettings, ChromaServerSettings):
    """Every knob of ``techgear worker`` and ``techgear ingest``.

    In Kubernetes set ``KAFKA_BOOTSTRAP_SERVERS`` to the cluster's bootstrap address,
    ``CHROMA_HOST`` to the shared Chroma server (several workers cannot share one embedded
    store), and keep ``PROCESSING_TIMEOUT_S`` well under the consumer's poll interval so a
    slow LLM call can never push the worker out of its group.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    worker_data_dir: Path = Path(".local/faust")
    """Faust's local state (table stores); must be writable by the worker's user."""
    worker_concurrency: int = Field(default=16, ge=1, le=1024)
    """Questions one worker handles at once; a conversation's questions still go in order,
    and a conversation's backlog waits without taking any of these slots."""
    worker_max_pending: int = Field(default=2000, ge=1, le=100_000)
    """Questions one worker holds at most (handled or queued behind their conversation);
    past it the worker stops reading until some are done. Each holds its message bytes."""

    embedding_model: EmbeddingModel = "int8"
    """int8: all-MiniLM-L6-v2 with 8-bit weights, less than half the CPU per question for
    the same evaluation results (docs/embeddings.md); fp32: the full model. A collection
    remembers which one built it and refuses the other: after changing it, ingest with
    ``--rebuild`` (``techgear ingest`` rebuilds an embedded store by itself)."""
    models_dir: Path = DEFAULT_MODELS_DIR
    """Where ``techgear models build`` (run by ``make install`` and the image build) puts
    the int8 model; a process that finds none there builds it, so keep it writable or
    built."""
    embedding_threads: int = Field(default=1, ge=0)
    """Threads of one embedding call (0: one per core). One leaves the other cores to the
    event loop and concurrent work; batching supplies the throughput."""

    knowledge_path: Path = Path("data/knowledge")
    classifier_examples_path: Path = Path("data/classifier")
    """Folder whose ``train*.jsonl`` files train the classifier."""
    chroma_path: Path = Path(".local/chroma")
    """The embedded store, used unless ``CHROMA_HOST`` names a server."""
    chroma_collection: str = "techgear-kb"

    retrieval_limit: int = Field(default=5, ge=1, le=20)
    relevance_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    """Cosine similarity a passage needs before an answer may rest on it."""
    approved_answer_min_similarity: float = Field(default=0.8, ge=0.0, le=1.0)
    """Cosine similarity a question needs to one of an approved answer's example questions
    for that answer to be served (measured: ``python -m bench.approved``)."""

    redis_url: str | None = None
    """Answer cache (``runtime.redis`` has the TLS and ACL settings); without it every
    question is answered afresh."""
    cache_ttl_s: int = Field(default=3600, ge=1)
    """Upper bound on an answer's life in the cache (knowledge-base changes end it sooner)."""

    responder: Literal["auto", "offline", "simulated"] = "auto"
    """auto: Gemini when GEMINI_API_KEY is set, else offline. simulated: benchmarks only."""
    simulated_latency_s: float = Field(default=1.0, ge=0)
    simulated_failure_rate: float = Field(default=0.0, ge=0, le=1)
    simulated_failure_mode: Literal["error", "timeout"] = "error"
    """How a simulated call fails: an error, or no reply at all (LLM_TIMEOUT_S ends it)."""
    simulated_outage_file: Path | None = None
    """While this file exists every simulated call fails: outage drills on a live worker."""

    gemini_api_key: SecretStr | None = None
    gemini_model: str = "gemini-2.5-flash"
    llm_classification_below: float = Field(default=0.5, ge=0.0, le=1.0)
    """With Gemini configured, it classifies questions the local model is less sure of."""
    llm_timeout_s: float = Field(default=30.0, gt=0)
    """Limit on one LLM call, streaming included."""
    llm_max_retries: int = Field(default=2, ge=0)
    """Retries of a failed or timed-out LLM call, with exponential backoff and jitter."""
    llm_retry_backoff_s: float = Field(default=0.5, gt=0)
    llm_breaker_threshold: int = Field(default=5, ge=1)
    """Consecutive LLM failures that open the circuit: questions then escalate at once."""
    llm_breaker_open_s: float = Field(default=30.0, gt=0)
    """How long the circuit stays open before one trial call may close it."""

    support_hours: str = "Mon-Sat 09:00-18:00 Asia/Kolkata"
    """When people answer escalated conversations (``streams.support_hours`` has the
    format): what the customer is told and ``expected_response_by``. Checked at start."""
    support_response_target_s: float = Field(default=900, gt=0)
    """How soon within support hours a person replies to a conversation handed over."""

    escalation_window_s: float = Field(default=24 * 3600, gt=0)
    """A conversation escalating again within this window adds to its open ticket."""
    conversation_ttl_s: float = Field(default=7 * 24 * 3600, ge=3600)
    """How long a worker remembers a conversation after its last question; keep it above
    ESCALATION_WINDOW_S so follow-ups still find their ticket."""
    processing_attempts: int = Field(default=3, ge=1, le=10)
    """Attempts at a message failing with a retryable error before it is dead-lettered."""
    retry_backoff_s: float = Field(default=0.5, ge=0)
    processing_timeout_s: float = Field(default=120.0, gt=0)

    broker_session_timeout_s: float = Field(default=30.0, gt=0)
    broker_heartbeat_interval_s: float = Field(default=3.0, gt=0)
    broker_rebalance_timeout_s: float = Field(default=30.0, gt=0)
    broker_max_poll_interval_s: float = Field(default=300.0, gt=0)
    broker_commit_interval_s: float = Field(default=2.8, gt=0)
    """How often settled offsets are committed: what a crash makes the next owner redo."""
    table_standby_replicas: int = Field(default=1, ge=0)
    """Other workers that keep a standby copy of each conversation-memory partition, read
    from its changelog: the next owner of a partition then has its table at hand."""

    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9108, ge=0, le=65535)
    """Prometheus endpoint of this worker; 0 turns it off. One port per worker process."""
    lag_interval_s: float = Field(default=15.0, gt=0)
    """How often the consumer lag gauge is refreshed."""

    outcome_window_s: float = Field(default=3600.0, gt=0)
    """How long after the bot's last answer a conversation's outcome is settled: resolved
    without a person if nothing escalated, handed it over or rated an answer down by then
    (docs/operations.md, "Outcomes")."""
    outcome_tick_s: float = Field(default=30.0, gt=0)
    """How often settled outcomes are looked for: a conversation is counted at most this
    long after its outcome window closed."""
    outcome_gauge_interval_s: float = Field(default=10.0, gt=0)
    """How often the current hour's and day's outcome gauges are read from the tables;
    keep it under the Prometheus scrape interval."""
