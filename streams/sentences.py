"""Passages split into sentences, each with its embedding and lexical tokens, kept by text.

The offline responder answers with the sentences that state the asked fact; grading asks
how close a passage's nearest sentence is to the question, because a short question
("Which cards do you accept?") embeds far from a whole passage and close to the one
sentence that answers it. Both share one cache, so a passage is split and embedded once.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import numpy as np

from streams.embeddings import OnnxEmbedder, Vectors
from streams.lexical import tokenize

_SENTENCE_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9₹\"'(])|\n+")
_CACHE_SIZE = 4096


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


class SentenceCache:
    """Thread-safe and bounded (least recently used out)."""

    def __init__(self, embedder: OnnxEmbedder, *, size: int = _CACHE_SIZE) -> None:
        self._embedder = embedder
        self._size = size
        self._entries: OrderedDict[str, Sentences] = OrderedDict()
        self._lock = Lock()

    def of(self, text: str) -> Sentences:
        with self._lock:
            cached = self._entries.get(text)
            if cached is not None:
                self._entries.move_to_end(text)
                return cached
        texts = split_sentences(text)
        sentences = Sentences(
            texts,
            self._embedder.embed(texts) if texts else np.zeros((0, 1), np.float32),
            [frozenset(tokenize(sentence)) for sentence in texts],
        )
        with self._lock:
            self._entries[text] = sentences
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return sentences

    def nearest(self, text: str, vector: Vectors) -> float:
        """The cosine similarity of ``text``'s sentence nearest to ``vector`` (-1 without
        sentences)."""
        sentences = self.of(text)
        return float((sentences.vectors @ vector).max()) if sentences.texts else -1.0
