"""The Gemini responder and second-opinion classifier, on langchain-core's fake models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage

from runtime.errors import LlmUnavailableError
from schemas import Category
from streams.gemini import GeminiResponder, LlmClassifier, gemini_chat_model
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
