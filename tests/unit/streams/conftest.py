from __future__ import annotations

from pathlib import Path

import pytest

from streams.approved import ApprovedAnswers
from streams.cache import NoCache
from streams.catalogue import Catalogue, Product
from streams.classifier import LabelledExample, QuestionClassifier, load_training_examples
from streams.embeddings import OnnxEmbedder
from streams.knowledge import load_documents
from streams.language import default_glossary
from streams.responder import OfflineResponder
from streams.retrieval import HybridRetriever
from streams.sentences import SentenceCache
from streams.store import KnowledgeStore, open_client
from streams.understanding import KnowledgeSnapshots
from streams.workflow import AnswerWorkflow

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The products of the knowledge base, from their documents' front matter."""
    return Catalogue.from_products(
        Product(doc.doc_id, doc.title, doc.kind, doc.aliases)
        for doc in load_documents(REPO / "data/knowledge")
        if doc.kind
    )


@pytest.fixture(scope="session")
def training_examples() -> list[LabelledExample]:
    return load_training_examples(REPO / "data/classifier")


@pytest.fixture(scope="session")
def classifier(
    embedder: OnnxEmbedder, training_examples: list[LabelledExample]
) -> QuestionClassifier:
    return QuestionClassifier.train(training_examples, embedder)


@pytest.fixture(scope="session")
def store(chroma_path: Path, embedder: OnnxEmbedder) -> KnowledgeStore:
    return KnowledgeStore(open_client(path=chroma_path), "techgear-kb", embedder)


@pytest.fixture(scope="session")
def retriever(store: KnowledgeStore) -> HybridRetriever:
    return HybridRetriever(store)


@pytest.fixture(scope="session")
def snapshots(retriever: HybridRetriever) -> KnowledgeSnapshots:
    return KnowledgeSnapshots(retriever, vocabulary=default_glossary().entries())


@pytest.fixture(scope="session")
def workflow(
    embedder: OnnxEmbedder,
    classifier: QuestionClassifier,
    retriever: HybridRetriever,
    snapshots: KnowledgeSnapshots,
) -> AnswerWorkflow:
    return build_test_workflow(embedder, classifier, retriever, snapshots)


def build_test_workflow(
    embedder: OnnxEmbedder,
    classifier: QuestionClassifier,
    retriever: HybridRetriever,
    snapshots: KnowledgeSnapshots,
    approved: ApprovedAnswers | None = None,
) -> AnswerWorkflow:
    sentences = SentenceCache(embedder)
    return AnswerWorkflow(
        embedder=embedder,
        classifier=classifier,
        snapshots=snapshots,
        retriever=retriever,
        sentences=sentences,
        responder=OfflineResponder(sentences),
        cache=NoCache(),
        retrieval_limit=5,
        relevance_threshold=0.45,
        approved=approved,
    )
