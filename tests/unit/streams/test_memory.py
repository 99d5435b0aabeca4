from __future__ import annotations

import pytest

from streams.memory import (
    MAX_TURNS,
    DictMemory,
    Turn,
    contextual_question,
    decode_turns,
    encode_turns,
    is_follow_up,
)


@pytest.mark.parametrize(
    "question", ["how much is it?", "does it have GPS", "what about its warranty?"]
)
def test_referring_questions_are_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question", ["What is the price of SmartWatch Pro X?", "hello", "refund status?"]
)
def test_self_contained_questions_are_not_follow_ups(question: str) -> None:
    assert not is_follow_up(question)


def test_contextual_question_prepends_the_previous_question() -> None:
    history = [Turn("Tell me about the FitBand 3", "…")]
    assert (
        contextual_question("how much is it?", history)
        == "Tell me about the FitBand 3 how much is it?"
    )
    assert contextual_question("how much is it?", []) is None


def test_memory_keeps_only_the_last_turns() -> None:
    memory = DictMemory()
    for n in range(MAX_TURNS + 3):
        memory.remember("c", Turn(f"q{n}", f"a{n}"))
    assert [t.question for t in memory.turns("c")][0] == "q3"
    assert len(memory.turns("c")) == MAX_TURNS and memory.turns("other") == []


def test_turns_round_trip_through_bytes() -> None:
    turns = [Turn("q", "a", ("doc-1",))]
    assert decode_turns(encode_turns(turns)) == turns and decode_turns(None) == []
