"""The product catalogue: which of our products a message names, which product-like names
it uses that we do not sell, and which kinds of product it asks about.

Names are compared with spaces and hyphens squashed out ("power bank ultra" = "powerbank
ultra" = "Power-Bank Ultra"), their letters fuzzily (rapidfuzz) and their model designations
(numbers, single letters: "14", "5G", "X") exactly, so "AeroBook 15" is not the AeroBook 14
and "SmartWatch Pro Z" is not the SmartWatch Pro X. A name followed by a further designation
("FitBand 4", "Nova Pro Max") is another model, not the one it starts like, and so is a name
of ours with a designation of its own in place of ours ("Splash Max Speaker", "StudioBook Go
15", "K10 Mechanical Keyboard"): it is never read as ours.

A name we do not sell is one that looks like ours: it starts with "TechGear", with one of our
coined product-line words (AeroBook, FitBand, ...) or with a kind word ("laptop"), and carries
a designation ("Laptop Air 14", "Pro Z", "Nova 7"); "TechGear" followed by goods we do not
sell at all is one too ("TechGear Smart TV"). Other brands' products ("Galaxy Watch 6",
"iPhone 15", "Mi Band 8") are not unknown TechGear products but out of scope: a kind word or a
plain product-line word ("nova") right after a word that is neither ours nor a function word
starts no name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cdist

KIND_WORDS: dict[str, str] = {
    "phone": "phone",
    "phones": "phone",
    "smartphone": "phone",
    "smartphones": "phone",
    "mobile": "phone",
    "mobiles": "phone",
    "mobile phone": "phone",
    "mobile phones": "phone",
    "cellphone": "phone",
    "laptop": "laptop",
    "laptops": "laptop",
    "notebook": "laptop",
    "notebooks": "laptop",
    "smartwatch": "smartwatch",
    "smartwatches": "smartwatch",
    "watch": "smartwatch",
    "watches": "smartwatch",
    "fitness band": "fitness band",
    "fitness bands": "fitness band",
    "fitness tracker": "fitness band",
    "fitness trackers": "fitness band",
    "smart band": "fitness band",
    "smart bands": "fitness band",
    "band": "fitness band",
    "bands": "fitness band",
    "ring": "ring",
    "rings": "ring",
    "smart ring": "ring",
    "smart rings": "ring",
    "earbuds": "earbuds",
    "earbud": "earbuds",
    "buds": "earbuds",
    "earphones": "earbuds",
    "earphone": "earbuds",
    "tws": "earbuds",
    "headphones": "headphones",
    "headphone": "headphones",
    "headset": "headphones",
    "headsets": "headphones",
    "neckband": "neckband",
    "neckbands": "neckband",
    "speaker": "speaker",
    "speakers": "speaker",
    "bluetooth speaker": "speaker",
    "soundbar": "soundbar",
    "soundbars": "soundbar",
    "home theatre": "soundbar",
    "home theater": "soundbar",
    "charger": "charger",
    "chargers": "charger",
    "adapter": "charger",
    "adapters": "charger",
    "adaptor": "charger",
    "power bank": "power bank",
    "power banks": "power bank",
    "cable": "cable",
    "cables": "cable",
    "charging cable": "cable",
    "hub": "hub",
    "hubs": "hub",
    "dongle": "hub",
    "docking station": "hub",
    "keyboard": "keyboard",
    "keyboards": "keyboard",
    "mouse": "mouse",
    "mice": "mouse",
    "sleeve": "sleeve",
    "sleeves": "sleeve",
    "laptop sleeve": "sleeve",
    "laptop sleeves": "sleeve",
    "laptop bag": "sleeve",
    "laptop case": "sleeve",
    "screen protector": "screen protector",
    "screen protectors": "screen protector",
    "screen guard": "screen protector",
    "screen guards": "screen protector",
    "tempered glass": "screen protector",
    "charging pad": "charging pad",
    "charging pads": "charging pad",
    "wireless charger": "charging pad",
    "wireless chargers": "charging pad",
}
"""Generic words for each kind of product, singular and plural; a kind is one of ``KINDS``."""

KINDS = frozenset(KIND_WORDS.values())

_MODIFIERS = frozenset(
    {"pro", "max", "ultra", "mini", "lite", "air", "neo", "elite", "slim", "duo", "flip"}
    | {"fold", "se", "fe", "mega", "nano", "micro", "turbo", "xl"}
)
"""Words that tell one model of a line from another ("Nova Pro", "Power Bank Slim")."""
_DESIGNATION = re.compile(r"(?:\d+(?:\.\d+)?(?:g|w|m|mah)?|[b-hj-z])")
"""A model number or letter: "14", "2.1", "5g", "65w", "2m", "20000mah", "x" (not "a", "i")."""
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CODE = re.compile(r"[a-hj-z][a-z]?\d{1,4}")
"""A letter-and-number model code: "k10", "x5" (not "i5", a processor)."""
_UNITS = frozenset(
    {"inch", "inches", "in", "cm", "mm", "km", "kg", "gb", "tb", "hours", "hour", "hrs", "hr"}
    | {"days", "day", "weeks", "week", "months", "month", "years", "year", "mins", "minutes"}
    | {"pairs"}
    | {"pieces", "pcs", "units", "times", "percent", "rupees", "rs", "k", "lakh", "people"}
)
"""Words after a number that make it a quantity ("14 inch", "2 years"), not a model."""
_LEAD_IN = frozenset(
    {"the", "a", "an", "your", "you", "my", "our", "this", "that", "these", "those", "of"}
    | {"for", "about", "on", "in", "with", "is", "are", "was", "does", "do", "did", "can"}
    | {"could", "will", "would", "buy", "sell", "sells", "selling", "order", "ordered"}
    | {"bought", "get", "got", "want", "need", "price", "cost", "have", "has", "had", "any"}
    | {"new", "latest", "and", "or", "vs", "versus", "than", "like", "to", "from", "its"}
    | {"it", "i", "me", "what", "which", "how", "when", "where", "why", "also", "compare"}
    | {"between", "same", "other", "another", "there", "please", "pls", "hi", "hello"}
    | {"tell", "recommend", "suggest", "better", "best", "cheaper", "at", "by", "as", "upgrade"}
)
"""Words after which a kind word can start a name of ours ("the Laptop Air 14"); after any
other word ("Galaxy Watch 6") it names another brand's product."""
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.,][0-9][A-Za-z0-9]*)*")
_CONTRACTION = frozenset({"s", "t", "d", "m", "ll", "re", "ve"})
_NAME_ENDS = frozenset("()[]{},;:!?.")
"""Punctuation no product name runs across: "the FitBand 3 (212993)" names the FitBand 3."""
_MIN_LINE_NAME = 5
"""Letters a coined product-line word needs to name its only product alone ("StudioBook")."""
_LONGEST_NAME = 6
"""Tokens a product-like name spans at most."""
_OTHER_GOODS = frozenset(
    {"tv", "tvs", "television", "televisions", "tablet", "tablets", "camera", "cameras"}
    | {"monitor", "monitors", "printer", "printers", "router", "routers", "drone", "drones"}
    | {"projector", "projectors", "console", "consoles", "fridge", "refrigerator", "ac"}
    | {"microwave", "fan", "fans", "bulb", "bulbs", "purifier", "vacuum", "trimmer", "shaver"}
    | {"dryer", "iron", "oven", "geyser", "cooler", "webcam", "microphone", "mic", "pc"}
)
"""Kinds of goods we do not sell at all: after "TechGear" they make an unknown product name
("TechGear Smart TV")."""
_HOUSE_TOPICS = frozenset(
    {"support", "care", "customer", "service", "services", "helpline", "help", "contact"}
    | {"team", "store", "stores", "shop", "office", "website", "site", "app", "account"}
    | {"order", "orders", "electronics", "warranty", "policy", "offer", "offers", "sale"}
)
"""Words after "TechGear" that name the company's services, not a product."""
_COINED = re.compile(r"^[A-Z][a-z]+[A-Z][A-Za-z]*$")
_HOUSE = "techgear"


