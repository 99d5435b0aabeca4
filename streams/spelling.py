"""Typo correction against the knowledge base's vocabulary.

A word is corrected only when no list knows it, neither the vocabulary given (the knowledge
base, product names, training questions) nor a general English word list (pyspellchecker's
English frequency list, MIT), and then only into a vocabulary word a small edit away
(rapidfuzz's optimal string alignment distance, so a swap of two letters is one edit). Short
words, names written with capitals inside (iPhone, HDFC), and anything touching a digit,
"@", "." or "-" (order ids, emails, model names) are left as they are.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable

from rapidfuzz.distance import OSA
from rapidfuzz.process import extract
from spellchecker import SpellChecker

_WORD = re.compile(r"[A-Za-z]+")
_MIN_LENGTH = 4
"""Shorter words are too close to too many others to correct ("pls", "kya", "hai")."""
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n])[\s\"'(]*$")
_GLUED = frozenset("0123456789@._-/'’#")
"""Characters next to which a word is part of something else: an id, an email, a model."""


@functools.cache
def _english() -> frozenset[str]:
    """The general English word list, loaded once (about 160,000 words, 0.4 s), with its
    accented words also as customers type them ("café" as "cafe")."""
    words = set(SpellChecker(language="en").word_frequency.keys())
    return frozenset(words | {_unaccented(word) for word in words if not word.isascii()})


def _unaccented(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def words_of(text: str) -> list[str]:
    """The lowercased words of ``text``, to build a vocabulary from texts."""
    return [word.lower() for word in _WORD.findall(text)]


class SpellingCorrector:
    def __init__(self, vocabulary: Iterable[str]) -> None:
        """``vocabulary``: words (or texts, whose words are taken) that are correct and that
        a misspelt word may become; the more often a word is given, the more it is preferred
        between equally close ones."""
        self._counts = Counter(word for item in vocabulary for word in words_of(item))
        self._known = self._counts.keys() | _english()
        self._targets = [word for word in self._counts if len(word) >= _MIN_LENGTH - 1]
        self._correction = functools.lru_cache(maxsize=8192)(self._closest)

    def correct(self, text: str) -> str:
        """``text`` with its misspelt words replaced by the closest vocabulary words."""
        pieces: list[str] = []
        last = 0
        for match in _WORD.finditer(text):
            word = match.group()
            if _correctable(text, match.start(), match.end()):
                replacement = self._correction(word.lower())
                if replacement is not None:
                    pieces.append(text[last : match.start()])
                    pieces.append(replacement.capitalize() if word[0].isupper() else replacement)
                    last = match.end()
        pieces.append(text[last:])
        return "".join(pieces)

    def _closest(self, word: str) -> str | None:
        """The vocabulary word ``word`` is a misspelling of, or ``None`` when it is a word
        already or nothing is close enough."""
        if word in self._known or _plural_of(word, self._known):
            return None
        edits = 1 if len(word) < 8 else 2
        found = extract(word, self._targets, scorer=OSA.distance, score_cutoff=edits, limit=None)
        if len(word) <= 5:  # a short word's first letter is rarely the mistyped one
            found = [hit for hit in found if hit[0][0] == word[0]]
        if not found:
            return None
        best = min(distance for _, distance, _ in found)
        return max(
            (candidate for candidate, distance, _ in found if distance == best),
            key=lambda candidate: (self._counts[candidate], candidate),
        )


def _plural_of(word: str, known: Collection[str]) -> bool:
    return word.endswith("s") and (word[:-1] in known or word[:-2] in known)


def _correctable(text: str, start: int, end: int) -> bool:
    word = text[start:end]
    if len(word) < _MIN_LENGTH or any(c.isupper() for c in word[1:]):
        return False
    if word[0].isupper() and not _SENTENCE_START.search(text[:start]):
        return False  # a name: "Delhivery", "Holi", "Uber"
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return before not in _GLUED and (after not in _GLUED or _ends_sentence(text, end))


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the "." or "-" after a word ends it rather than joins it ("pls." vs "a.com")."""
    following = text[end + 1] if end + 1 < len(text) else " "
    return text[end] in ".-" and not following.isalnum()
