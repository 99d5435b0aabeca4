"""Responders turn retrieved passages into a grounded answer.

``OfflineResponder`` (the default, no network) extracts the sentences that answer the
question from the passages and cites them; it never writes a fact that is not in the
knowledge base, and returns ``None`` when no sentence answers. ``GeminiResponder`` asks
Gemini with a prompt that confines it to the same passages.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Protocol

import numpy as np

from schemas import Source
from streams.embeddings import OnnxEmbedder, Vectors
from streams.memory import Turn
from streams.store import Passage

_SENTENCE_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9₹\"'(])|\n+")
_WORD = re.compile(r"[a-z0-9₹][a-z0-9₹,.\-]*[a-z0-9]|[a-z0-9]", re.IGNORECASE)
_STOPWORDS = frozenset(
    "a an the is are was were be been do does did i me my you your we our it its this that "
    "of to in on for with at by from and or can could would should will what which who how "
    "when where why much many any there their them they please tell know about have has".split()
)
# Questions with these cues want a sentence carrying the matching kind of fact.
_CUES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (re.compile(r"\b(price|cost|how much|priced|rate|mrp)\b", re.I), re.compile(r"₹")),
    (
        re.compile(r"\b(how long|how many days|when will|timeline|days)\b", re.I),
        re.compile(r"\b\d+(\s*(-|to)\s*\d+)?\s*(business\s+)?(day|days|hours?|weeks?)\b", re.I),
    ),
    (re.compile(r"\bwarrant", re.I), re.compile(r"\bwarrant", re.I)),
    (re.compile(r"\bbattery|charge|backup\b", re.I), re.compile(r"\bbattery|hours?|days?\b", re.I)),
)
_MIN_SENTENCE_SCORE = 0.38
_SECOND_SENTENCE_MARGIN = 0.08
_SENTENCE_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    sources: list[Source]


DeltaSink = Callable[[str], Awaitable[None]]
"""Receives pieces of an answer as they are produced."""


class Responder(Protocol):
    name: str
    prompt_version: str
    """Changes whenever the responder would answer the same passages differently."""

    async def answer(
        self,
        question: str,
        question_vector: Vectors,
        passages: Sequence[Passage],
        *,
        on_delta: DeltaSink | None = None,
        history: Sequence[Turn] = (),
        language: str = "en",
    ) -> Reply | None:
        """A grounded reply built only from ``passages``, or ``None`` when they do not answer.
        A streaming responder sends the reply's text to ``on_delta`` as it is produced.
        ``history`` (the conversation's earlier turns, oldest first) and ``language`` (BCP 47,
        the customer's) are for responders that can use them; the offline one answers in
        English from the passages alone."""
        ...


def split_sentences(text: str) -> list[str]:
    sentences = []
    for raw in _SENTENCE_BOUNDARY.split(text):
        sentence = raw.strip().lstrip("-*• ").strip()
        if len(sentence) >= 12:
            sentences.append(sentence)
    return sentences


def content_words(text: str) -> set[str]:
    return {w.lower().strip(",.") for w in _WORD.findall(text)} - _STOPWORDS


def sources_of(passages: Sequence[Passage]) -> list[Source]:
    """One source per document, with its best passage score, best first."""
    best: dict[str, Passage] = {}
    for passage in passages:
        if passage.doc_id not in best or passage.score > best[passage.doc_id].score:
            best[passage.doc_id] = passage
    ranked = sorted(best.values(), key=lambda p: p.score, reverse=True)
    return [
        Source(doc_id=p.doc_id, title=p.title, score=max(-1.0, min(1.0, p.score))) for p in ranked
    ]


class OfflineResponder:
    name = "offline"
    prompt_version = "extractive-v1"

    def __init__(self, embedder: OnnxEmbedder) -> None:
        self._embedder = embedder
        self._sentences: OrderedDict[str, tuple[list[str], Vectors]] = OrderedDict()
        self._lock = Lock()

    async def answer(
        self,
        question: str,
        question_vector: Vectors,
        passages: Sequence[Passage],
        *,
        on_delta: DeltaSink | None = None,
        history: Sequence[Turn] = (),
        language: str = "en",
    ) -> Reply | None:
        """Composed at once, so nothing streams; the caller sends the whole reply."""
        return await asyncio.to_thread(self.compose, question, question_vector, passages)

    def compose(
        self, question: str, question_vector: Vectors, passages: Sequence[Passage]
    ) -> Reply | None:
        candidates = _focus_on_named_documents(question, passages)
        scored: list[tuple[float, int, str, Passage]] = []
        question_words = content_words(question)
        cues = [wanted for asked, wanted in _CUES if asked.search(question)]
        for rank, passage in enumerate(candidates):
            sentences, vectors = self._sentence_vectors(passage)
            if not sentences:
                continue
            similarities = vectors @ question_vector
            for index, (sentence, similarity) in enumerate(
                zip(sentences, similarities, strict=True)
            ):
                overlap = len(question_words & content_words(sentence)) / max(
                    len(question_words), 1
                )
                cue_bonus = sum(0.12 for wanted in cues if wanted.search(sentence))
                score = 0.65 * float(similarity) + 0.25 * overlap + cue_bonus + 0.1 * passage.score
                scored.append((score, rank * 1000 + index, sentence, passage))
        if not scored:
            return None
        scored.sort(key=lambda item: item[0], reverse=True)
        best_score, _, _, best_passage = scored[0]
        if best_score < _MIN_SENTENCE_SCORE:
            return None
        chosen = [scored[0]]
        for candidate in scored[1:]:
            if len(chosen) == 2:
                break
            same_document = candidate[3].doc_id == best_passage.doc_id
            if same_document and best_score - candidate[0] <= _SECOND_SENTENCE_MARGIN:
                chosen.append(candidate)
        chosen.sort(key=lambda item: item[1])
        cited = [item[3] for item in chosen]
        text = " ".join(item[2] for item in chosen)
        titles = ", ".join(dict.fromkeys(p.title for p in cited))
        return Reply(text=f"{text}\n\nSource: {titles}.", sources=sources_of(cited))

    def _sentence_vectors(self, passage: Passage) -> tuple[list[str], Vectors]:
        with self._lock:
            cached = self._sentences.get(passage.text)
            if cached is not None:
                self._sentences.move_to_end(passage.text)
                return cached
        sentences = split_sentences(passage.text)
        vectors = self._embedder.embed(sentences) if sentences else np.zeros((0, 1), np.float32)
        with self._lock:
            self._sentences[passage.text] = (sentences, vectors)
            if len(self._sentences) > _SENTENCE_CACHE_SIZE:
                self._sentences.popitem(last=False)
        return sentences, vectors


def _focus_on_named_documents(question: str, passages: Sequence[Passage]) -> Sequence[Passage]:
    """When the question names a document's title (a product), answer only from that one."""
    lowered = question.lower()
    named = [p for p in passages if p.title.lower() in lowered]
    if not named:
        return passages
    longest = max(len(p.title) for p in named)
    return [p for p in named if len(p.title) == longest]
