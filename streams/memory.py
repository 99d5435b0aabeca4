"""Conversation memory: the last turns of each conversation, and follow-up resolution.

In the worker the turns live in a changelog-backed Faust table keyed by
``conversation_id`` (``streams/app.py``), so they survive a restart and move with their
partition when workers rebalance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

MAX_TURNS = 6
_REFERRING = re.compile(
    r"\b(it|its|it's|this|that|these|those|they|them|their|one|same|the (watch|phone|laptop|"
    r"earbuds|product|device|charger|speaker|item))\b",
    re.IGNORECASE,
)
_FOLLOW_UP_MAX_WORDS = 12


@dataclass(frozen=True, slots=True)
class Turn:
    question: str
    answer: str
    doc_ids: tuple[str, ...] = ()


class ConversationMemory(Protocol):
    def turns(self, conversation_id: str) -> list[Turn]: ...

    def remember(self, conversation_id: str, turn: Turn) -> None: ...


class DictMemory:
    """Memory of one process, for tests and tools."""

    def __init__(self) -> None:
        self._turns: dict[str, list[Turn]] = {}

    def turns(self, conversation_id: str) -> list[Turn]:
        return list(self._turns.get(conversation_id, []))

    def remember(self, conversation_id: str, turn: Turn) -> None:
        self._turns[conversation_id] = [*self._turns.get(conversation_id, []), turn][-MAX_TURNS:]


def encode_turns(turns: Sequence[Turn]) -> bytes:
    return orjson.dumps(
        [{"q": t.question, "a": t.answer, "docs": list(t.doc_ids)} for t in turns[-MAX_TURNS:]]
    )


def decode_turns(data: bytes | None) -> list[Turn]:
    if not data:
        return []
    return [Turn(item["q"], item["a"], tuple(item.get("docs", ()))) for item in orjson.loads(data)]


def is_follow_up(question: str) -> bool:
    """A short question that points back at something said before ("how much is it?")."""
    return len(question.split()) <= _FOLLOW_UP_MAX_WORDS and bool(_REFERRING.search(question))


def contextual_question(question: str, history: Sequence[Turn]) -> str | None:
    """The question with the previous one prepended when it is a follow-up, else ``None``."""
    if not history or not is_follow_up(question):
        return None
    return f"{history[-1].question} {question}"
