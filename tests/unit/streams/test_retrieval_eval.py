from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.embeddings import OnnxEmbedder
from streams.knowledge import chunk_tree, load_documents
from streams.retrieval import HybridRetriever
from streams.retrieval_eval import ALL, evaluate_retrieval, load_cases
from streams.store import KnowledgeStore, open_client

REPO = Path(__file__).resolve().parents[3]
KINDS = {"plain", "exact_fact", "misspelt", "hinglish"}


def write_doc(root: Path, doc_id: str, body: str) -> None:
    (root / f"{doc_id}.md").write_text(
        f"---\nid: {doc_id}\ntitle: {doc_id.title()}\ncategory: policy\n---\n# {doc_id}\n\n{body}\n"
    )


def write_cases(path: Path, cases: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(case) + "\n" for case in cases))
    return path


@pytest.fixture
def retriever(tmp_path: Path, embedder: OnnxEmbedder) -> HybridRetriever:
    root = tmp_path / "kb"
    root.mkdir()
    write_doc(root, "shipping", "## Free shipping\nShipping is free on orders above ₹999.")
    write_doc(root, "returns", "## Window\nReturns are accepted within 7 days of delivery.")
    write_doc(root, "contact", "## Phone\nCall the toll-free number 1800-123-4567.")
    store = KnowledgeStore(open_client(path=tmp_path / "db"), "kb-test", embedder)
    store.ingest(chunk_tree(root))
    return HybridRetriever(store)


def test_recall_is_reported_overall_and_per_kind_beside_vector_only_search(
    tmp_path: Path, retriever: HybridRetriever, embedder: OnnxEmbedder
) -> None:
    path = write_cases(
        tmp_path / "set.jsonl",
        [
            {"question": "Is delivery free?", "doc_id": "shipping", "kind": "plain"},
            {"question": "can I send it back?", "doc_id": "returns", "kind": "plain"},
            {"question": "1800-123-4567?", "doc_id": "contact", "kind": "exact_fact"},
            {"question": "is it free", "doc_id": "faq", "kind": "hinglish", "also": ["shipping"]},
        ],
    )

    report = evaluate_retrieval(retriever, embedder, path)

    assert set(report.hybrid) == set(report.vector) == {ALL, "plain", "exact_fact", "hinglish"}
    assert report.hybrid[ALL].questions == 4 and report.hybrid["plain"].questions == 2
    assert report.hybrid["exact_fact"].at_1 == 1.0
    assert report.hybrid[ALL].at_5 == report.vector[ALL].at_5 == 1.0  # three documents only
    assert report.hybrid_ms > 0 and report.vector_ms > 0
    rendered = report.render()
    assert all(kind in rendered for kind in (ALL, "plain", "exact_fact", "hinglish"))
    assert "R@1" in rendered and "vector-only" in rendered and "hybrid" in rendered


def test_questions_are_normalized_before_they_are_searched(
    tmp_path: Path, retriever: HybridRetriever, embedder: OnnxEmbedder
) -> None:
    path = write_cases(
        tmp_path / "set.jsonl",
        [{"question": "toll-free number kya hai", "doc_id": "contact", "kind": "hinglish"}],
    )
    asked: list[str] = []

    def to_english(question: str) -> str:
        asked.append(question)
        return "what is the toll-free number"

    report = evaluate_retrieval(retriever, embedder, path, normalize=to_english)

    assert asked == ["toll-free number kya hai"]
    assert report.hybrid["hinglish"].at_1 == 1.0


@pytest.mark.parametrize(
    "line",
    [
        '{"question": "x", "kind": "plain"}',
        '{"question": "", "doc_id": "a", "kind": "plain"}',
        '{"question": "x", "doc_id": "a", "kind": "plain", "answer": "y"}',
    ],
)
def test_malformed_cases_are_refused(tmp_path: Path, line: str) -> None:
    (tmp_path / "set.jsonl").write_text(line + "\n")
    with pytest.raises(ValidationError):
        load_cases(tmp_path / "set.jsonl")


def test_repository_retrieval_set_covers_every_document_with_each_kind() -> None:
    cases = load_cases(REPO / "data/eval/retrieval.jsonl")
    documents = {doc.doc_id for doc in load_documents(REPO / "data/knowledge")}

    assert len(cases) >= 120
    assert {case.kind for case in cases} == KINDS
    assert all(sum(case.kind == kind for case in cases) >= 20 for kind in KINDS)
    assert {case.doc_id for case in cases} == documents
    assert all(case.answering <= documents for case in cases)
    questions = [case.question.lower() for case in cases]
    assert len(set(questions)) == len(questions)