@dataclass(frozen=True, slots=True)
class Product:
    doc_id: str
    title: str
    kind: str
    aliases: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.title, *self.aliases)


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    """Lowercased, thousands separators removed ("20,000mAh" → "20000mah")."""
    start: int
    end: int
    opens: bool
    """Whether a name may not run into it from the token before (punctuation between)."""


@dataclass(frozen=True, slots=True)
class _Name:
    product: Product
    squashed: str
    protected: frozenset[int]
    """Positions of model characters in ``squashed``: no edit may touch them."""
    allowance: int
    """Edits tolerated: none in short names, one or two in longer ones."""


@dataclass(frozen=True, slots=True)
class _Rival:
    """A name of ours split into its base (its words but the designations, squashed) and
    its designations: another model shares the base and carries a designation it lacks."""

    base: str
    words: tuple[str, ...]
    """The base's words, each of which a written one may miss by a typo."""
    designations: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Match:
    product: Product
    start: int
    end: int
    """Token indexes, ``end`` exclusive."""


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    words: tuple[str, ...]
    """Its product-line words, kind words and designations, which the product must have."""
    kinds: frozenset[str]


def _tokens_of(text: str) -> list[_Token]:
    """Lowercased words and numbers of ``text`` with their places, without the ends of
    contractions ("TechGear's" is "techgear")."""
    tokens: list[_Token] = []
    previous_end: int | None = None
    for m in _TOKEN.finditer(text):
        if m.start() and text[m.start() - 1] in "'’" and m.group().lower() in _CONTRACTION:
            continue
        opens = previous_end is None or not _NAME_ENDS.isdisjoint(text[previous_end : m.start()])
        tokens.append(_Token(m.group().lower().replace(",", ""), m.start(), m.end(), opens))
        previous_end = m.end()
    return tokens


