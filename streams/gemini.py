"""Gemini responder: a grounded prompt over the retrieved passages, streamed."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    SystemMessage,
)

from runtime.errors import LlmUnavailableError
from schemas import Category
from streams.embeddings import Vectors
from streams.language import language_name
from streams.memory import Turn
from streams.metrics import LLM_ERRORS, LLM_LATENCY, LLM_TOKENS
from streams.responder import DeltaSink, Reply, sources_of
from streams.store import Passage

log = logging.getLogger(__name__)

PROMPT_VERSION = "grounded-v2"
"""v2: the recent turns of the conversation, and the language to answer in."""
_NOT_FOUND = "NOT_IN_KNOWLEDGE_BASE"
_SYSTEM = f"""You are TechGear Electronics' customer-support assistant.
Answer ONLY from the numbered passages below. Do not use any other knowledge.
The earlier turns of the conversation only tell you what the customer refers to ("it",
"their price"); facts come from the passages alone.
Cite the passages you used as [1], [2]. Keep the answer short and friendly, with prices in
₹ exactly as written in the passages.
If the passages do not contain the answer, reply with exactly {_NOT_FOUND}."""
HISTORY_TURNS = 3
"""Earlier turns put in the prompt: enough for "it" and "what about ...", few tokens."""
_TURN_CHARS = 1000
"""An earlier question or answer longer than this is cut in the prompt."""

_REWRITE_SYSTEM = """You rewrite a customer's last message to TechGear Electronics' support
desk as one standalone question in English, for searching the knowledge base.
Resolve what it refers to from the conversation ("it", "their", "and the battery?") by
naming the product, order or topic; translate it to English if needed; add nothing else.
Reply with the question only, on one line."""
_REWRITE_MAX_CHARS = 500

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
        history: Sequence[Turn] = (),
        language: str = "en",
    ) -> Reply | None:
        """``history``: the conversation's earlier turns, oldest first (the last
        ``HISTORY_TURNS`` go in the prompt); ``language``: BCP 47 code to answer in."""
        numbered = "\n\n".join(
            f"[{i}] {p.title} — {p.heading}\n{p.text}" for i, p in enumerate(passages, start=1)
        )
        instructions = f"{_SYSTEM}\nAnswer in {language_name(language)}."
        messages = [
            SystemMessage(instructions + "\n\nPassages:\n" + numbered),
            *_turns(history[-HISTORY_TURNS:]),
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


class LlmQuestionRewriter:
    """A follow-up made a standalone English question, the retrieval query with Gemini."""

    def __init__(self, model: BaseChatModel) -> None:
        self._model = model

    async def standalone(self, question: str, history: Sequence[Turn]) -> str | None:
        """The rewritten question, or ``None`` when the model fails or gives no question
        (the caller then searches with what it has)."""
        conversation = "\n".join(
            f"{role}: {_clip(text)}"
            for turn in history[-HISTORY_TURNS:]
            for role, text in (("Customer", turn.question), ("Assistant", turn.answer))
        )
        prompt = f"Conversation:\n{conversation or '(none)'}\n\nLast message: {question}"
        messages = [SystemMessage(_REWRITE_SYSTEM), HumanMessage(prompt)]
        try:
            reply = await self._model.ainvoke(messages)
        except Exception:  # the rewrite is optional: any failure keeps the caller's question
            log.warning("LLM question rewrite failed; searching without it", exc_info=True)
            return None
        lines = [line for line in reply.text.strip().splitlines() if line.strip()]
        rewritten = lines[0].strip().strip("`\"' ") if lines else ""
        if not rewritten or len(rewritten) > _REWRITE_MAX_CHARS:
            return None
        return rewritten


def _turns(history: Sequence[Turn]) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for turn in history:
        messages += [HumanMessage(_clip(turn.question)), AIMessage(_clip(turn.answer))]
    return messages


def _clip(text: str) -> str:
    return text if len(text) <= _TURN_CHARS else text[: _TURN_CHARS - 1] + "…"


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
