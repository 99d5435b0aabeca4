"""Retrieval measured on a labelled set: does the document that answers a question come
first (recall@1), or among the passages the answer is composed from (recall@5)?

Each line of the set is ``{"question", "doc_id", "kind"}`` and optionally ``"also"``: other
documents that answer the question just as well (the FAQ repeats several policies). The
hybrid retriever is measured beside the vector-only search the workflow used before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from streams.embeddings import OnnxEmbedder
from streams.retrieval import HybridRetriever, relevant
from streams.store import Passage

_TOP = 5
ALL = "all"


class RetrievalCase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1)
    doc_id: str = Field(min_length=1)
    kind: str = Field(pattern=r"^[a-z_]+$")
    also: tuple[str, ...] = ()

    @property
    def answering(self) -> frozenset[str]:
        return frozenset((self.doc_id, *self.also))


def load_cases(path: Path) -> list[RetrievalCase]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [RetrievalCase.model_validate_json(line) for line in lines if line.strip()]


@dataclass(frozen=True, slots=True)
class Recall:
    questions: int
    at_1: float
    at_5: float
    graded: float
    """Share whose answering passage among the top 5 is also graded relevant."""


@dataclass(frozen=True, slots=True)
class RetrievalReport:
    path: str
    relevance_threshold: float
    vector: dict[str, Recall]
    """Vector-only search (``KnowledgeStore.search``) by kind, and over ``ALL``."""
    hybrid: dict[str, Recall]
    vector_ms: float
    hybrid_ms: float
    """CPU milliseconds per question of each search, the question's embedding excluded."""

    def render(self) -> str:
        kinds = [ALL, *sorted(kind for kind in self.hybrid if kind != ALL)]
        width = max(len(kind) for kind in kinds)
        labels = f"{'R@1':>5} {'R@5':>5} {'pass':>5}"
        header = f"{'':<{width}} {'':>4}   {'vector-only':<17}   {'hybrid':<17}"
        columns = f"{'kind':<{width}} {'n':>4}   {labels}   {labels}"
        lines = [f"retrieval on {self.path}", header, columns]
        for kind in kinds:
            vector, hybrid = self.vector[kind], self.hybrid[kind]
            lines.append(
                f"{kind:<{width}} {hybrid.questions:>4}   {_cells(vector)}   {_cells(hybrid)}"
            )
        lines += [
            "",
            f"pass: the answering passage is in the top {_TOP} and graded relevant "
            f"(streams.retrieval.relevant, threshold {self.relevance_threshold:.2f}), "
            "so the workflow would answer from it",
            f"search CPU per question: vector-only {self.vector_ms:.2f} ms, "
            f"hybrid {self.hybrid_ms:.2f} ms (embedding excluded)",
        ]
        return "\n".join(lines)


def _cells(recall: Recall) -> str:
    return f"{recall.at_1:.3f} {recall.at_5:.3f} {recall.graded:.3f}"


def evaluate_retrieval(
    retriever: HybridRetriever,
    embedder: OnnxEmbedder,
    path: Path,
    *,
    normalize: Callable[[str], str] = lambda text: text,
    relevance_threshold: float = 0.45,
) -> RetrievalReport:
    """``normalize`` turns a raw question into what is searched (the workflow's language
    and spelling steps); the set keeps questions as customers write them."""
    cases = load_cases(path)
    queries = [normalize(case.question) for case in cases]
    vectors = embedder.embed(queries)
    store = retriever.store

    started = time.process_time()
    by_vector = [store.search(vector, limit=_TOP) for vector in vectors]
    vector_ms = (time.process_time() - started) * 1000 / max(len(cases), 1)

    retriever.search(queries[0], vectors[0], limit=_TOP)  # builds the index: not per question
    started = time.process_time()
    by_hybrid = [
        retriever.search(query, vector, limit=_TOP)
        for query, vector in zip(queries, vectors, strict=True)
    ]
    hybrid_ms = (time.process_time() - started) * 1000 / max(len(cases), 1)

    return RetrievalReport(
        path=str(path),
        relevance_threshold=relevance_threshold,
        vector=_recall_by_kind(cases, by_vector, relevance_threshold),
        hybrid=_recall_by_kind(cases, by_hybrid, relevance_threshold),
        vector_ms=vector_ms,
        hybrid_ms=hybrid_ms,
    )


def _recall_by_kind(
    cases: Sequence[RetrievalCase], results: Sequence[list[Passage]], threshold: float
) -> dict[str, Recall]:
    kinds = {case.kind for case in cases}
    return {
        kind: _recall(
            [
                (case, passages)
                for case, passages in zip(cases, results, strict=True)
                if kind in (ALL, case.kind)
            ],
            threshold,
        )
        for kind in (ALL, *kinds)
    }


def _recall(results: Sequence[tuple[RetrievalCase, list[Passage]]], threshold: float) -> Recall:
    if not results:
        return Recall(questions=0, at_1=0.0, at_5=0.0, graded=0.0)
    at_1 = at_5 = graded = 0
    for case, passages in results:
        top = passages[:_TOP]
        at_1 += bool(top) and top[0].doc_id in case.answering
        at_5 += any(p.doc_id in case.answering for p in top)
        graded += any(p.doc_id in case.answering for p in relevant(top, threshold))
    n = len(results)
    return Recall(questions=n, at_1=at_1 / n, at_5=at_5 / n, graded=graded / n)
