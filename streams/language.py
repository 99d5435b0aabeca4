"""The language a customer writes in, and Hinglish glossed into English for the offline path.

lingua-language-detector ships its models in the wheel (nothing is downloaded). It is
restricted to the languages TechGear's customers plausibly write: English; Hindi and the
Indian languages lingua knows (Marathi, Bengali, Gujarati, Punjabi, Tamil, Telugu, Urdu);
and the most spoken world languages (Spanish, French, German, Portuguese, Arabic, Chinese,
Japanese, Korean, Russian). Every Latin-script language in the set is a chance to mistake
a short or misspelt English question for it, so the Latin set is kept to five; languages of
their own script cost nothing until a message in that script arrives (models load per
language, on first use).

Romanized Hindi is not a lingua language: a message is Hinglish (``hi-Latn``) when it holds
Hindi words of ``data/language/hinglish.yaml``. Short messages and product names are
English unless another language is clearly ahead, and Devanagari is Hindi unless lingua is
sure it is Marathi (on short text it often leans Marathi for plain Hindi).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

GLOSSARY_PATH = Path("data/language/hinglish.yaml")
"""Relative to the working directory, like the knowledge base (``/app`` in the image)."""

_LANGUAGES = (
    Language.ENGLISH,
    Language.HINDI,
    Language.MARATHI,
    Language.BENGALI,
    Language.GUJARATI,
    Language.PUNJABI,
    Language.TAMIL,
    Language.TELUGU,
    Language.URDU,
    Language.SPANISH,
    Language.FRENCH,
    Language.GERMAN,
    Language.PORTUGUESE,
    Language.ARABIC,
    Language.CHINESE,
    Language.JAPANESE,
    Language.KOREAN,
    Language.RUSSIAN,
)
_SCRIPTS = {
    "LATIN": "Latn",
    "DEVANAGARI": "Deva",
    "BENGALI": "Beng",
    "GUJARATI": "Gujr",
    "GURMUKHI": "Guru",
    "TAMIL": "Taml",
    "TELUGU": "Telu",
    "KANNADA": "Knda",
    "MALAYALAM": "Mlym",
    "ORIYA": "Orya",
    "ARABIC": "Arab",
    "CJK": "Hani",
    "HIRAGANA": "Jpan",
    "KATAKANA": "Jpan",
    "HANGUL": "Kore",
    "CYRILLIC": "Cyrl",
    "GREEK": "Grek",
    "HEBREW": "Hebr",
    "THAI": "Thai",
}
_OUTSIDE_DETECTOR = {"Knda": "kn", "Mlym": "ml", "Orya": "or", "Grek": "el", "Hebr": "he"}
"""Scripts of one language that the detector is not asked about."""
_ANSWERABLE_OFFLINE = frozenset({"en", "hi-Latn"})

_FEWEST_WORDS_FOR_ANOTHER_LATIN_LANGUAGE = 3
_ANOTHER_LATIN_LANGUAGE_CONFIDENCE = 0.45
_ENGLISH_CONFIDENCE_STILL_ENGLISH = 0.2
_MARATHI_CONFIDENCE = 0.75
_OTHER_SCRIPT_SHARE = 0.3
_HINGLISH_EVIDENCE = 2
_HINGLISH_SHARE = 0.25
"""With one Hindi word, the share of Hindi words (shared ones included) that makes a message
Hinglish: "refund kab?", "K8 keyboard wireless hai ya wired", but not "What is the price of
the SmartWatch Pro X yaar"."""

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([?!.,;:])")

_lock = threading.Lock()
_detector: LanguageDetector | None = None


@dataclass(frozen=True, slots=True)
class DetectedLanguage:
    code: str
    """BCP 47: ``en``, ``hi``, ``hi-Latn`` (romanized Hindi), ``es``, ``mr``, ``ta``, ``und``."""
    script: str
    """ISO 15924 of the message's letters: ``Latn``, ``Deva``, ``Taml``, ..."""

    @property
    def english(self) -> bool:
        return self.code == "en"

    @property
    def answerable_offline(self) -> bool:
        """English, or Hinglish that ``to_english`` glosses for the English pipeline."""
        return self.code in _ANSWERABLE_OFFLINE


ENGLISH = DetectedLanguage("en", "Latn")


