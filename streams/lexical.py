"""BM25 scores of the knowledge-base chunks for a question, beside the vector scores.

Embeddings blur exact facts: "toll-free number" and "1800-123-4567", "65W" and "38W" sit
close together in vector space. A lexical index keeps them apart, so its tokenizer keeps
what customers quote whole: phone numbers, emails, ₹ amounts (also as the bare number, as
customers often type it), numbers and model names such as 65W or 20000mAh. Plain words are
stemmed (Snowball), so "accepts" meets "accept" and "earbuds" meets "earbud".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from streams.store import StoredChunk

_STOPWORDS = frozenset(STOPWORDS_EN_PLUS)
_STEMMER = Stemmer.Stemmer("english")

_TOKEN = re.compile(
    r"""
      (?P<email>[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+)
    | (?P<phone>\d{3,5}(?:-\d{3,5}){1,3})
    | (?P<rupees>₹\s?\d[\d,]*(?:\.\d+)?)
    | (?P<compound>[a-z0-9]+(?:-[a-z0-9]+)+)
    | (?P<number>\d{1,3}(?:,\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?[a-z]*)
    | (?P<word>[a-z]+)
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """Lowercase tokens of ``text`` without English stopwords; words are stemmed, exact
    facts stay whole."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        kind, token = match.lastgroup, match.group()
        if kind == "rupees":
            amount = token.lstrip("₹").strip().replace(",", "")
            tokens += [f"₹{amount}", amount]
        elif kind == "phone":
            tokens += [token, token.replace("-", "")]
        elif kind == "number":
            tokens.append(token.replace(",", ""))
        elif kind == "compound":
            # "usb-c" is also written "usbc" or "usb c"; "wi-fi" as "wifi".
            parts = [part for part in token.split("-") if part not in _STOPWORDS]
            tokens += [token.replace("-", ""), *parts]
        elif token not in _STOPWORDS:
            tokens.append(_STEMMER.stemWord(token) if kind == "word" else token)
    return tokens


def indexed_text(chunk: StoredChunk) -> str:
    """What the index reads of a chunk: its text under its document's names and heading."""
    return "\n".join([chunk.title, *chunk.aliases, chunk.heading, chunk.text])


class LexicalIndex:
    """Immutable once built, so threads may score on it concurrently."""

    def __init__(self, chunk_ids: Sequence[str], model: bm25s.BM25 | None) -> None:
        self._chunk_ids = list(chunk_ids)
        self._model = model

    @classmethod
    def build(cls, chunks: Sequence[StoredChunk]) -> LexicalIndex:
        corpus = [tokenize(indexed_text(chunk)) for chunk in chunks]
        if not any(corpus):
            return cls([], None)
        model = bm25s.BM25()
        model.index(corpus, show_progress=False)
        return cls([chunk.chunk_id for chunk in chunks], model)

    def __len__(self) -> int:
        return len(self._chunk_ids)

    def scores(self, query: str) -> dict[str, float]:
        """chunk_id → BM25 score of every chunk sharing a token with ``query``."""
        if self._model is None:
            return {}
        token_ids = self._model.get_tokens_ids(tokenize(query))
        if not token_ids:
            return {}
        scores = np.asarray(self._model.get_scores(token_ids), dtype=np.float64)
        return {self._chunk_ids[i]: float(scores[i]) for i in np.flatnonzero(scores > 0)}
