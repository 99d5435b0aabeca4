from __future__ import annotations

from pathlib import Path

import pytest
from chromadb.errors import ChromaError

from runtime.errors import DependencyUnavailableError, EmbeddingModelMismatchError, is_retryable
from streams.components import build_embedder
from streams.embeddings import INT8_MODEL_NAME, OnnxEmbedder
from streams.knowledge import chunk_tree
from streams.settings import WorkerSettings
from streams.store import KnowledgeStore, StoredChunk, open_client
from streams.worker import ingest


def write_doc(root: Path, doc_id: str, body: str, front_matter: str = "category: faq") -> None:
    (root / f"{doc_id}.md").write_text(
        f"---\nid: {doc_id}\ntitle: {doc_id.title()}\n{front_matter}\n---\n# {doc_id}\n\n{body}\n"
    )


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    root.mkdir()
    write_doc(root, "shipping", "## Free shipping\nShipping is free on orders above ₹999.")
    write_doc(root, "returns", "## Window\nReturns are accepted within 7 days of delivery.")
    return root


def test_ingestion_is_incremental(tmp_path: Path, kb: Path, embedder: OnnxEmbedder) -> None:
    store = KnowledgeStore(open_client(path=tmp_path / "db"), "kb-test", embedder)

    first = store.ingest(chunk_tree(kb))
    unchanged = store.ingest(chunk_tree(kb))
    write_doc(kb, "returns", "## Window\nReturns are accepted within 10 days of delivery.")
    edited = store.ingest(chunk_tree(kb))
    (kb / "shipping.md").unlink()
    deleted = store.ingest(chunk_tree(kb))

    assert (first.added, first.version) == (2, 1)
    assert (unchanged.added, unchanged.removed, unchanged.changed, unchanged.version) == (
        0,
        0,
        False,
        1,
    )
    assert (edited.added, edited.removed, edited.unchanged, edited.version) == (1, 1, 1, 2)
    assert (deleted.added, deleted.removed, deleted.version) == (0, 1, 3)
    assert store.count() == 1


def test_search_ranks_the_relevant_passage_first(
    tmp_path: Path, kb: Path, embedder: OnnxEmbedder
) -> None:
    store = KnowledgeStore(open_client(path=tmp_path / "db"), "kb-test", embedder)
    store.ingest(chunk_tree(kb))

    passages = store.search(embedder.embed_one("Is delivery free?"), limit=2)

    assert passages[0].doc_id == "shipping"
    assert passages[0].score > passages[1].score
    assert passages[0].heading == "shipping > Free shipping"


