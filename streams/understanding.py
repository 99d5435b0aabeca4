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

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from streams.catalogue import Catalogue, Product
from streams.context import ConversationContext, find_order_id, standalone_question
from streams.language import DetectedLanguage, detect_language, to_english
from streams.spelling import SpellingCorrector
from streams.store import KnowledgeStore, StoredChunk

_WORD = re.compile(r"[a-z]+")
_PRODUCT_CATEGORY = "product"


@dataclass(frozen=True, slots=True)
class KnowledgeSnapshot:
    """What one version of the knowledge base teaches the reader."""

    version: int
    catalogue: Catalogue
    speller: SpellingCorrector
    general_documents: frozenset[str]
    """Documents that are not about one product: policies, company, FAQ, troubleshooting."""


class KnowledgeSnapshots:
    """The snapshot of the store's current version, rebuilt when an ingestion moves it."""

    def __init__(self, store: KnowledgeStore, *, vocabulary: Iterable[str] = ()) -> None:
        """``vocabulary``: texts whose words the speller must also know (the classifier's
        training questions: how customers write)."""
        self._store = store
        self._vocabulary = frozenset(_words(" ".join(vocabulary)))
        self._lock = threading.Lock()
        self._snapshot: KnowledgeSnapshot | None = None

    def current(self) -> KnowledgeSnapshot:
        """Blocking (it may read the store): call it from a worker thread."""
        version = self._store.current_version()
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = build_snapshot(version, self._store.chunks(), self._vocabulary)
            return self._snapshot


def build_snapshot(
    version: int, chunks: Iterable[StoredChunk], vocabulary: Iterable[str] = ()
) -> KnowledgeSnapshot:
    products: dict[str, Product] = {}
    general: set[str] = set()
    words = set(vocabulary)
    for chunk in chunks:
        words.update(_words(f"{chunk.title} {chunk.heading} {chunk.text} {' '.join(chunk.aliases)}"))
        if chunk.category == _PRODUCT_CATEGORY:
            products[chunk.doc_id] = Product(chunk.doc_id, chunk.title, chunk.kind, chunk.aliases)
        else:
            general.add(chunk.doc_id)
    return KnowledgeSnapshot(
        version=version,
        catalogue=Catalogue.from_products(products.values()),
        speller=SpellingCorrector(words),
        general_documents=frozenset(general),
    )


@dataclass(frozen=True, slots=True)
class UnderstoodMessage:
    original: str
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
    kinds = frozenset(catalogue.kinds_in(english))
    of_kinds = {p.doc_id for kind in kinds for p in catalogue.of_kind(kind)}
    return UnderstoodMessage(
        original=message,
        language=language,
        english=english,
        standalone=completed or english,
        used_context=completed is not None,
        products=products,
        unknown_products=tuple(catalogue.unknown_mentions(english)),
        kinds=kinds,
        context=context.updated(
            products=named, order_id=find_order_id(message), topic=context.topic
        ),
        allowed_documents=snapshot.general_documents
        | {p.doc_id for p in products}
        | frozenset(of_kinds),
    )


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))
