from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from streams.embeddings import OnnxEmbedder
from streams.knowledge import chunk_tree
from streams.retrieval import HybridRetriever, allowed_documents, relevant
from streams.store import KnowledgeStore, Passage, StoredChunk, open_client

CONTACT = """## Support hours
Customer support is available Monday to Saturday, from 9 AM to 6 PM.

## Phone support
Customers can call the toll-free number 1800-123-4567.

## Email support
Customers can email support@techgear.com and hear back within 4 hours.
"""


def write_doc(root: Path, doc_id: str, body: str, category: str = "company") -> None:
    (root / f"{doc_id}.md").write_text(
        f"---\nid: {doc_id}\ntitle: {doc_id.title()}\ncategory: {category}\n---\n"
        f"# {doc_id}\n\n{body}\n"
    )


@pytest.fixture
def small_store(tmp_path: Path, embedder: OnnxEmbedder) -> KnowledgeStore:
    root = tmp_path / "kb"
    root.mkdir()
    write_doc(root, "contact", CONTACT)
    write_doc(root, "returns", "## Window\nReturns are accepted within 7 days.", "policy")
    store = KnowledgeStore(
        open_client(path=tmp_path / "db"), "kb-test", embedder, version_check_interval_s=0
    )
    store.ingest(chunk_tree(root))
    return store


def test_a_quoted_fact_ranks_its_passage_first_which_keeps_its_cosine_score(
    small_store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    question = "is 1800-123-4567 the right number?"
    vector = embedder.embed_one(question)

    [best, *_] = HybridRetriever(small_store).search(question, vector, limit=3)
    by_vector = {p.chunk_id: p for p in small_store.search(vector, limit=5)}

    assert best.heading == "contact > Phone support"
    assert best.score == pytest.approx(by_vector[best.chunk_id].score, abs=1e-3)
    assert (best.lexical, best.category) == (1.0, "company")


def test_search_keeps_to_the_documents_asked_for(
    small_store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    retriever = HybridRetriever(small_store)
    question = "how long do I have to return something?"
    vector = embedder.embed_one(question)

    assert {p.doc_id for p in retriever.search(question, vector, limit=5, doc_ids=["contact"])} == {
        "contact"
    }
    assert retriever.search(question, vector, limit=5, doc_ids=[]) == []
    assert len(retriever.search(question, vector, limit=2)) == 2


def test_the_lexical_index_follows_a_new_ingestion(
    tmp_path: Path, small_store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    retriever = HybridRetriever(small_store)
    question = "does the K8 keyboard have hot-swappable switches?"
    vector = embedder.embed_one(question)
    assert "k8" not in {p.doc_id for p in retriever.search(question, vector, limit=5)}

    write_doc(tmp_path / "kb", "k8", "## Switches\nThe K8 has hot-swappable switches.", "product")
    small_store.ingest(chunk_tree(tmp_path / "kb"))

    [best, *_] = retriever.search(question, vector, limit=5)
    assert (best.doc_id, best.lexical) == ("k8", 1.0)


def test_threads_search_while_the_knowledge_base_changes(
    tmp_path: Path, small_store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    retriever = HybridRetriever(small_store)
    question = "what is the toll-free number?"
    vector = embedder.embed_one(question)

    with ThreadPoolExecutor(max_workers=4) as pool:
        searches = [pool.submit(retriever.search, question, vector, limit=3) for _ in range(40)]
        write_doc(tmp_path / "kb", "faq", "## Hours\nWe answer calls from 9 AM.", "faq")
        small_store.ingest(chunk_tree(tmp_path / "kb"))
        results = [search.result() for search in searches]

    assert all(passages and passages[0].doc_id == "contact" for passages in results)


def test_lexical_weight_outside_zero_to_one_is_refused(small_store: KnowledgeStore) -> None:
    with pytest.raises(ValueError, match="lexical_weight"):
        HybridRetriever(small_store, lexical_weight=1.5)


def passage(score: float, lexical: float, chunk_id: str = "doc:1") -> Passage:
    return Passage(
        chunk_id=chunk_id,
        doc_id="doc",
        title="Doc",
        heading="Doc",
        text="text",
        score=score,
        lexical=lexical,
    )


def test_passages_reaching_the_threshold_are_relevant_wherever_they_rank() -> None:
    passages = [passage(0.30, 0.0, "a"), passage(0.50, 0.0, "b"), passage(0.44, 0.0, "c")]

    assert [p.chunk_id for p in relevant(passages, 0.45)] == ["b"]


def test_the_first_passage_just_under_the_threshold_is_relevant_on_strong_lexical_evidence() -> (
    None
):
    assert relevant([passage(0.41, 0.95)], 0.45) == [passage(0.41, 0.95)]
    assert relevant([passage(0.41, 0.85)], 0.45) == []  # not among the best lexical matches
    assert relevant([passage(0.39, 1.0)], 0.45) == []  # too far from the question
    assert relevant([passage(0.50, 0.0, "a"), passage(0.42, 1.0, "b")], 0.45) == [
        passage(0.50, 0.0, "a")
    ]  # not the first


def test_repository_contact_facts_are_found_and_graded_relevant(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    retriever = HybridRetriever(store)
    for question, fact in [
        ("What's your toll-free number?", "1800-123-4567"),
        ("What's your support email address?", "support@techgear.com"),
    ]:
        found = retriever.search(question, embedder.embed_one(question), limit=5)
        # Two sections state the email ("Email support", "Which channel to use"), nearly
        # tied: either may come first.
        assert fact in relevant(found, 0.45)[0].text, question


def stored(doc_id: str, category: str, kind: str = "") -> StoredChunk:
    return StoredChunk(
        chunk_id=f"{doc_id}:1",
        doc_id=doc_id,
        title=doc_id,
        heading=doc_id,
        category=category,
        kind=kind,
        aliases=(),
        text="text",
    )


CATALOGUE = [
    stored("returns", "policy"),
    stored("faq", "faq"),
    stored("pro-x", "product", "smartwatch"),
    stored("lite", "product", "smartwatch"),
    stored("sleeve", "product", "sleeve"),
    stored("aerobook", "product", "laptop"),
]


def test_a_question_naming_a_product_is_answered_from_its_page_never_another_products() -> None:
    assert allowed_documents(CATALOGUE, products=["pro-x"]) == {"returns", "faq", "pro-x"}


def test_a_question_naming_a_kind_may_use_every_product_of_that_kind() -> None:
    assert allowed_documents(CATALOGUE, kinds={"laptop"}) == {"returns", "faq", "aerobook"}
    assert allowed_documents(CATALOGUE, products=["aerobook"], kinds={"sleeve"}) == {
        "returns",
        "faq",
        "aerobook",
        "sleeve",
    }


def test_a_question_naming_no_product_nor_kind_is_answered_from_no_product_page() -> None:
    assert allowed_documents(CATALOGUE) == {"returns", "faq"}


def test_the_retriever_lists_the_chunks_it_searches(small_store: KnowledgeStore) -> None:
    retriever = HybridRetriever(small_store)

    version, chunks = retriever.current_chunks()

    assert version == small_store.version
    assert {chunk.doc_id for chunk in chunks} == {"contact", "returns"}