def _unbroken(tokens: Sequence[_Token], start: int, end: int) -> bool:
    """Whether a name could span ``tokens[start:end]``: no punctuation ends it inside."""
    return not any(token.opens for token in tokens[start + 1 : end])


def _continues(tokens: Sequence[_Token], index: int) -> bool:
    """Whether the token at ``index`` exists and a name may run on into it."""
    return index < len(tokens) and not tokens[index].opens


def _is_model(token: str) -> bool:
    return any(c.isdigit() for c in token) or (len(token) == 1 and token not in "ai")


def _designates(tokens: Sequence[_Token], index: int) -> bool:
    """Whether the token at ``index`` names a model: "Pro", "14", "5G", "X", not "14 inch"."""
    token = tokens[index].text
    if token in _MODIFIERS:
        return True
    if not _DESIGNATION.fullmatch(token):
        return False
    following = tokens[index + 1].text if index + 1 < len(tokens) else ""
    # A unit makes a bare number a quantity; "20000mAh in stock" already has its unit.
    return not _NUMBER.fullmatch(token) or following not in _UNITS


def _squash(words: Iterable[str]) -> str:
    return "".join(words)


_KIND_BY_SQUASHED = {
    _squash(t.text for t in _tokens_of(word)): kind for word, kind in KIND_WORDS.items()
}
_KIND_WIDTH = max(len(word.split()) for word in KIND_WORDS)


def _kind_at(tokens: Sequence[_Token], index: int) -> tuple[str, int] | None:
    """The kind a kind word starting at ``index`` names, and its width in tokens ("power
    bank" and "powerbank" alike); the longest wins ("laptop sleeve" is a sleeve)."""
    for width in range(min(_KIND_WIDTH + 1, len(tokens) - index), 0, -1):
        kind = _KIND_BY_SQUASHED.get(_squash(t.text for t in tokens[index : index + width]))
        if kind is not None and _unbroken(tokens, index, index + width):
            return kind, width
    return None


