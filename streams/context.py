"""What a conversation is about, carried from one message to the next, and the follow-ups
that lean on it.

The worker keeps, per conversation, the products being discussed, the order id and the
topic. A follow-up that refers to them by a pronoun ("how much is it?", "what's their
price?"), by ellipsis ("and the battery life?", "what about the warranty?") or by a model's
designation alone ("same for the lite?") is rewritten into a standalone English question
naming the product, which the classifier and the retriever can answer on their own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from streams.catalogue import KIND_WORDS, Catalogue, Product

MAX_PRODUCTS = 3
"""Products remembered per conversation, the latest last."""
_FOLLOW_UP_MAX_WORDS = 16
_FRAGMENT_MAX_WORDS = 4

_ORDER_ID = re.compile(r"\bTG[- ]?(\d{5,10})\b", re.IGNORECASE)
_KINDS = "|".join(sorted((re.escape(word) for word in KIND_WORDS), key=len, reverse=True))
_NOUNS = rf"(?:one|product|device|item|model|version|{_KINDS})"
_NOT_A_PRODUCT = (
    r"is|was|the|a|an|i|you|we|they|it|my|your|he|she|order|week|month|year|time|morning"
    r"|evening|issue|problem|number|card|account|email|address|payment|refund|page|app|website"
    r"|link|means?|so|right|all|ok|okay|fine|true|correct|enough|possible|why|how|what|when"
    r"|where|because"
)
# A reference to something said before: "it", "their", "this watch", "the two", or "this" and
# "that" where they stand for a thing ("is this waterproof?", not "this is my order"). "it"
# as a dummy subject ("is it possible", "it's been", "how long does it take") is no reference.
_REFERENCE = re.compile(
    rf"\b(?:(?:this|that|these|those|the)\s+{_NOUNS}|both(?:\s+of\s+them)?|the\s+two"
    rf"|it[’']s|its|it|they|them|their|theirs"
    rf"|(?:this|that|these|those)(?!\s*[’'])(?!\s+(?:{_NOT_A_PRODUCT})\b))\b",
    re.IGNORECASE,
)
_DUMMY = re.compile(
    r"\bit(?:'s|\s+is|\s+has)?\s+(?:been|possible|urgent|says?|shows?|said|showed|takes?|took)\b"
    r"|\b(?:is|was)\s+it\s+(?:possible|true|ok|okay|safe|normal|necessary|mandatory|required)\b"
    r"|\b(?:does|will|would)\s+it\s+take\b|\bthey\s+(?:said|told|say|charged|called|asked)\b",
    re.IGNORECASE,
)
_PLURAL = re.compile(r"\b(?:both|the two|them|they|their|these|those)\b", re.IGNORECASE)
_TOGETHER = re.compile(r"\b(?:both|the two|which|either|each)\b", re.IGNORECASE)
"""With a plural reference, words that mean the products together ("which of them")."""
_OPENER = re.compile(
    r"^\s*(?:(?:ok(?:ay)?|so|then|hmm+|and)\s*,?\s+)*"
    r"(?:what\s+about|how\s+about|what\s+of|same\s+(?:question\s+)?(?:for|with|about)"
    r"|and|also|plus|same)\b[\s,]*",
    re.IGNORECASE,
)
_CLAUSE = re.compile(
    r"^\s*(?:do|does|did|is|are|was|were|can|could|will|would|should|has|have|how|what|when"
    r"|where|why|which|who|i|you|we|my|please|pls|tell|give|show)\b",
    re.IGNORECASE,
)
_ATTRIBUTE = re.compile(
    r"\b(?:price|prices|cost|mrp|battery|warranty|guarantee|colou?rs?|black|white|blue|green"
    r"|weight|size|dimensions|specs?|specifications|features|display|screen|camera|storage|ram"
    r"|processor|charging|charger|waterproof|water\s+resistance|ip\s*\d+|gps|anc|noise"
    r"|stock|availability|emi|offers?|discount|compatib\w*|bluetooth|sensors?|strap|box"
    r"|accessories|variants?|models?)\b",
    re.IGNORECASE,
)
_HOW_MUCH = re.compile(r"^\s*how\s+much\s*(?:now|then)?\s*[?.!]*\s*$", re.IGNORECASE)
_ORDER_WORDS = re.compile(
    r"\b(?:arrive|arriving|deliver\w*|ship\w*|dispatch\w*|track\w*|status|where\s+is|cancel\w*"
    r"|reach|come)\b",
    re.IGNORECASE,
)
_COMPARES = re.compile(
    r"\b(?:compare\w*|comparison|vs\.?|versus|than|difference|differ|better|between)\b",
    re.IGNORECASE,
)
_PREPOSITION = re.compile(r"^\s*(?:in|with|for|on)\b", re.IGNORECASE)
_FILLER = frozenset(
    {"the", "same", "for", "about", "what", "how", "and", "also", "question", "one", "then"}
    | {"ok", "okay", "so", "of", "version", "model", "plus", "with"}
)
_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True, slots=True)
class ConversationContext:
    products: tuple[str, ...] = ()
    """The doc_ids of the products being discussed, the latest last."""
    order_id: str | None = None
    """The order the customer named last, as ``TG48213``."""
    topic: str | None = None
    """The category of the last answered question."""
    question: str | None = None
    """The last question in its standalone English form, which "same for the lite?" repeats
    about another product."""

    def updated(
        self,
        *,
        products: Sequence[Product],
        order_id: str | None,
        topic: str | None,
        question: str | None = None,
    ) -> ConversationContext:
        """The context after a message that named ``products`` (moved to the latest) and
        ``order_id``, and was answered as ``topic``; what is ``None`` is kept."""
        named = [p.doc_id for p in products]
        kept = [doc_id for doc_id in self.products if doc_id not in named]
        return ConversationContext(
            products=tuple(dict.fromkeys([*kept, *named]))[-MAX_PRODUCTS:],
            order_id=order_id or self.order_id,
            topic=topic or self.topic,
            question=question or self.question,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "products": list(self.products),
            "order_id": self.order_id,
            "topic": self.topic,
            "question": self.question,
        }

    @classmethod
    def from_json(cls, raw: object) -> ConversationContext:
        """The context ``to_json`` wrote; anything else (an older state) is an empty one."""
        if not isinstance(raw, dict):
            return cls()
        products = raw.get("products")
        return cls(
            products=tuple(p for p in products if isinstance(p, str))[-MAX_PRODUCTS:]
            if isinstance(products, list)
            else (),
            order_id=_text(raw.get("order_id")),
            topic=_text(raw.get("topic")),
            question=_text(raw.get("question")),
        )


def find_order_id(text: str) -> str | None:
    """The last TechGear order id in ``text`` ("TG-48213", "#tg48213"), as ``TG48213``."""
    found = _ORDER_ID.findall(text)
    return f"TG{found[-1]}" if found else None


def is_follow_up(question: str) -> bool:
    """Whether ``question`` leans on what was said before: a pronoun ("how much is it?"),
    an opener and a bare noun phrase ("and the battery life?", "what about the warranty?"),
    or a bare fragment about a product ("price?")."""
    if len(question.split()) > _FOLLOW_UP_MAX_WORDS:
        return False
    if _refers(question):
        return True
    rest = _OPENER.sub("", question, count=1)
    if rest != question:
        return bool(_WORD.search(rest)) and not _CLAUSE.match(rest)
    if _HOW_MUCH.match(question):
        return True
    return (
        len(question.split()) <= _FRAGMENT_MAX_WORDS
        and not _CLAUSE.match(question)
        and bool(_ATTRIBUTE.search(question))
    )


def standalone_question(
    question: str, context: ConversationContext, catalogue: Catalogue, named: Sequence[Product]
) -> str | None:
    """``question`` as an English question that stands alone, naming the product (or order)
    of ``context`` it refers to; ``None`` when it stands alone already. ``named``: the
    products ``question`` names itself (``catalogue.find``)."""
    if find_order_id(question) is not None:
        return None  # "TG12345, where is it?" refers to the order it names
    current = [p for doc_id in context.products if (p := catalogue.get(doc_id)) is not None]
    if named:
        return _about_named(question, context, catalogue, named, current)
    if not current:
        return _about_order(question, context.order_id)
    product = current[-1]
    sibling = catalogue.sibling(question, product)
    if sibling is not None:
        other, written = sibling
        if context.question and _bare(question.replace(written, " ")):
            return catalogue.rename(context.question, product, other.title)
        return question.replace(written, other.title, 1)
    if not is_follow_up(question):
        return None
    if (about_order := _about_order(question, context.order_id)) is not None:
        return about_order
    if _refers(question):
        together = _COMPARES.search(question) or _TOGETHER.search(question)
        plural = together and _PLURAL.search(question) and len(current) > 1
        return _substituted(question, _named(current[-2:] if plural else [product]))
    if _HOW_MUCH.match(question):
        return f"How much is the {product.title}?"
    return _completed(_OPENER.sub("", question, count=1), product)


def _about_named(
    question: str,
    context: ConversationContext,
    catalogue: Catalogue,
    named: Sequence[Product],
    current: Sequence[Product],
) -> str | None:
    """A question naming its own product stands alone, unless it only swaps the product of
    the last question ("and the Nova 5G?") or compares it with the one in context
    ("compare it with the AeroBook 14")."""
    if current and context.question and _OPENER.match(question):
        rest = question
        for product in named:
            rest = catalogue.rename(rest, product, " ")
        if _bare(rest):
            return catalogue.rename(context.question, current[-1], named[0].title)
    if current and current[-1] not in named and _COMPARES.search(question) and _refers(question):
        return _substituted(question, _named([current[-1]]))
    return None


def _about_order(question: str, order_id: str | None) -> str | None:
    """ "where is it?" about the order in context: "where is my order TG48213?"."""
    if order_id is None or not _ORDER_WORDS.search(question) or not _refers(question):
        return None
    return _substituted(question, f"my order {order_id}")


def _refers(question: str) -> bool:
    return bool(_REFERENCE.search(_DUMMY.sub(" ", question)))


def _substituted(question: str, name: str) -> str:
    """``question`` with its references replaced by ``name`` ("the SmartWatch Pro X")."""
    dummies = [m.span() for m in _DUMMY.finditer(question)]
    pieces: list[str] = []
    last = 0
    for match in _REFERENCE.finditer(question):
        if any(start <= match.start() < end for start, end in dummies):
            continue
        word = match.group().lower().replace("’", "'")
        if word in {"its", "their", "theirs"}:
            replacement = f"{name}'s"
        elif word == "it's":
            replacement = f"{name} is"
        else:
            replacement = name
        at_start = not question[: match.start()].strip()
        pieces += [question[last : match.start()], _capitalized(replacement, at_start)]
        last = match.end()
    pieces.append(question[last:])
    return "".join(pieces)


def _named(products: Sequence[Product]) -> str:
    return " and ".join(f"the {p.title}" for p in products)


def _completed(fragment: str, product: Product) -> str:
    """A bare noun phrase about ``product`` made a question: "the battery life?" → "What is
    the battery life of the SmartWatch Pro X?"."""
    phrase = fragment.strip().rstrip("?.! ").strip()
    if _PREPOSITION.match(phrase):
        return f"Is the {product.title} available {phrase}?"
    if not re.match(r"(?i)(?:the|a|an|its|your)\b", phrase):
        phrase = f"the {phrase}"
    return f"What is {phrase} of the {product.title}?"


def _bare(text: str) -> bool:
    """Whether nothing but fillers is left ("same for the  ?")."""
    return all(word.lower() in _FILLER for word in _WORD.findall(text))


def _capitalized(text: str, at_start: bool) -> str:
    return text[0].upper() + text[1:] if at_start else text


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
