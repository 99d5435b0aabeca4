from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.cache import NoCache
from streams.catalogue import Catalogue, Product
from streams.classifier import QuestionClassifier, load_training_examples
from streams.embeddings import OnnxEmbedder
from streams.responder import OfflineResponder
from streams.store import KnowledgeStore, open_client
from streams.workflow import AnswerWorkflow

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The products of the knowledge base, from their documents' front matter."""
    products = []
    for path in sorted((REPO / "data/knowledge/products").glob("*.md")):
        meta = yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])
        products.append(Product(meta["id"], meta["title"], meta["kind"], tuple(meta["aliases"])))
    return Catalogue.from_products(products)


@pytest.fixture(scope="session")
def classifier(embedder: OnnxEmbedder) -> QuestionClassifier:
    return QuestionClassifier.train(load_training_examples(REPO / "data/classifier"), embedder)


@pytest.fixture(scope="session")
def store(chroma_path: Path, embedder: OnnxEmbedder) -> KnowledgeStore:
    return KnowledgeStore(open_client(path=chroma_path), "techgear-kb", embedder)


@pytest.fixture(scope="session")
def workflow(
    embedder: OnnxEmbedder, classifier: QuestionClassifier, store: KnowledgeStore
) -> AnswerWorkflow:
    return AnswerWorkflow(
        embedder=embedder,
        classifier=classifier,
        store=store,
        responder=OfflineResponder(embedder),
        cache=NoCache(),
        retrieval_limit=5,
        relevance_threshold=0.45,
    )