class Catalogue:
    def __init__(self, products: Sequence[Product]) -> None:
        for product in products:
            if product.kind not in KINDS:
                raise ValueError(f"{product.doc_id}: unknown kind {product.kind!r}")
        self.products: tuple[Product, ...] = tuple(products)
        self._by_id = {p.doc_id: p for p in self.products}
        self._words = {p.doc_id: {t.text for n in p.names for t in _tokens_of(n)} for p in products}
        coined = {
            word.lower() for p in self.products for word in p.title.split() if _COINED.match(word)
        }
        self._names = [name for p in self.products for name in _names_of(p)]
        for word in coined - _KIND_BY_SQUASHED.keys() - {_HOUSE}:
            line = [p for p in self.products if word in self._words[p.doc_id]]
            if len(line) == 1 and len(word) >= _MIN_LINE_NAME:  # "StudioBook" alone
                self._names.append(_Name(line[0], word, frozenset(), _allowance(len(word))))
        self._squashed = [name.squashed for name in self._names]
        self._rivals = [rival for p in self.products for rival in _rivals_of(p)]
        self._rival_bases = [rival.base for rival in self._rivals]
        self._widest = max((len(_tokens_of(n)) for p in self.products for n in p.names), default=0)
        self._read_text = functools.lru_cache(maxsize=1024)(self._read_uncached)
        """The workflow asks ``find``, ``unknown_mentions`` and ``kinds_in`` of one text."""
        self._strong_lines = coined | {_HOUSE}
        """Product-line words that are ours wherever they appear ("AeroBook", "FitBand")."""
        self._weak_lines = {
            words[1].lower()
            for p in self.products
            if len(words := p.title.split()) > 1 and words[0].lower() == _HOUSE
        } - self._strong_lines
        """Product-line words that are also ordinary words or other brands' ("Nova")."""

    @classmethod
    def from_products(cls, products: Iterable[Product]) -> Catalogue:
        return cls(list(products))

    def get(self, doc_id: str) -> Product | None:
        return self._by_id.get(doc_id)

    def of_kind(self, kind: str) -> list[Product]:
        return [p for p in self.products if p.kind == kind]

    def find(self, text: str) -> list[Product]:
        """Our products that ``text`` names, in order of appearance."""
        found: dict[str, Product] = {}
        for match in self._read_text(text)[1]:
            found.setdefault(match.product.doc_id, match.product)
        return list(found.values())

    def unknown_mentions(self, text: str) -> list[str]:
        """Names in ``text`` that look like ours but are no product of ours, as written."""
        tokens, _, unknown = self._read_text(text)
        return [text[tokens[span.start].start : tokens[span.end - 1].end] for span in unknown]

    def kinds_in(self, text: str) -> set[str]:
        """The kinds of product ``text`` speaks of by generic words ("laptops" → "laptop"),
        outside the names of our products."""
        tokens, matches, _ = self._read_text(text)
        covered = {i for m in matches for i in range(m.start, m.end)}
        kinds: set[str] = set()
        index = 0
        while index < len(tokens):
            found = None if index in covered else _kind_at(tokens, index)
            if found is None:
                index += 1
                continue
            kinds.add(found[0])
            index += found[1]
        return kinds

    def sibling(self, text: str, of: Product) -> tuple[Product, str] | None:
        """The other product of ``of``'s kind that ``text`` picks by its designations alone,
        and those designations as written ("same for the lite?" after the SmartWatch Pro X:
        the SmartWatch Lite, "lite")."""
        tokens = _tokens_of(text)
        picked = [i for i in range(len(tokens)) if _designates(tokens, i)]
        wanted = {tokens[i].text for i in picked}
        candidates = [
            p
            for p in self.of_kind(of.kind)
            if p.doc_id != of.doc_id and wanted and wanted <= self._words[p.doc_id]
        ]
        if len(candidates) != 1:
            return None
        return candidates[0], text[tokens[picked[0]].start : tokens[picked[-1]].end]

    def rename(self, text: str, product: Product, name: str) -> str:
        """``text`` with ``product``'s names in it, however written, replaced by ``name``."""
        tokens, matches, _ = self._read_text(text)
        for match in reversed(matches):
            if match.product == product:
                start, end = tokens[match.start].start, tokens[match.end - 1].end
                text = text[:start] + name + text[end:]
        return text

    def _read_uncached(self, text: str) -> tuple[list[_Token], list[_Match], list[_Span]]:
        """The tokens of ``text``, the names of our products in them in order of appearance,
        and the product-like names that are none of ours."""
        tokens = _tokens_of(text)
        matches = self._matches(tokens)
        unknown = self._other_models(tokens, matches)
        matches = [m for m in matches if not any(_overlap(m, other) for other in unknown)]
        for span in self._spans(tokens, [*matches, *unknown]):
            candidates = self._candidates(span)
            if len(candidates) == 1:  # "phone 5G", "TechGear smart ring"
                matches.append(_Match(candidates[0], span.start, span.end))
            elif not candidates:
                unknown.append(span)
        return (
            tokens,
            sorted(matches, key=lambda m: m.start),
            sorted(unknown, key=lambda s: s.start),
        )

    def _matches(self, tokens: Sequence[_Token]) -> list[_Match]:
        """Non-overlapping names of our products in ``tokens``, the closest first."""
        if not tokens or not self._names:
            return []
        windows = [
            (start, end)
            for start in range(len(tokens))
            for end in range(start + 1, min(start + self._widest + 1, len(tokens)) + 1)
            if _unbroken(tokens, start, end)
        ]
        texts = [_squash(t.text for t in tokens[start:end]) for start, end in windows]
        distances = cdist(texts, self._squashed, scorer=Levenshtein.distance, score_cutoff=2)
        candidates: list[tuple[int, int, int, int]] = []
        for w, n in zip(*np.nonzero(distances <= 2), strict=True):
            start, end = windows[w]
            name, distance = self._names[n], int(distances[w, n])
            if (
                distance <= name.allowance
                and texts[w] not in _KIND_BY_SQUASHED
                and not (_continues(tokens, end) and _designates(tokens, end))
                and (distance == 0 or _keeps_models(texts[w], tokens[start:end], name))
            ):
                candidates.append((distance, start - end, start, int(n)))
        taken: set[int] = set()
        matches: list[_Match] = []
        for _, width, start, n in sorted(candidates):
            span = range(start, start - width)
            if taken.isdisjoint(span):
                taken.update(span)
                matches.append(_Match(self._names[n].product, start, start - width))
        return matches

    def _other_models(self, tokens: Sequence[_Token], matches: Sequence[_Match]) -> list[_Span]:
        """Names that are one of ours but for a designation of their own, in a place no name
        of ours covers: "Splash Max Speaker" (the Splash Mini Speaker's base, "max"),
        "StudioBook Go 15", "K10 Mechanical Keyboard". The widest win."""
        windows: list[tuple[int, int, tuple[str, ...], frozenset[str]]] = []
        for start in range(len(tokens)):
            for end in range(start + 1, min(start + self._widest + 1, len(tokens)) + 1):
                if not _unbroken(tokens, start, end) or any(
                    m.start <= start and end <= m.end for m in matches
                ):
                    continue
                models = [i for i in range(start, end) if _other_designation(tokens, i)]
                base = tuple(tokens[i].text for i in range(start, end) if i not in models)
                if models and base:
                    windows.append((start, end, base, frozenset(tokens[i].text for i in models)))
        if not windows or not self._rivals:
            return []
        distances = cdist(
            [_squash(base) for _, _, base, _ in windows],
            self._rival_bases,
            scorer=Levenshtein.distance,
            score_cutoff=2,
        )
        found: list[tuple[int, int]] = []
        for w, r in zip(*np.nonzero(distances <= 2), strict=True):
            start, end, base, designations = windows[w]
            rival = self._rivals[r]
            if not designations <= rival.designations and (
                distances[w, r] == 0 or _same_words(base, rival.words)
            ):
                found.append((start, end))
        spans: list[_Span] = []
        for start, end in sorted(set(found), key=lambda s: (s[0] - s[1], s[0])):
            if all(end <= s.start or s.end <= start for s in spans):
                spans.append(_Span(start, end, (), frozenset()))
        return spans

    def _spans(self, tokens: Sequence[_Token], taken: Sequence[_Match | _Span]) -> list[_Span]:
        """Product-like names that none of ``taken`` covers: a head (TechGear, a product
        line, a kind) and the designations after it."""
        covered = {i for m in taken for i in range(m.start, m.end)}
        spans: list[_Span] = []
        index = 0
        while index < len(tokens):
            span = self._span_at(tokens, index)
            if span is None or not covered.isdisjoint(range(span.start, span.end)):
                index += 1
                continue
            spans.append(span)
            index = span.end
        return spans

    def _span_at(self, tokens: Sequence[_Token], index: int) -> _Span | None:
        if not self._is_head(tokens, index):
            return None
        house = tokens[index].text == _HOUSE
        words: list[str] = []
        kinds: frozenset[str] = frozenset()
        designated = False
        kind = _kind_at(tokens, index)
        if kind is not None:
            kinds |= {kind[0]}
            end = index + kind[1]
        else:
            words.append(tokens[index].text)
            end = index + 1
        while _continues(tokens, end) and end - index < _LONGEST_NAME:
            kind = _kind_at(tokens, end) if house else None
            if _designates(tokens, end):
                words.append(tokens[end].text)
                designated = True
                end += 1
            elif kind is not None:
                kinds |= {kind[0]}
                end += kind[1]
            elif house and tokens[end].text in self._strong_lines | self._weak_lines:
                words.append(tokens[end].text)
                end += 1
            else:
                break
        if house and not designated and end == index + 1:
            foreign = _foreign_goods_end(tokens, end)
            if foreign is not None:  # "TechGear Smart TV": no TV is ours
                return _Span(index, foreign, tuple(t.text for t in tokens[end:foreign]), kinds)
        if not designated and not (house and end - index > 1):
            return None
        return _Span(index, end, tuple(w for w in words if w != _HOUSE), kinds)

    def _is_head(self, tokens: Sequence[_Token], index: int) -> bool:
        """Whether a name of ours can start at ``index``: TechGear or a coined line word
        anywhere, a kind word or a plain line word only after a function word."""
        token = tokens[index].text
        if token in self._strong_lines:
            return True
        if token not in self._weak_lines and _kind_at(tokens, index) is None:
            return False
        before = tokens[index - 1].text if index else None
        return before is None or before in _LEAD_IN or before in self._strong_lines

    def _candidates(self, span: _Span) -> list[Product]:
        """Our products a name could mean: of its kinds, with all its words."""
        return [
            p
            for p in self.products
            if (not span.kinds or p.kind in span.kinds) and set(span.words) <= self._words[p.doc_id]
        ]


