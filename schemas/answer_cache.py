"""The answer cache's contract in Redis, shared by the workers (who fill it) and the
gateways (who answer repeated first questions from it without a round trip to Kafka).

An entry's key covers everything that can change an answer: the normalised question, the
earlier turn it was resolved against (if any), the knowledge-base version, the responder
and its prompt version. Workers publish the last three as the current ``AnswerScope``, so
a gateway can compute the key of a question that has no earlier turn. (The keys' Redis
prefixes belong to the processes' runtime floor: ``runtime.redis``.)
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.events import Category, Source

_SPACES = re.compile(r"\s+")
_TRAILING_PUNCTUATION = re.compile(r"[\s?!.]+$")


class AnswerScope(BaseModel):
    model_config = ConfigDict(frozen=True)

    kb_version: int
    responder: str
    prompt_version: str
    approvals: str = ""
    """A fingerprint of the approved answers being served ("" while there are none): an
    approval or a revocation makes the entries cached before it unreachable."""


class CachedAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    answer: str
    category: Category
    confidence: float
    responder: str
    sources: list[Source]
    approved_answer_id: str | None = None


def normalize_question(question: str) -> str:
    text = unicodedata.normalize("NFKC", question).casefold()
    return _TRAILING_PUNCTUATION.sub("", _SPACES.sub(" ", text).strip())


def answer_digest(*, question: str, context: str | None, scope: AnswerScope) -> str:
    """What identifies an answer; the key under which it is cached is built from it."""
    material = "\x1f".join(
        [
            normalize_question(question),
            normalize_question(context or ""),
            str(scope.kb_version),
            scope.responder,
            scope.prompt_version,
            # Only when set, so the keys of a system without approvals stay what they were.
            *([scope.approvals] if scope.approvals else []),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def decode_entry(raw: bytes) -> CachedAnswer | None:
    """The entry, or ``None`` when it is unreadable (then it is a miss, not an error)."""
    try:
        return CachedAnswer.model_validate_json(raw)
    except ValidationError:
        return None


def decode_scope(raw: bytes) -> AnswerScope | None:
    try:
        return AnswerScope.model_validate_json(raw)
    except ValidationError:
        return None
