"""Gemini responder: a grounded prompt over the retrieved passages, streamed."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from streams.embeddings import Vectors
from streams.errors import LlmUnavailableError
from streams.responder import Reply, sources_of
from streams.store import Passage

PROMPT_VERSION = "grounded-v1"
_NOT_FOUND = "NOT_IN_KNOWLEDGE_BASE"
_SYSTEM = f"""You are TechGear Electronics' customer-support assistant.
Answer ONLY from the numbered passages below. Do not use any other knowledge.
Cite the passages you used as [1], [2]. Keep the answer short and friendly, in the
customer's language, with prices in ₹ exactly as written in the passages.
If the passages do not contain the answer, reply with exactly {_NOT_FOUND}."""


class GeminiResponder:
    name = "gemini"
    prompt_version = PROMPT_VERSION

    def __init__(self, model: BaseChatModel) -> None:
        self._model = model

    async def answer(
        self, question: str, question_vector: Vectors, passages: Sequence[Passage]
    ) -> Reply | None:
        numbered = "\n\n".join(
            f"[{i}] {p.title} — {p.heading}\n{p.text}" for i, p in enumerate(passages, start=1)
        )
        messages = [
            SystemMessage(_SYSTEM + "\n\nPassages:\n" + numbered),
            HumanMessage(question),
        ]
        try:
            parts = [chunk.text async for chunk in self._model.astream(messages)]
        except Exception as exc:  # the client raises transport and API errors of many types
            raise LlmUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        text = "".join(parts).strip()
        if not text or _NOT_FOUND in text:
            return None
        return Reply(text=text, sources=sources_of(passages))


def gemini_chat_model(
    api_key: str, model: str, *, timeout_s: float, max_retries: int
) -> BaseChatModel:
    from langchain_google_genai import ChatGoogleGenerativeAI

    return ChatGoogleGenerativeAI(
        model=model,
        google_api_key=api_key,
        temperature=0.2,
        timeout=timeout_s,
        # 0 would mean "the library's default", not "no retries".
        max_retries=max(max_retries, 1),
    )
