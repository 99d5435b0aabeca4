"""Passages split into sentences, each with its embedding and lexical tokens, kept by text.

The offline responder answers with the sentences that state the asked fact; grading asks
how close a passage's nearest sentence is to the question, because a short question
("Which cards do you accept?") embeds far from a whole passage and close to the one
sentence that answers it. Both share one cache, so a passage is split and embedded once.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from threading import Lock

import numpy as np

from streams.embeddings import OnnxEmbedder, Vectors
from streams.lexical import tokenize

_SENTENCE_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9₹\"'(])|\n+")
_CACHE_SIZE = 16_384
"""Sentences: the shipped knowledge base has about 1,000; 16,384 take ~25 MB."""


def split_sentences(text: str) -> list[str]:
    sentences = []
    for raw in _SENTENCE_BOUNDARY.split(text):
        sentence = raw.strip().lstrip("-*• ").strip()
        if len(sentence) >= 12:
            sentences.append(sentence)
    return sentences


@dataclass(frozen=True, slots=True)
class Sentences:
    """A passage's sentences with their embeddings and lexical tokens."""

    texts: list[str]
    vectors: Vectors
    tokens: list[frozenset[str]]


@dataclass(frozen=True, slots=True)
class _Sentence:
    vector: Vectors
    tokens: frozenset[str]


class SentenceCache:
    """Thread-safe and bounded (least recently used out).

    Kept by sentence, not by passage: a passage cut down to some of its sentences
    (``streams.focus``) is a new text whose sentences are all known already.
    """

    def __init__(self, embedder: OnnxEmbedder, *, size: int = _CACHE_SIZE) -> None:
        self._embedder = embedder
        self._size = size
        self._entries: OrderedDict[str, _Sentence] = OrderedDict()
        self._lock = Lock()

    async def prepare(self, texts: Sequence[str]) -> None:
        """Embeds the sentences of ``texts`` not cached yet, off the event loop, so that
        :meth:`of` and :meth:`nearest` on them are cheap enough to call on it."""
        sentences = [sentence for text in texts for sentence in split_sentences(text)]
        with self._lock:
            missing = any(sentence not in self._entries for sentence in sentences)
        if missing:
            await asyncio.to_thread(self._embed_all, texts)

    def _embed_all(self, texts: Sequence[str]) -> None:
        for text in texts:
            self.of(text)

    def of(self, text: str) -> Sentences:
        texts = split_sentences(text)
        if not texts:
            return Sentences([], np.zeros((0, 1), np.float32), [])
        with self._lock:
            known = {t: entry for t in texts if (entry := self._entries.get(t)) is not None}
            for sentence in known:
                self._entries.move_to_end(sentence)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            vectors = self._embedder.embed(missing)
            added = {
                t: _Sentence(vector, frozenset(tokenize(t)))
                for t, vector in zip(missing, vectors, strict=True)
            }
            with self._lock:
                self._entries.update(added)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            known |= added
        return Sentences(
            texts,
            np.stack([known[t].vector for t in texts]),
            [known[t].tokens for t in texts],
        )

    def nearest(self, text: str, vector: Vectors) -> float:
        """The cosine similarity of ``text``'s sentence nearest to ``vector`` (-1 without
        sentences)."""
        sentences = self.of(text)
        return float((sentences.vectors @ vector).max()) if sentences.texts else -1.0
