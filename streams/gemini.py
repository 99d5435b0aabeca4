"""Gemini responder: a grounded prompt over the retrieved passages, streamed."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessageChunk, HumanMessage, SystemMessage

from runtime.errors import LlmUnavailableError
from schemas import Category
from streams.embeddings import Vectors
from streams.metrics import LLM_ERRORS, LLM_LATENCY, LLM_TOKENS
from streams.responder import DeltaSink, Reply, sources_of
from streams.store import Passage

log = logging.getLogger(__name__)

PROMPT_VERSION = "grounded-v1"
_NOT_FOUND = "NOT_IN_KNOWLEDGE_BASE"
_SYSTEM = f"""You are TechGear Electronics' customer-support assistant.
Answer ONLY from the numbered passages below. Do not use any other knowledge.
Cite the passages you used as [1], [2]. Keep the answer short and friendly, in the
customer's language, with prices in ₹ exactly as written in the passages.
If the passages do not contain the answer, reply with exactly {_NOT_FOUND}."""


_CLASSIFY_SYSTEM = (
    "Classify the customer's message to TechGear Electronics' support desk. Reply with "
    "exactly one of these labels and nothing else: "
    + ", ".join(c.value for c in Category)
    + ". Use out_of_scope for anything TechGear's support desk does not handle."
)


class GeminiResponder:
    name = "gemini"
    prompt_version = PROMPT_VERSION

    def __init__(self, model: BaseChatModel) -> None:
        self._model = model

    async def answer(
        self,
        question: str,
        question_vector: Vectors,
        passages: Sequence[Passage],
        *,
        on_delta: DeltaSink | None = None,
    ) -> Reply | None:
        numbered = "\n\n".join(
            f"[{i}] {p.title} — {p.heading}\n{p.text}" for i, p in enumerate(passages, start=1)
        )
        messages = [
            SystemMessage(_SYSTEM + "\n\nPassages:\n" + numbered),
            HumanMessage(question),
        ]
        text = ""
        streamed = 0
        started = time.perf_counter()
        try:
            async for chunk in self._model.astream(messages):
                text += chunk.text
                _count_tokens(chunk)
                # Hold back what could still turn out to be the "not found" sentinel.
                if on_delta and not _NOT_FOUND.startswith(text.strip()[: len(_NOT_FOUND)]):
                    await on_delta(text[streamed:])
                    streamed = len(text)
        except Exception as exc:  # the client raises transport and API errors of many types
            LLM_ERRORS.labels(type(exc).__name__).inc()
            raise LlmUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            LLM_LATENCY.observe(time.perf_counter() - started)
        text = text.strip()
        if not text or _NOT_FOUND in text:
            return None
        return Reply(text=text, sources=sources_of(passages))


class LlmClassifier:
    """Second opinion on questions the local classifier is unsure about."""

    def __init__(self, model: BaseChatModel) -> None:
        self._model = model

    async def classify(self, question: str) -> Category | None:
        """The LLM's category, or ``None`` when it fails or answers outside the list."""
        messages = [SystemMessage(_CLASSIFY_SYSTEM), HumanMessage(question)]
        try:
            reply = await self._model.ainvoke(messages)
        except Exception:  # a second opinion is optional: any failure keeps the first one
            log.warning("LLM classification failed; keeping the local category", exc_info=True)
            return None
        label = reply.text.strip().strip("`'\". ").lower()
        try:
            return Category(label)
        except ValueError:
            return None


def _count_tokens(chunk: BaseMessageChunk) -> None:
    usage = getattr(chunk, "usage_metadata", None)
    if usage:
        LLM_TOKENS.labels("input").inc(usage.get("input_tokens", 0))
        LLM_TOKENS.labels("output").inc(usage.get("output_tokens", 0))


def gemini_chat_model(api_key: str, model: str, *, timeout_s: float) -> BaseChatModel:
    from langchain_google_genai import ChatGoogleGenerativeAI

    return ChatGoogleGenerativeAI(
        model=model,
        google_api_key=api_key,
        temperature=0.2,
        timeout=timeout_s,
        # Retries belong to GuardedResponder, where the circuit breaker sees each failure.
        # 1 is "no retries" here; 0 would mean the library's default.
        max_retries=1,
    )
