"""The knowledge-base collection in ChromaDB: incremental ingestion and retrieval.

The collection's metadata records the embedding model that built it and a version that
is bumped on every change; the answer cache keys on that version, so an ingestion that
changes anything makes every older cached answer unreachable.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import chromadb
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection as ChromaCollection
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.auth.token_authn import TokenAuthClientProvider, TokenTransportHeader
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError
from pydantic import SecretStr

from runtime.errors import DependencyUnavailableError, EmbeddingModelMismatchError
from streams.embeddings import DIMENSIONS, ChromaOnnxEmbeddingFunction, OnnxEmbedder, Vectors
from streams.knowledge import Chunk

log = logging.getLogger(__name__)

_UPSERT_BATCH = 128
_ALIAS_SEPARATOR = "|"  # Chroma metadata values are scalars

P = ParamSpec("P")
R = TypeVar("R")


def _reaching_chroma(call: Callable[P, R]) -> Callable[P, R]:
    """ChromaDB's own errors, and a ``chroma run`` server's transport failures, become
    ``DependencyUnavailableError``: retried by the worker as a dependency's failure."""

    @functools.wraps(call)
    def reaching(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except (ChromaError, httpx.TransportError) as exc:
            raise DependencyUnavailableError(f"vector store: {type(exc).__name__}: {exc}") from exc

    return reaching


@dataclass(frozen=True, slots=True)
class Passage:
    chunk_id: str
    doc_id: str
    title: str
    heading: str
    text: str
    score: float
    """Cosine similarity of the passage to the question."""
    category: str = ""
    """The document's category: ``product``, ``policy``, ``faq``, ..."""
    lexical: float = 0.0
    """BM25 score relative to the best lexical match of the search, in [0, 1]; 0 when the
    passage was found by vectors alone."""


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as the collection holds it, for indexes built beside the vectors."""

    chunk_id: str
    doc_id: str
    title: str
    heading: str
    category: str
    kind: str
    aliases: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class IngestReport:
    added: int
    removed: int
    unchanged: int
    version: int
    changed: bool


def open_client(
    *,
    path: Path | None = None,
    host: str | None = None,
    port: int = 8000,
    ssl: bool = False,
    token: SecretStr | None = None,
) -> ClientAPI:
    """An embedded client on ``path`` by default; a ``chroma run`` server when ``host`` is
    set, over HTTPS with ``ssl``, sending ``token`` as ``Authorization: Bearer``."""
    if host:
        auth: dict[str, Any] = {}
        if token is not None:
            auth = {
                "chroma_client_auth_provider": _qualified_name(TokenAuthClientProvider),
                "chroma_client_auth_credentials": token.get_secret_value(),
                "chroma_auth_token_transport_header": TokenTransportHeader.AUTHORIZATION.value,
            }
        settings = ChromaSettings(anonymized_telemetry=False, **auth)
        return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
    settings = ChromaSettings(anonymized_telemetry=False)
    if path is None:
        raise ValueError("either a path or a host is required")
    path.mkdir(parents=True, exist_ok=True)
    # An embedded client caches its index in memory and does not see what another
    # process (`techgear ingest`) wrote since; dropping the cache makes it read afresh.
    SharedSystemClient.clear_system_cache()
    return chromadb.PersistentClient(path=str(path), settings=settings)


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class KnowledgeStore:
    def __init__(
        self,
        client: ClientAPI,
        collection_name: str,
        embedder: OnnxEmbedder,
        *,
        reopen: Callable[[], ClientAPI] | None = None,
        version_check_interval_s: float = 1.0,
    ) -> None:
        """``reopen`` gives a fresh client when the version moves under an embedded store.
        ``current_version`` reads the stored version at most every
        ``version_check_interval_s``: it is asked on every question."""
        self._embedder = embedder
        self._version_check_interval_s = version_check_interval_s
        self._version_checked_at = -math.inf
        self._name = collection_name
        self._embedding_function = ChromaOnnxEmbeddingFunction(embedder)
        self._reopen = reopen
        self._lock = threading.Lock()
        self._open(client)

    def _open(self, client: ClientAPI) -> None:
        self._client = client
        self._collection: ChromaCollection = client.get_or_create_collection(
            self._name,
            embedding_function=self._embedding_function,  # type: ignore[arg-type]
            metadata={"embedding_model": self._embedder.model_name, "kb_version": 0},
        )
        self._opened_version = self._known_version = self.version
        built_with = self.metadata.get("embedding_model")
        if built_with != self._embedder.model_name:
            raise EmbeddingModelMismatchError(
                f"collection {self._name!r} was built with embedding model {built_with!r} "
                f"but this process embeds with {self._embedder.model_name!r}; "
                "re-ingest the knowledge base (`techgear ingest --rebuild`) or configure the "
                "model that built it"
            )

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._collection.metadata or {})

    @property
    def version(self) -> int:
        return int(self.metadata.get("kb_version", 0))

    @_reaching_chroma
    def current_version(self) -> int:
        """The version as stored now, seeing ingestions made by other processes; the
        store reopens itself when it moved."""
        with self._lock:
            now = time.monotonic()
            if now - self._version_checked_at < self._version_check_interval_s:
                return self._known_version
            self._version_checked_at = now
            collection = self._client.get_collection(
                self._name,
                embedding_function=self._embedding_function,  # type: ignore[arg-type]
            )
            version = int((collection.metadata or {}).get("kb_version", 0))
            if version != self._opened_version and self._reopen is not None:
                log.info("knowledge base moved to version %d; reopening the store", version)
                self._open(self._reopen())
            self._known_version = version
            return version

    @_reaching_chroma
    def count(self) -> int:
        return self._collection.count()

    @_reaching_chroma
    def ingest(
        self, chunks: Sequence[Chunk], *, progress: Callable[[int], None] | None = None
    ) -> IngestReport:
        """Make the collection hold exactly ``chunks``, embedding only the new ones."""
        wanted = {chunk.chunk_id: chunk for chunk in chunks}
        present = set(self._collection.get(include=[])["ids"])
        stale = sorted(present - wanted.keys())
        new = [wanted[chunk_id] for chunk_id in sorted(wanted.keys() - present)]
        if stale:
            self._collection.delete(ids=stale)
        for start in range(0, len(new), _UPSERT_BATCH):
            batch = new[start : start + _UPSERT_BATCH]
            vectors = self._embedder.embed([chunk.embedding_text for chunk in batch])
            self._collection.upsert(
                ids=[chunk.chunk_id for chunk in batch],
                documents=[chunk.text for chunk in batch],
                embeddings=[vector for vector in vectors],
                metadatas=[
                    {
                        "doc_id": c.doc_id,
                        "title": c.title,
                        "heading": c.heading,
                        "category": c.category,
                        "kind": c.kind,
                        "aliases": _ALIAS_SEPARATOR.join(c.aliases),
                    }
                    for c in batch
                ],
            )
            if progress:
                progress(len(batch))
        changed = bool(stale or new)
        version = self.version + 1 if changed else self.version
        if changed:
            self._collection.modify(
                metadata={
                    "embedding_model": self._embedder.model_name,
                    "kb_version": version,
                    "kb_fingerprint": _fingerprint(wanted.keys()),
                }
            )
        return IngestReport(
            added=len(new),
            removed=len(stale),
            unchanged=len(present & wanted.keys()),
            version=version,
            changed=changed,
        )

    @_reaching_chroma
    def chunks_with_vectors(self) -> tuple[list[StoredChunk], Vectors]:
        """Every chunk and its embedding (row ``i`` is chunk ``i``'s), read at one moment;
        chunks stored before kinds and aliases were recorded read as having none."""
        result = self._collection.get(include=["documents", "metadatas", "embeddings"])
        documents = result["documents"] or []
        metadatas = result["metadatas"] or []
        chunks = [
            StoredChunk(
                chunk_id=chunk_id,
                doc_id=str(meta["doc_id"]),
                title=str(meta["title"]),
                heading=str(meta.get("heading", "")),
                category=str(meta.get("category", "")),
                kind=str(meta.get("kind", "")),
                aliases=_split_aliases(meta.get("aliases")),
                text=text or "",
            )
            for chunk_id, text, meta in zip(result["ids"], documents, metadatas, strict=True)
        ]
        if not chunks:
            return chunks, np.zeros((0, DIMENSIONS), dtype=np.float32)
        return chunks, np.asarray(result["embeddings"], dtype=np.float32)

    @_reaching_chroma
    def search(
        self,
        query_vector: Vectors,
        *,
        limit: int = 5,
        doc_ids: Collection[str] | None = None,
    ) -> list[Passage]:
        """The ``limit`` passages nearest ``query_vector``, only of ``doc_ids`` when given."""
        if doc_ids is not None and not doc_ids:
            return []
        where: dict[str, Any] | None = (
            {"doc_id": {"$in": sorted(doc_ids)}} if doc_ids is not None else None
        )
        result = self._collection.query(
            query_embeddings=query_vector[None, :],
            n_results=limit,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        documents = (result["documents"] or [[]])[0]
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        return [
            _passage(chunk_id, text or "", meta, round(1.0 - float(distance), 4))
            for chunk_id, text, meta, distance in zip(
                ids, documents, metadatas, distances, strict=True
            )
        ]


def _passage(chunk_id: str, text: str, meta: Mapping[str, Any], score: float) -> Passage:
    return Passage(
        chunk_id=chunk_id,
        doc_id=str(meta["doc_id"]),
        title=str(meta["title"]),
        heading=str(meta.get("heading", "")),
        text=text,
        score=score,
        category=str(meta.get("category", "")),
    )


def _split_aliases(raw: object) -> tuple[str, ...]:
    return tuple(alias for alias in str(raw or "").split(_ALIAS_SEPARATOR) if alias)


def _fingerprint(chunk_ids: Any) -> str:
    return hashlib.sha256("\n".join(sorted(chunk_ids)).encode()).hexdigest()[:16]