def test_collection_built_with_another_model_is_refused(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    client = open_client(path=tmp_path / "db")
    KnowledgeStore(client, "kb-test", embedder)
    client.get_collection("kb-test").modify(metadata={"embedding_model": "gemini-embedding-001"})

    with pytest.raises(EmbeddingModelMismatchError, match="re-ingest"):
        KnowledgeStore(client, "kb-test", embedder)


def test_ingest_rebuilds_an_embedded_store_built_with_the_other_model(
    tmp_path: Path, kb: Path
) -> None:
    settings = WorkerSettings(chroma_path=tmp_path / "db", knowledge_path=kb)
    ingest(settings.model_copy(update={"embedding_model": "fp32"}), show_progress=False)

    report = ingest(settings, show_progress=False)

    store = KnowledgeStore(
        open_client(path=tmp_path / "db"), "techgear-kb", build_embedder(settings)
    )
    assert (report.added, report.removed, report.version) == (2, 0, 1)
    assert store.metadata["embedding_model"] == INT8_MODEL_NAME


def test_current_version_sees_another_writer_after_the_check_interval(
    tmp_path: Path, kb: Path, embedder: OnnxEmbedder
) -> None:
    reader = KnowledgeStore(
        open_client(path=tmp_path / "db"), "kb-test", embedder, version_check_interval_s=3600
    )
    writer = KnowledgeStore(open_client(path=tmp_path / "db"), "kb-test", embedder)
    assert reader.current_version() == 0
    writer.ingest(chunk_tree(kb))
    assert reader.current_version() == 0  # not read again within the interval

    eager = KnowledgeStore(
        open_client(path=tmp_path / "db"), "kb-test", embedder, version_check_interval_s=0
    )
    writer.ingest(chunk_tree(kb))
    write_doc(kb, "returns", "## Window\nReturns are accepted within 10 days of delivery.")
    writer.ingest(chunk_tree(kb))
    assert eager.current_version() == 2


def test_a_chroma_failure_while_answering_is_a_retryable_dependency_failure(
    tmp_path: Path, kb: Path, embedder: OnnxEmbedder
) -> None:
    client = open_client(path=tmp_path / "db")
    store = KnowledgeStore(client, "kb-test", embedder, version_check_interval_s=0)
    store.ingest(chunk_tree(kb))
    client.delete_collection("kb-test")

    with pytest.raises(DependencyUnavailableError, match="NotFoundError") as raised:
        store.search(embedder.embed_one("Is delivery free?"))
    with pytest.raises(DependencyUnavailableError):
        store.current_version()

    assert isinstance(raised.value.__cause__, ChromaError) and is_retryable(raised.value)


def test_the_store_lists_every_chunk_with_its_kind_aliases_and_embedding(
    tmp_path: Path, kb: Path, embedder: OnnxEmbedder
) -> None:
    write_doc(
        kb,
        "band",
        "## Price\nThe Band costs ₹2,999.",
        "category: product\nkind: fitness band\naliases: [Band 3, FitBand]",
    )
    store = KnowledgeStore(open_client(path=tmp_path / "db"), "kb-test", embedder)
    store.ingest(chunk_tree(kb))

    stored, vectors = store.chunks_with_vectors()
    chunks = {chunk.doc_id: chunk for chunk in stored}

    assert chunks["band"] == StoredChunk(
        chunk_id=chunks["band"].chunk_id,
        doc_id="band",
        title="Band",
        heading="band > Price",
        category="product",
        kind="fitness band",
        aliases=("Band 3", "FitBand"),
        text="The Band costs ₹2,999.",
    )
    assert (chunks["returns"].kind, chunks["returns"].aliases) == ("", ())
    assert vectors.shape == (3, 384)
    row = next(i for i, chunk in enumerate(stored) if chunk.doc_id == "band")
    [band] = [chunk for chunk in chunk_tree(kb) if chunk.doc_id == "band"]
    assert float(vectors[row] @ embedder.embed_one(band.embedding_text)) > 0.99


def test_chunks_stored_before_kinds_and_aliases_were_recorded_read_as_having_none(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    client = open_client(path=tmp_path / "db")
    store = KnowledgeStore(client, "kb-test", embedder)
    client.get_collection("kb-test").add(
        ids=["old:1"],
        documents=["Returns are accepted within 7 days."],
        embeddings=[embedder.embed_one("Returns are accepted within 7 days.").tolist()],
        metadatas=[{"doc_id": "old", "title": "Old", "heading": "Old", "category": "policy"}],
    )

    [chunk], _ = store.chunks_with_vectors()

    assert (chunk.doc_id, chunk.category, chunk.kind, chunk.aliases) == ("old", "policy", "", ())


def test_search_keeps_to_the_documents_asked_for(
    tmp_path: Path, kb: Path, embedder: OnnxEmbedder
) -> None:
    store = KnowledgeStore(open_client(path=tmp_path / "db"), "kb-test", embedder)
    store.ingest(chunk_tree(kb))
    question = embedder.embed_one("Is delivery free?")

    restricted = store.search(question, limit=5, doc_ids=["returns"])

    assert [p.doc_id for p in restricted] == ["returns"]
    assert restricted[0].category == "faq"
    assert store.search(question, limit=5, doc_ids=[]) == []