def _names_of(product: Product) -> list[_Name]:
    names: list[_Name] = []
    for name in product.names:
        squashed, protected = _protected(_tokens_of(name))
        if squashed in _KIND_BY_SQUASHED:
            continue  # a generic word is nobody's name
        names.append(
            _Name(product, squashed, protected, _allowance(len(squashed) - len(protected)))
        )
    return names


def _rivals_of(product: Product) -> list[_Rival]:
    """The names of ``product`` that another model could be told from: with designations
    and a base of their own that is neither "TechGear" nor a kind word ("Power Bank" is
    left to the kind rules)."""
    rivals: list[_Rival] = []
    for name in product.names:
        tokens = _tokens_of(name)
        designations = frozenset(
            t.text for t in tokens if _is_model(t.text) or t.text in _MODIFIERS
        )
        words = tuple(t.text for t in tokens if t.text not in designations)
        line = _squash(words).removeprefix(_HOUSE)
        if designations and line and line not in _KIND_BY_SQUASHED:
            rivals.append(_Rival(_squash(words), words, designations))
    return rivals


def _same_words(written: Sequence[str], words: Sequence[str]) -> bool:
    """Whether ``written`` are ``words`` but for a typo or two in a long word each."""
    return len(written) == len(words) and all(
        a[0] == b[0] and Levenshtein.distance(a, b) <= _allowance(len(b))
        for a, b in zip(written, words, strict=True)
    )


