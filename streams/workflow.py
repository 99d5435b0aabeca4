"""The answering workflow, a LangGraph state graph run inside the Faust agent.

classify ─┬─ greeting ──────────────▶ greet
          ├─ out_of_scope ──────────▶ decline
          ├─ complaint, human_agent ▶ escalate
          └─ otherwise ─▶ retrieve ─▶ grade ─┬─ nothing relevant ─▶ escalate
                                             └─▶ answer ─┬─ answered ─▶ end
                                                         └─ cannot ───▶ escalate
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from runtime.errors import LlmUnavailableError
from runtime.redis import answer_key
from schemas import Category, EscalationReason
from schemas.answer_cache import AnswerScope
from streams import replies
from streams.batching import BatchingEmbedder
from streams.cache import AnswerCache
from streams.classifier import Classification, QuestionClassifier
from streams.context import is_follow_up
from streams.embeddings import OnnxEmbedder, Vectors
from streams.memory import Turn
from streams.metrics import RETRIEVAL
from streams.outcome import Outcome
from streams.responder import DeltaSink, Responder, sources_of
from streams.store import KnowledgeStore, Passage

_ESCALATING_CATEGORIES = {
    Category.COMPLAINT: EscalationReason.COMPLAINT,
    Category.HUMAN_AGENT: EscalationReason.HUMAN_REQUESTED,
}


class SecondOpinion(Protocol):
    async def classify(self, question: str) -> Category | None: ...


class _State(TypedDict, total=False):
    request_id: str
    question: str
    promise: str | None
    """When a person will reply if the question is handed over (``streams.support_hours``)."""
    contextual: str | None
    """The question completed with the previous turn when it is a follow-up."""
    vector: Vectors
    classification: Classification
    passages: list[Passage]
    relevant: list[Passage]
    outcome: Outcome
    escalation_reason: EscalationReason


class AnswerWorkflow:
    def __init__(
        self,
        *,
        embedder: OnnxEmbedder,
        classifier: QuestionClassifier,
        store: KnowledgeStore,
        responder: Responder,
        cache: AnswerCache,
        retrieval_limit: int,
        relevance_threshold: float,
        second_opinion: SecondOpinion | None = None,
        second_opinion_below: float = 0.5,
    ) -> None:
        """``second_opinion`` (an LLM) is asked when the local classifier's confidence is
        under ``second_opinion_below``."""
        self._questions = BatchingEmbedder(embedder)
        self._classifier = classifier
        self._store = store
        self._responder = responder
        self._cache = cache
        self._second_opinion = second_opinion
        self._second_opinion_below = second_opinion_below
        self._retrieval_limit = retrieval_limit
        self._relevance_threshold = relevance_threshold
        self._graph = self._build()
        self._published_scope: AnswerScope | None = None

    async def run(
        self,
        *,
        request_id: str,
        question: str,
        history: Sequence[Turn] = (),
        on_delta: DeltaSink | None = None,
        promise: str | None = None,
    ) -> Outcome:
        """``on_delta`` receives the answer's text as a streaming responder produces it;
        an escalation's notice tells the customer ``promise`` (when a person will reply)."""
        contextual = (
            f"{history[-1].question} {question}" if history and is_follow_up(question) else None
        )
        scope = AnswerScope(
            kb_version=await asyncio.to_thread(self._store.current_version),
            responder=self._responder.name,
            prompt_version=self._responder.prompt_version,
        )
        if scope != self._published_scope:
            await self._cache.publish_scope(scope)
            self._published_scope = scope
        key = answer_key(
            question=question,
            context=history[-1].question if contextual else None,
            scope=scope,
        )
        cached = await self._cache.get(key)
        if cached is not None:
            return replace(cached, used_context=contextual is not None)
        state = await self._graph.ainvoke(
            {
                "request_id": request_id,
                "question": question,
                "contextual": contextual,
                "promise": promise,
            },
            config={"configurable": {"on_delta": on_delta}},
        )
        outcome: Outcome = state["outcome"]
        await self._cache.put(key, outcome)
        return outcome

    def _build(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        graph = StateGraph(_State)
        graph.add_node("classify", self._classify)
        graph.add_node("greet", self._greet)
        graph.add_node("decline", self._decline)
        graph.add_node("retrieve", self._retrieve)
        graph.add_node("grade", self._grade)
        graph.add_node("answer", self._answer)
        graph.add_node("escalate", self._escalate)
        graph.add_edge(START, "classify")
        graph.add_conditional_edges("classify", self._route)
        graph.add_edge("retrieve", "grade")
        graph.add_conditional_edges(
            "grade", lambda s: "answer" if s["relevant"] else "escalate", ["answer", "escalate"]
        )
        graph.add_conditional_edges(
            "answer", lambda s: END if "outcome" in s else "escalate", [END, "escalate"]
        )
        for terminal in ("greet", "decline", "escalate"):
            graph.add_edge(terminal, END)
        return graph.compile()

    async def _classify(self, state: _State) -> _State:
        text = state["contextual"] or state["question"]
        vector = await self._questions.embed_one(text)
        classification = self._classifier.classify(text, vector)
        if self._second_opinion and classification.confidence < self._second_opinion_below:
            category = await self._second_opinion.classify(text)
            if category is not None:
                classification = Classification(category, classification.confidence)
        return {"vector": vector, "classification": classification}

    @staticmethod
    def _route(state: _State) -> Literal["greet", "decline", "escalate", "retrieve"]:
        category = state["classification"].category
        if category is Category.GREETING:
            return "greet"
        if category is Category.OUT_OF_SCOPE:
            return "decline"
        if category in _ESCALATING_CATEGORIES:
            return "escalate"
        return "retrieve"

    async def _greet(self, state: _State) -> _State:
        return {"outcome": self._plain_outcome(state, replies.greeting(state["question"]))}

    async def _decline(self, state: _State) -> _State:
        return {"outcome": self._plain_outcome(state, replies.OUT_OF_SCOPE)}

    async def _retrieve(self, state: _State) -> _State:
        with RETRIEVAL.time():
            passages = await asyncio.to_thread(
                self._store.search, state["vector"], limit=self._retrieval_limit
            )
        return {"passages": passages}

    async def _grade(self, state: _State) -> _State:
        relevant = [p for p in state["passages"] if p.score >= self._relevance_threshold]
        return {"relevant": relevant, "escalation_reason": EscalationReason.NO_RELEVANT_KNOWLEDGE}

    async def _answer(self, state: _State, config: RunnableConfig) -> _State:
        on_delta: DeltaSink | None = config.get("configurable", {}).get("on_delta")
        try:
            reply = await self._responder.answer(
                state["contextual"] or state["question"],
                state["vector"],
                state["relevant"],
                on_delta=on_delta,
            )
        except LlmUnavailableError:
            return {"escalation_reason": EscalationReason.LLM_UNAVAILABLE}
        if reply is None:
            return {"escalation_reason": EscalationReason.NO_RELEVANT_KNOWLEDGE}
        classification = state["classification"]
        return {
            "outcome": Outcome(
                answer=reply.text,
                category=classification.category,
                confidence=classification.confidence,
                responder=self._responder.name,
                sources=reply.sources,
                used_context=state["contextual"] is not None,
            )
        }

    async def _escalate(self, state: _State) -> _State:
        classification = state["classification"]
        reason = _ESCALATING_CATEGORIES.get(classification.category) or state["escalation_reason"]
        return {
            "outcome": Outcome(
                answer=replies.escalation_notice(reason, state["request_id"], state.get("promise")),
                category=classification.category,
                confidence=classification.confidence,
                responder=self._responder.name,
                consulted=sources_of(state.get("passages", [])),
                escalation_reason=reason,
            )
        }

    def _plain_outcome(self, state: _State, answer: str) -> Outcome:
        classification = state["classification"]
        return Outcome(
            answer=answer,
            category=classification.category,
            confidence=classification.confidence,
            responder=self._responder.name,
        )
