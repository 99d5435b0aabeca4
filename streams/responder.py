"""Responders turn retrieved passages into a grounded answer.

``OfflineResponder`` (the default, no network) extracts the sentences that answer the
question from the passages and cites them; it never writes a fact that is not in the
knowledge base, and returns ``None`` when no sentence answers. ``GeminiResponder`` asks
Gemini with a prompt that confines it to the same passages.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from schemas import Source
from streams.embeddings import Vectors
from streams.lexical import tokenize
from streams.memory import Turn
from streams.sentences import SentenceCache
from streams.store import Passage

_NUMBER = re.compile(r"\d")
_DURATION = (
    r"\b\d+(\.\d+)?(\s*(-|to)\s*\d+(\.\d+)?)?[\s-]*(business\s+)?"
    r"(minutes?|hours?|days?|weeks?|months?|years?)\b"
)
_PHONE = r"\b\d{3,5}(-\d{3,5}){1,3}\b"
_EMAIL = r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b"


class _Cue(NamedTuple):
    asks: re.Pattern[str]
    """Found in a question that asks for a kind of fact."""
    states: re.Pattern[str]
    """Found in a sentence that states a fact of that kind."""


def _cue(asks: str, states: str) -> _Cue:
    return _Cue(re.compile(asks, re.I), re.compile(states, re.I))


# A question asking for a kind of fact wants a sentence that states one. Word overlap and
# embeddings cannot tell "costs ₹1,499" from "weighs 210 grams" for "how heavy is it?".
_CUES: tuple[_Cue, ...] = (
    _cue(
        r"\b(price|prices|cost|costs|priced|mrp|how much (is|are|does|do|for))\b",
        r"\b(costs?|priced at|for|at)\s+₹",
    ),
    _cue(
        r"\b(fee|fees|shipping charges?|delivery charges?|extra charges?)\b",
        r"\b(charges?|fees?)\b[^.]*₹|₹[^.]*\b(charges?|fees?)\b",
    ),
    _cue(
        # Not "max" or "min": product names use them ("Splash Max").
        r"\b(limit|limits|maximum|minimum|up ?to|at least|at most)\b",
        r"\b(up to|at least|at most|or less|or more|above|below|minimum|maximum)\b.*\d",
    ),
    _cue(r"\b(weight|weigh|weighs|heavy|grams?|kgs?)\b", r"\b\d+(\.\d+)?\s*(g|grams?|kg)\b"),
    _cue(r"\b(watts?|wattage|adapter|charger power)\b", r"\b\d+\s?W\b"),
    _cue(r"\bhow many times\b", r"\b\d+(\s*(-|to)\s*\d+)?\s+times\b"),
    _cue(
        r"\b(water\w*|pool|swim\w*|rain|shower|wet|sweat|dust\w*|submerge\w*|ip ?rating)\b",
        r"\bIP[X\d]\d\b",
    ),
    _cue(
        r"\b(reset|restart|reboot|how (do|can|should) i|how to|steps?)\b",
        r"\b(hold|press|tap|open|go to|select|choose|click|switch off|turn off|place)\b",
    ),
    _cue(
        r"\b(how long|how fast|how quickly|how soon|how many (days|hours|weeks|months|years)"
        r"|when will|timeline|turnaround|duration)\b",
        _DURATION,
    ),
    _cue(r"\b(battery|backup|playback|last|lasts)\b", r"\b\d+(\.\d+)?\s*(hours?|days?)\b"),
    _cue(r"\bwarrant", r"\b\d+[\s-]*(months?|years?)\b[^.]*warrant"),
    _cue(
        r"\b(what time|timings?|opening hours|open|closed?|working hours|holidays?)\b",
        r"\b\d{1,2}(:\d\d)?\s*(AM|PM)\b|\b(mondays?|sundays?|holidays?)\b",
    ),
    _cue(r"\b(contact|get in touch|reach|call|phone|helpline|toll|ring)\b", _PHONE),
    _cue(r"\b(contact|get in touch|reach|e-?mail|mail|write)\b", _EMAIL),
    _cue(r"\bhow (much|many|long|big|heavy|fast)\b", r"\d"),
)
_SIMILARITY_WEIGHT = 0.65
_OVERLAP_WEIGHT = 0.2
_CUE_BONUS = 0.12
_PASSAGE_WEIGHT = 0.1
# A sentence naming what the question names (a product, "return policy").
_NAMED_BONUS = 0.05
# The named document is the authority on its subject, ahead of a guide or another policy
# that mentions it.
_NAMED_PAGE_BONUS = 0.15
_MIN_SENTENCE_SCORE = 0.33
_SECOND_SENTENCE_MARGIN = 0.08
# A sentence of the same section that states a fact the first one lacks (the email beside
# the phone number) joins it from further down.
_SECOND_FACT_MARGIN = 0.2
# "Details are in the Cash on Delivery policy." points elsewhere and answers nothing.
_POINTER = re.compile(r"^(more |further )?(details|information) (are|is) in\b", re.I)
_PRODUCT = "product"


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


@dataclass(frozen=True, slots=True)
class _Candidate:
    score: float
    order: int
    """Position in the passages, to quote chosen sentences in reading order."""
    text: str
    passage: Passage
    facts: frozenset[int]
    """The cues (indexes into ``_CUES``) whose kind of fact the sentence states."""


class OfflineResponder:
    name = "offline"
    prompt_version = "extractive-v2"

    def __init__(self, sentences: SentenceCache) -> None:
        self._sentences = sentences

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
        await self._sentences.prepare([passage.text for passage in passages])
        return self.compose(question, question_vector, passages)

    def compose(
        self, question: str, question_vector: Vectors, passages: Sequence[Passage]
    ) -> Reply | None:
        """The best sentence for ``question`` (by embedding similarity, IDF-weighted overlap
        of stemmed words, the kind of fact asked for, and the document named), with a
        second one from the same document when it scores nearly as well or states a fact
        the first lacks."""
        question_tokens = frozenset(tokenize(question))
        named = _named_documents(question_tokens, passages)
        sections = [(p, self._sentences.of(p.text)) for p in _focus_on_named(named, passages)]
        weights = _idf([tokens for _, sentences in sections for tokens in sentences.tokens])
        asked = [i for i, cue in enumerate(_CUES) if cue.asks.search(question)]
        candidates: list[_Candidate] = []
        for rank, (passage, sentences) in enumerate(sections):
            if not sentences.texts:
                continue
            similarities = sentences.vectors @ question_vector
            for index, (text, tokens) in enumerate(
                zip(sentences.texts, sentences.tokens, strict=True)
            ):
                if _POINTER.search(text):
                    continue
                facts = frozenset(i for i in asked if _CUES[i].states.search(text))
                score = (
                    _SIMILARITY_WEIGHT * float(similarities[index])
                    + _OVERLAP_WEIGHT * _overlap(question_tokens, tokens, weights)
                    + _CUE_BONUS * len(facts)
                    + _PASSAGE_WEIGHT * passage.score
                    + (_NAMED_BONUS if any(n <= tokens for n in named.values()) else 0.0)
                    + (_NAMED_PAGE_BONUS if passage.doc_id in named else 0.0)
                )
                candidates.append(_Candidate(score, rank * 1000 + index, text, passage, facts))
        if not candidates:
            return None
        candidates.sort(key=lambda c: c.score, reverse=True)
        best = candidates[0]
        if best.score < _MIN_SENTENCE_SCORE:
            return None
        chosen = [best, *_second_sentence(best, candidates[1:])]
        chosen.sort(key=lambda c: c.order)
        cited = [c.passage for c in chosen]
        text = " ".join(c.text for c in chosen)
        titles = ", ".join(dict.fromkeys(p.title for p in cited))
        return Reply(text=f"{text}\n\nSource: {titles}.", sources=sources_of(cited))


def _second_sentence(best: _Candidate, others: Sequence[_Candidate]) -> list[_Candidate]:
    for other in others:
        if other.passage.doc_id != best.passage.doc_id:
            continue
        if best.score - other.score <= _SECOND_SENTENCE_MARGIN:
            return [other]
        states_another_fact = (
            other.passage.chunk_id == best.passage.chunk_id
            and bool(best.facts)
            and bool(other.facts - best.facts)
        )
        if states_another_fact and best.score - other.score <= _SECOND_FACT_MARGIN:
            return [other]
    return []


def _idf(sentences: Sequence[frozenset[str]]) -> dict[str, float]:
    """Inverse frequency of each token among the candidate sentences: the product's name,
    repeated in every sentence of its page, weighs little; the asked-for word weighs most."""
    frequency = Counter(token for tokens in sentences for token in tokens)
    return {token: math.log(1 + len(sentences) / n) for token, n in frequency.items()}


def _overlap(
    question: frozenset[str], sentence: frozenset[str], weights: dict[str, float]
) -> float:
    """Share of the question's token weight that the sentence holds; a question token no
    sentence holds (a typo, a word the knowledge base lacks) weighs like the rarest."""
    if not question or not weights:
        return 0.0
    rarest = max(weights.values())
    total = sum(weights.get(token, rarest) for token in question)
    return sum(weights[token] for token in question & sentence) / total


def _named_documents(
    question: frozenset[str], passages: Sequence[Passage]
) -> dict[str, frozenset[str]]:
    """doc_id → name tokens of the documents among ``passages`` whose title the question
    names ("return policy", "Power Bank Slim"). A name is its title's words without model
    numbers ("Power Bank Slim" names the Power Bank Slim 10000mAh); when several product
    names match ("AeroBook", "AeroBook Pro"), the fullest wins."""
    names = {p.doc_id: (p.category == _PRODUCT, _name(p.title)) for p in passages}
    named = {doc_id: entry for doc_id, entry in names.items() if entry[1] and entry[1] <= question}
    fullest = max((len(name) for product, name in named.values() if product), default=0)
    return {
        doc_id: name
        for doc_id, (product, name) in named.items()
        if not product or len(name) == fullest
    }


def _name(title: str) -> frozenset[str]:
    return frozenset(token for token in tokenize(title) if not _NUMBER.search(token))


def _focus_on_named(
    named: dict[str, frozenset[str]], passages: Sequence[Passage]
) -> Sequence[Passage]:
    """When the question names a product, no other product's page; the pages that are not
    about one product (troubleshooting, FAQ, policies) stay."""
    products = {p.doc_id for p in passages if p.category == _PRODUCT and p.doc_id in named}
    if not products:
        return passages
    return [p for p in passages if p.category != _PRODUCT or p.doc_id in products]
