"""The Gemini responder and second-opinion classifier, on langchain-core's fake models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from runtime.errors import LlmUnavailableError
from schemas import Category
from streams.gemini import (
    HISTORY_TURNS,
    GeminiResponder,
    LlmClassifier,
    LlmQuestionRewriter,
    gemini_chat_model,
)
from streams.memory import Turn
from streams.store import Passage

PASSAGES = [
    Passage(
        "p:1",
        "product-smartwatch-pro-x",
        "SmartWatch Pro X",
        "Price",
        "The SmartWatch Pro X costs ₹15,999.",
        0.8,
    )
]
NO_VECTOR = np.zeros(384, dtype=np.float32)


class RecordingFakeModel(GenericFakeChatModel):
    """Streams its scripted replies and keeps the prompts it was given."""

    prompts: list[list[BaseMessage]] = []

    def _stream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.prompts.append(messages)
        return super()._stream(messages, *args, **kwargs)


class BrokenModel(GenericFakeChatModel):
    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        raise ConnectionError("network unreachable")


def fake(*replies: str) -> RecordingFakeModel:
    return RecordingFakeModel(messages=iter([AIMessage(content=r) for r in replies]), prompts=[])


async def test_answer_is_streamed_and_cites_the_passages() -> None:
    model = fake("The SmartWatch Pro X costs ₹15,999 [1].")
    reply = await GeminiResponder(model).answer(
        "How much is the SmartWatch Pro X?", NO_VECTOR, PASSAGES
    )

    assert reply is not None and reply.text == "The SmartWatch Pro X costs ₹15,999 [1]."
    assert [s.doc_id for s in reply.sources] == ["product-smartwatch-pro-x"]
    system_prompt = str(model.prompts[0][0].content)
    assert (
        "ONLY from the numbered passages" in system_prompt
        and "[1] SmartWatch Pro X" in system_prompt
    )


async def test_model_saying_not_in_knowledge_base_gives_no_answer() -> None:
    reply = await GeminiResponder(fake("NOT_IN_KNOWLEDGE_BASE")).answer(
        "Who won the match?", NO_VECTOR, PASSAGES
    )
    assert reply is None


async def test_transport_failure_is_a_retryable_llm_error() -> None:
    with pytest.raises(LlmUnavailableError, match="network unreachable"):
        await GeminiResponder(BrokenModel(messages=iter([]))).answer("q", NO_VECTOR, PASSAGES)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("warranty", Category.WARRANTY),
        (" `returns_refunds`. ", Category.RETURNS_REFUNDS),
        ("no idea", None),
    ],
)
async def test_second_opinion_accepts_only_known_labels(
    reply: str, expected: Category | None
) -> None:
    assert await LlmClassifier(fake(reply)).classify("my watch died after 3 months") is expected


async def test_second_opinion_failure_keeps_the_first_opinion() -> None:
    assert await LlmClassifier(BrokenModel(messages=iter([]))).classify("q") is None


def test_gemini_client_is_built_without_network_and_leaves_retries_to_the_guard() -> None:
    model = gemini_chat_model("fake-key-for-construction", "gemini-2.5-flash", timeout_s=5)
    assert model.max_retries == 1  # the initial request only; 0 would mean the default


async def test_tokens_stream_to_the_delta_sink_as_they_arrive() -> None:
    received: list[str] = []

    async def sink(text: str) -> None:
        received.append(text)

    answer = "The SmartWatch Pro X costs ₹15,999 [1]."
    reply = await GeminiResponder(fake(answer)).answer("price?", NO_VECTOR, PASSAGES, on_delta=sink)

    assert reply is not None and len(received) > 1 and "".join(received) == answer


async def test_not_found_sentinel_is_never_streamed() -> None:
    received: list[str] = []

    async def sink(text: str) -> None:
        received.append(text)

    reply = await GeminiResponder(fake("NOT_IN_KNOWLEDGE_BASE")).answer(
        "q", NO_VECTOR, PASSAGES, on_delta=sink
    )

    assert reply is None and received == []


HISTORY = [
    Turn("What is your return policy?", "Returns are accepted within 7 days [1]."),
    Turn("Tell me about the SmartWatch Pro X", "It has AMOLED and GPS [1]."),
    Turn("Does it have GPS?", "Yes, built-in GPS [1]."),
    Turn("Is it waterproof?", "It is rated 5 ATM [1]."),
]


class RecordingInvokeModel(GenericFakeChatModel):
    """Answers ``ainvoke`` with its scripted replies and keeps the prompts it was given."""

    prompts: list[list[BaseMessage]] = []

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.prompts.append(messages)
        return super()._generate(messages, *args, **kwargs)


class BrokenInvokeModel(GenericFakeChatModel):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise TimeoutError("deadline exceeded")


async def test_recent_turns_go_in_the_prompt_between_the_passages_and_the_question() -> None:
    model = fake("It costs ₹15,999 [1].")
    await GeminiResponder(model).answer("and the price?", NO_VECTOR, PASSAGES, history=HISTORY)

    prompt = model.prompts[0]
    turns = [str(m.content) for m in prompt[1:-1]]
    assert turns == [text for t in HISTORY[-HISTORY_TURNS:] for text in (t.question, t.answer)]
    assert isinstance(prompt[-1], HumanMessage) and prompt[-1].content == "and the price?"
    assert [m.type for m in prompt[1:3]] == ["human", "ai"]


@pytest.mark.parametrize(
    ("language", "instruction"),
    [
        ("en", "Answer in English."),
        ("hi", "Answer in Hindi."),
        ("hi-Latn", "Answer in Hinglish (Hindi written in Latin letters)."),
    ],
)
async def test_the_model_is_told_to_answer_in_the_customers_language(
    language: str, instruction: str
) -> None:
    model = fake("स्मार्टवॉच प्रो एक्स की कीमत ₹15,999 है [1]।")
    reply = await GeminiResponder(model).answer(
        "स्मार्टवॉच प्रो एक्स की कीमत क्या है?", NO_VECTOR, PASSAGES, language=language
    )
    assert reply is not None
    assert instruction in str(model.prompts[0][0].content)


def test_the_prompt_version_changed_with_history_and_language() -> None:
    assert GeminiResponder(fake("x")).prompt_version == "grounded-v2"


async def test_a_follow_up_is_rewritten_into_a_standalone_english_question() -> None:
    model = RecordingInvokeModel(
        messages=iter([AIMessage(' "What is the battery life of the SmartWatch Pro X?" \n')]),
        prompts=[],
    )
    rewritten = await LlmQuestionRewriter(model).standalone(
        "aur battery kitni chalti hai?", HISTORY
    )

    assert rewritten == "What is the battery life of the SmartWatch Pro X?"
    prompt = str(model.prompts[0][-1].content)
    assert "Customer: Is it waterproof?" in prompt and "What is your return policy?" not in prompt
    assert prompt.endswith("Last message: aur battery kitni chalti hai?")


@pytest.mark.parametrize("reply", ["", "   \n ", "x" * 501])
async def test_an_empty_or_runaway_rewrite_is_no_rewrite(reply: str) -> None:
    assert await LlmQuestionRewriter(fake(reply)).standalone("and it?", HISTORY) is None


async def test_a_failed_rewrite_is_no_rewrite() -> None:
    rewriter = LlmQuestionRewriter(BrokenInvokeModel(messages=iter([])))
    assert await rewriter.standalone("and the price?", HISTORY) is None
