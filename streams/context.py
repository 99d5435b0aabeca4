"""What a conversation is about, carried from one message to the next, and the follow-ups
that lean on it.

The worker keeps, per conversation, the products being discussed, the order id and the
topic. A follow-up that refers to them by a pronoun ("how much is it?", "what's their
price?"), by ellipsis ("and the battery life?", "what about the warranty?") or by a model's
designation alone ("same for the lite?") is rewritten into a standalone English question
naming the product, which the classifier and the retriever can answer on their own. So is a
question about a product's attribute that does not say whose ("what's the battery like?",
"how much is the 12GB one?"); a policy asked about ("what's the return policy?") stands alone.

With no product in context, a fragment ("and for cash on delivery orders?", "which
tenures?", "how much?") is read with the last question before it, whose words say what it is
about; a kind of which we sell one product ("do you sell smart rings?") stands for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streams.catalogue import KIND_WORDS, Catalogue, Product

MAX_PRODUCTS = 3
"""Products remembered per conversation, the latest last."""
_FOLLOW_UP_MAX_WORDS = 16
_FRAGMENT_MAX_WORDS = 4

_ORDER_ID = re.compile(r"\bTG[- ]?(\d{5,10})\b", re.IGNORECASE)
_ONE_KIND = "|".join(
    sorted(
        (
            re.escape(word)
            for word in KIND_WORDS
            # "the phones" are all phones; "the earbuds" are one pair.
            if word in {"earbuds", "headphones", "earphones", "buds"}
            or not (word.endswith("s") and {word[:-1], word[:-2]} & KIND_WORDS.keys())
        ),
        key=len,
        reverse=True,
    )
)
"""Kind words for one product of the kind."""
_THINGS = (
    r"orders?|accounts?|refunds?|parcel|package|pickup|emails?|app|chat|money|payment|invoice"
    r"|bill|card|address|delivery|items?|flight|bank|number|issue|problem|charge|page|website"
    r"|link|combo"
)
"""Things other than a product that "it" or "they" may stand for."""
# References to something said before. A kind noun after a determiner ("this phone", "the
# watch") stands for the product of that kind in context; pronouns ("it", "their", "the two")
# and "this"/"that" as a subject ("is this waterproof?") or alone at the end of a short
# question ("how much is that?") stand for the latest product.
_KIND_REFERENCE = re.compile(
    rf"\b(?:(?:this|that|these|those)\s+(?:one|product|device|item|model|version|{_ONE_KIND})"
    rf"|the\s+(?:{_ONE_KIND}))\b(?!\s+(?:number|no|bill|case|cover|settings)\b)",
    re.IGNORECASE,
)
_PRONOUN = re.compile(
    r"\b(?:both(?:\s+of\s+them)?|the\s+two|it[’']s|its|it|they|them|their|theirs)\b",
    re.IGNORECASE,
)
_SUBJECT = re.compile(
    r"^\s*(?:is|are|was|does|do|can|will|would|has|how\s+much\s+is|what\s+is)\s+(this|that)\b"
    rf"(?!\s+(?:a|an|the|my|your|{_THINGS}|site|company|bot)\b)"
    r"|\b(this|that)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_SHORT = 5
"""Words a question may have when "that" alone at its end is a reference, and a pronoun
may have before it: further on, it more likely stands for something in the question."""
_PRONOUN_MAX_WORDS = 12
_ANTECEDENT = re.compile(
    rf"\b(?:(?:my|his|her|our)\s+\w+|(?:a|an)\s+(?!question|doubt|query|quick)\w+|{_THINGS})\b",
    re.IGNORECASE,
)
"""Before a pronoun, what it stands for within the question itself ("my washing machine,
it's not draining", "my past orders and their status", "I ordered a kurta and it ...")."""
_ITS_OWN_DOING = (
    r"\s+to\s+(?:reach|arrive|come|get\s+(?:here|there|to)|charge|recharge|ship|dispatch)\b"
)
"""After "it takes": what only the thing talked about does ("how long will it take to reach
Pune?", "... to recharge?"), so "it" is that thing."""
_TAKES_ITSELF = re.compile(
    rf"\bit\s+(?:takes?|took){_ITS_OWN_DOING}|\b(?:does|will|would)\s+it\s+take{_ITS_OWN_DOING}",
    re.IGNORECASE,
)
_DUMMY = re.compile(
    r"\bit(?:[’']?s|\s+is|\s+has)?\s+(?:been|possible|urgent|says?|shows?|said|showed"
    rf"|(?:takes?|took)(?!{_ITS_OWN_DOING})|rains?|snows?)\b"
    r"|\b(?:is|was)\s+it\s+(?:possible|true|ok|okay|safe|normal|necessary|mandatory|required)\b"
    rf"|\b(?:does|will|would)\s+it\s+(?:take(?!{_ITS_OWN_DOING})|rain|snow)\b"
    r"|\bhow(?:[’']s|\s+is)\s+it\s+going\b"
    r"|\b(?:got|appreciate|solved|sorted|sorting|fixed|figured)\s+it\b"
    r"|\bthey\s+(?:said|told|say|charged|called|asked)\b",
    re.IGNORECASE,
)
"""Where "it" or "they" stands for nothing said before: "is it possible", "it's been",
"how long does it take", "will it rain", "appreciate it", "they told me"."""
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
_OWN_ATTRIBUTES = (
    r"price|prices|cost|mrp|battery|colou?rs?|weight|size|dimensions|specs?|specifications"
    r"|features|display|screen|camera|storage|ram|processor|charging|charger|waterproof"
    r"|water\s+resistance|ip\s*\d+|gps|anc|noise|compatib\w*|bluetooth|sensors?|strap|box"
    r"|accessories|variants?|models?|sound|performance|build|material"
)
"""What only a product has: a question about it with no owner needs one."""
_ATTRIBUTE = re.compile(
    rf"\b(?:{_OWN_ATTRIBUTES}|warranty|guarantee|black|white|blue|green|stock|availability|emi"
    r"|offers?|discount)\b",
    re.IGNORECASE,
)
"""What a product has, or a policy has about it ("the warranty", "EMI")."""


_QUALIFIERS = r"starting|total|current|final|exact|actual|lowest|launch|selling|overall|average"
"""Words before an attribute that keep it the product's ("the starting price")."""


def _ownerless_pattern(attributes: str) -> re.Pattern[str]:
    """One of ``attributes`` with the article but no owner: "what's the battery like?"."""
    return re.compile(
        # Atomic: "the battery life of X" must not match as "the battery".
        rf"\bthe\s+((?>(?:(?:{_QUALIFIERS}|{attributes})\s+)?(?:{attributes})\b"
        r"(?:\s+(?!(?:of|for|on)\b)\w+)?))"
        r"(?!\s+(?:of|for|on)\b)",
        re.IGNORECASE,
    )


_OWNERLESS = _ownerless_pattern(rf"{_OWN_ATTRIBUTES}|warranty|guarantee")
_OWNERLESS_OWN = _ownerless_pattern(_OWN_ATTRIBUTES)
"""Without "warranty": the one a question can ask of no product ("what's the warranty?")."""
_GENERAL = re.compile(r"\b(?:polic(?:y|ies)|terms|process|rules|claims?)\b", re.IGNORECASE)
_VARIANT = re.compile(
    r"\bthe\s+(\w*\d\w*|black|white|blue|green|grey|gray|silver|red|pink|gold|teal|orange"
    r"|purple)\s+(?:one|variant|version|model)\b",
    re.IGNORECASE,
)
"""A variant of the product in context: "the 12GB one", "the black version"."""
_ATTRIBUTE_MAX_WORDS = 8
_BARE_MAX_WORDS = 2
"""Words of a bare attribute ("price?", "battery life?") that leans on the last question."""
_ENDS = re.compile(r"\s*[?.!]*\s*")
_WH_FRAGMENT = re.compile(
    r"^\s*(?:which|what|how\s+many|how\s+much)\s+(?!(?:is|are|was|were|do|does|did|can|will"
    r"|would|should|about|if|one|ones)\b)\w+\s*[?.!]*\s*$",
    re.IGNORECASE,
)
"""A question word and a noun, no verb: "which tenures?", "what colours?"."""
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
_OBJECT_OF = re.compile(r"\b(?:for|with|on|of|about|from|to|in)\s+$", re.IGNORECASE)
"""Before a pronoun, a preposition: in a question ("is there a case for it?") the noun
before it cannot be what the pronoun stands for."""
_OWNED = re.compile(rf"\b(?:(?:my|his|her|our)\s+\w+|{_THINGS})\b", re.IGNORECASE)
_ASKS = re.compile(
    r"^\s*(?:is|are|do|does|can|could|will|would|should|what|which|how|when|where|any)\b",
    re.IGNORECASE,
)
_OTHER_OF_KIND = re.compile(
    r"\b(?:my|our|his|her|mom'?s|dad'?s|a|an|another|any|other|some)\s+(?:"
    + "|".join(sorted((re.escape(w) for w in KIND_WORDS), key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
"""The customer's own device ("charge my phone") or another one ("a sleeve for it"), not
the product of that kind in context."""
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
        return bool(_WORD.search(rest)) and (
            not _CLAUSE.match(rest) or bool(_WH_FRAGMENT.match(rest))
        )
    if (
        _HOW_MUCH.match(question)
        or _WH_FRAGMENT.match(question)
        or _VARIANT.search(question)
        or _ownerless(question)
    ):
        return True
    return (
        len(question.split()) <= _FRAGMENT_MAX_WORDS
        and not _CLAUSE.match(question)
        and bool(_ATTRIBUTE.search(question))
    )


def _ownerless(question: str, pattern: re.Pattern[str] = _OWNERLESS) -> bool:
    """Whether a short question asks about a product's attribute without saying whose:
    "what's the battery like?", "is the warranty extendable?" (not "the return policy")."""
    return (
        len(question.split()) <= _ATTRIBUTE_MAX_WORDS
        and bool(pattern.search(question))
        and not _GENERAL.search(question)
        and not re.search(rf"\b(?:{_THINGS})\b", question, re.IGNORECASE)
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
    if not current and context.question:
        current = _only_product_asked(context.question, catalogue)
    if named:
        return _about_named(question, context, catalogue, named, current)
    if not current:
        return _about_order(question, context.order_id) or _on_topic(question, context.question)
    if kinds := catalogue.kinds_in(_OTHER_OF_KIND.sub(" ", question)):
        # "does the watch have GPS?" is about the watch in context, not the earbuds.
        current = [p for p in current if p.kind in kinds]
        if not current:
            return None
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
        by_kind = {p.kind: _named([p]) for p in current}
        rewritten = _substituted(question, _named(current[-2:] if plural else [product]), by_kind)
        return rewritten if rewritten != question else None
    if _HOW_MUCH.match(question):
        return f"How much is the {product.title}?"
    if variant := _VARIANT.search(question):
        name = f"the {product.title} {variant.group(1)} variant"
        return question[: variant.start()] + name + question[variant.end() :]
    rest = _OPENER.sub("", question, count=1)
    if _WH_FRAGMENT.match(rest):
        return f"{rest.strip().rstrip('?.! ')} does the {product.title} have?"
    if rest != question or not _ownerless(question):
        return _completed(rest, product)
    return _OWNERLESS.sub(lambda m: f"the {product.title}'s {m.group(1)}", question, count=1)


def _on_topic(question: str, previous: str | None) -> str | None:
    """A fragment that leans on the last question when no product is discussed ("and for
    cash on delivery orders?" after "what about refunds?") carries that question along:
    its words say what the fragment is about. ``None`` for a question that stands alone,
    a new topic included ("what about refunds?")."""
    if previous is None:
        return None
    rest = _OPENER.sub("", question, count=1)
    attribute = _OWNERLESS_OWN.search(rest)
    leans = (
        _TAKES_ITSELF.search(question)
        or (
            _PREPOSITION.match(rest)
            and (rest != question or len(rest.split()) <= _FRAGMENT_MAX_WORDS)
        )
        or _WH_FRAGMENT.match(rest)
        or _HOW_MUCH.match(rest)
        or _VARIANT.search(rest)
        # "what's the price?", "what's the battery like?": the attribute ends the question.
        or (attribute and _ownerless(rest) and _ENDS.fullmatch(rest[attribute.end() :]))
        or (
            len(rest.split()) <= _BARE_MAX_WORDS
            and not _CLAUSE.match(rest)
            and re.search(rf"\b(?:{_OWN_ATTRIBUTES})\b", rest, re.IGNORECASE)
        )
    )
    return f"{previous} {question}" if leans else None


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
    if current and current[-1] not in named and _COMPARES.search(question):
        # The named products' own words ("the power bank" of "the Power Bank Ultra") are
        # kept out of the references.
        marked = question
        for index, product in enumerate(named):
            marked = catalogue.rename(marked, product, f"\x00{index}\x00")
        if _refers(marked):
            latest = current[-1]
            compared = _substituted(marked, _named([latest]), {latest.kind: _named([latest])})
            for index, product in enumerate(named):
                compared = compared.replace(f"\x00{index}\x00", product.title)
            return compared
    return None


def _only_product_asked(question: str, catalogue: Catalogue) -> list[Product]:
    """The product a question asked about by its kind when we sell only one of that kind
    ("Do you sell smart rings?": the TechGear Ring)."""
    kinds = catalogue.kinds_in(question)
    only = [catalogue.of_kind(kind) for kind in kinds]
    return only[0] if len(only) == 1 and len(only[0]) == 1 else []


def _about_order(question: str, order_id: str | None) -> str | None:
    """ "where is it?" about the order in context: "where is my order TG48213?"."""
    if order_id is None or not _ORDER_WORDS.search(question) or not _refers(question):
        return None
    return _substituted(question, f"my order {order_id}", {})


def _refers(question: str) -> bool:
    return bool(_references(question))


def _references(question: str) -> list[tuple[int, int]]:
    """Where ``question`` refers to something said before, in order."""
    spans = [m.span() for m in _KIND_REFERENCE.finditer(question)]
    words = len(question.split())
    dummies = [m.span() for m in _DUMMY.finditer(question)]
    pronouns = [m.span() for m in _PRONOUN.finditer(question)]
    pronouns += [
        m.span(group)
        for m in _SUBJECT.finditer(question)
        for group in (1, 2)
        if m.group(group) and (group == 1 or words <= _SHORT)
    ]
    pronouns = [
        (start, end)
        for start, end in sorted(pronouns)
        if not any(d_start <= start < d_end for d_start, d_end in dummies)
        and not any(k_start <= start < k_end for k_start, k_end in spans)
    ]
    if pronouns and words <= _PRONOUN_MAX_WORDS:
        before = question[: pronouns[0][0]]
        if (len(before.split()) <= _SHORT and not _ANTECEDENT.search(before)) or (
            _ASKS.match(question) and _OBJECT_OF.search(before) and not _OWNED.search(before)
        ):
            spans += pronouns
    return sorted(spans)


def _substituted(question: str, name: str, by_kind: Mapping[str, str]) -> str:
    """``question`` with its references replaced by ``name`` ("the SmartWatch Pro X"), a
    kind noun's ("the watch") by ``by_kind``'s name for that kind."""
    pieces: list[str] = []
    last = 0
    for start, end in _references(question):
        word = question[start:end].lower().replace("’", "'")
        kind = KIND_WORDS.get(" ".join(word.split()[1:]))
        if kind is not None:
            if kind not in by_kind:
                continue  # "the earbuds" while a phone is discussed: other earbuds
            replacement = by_kind[kind]
        elif word in {"its", "their", "theirs"}:
            replacement = f"{name}'s"
        elif word == "it's":
            replacement = f"{name} is"
        else:
            replacement = name
        pieces += [question[last:start], _capitalized(replacement, not question[:start].strip())]
        last = end
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