class HinglishGlossary:
    """``phrases`` and ``words`` of romanized Hindi with their English; ``words`` are Hindi
    only (evidence of Hinglish), ``shared`` ones are also words of English or of another
    detected language."""

    def __init__(
        self, phrases: Mapping[str, str], words: Mapping[str, str], shared: Mapping[str, str]
    ) -> None:
        self._english = {**shared, **words, **phrases}
        self._evidence = frozenset(words)
        # One pass, phrases before words and longer before shorter: a glossed word is
        # never glossed again, and "kitne ka hai" wins over "kitne", "ka" and "hai".
        alternatives = [
            r"\s+".join(map(re.escape, phrase.split()))
            for phrase in sorted(phrases, key=len, reverse=True)
        ]
        alternatives += [re.escape(w) for w in sorted([*words, *shared], key=len, reverse=True)]
        self._pattern = re.compile(
            r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])", re.IGNORECASE
        )

    @classmethod
    def load(cls, path: Path) -> HinglishGlossary:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        sections: dict[str, dict[str, str]] = {}
        for name in ("phrases", "words", "shared"):
            entries = raw.get(name) if isinstance(raw, dict) else None
            if not isinstance(entries, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
            ):
                raise ValueError(f"{path}: {name!r} must map words to their English")
            sections[name] = {" ".join(k.lower().split()): v for k, v in entries.items()}
        return cls(sections["phrases"], sections["words"], sections["shared"])

    def entries(self) -> list[str]:
        """Every romanized Hindi word and phrase glossed: words a speller must not change."""
        return list(self._english)

    def evidence(self, words: Sequence[str]) -> int:
        """How many of ``words`` are Hindi words."""
        return sum(1 for word in words if word.lower() in self._evidence)

    def hindi_words(self, words: Sequence[str]) -> int:
        """How many of ``words`` are in the glossary, shared ones included."""
        return sum(1 for word in words if word.lower() in self._english)

    def gloss(self, text: str) -> str:
        english = self._pattern.sub(self._english_of, text)
        return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(english.split()))

    def _english_of(self, match: re.Match[str]) -> str:
        return self._english[" ".join(match.group(0).lower().split())]


@cache
def default_glossary() -> HinglishGlossary:
    return HinglishGlossary.load(GLOSSARY_PATH)


def detect_language(text: str, glossary: HinglishGlossary | None = None) -> DetectedLanguage:
    script = dominant_script(text)
    if script is None:
        return ENGLISH
    if script in _OUTSIDE_DETECTOR:
        return DetectedLanguage(_OUTSIDE_DETECTOR[script], script)
    if script == "Latn":
        return _latin(text, glossary or default_glossary())
    confidences = _lingua().compute_language_confidence_values(text)
    if not confidences or confidences[0].value == 0.0:
        return DetectedLanguage("und", script)
    if script == "Deva":
        marathi = next((c.value for c in confidences if c.language == Language.MARATHI), 0.0)
        return DetectedLanguage("mr" if marathi >= _MARATHI_CONFIDENCE else "hi", script)
    return DetectedLanguage(_code(confidences[0].language), script)


def to_english(
    text: str, language: DetectedLanguage, glossary: HinglishGlossary | None = None
) -> str:
    """Hinglish glossed word for word into English; any other language unchanged."""
    if language.code != "hi-Latn":
        return text
    return (glossary or default_glossary()).gloss(text)


def language_name(code: str) -> str:
    """``Hindi`` for ``hi``; ``Hinglish`` for ``hi-Latn``; the code itself when unknown."""
    if code == "hi-Latn":
        return "Hinglish (Hindi written in Latin letters)"
    try:
        language = Language.from_iso_code_639_1(IsoCode639_1.from_str(code.split("-")[0]))
    except ValueError:
        return code
    return language.name.capitalize()


def dominant_script(text: str) -> str | None:
    """The ISO 15924 script of ``text``'s letters; ``None`` without letters. Vowel signs
    count with their script: in Indic scripts they are marks, not letters. Latin letters
    in another script's message are mostly names ("Power Bank Ultra की कीमत"), so another
    script with a fair share of the letters wins over Latin."""
    counts = Counter(
        _SCRIPTS.get(unicodedata.name(char, "").split(" ")[0], "Zyyy")
        for char in text
        if unicodedata.category(char)[0] in "LM"
    )
    if not counts:
        return None
    others = [(n, script) for script, n in counts.items() if script != "Latn"]
    if others and max(others)[0] >= _OTHER_SCRIPT_SHARE * sum(counts.values()):
        return max(others)[1]
    return counts.most_common(1)[0][0]


def _latin(text: str, glossary: HinglishGlossary) -> DetectedLanguage:
    words = _WORD.findall(text)
    evidence = glossary.evidence(words)
    hindi_share = glossary.hindi_words(words) / len(words) if words else 0.0
    if evidence >= _HINGLISH_EVIDENCE or (evidence and hindi_share >= _HINGLISH_SHARE):
        return DetectedLanguage("hi-Latn", "Latn")
    if len(words) < _FEWEST_WORDS_FOR_ANOTHER_LATIN_LANGUAGE:
        return ENGLISH
    confidences = {c.language: c.value for c in _lingua().compute_language_confidence_values(text)}
    best = max(confidences, key=confidences.__getitem__, default=Language.ENGLISH)
    if (
        best != Language.ENGLISH
        and confidences[best] >= _ANOTHER_LATIN_LANGUAGE_CONFIDENCE
        and confidences.get(Language.ENGLISH, 0.0) <= _ENGLISH_CONFIDENCE_STILL_ENGLISH
    ):
        return DetectedLanguage(_code(best), "Latn")
    return ENGLISH


def _code(language: Language) -> str:
    return language.iso_code_639_1.name.lower()


def _lingua() -> LanguageDetector:
    """Built once, on first use; a language's models load when a message first needs them."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                _detector = LanguageDetectorBuilder.from_languages(*_LANGUAGES).build()
    return _detector


def preload() -> None:
    """Loads the models that the first messages need (1-3 s), so no customer waits for it."""
    detect_language("which language is this message written in")
    detect_language("यह संदेश किस भाषा में लिखा है")