def _other_designation(tokens: Sequence[_Token], index: int) -> bool:
    """Whether the token at ``index`` tells a model apart, model codes ("k10") included."""
    return _designates(tokens, index) or bool(_CODE.fullmatch(tokens[index].text))


def _foreign_goods_end(tokens: Sequence[_Token], start: int) -> int | None:
    """Where a name of goods we do not sell ends, after "TechGear" at ``start - 1``: a few
    words up to a kind of goods of ``_OTHER_GOODS`` or a designation, then its numbers
    ("Smart TV 43 inch", "Vision 43"); ``None`` when the words name no such goods."""
    for index in range(start, min(start + 3, len(tokens))):
        token = tokens[index].text
        if token in _LEAD_IN or token in _HOUSE_TOPICS or _kind_at(tokens, index):
            return None
        if token in _OTHER_GOODS or (index > start and _designates(tokens, index)):
            end = index + 1
            while end < len(tokens) and _DESIGNATION.fullmatch(tokens[end].text):
                end += 2 if end + 1 < len(tokens) and tokens[end + 1].text in _UNITS else 1
            return end
    return None


def _overlap(match: _Match, span: _Span) -> bool:
    return match.start < span.end and span.start < match.end


def _allowance(letters: int) -> int:
    """Edits tolerated in a name of this many letters: none in short names, where one edit
    makes another word."""
    return 0 if letters < 5 else 1 if letters < 14 else 2


def _keeps_models(squashed: str, written: Sequence[_Token], name: _Name) -> bool:
    """Whether ``written`` differs from ``name`` only in letters after the first and outside
    the model designations of either ("smartwach pro x", not "smartwatch pro z", "aerobook
    15" nor "can charger")."""
    if squashed[0] != name.squashed[0]:
        return False
    _, protected = _protected(written)
    for op in Levenshtein.editops(squashed, name.squashed):
        if op.tag != "delete" and op.dest_pos in name.protected:
            return False
        if op.tag != "insert" and op.src_pos in protected:
            return False
    return True


def _protected(tokens: Sequence[_Token]) -> tuple[str, frozenset[int]]:
    """The squashed ``tokens`` and the positions of their model characters in it."""
    protected: set[int] = set()
    position = 0
    for token in tokens:
        if _is_model(token.text):
            protected.update(range(position, position + len(token.text)))
        position += len(token.text)
    return _squash(t.text for t in tokens), frozenset(protected)
