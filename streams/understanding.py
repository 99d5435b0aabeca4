"""Reading a customer's message the way a person would, before it is classified.

The message's language is detected; romanized Hindi is put into English words; typos are
corrected against the knowledge base's own vocabulary; the catalogue's products (and
names that only look like ours) are recognised; and a follow-up ("and the battery
life?") is completed from the conversation's context into a question that stands alone.
Everything after this step (classification, retrieval, the answer) reads the standalone
question, and retrieval may only cite the products the customer asked about.

The catalogue and the vocabulary come from the knowledge base as stored, so they follow
its version: an ingestion that adds a product is understood at the next question.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streams.catalogue import Catalogue, Product
from streams.context import ConversationContext, find_order_id, standalone_question
from streams.language import DetectedLanguage, detect_language, to_english
from streams.retrieval import HybridRetriever, allowed_documents
from streams.spelling import SpellingCorrector
from streams.store import StoredChunk

_PRODUCT_CATEGORY = "product"


@dataclass(frozen=True, slots=True)
class KnowledgeSnapshot:
    """What one version of the knowledge base teaches the reader."""

    version: int
    chunks: Sequence[StoredChunk]
    catalogue: Catalogue
    speller: SpellingCorrector


class KnowledgeSnapshots:
    """The snapshot of the knowledge base the retriever searches now, rebuilt when an
    ingestion moves its version."""

    def __init__(self, retriever: HybridRetriever, *, vocabulary: Iterable[str] = ()) -> None:
        """``vocabulary``: texts whose words the speller must also know and leave alone
        (romanized Hindi that the glossary does not translate in a given phrase)."""
        self._retriever = retriever
        self._vocabulary = tuple(vocabulary)
        self._lock = threading.Lock()
        self._snapshot: KnowledgeSnapshot | None = None

    def current(self) -> KnowledgeSnapshot:
        """Blocking (it may read the store): call it from a worker thread."""
        version, chunks = self._retriever.current_chunks()
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = build_snapshot(version, chunks, self._vocabulary)
            return self._snapshot


def build_snapshot(
    version: int, chunks: Sequence[StoredChunk], vocabulary: Iterable[str] = ()
) -> KnowledgeSnapshot:
    products = {
        chunk.doc_id: Product(chunk.doc_id, chunk.title, chunk.kind, chunk.aliases)
        for chunk in chunks
        if chunk.category == _PRODUCT_CATEGORY
    }
    # The knowledge base's texts, as often as they use each word: the speller prefers the
    # frequent one of two equally close words.
    texts = [f"{c.title} {c.heading} {c.text} {' '.join(c.aliases)}" for c in chunks]
    return KnowledgeSnapshot(
        version=version,
        chunks=chunks,
        catalogue=Catalogue.from_products(products.values()),
        speller=SpellingCorrector([*texts, *vocabulary]),
    )


@dataclass(frozen=True, slots=True)
class UnderstoodMessage:
    language: DetectedLanguage
    english: str
    """The message in English words with its typos corrected (the original when the
    language is not one the offline path reads)."""
    standalone: str
    """What is classified, retrieved and answered: ``english``, completed from the
    conversation's context when it was a follow-up."""
    used_context: bool
    products: tuple[Product, ...]
    """The catalogue products the question is about: named in it, or carried from the
    context by a follow-up."""
    unknown_products: tuple[str, ...]
    """Names that look like one of our products but are not in the catalogue."""
    kinds: frozenset[str]
    """Kinds of product named generically ("laptops")."""
    context: ConversationContext
    """The conversation's context after this message (its topic is set once answered)."""
    allowed_documents: frozenset[str]
    """The documents an answer may cite: every general one, and only the products asked
    about (by name, by context, or by kind)."""


def understand(
    message: str, context: ConversationContext, snapshot: KnowledgeSnapshot
) -> UnderstoodMessage:
    language = detect_language(message)
    english = to_english(message, language)
    if language.answerable_offline:
        english = snapshot.speller.correct(english)
    catalogue = snapshot.catalogue
    named = catalogue.find(english)
    completed = standalone_question(english, context, catalogue, named)
    # A completed follow-up names the context's product: read it back from the question.
    products = tuple(catalogue.find(completed) if completed else named)
    standalone = completed or english
    kinds = frozenset(catalogue.kinds_in(english))
    return UnderstoodMessage(
        language=language,
        english=english,
        standalone=standalone,
        used_context=completed is not None,
        products=products,
        unknown_products=tuple(catalogue.unknown_mentions(english)),
        kinds=kinds,
        context=context.updated(
            products=products, order_id=find_order_id(message), topic=None, question=standalone
        ),
        allowed_documents=allowed_documents(
            snapshot.chunks, products=[p.doc_id for p in products], kinds=kinds
        ),
    )
