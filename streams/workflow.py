"""The answering workflow, a LangGraph state graph run inside the Faust agent.

Before the graph runs, the message is read (``streams.understanding``): its language,
typos, the products it names and, for a follow-up, the question it completes. The graph
works on that standalone question.

classify ─┬─ a language only a person reads here ▶ escalate
          ├─ greeting ──────────────────────────▶ greet
          ├─ complaint, human_agent ────────────▶ escalate
          ├─ names only products we don't sell ─▶ not_sold
          ├─ out_of_scope ──────────────────────▶ decline
          └─ otherwise ─▶ approved ─┬─ an approved answer matches ─▶ end
                                    └─▶ retrieve ─▶ grade ─┬─ nothing relevant ─▶ escalate
                                                           └─▶ answer ─┬─ answered ─▶ end
                                                                       └─ cannot ───▶ escalate

Approved answers (``streams.approved``) come after classification, so complaints and
requests for a person still escalate; their fingerprint is part of the answer cache's
scope, so an approval or a revocation is not hidden by answers cached before it.
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
from schemas import Category, EscalationReason, Source
from schemas.answer_cache import AnswerScope
from streams import replies
from streams.approved import APPROVED_RESPONDER, ApprovedAnswers
from streams.batching import BatchingEmbedder
from streams.cache import AnswerCache
from streams.classifier import Classification, QuestionClassifier
from streams.context import ConversationContext
from streams.embeddings import OnnxEmbedder, Vectors
from streams.focus import focused
from streams.language import DetectedLanguage
from streams.memory import Turn
from streams.metrics import APPROVED_SERVED, RETRIEVAL
from streams.outcome import Outcome
from streams.responder import DeltaSink, Responder, sources_of
from streams.retrieval import HybridRetriever, relevant
from streams.sentences import SentenceCache
from streams.store import Passage
from streams.understanding import (
    KnowledgeSnapshot,
    KnowledgeSnapshots,
    UnderstoodMessage,
    understand,
)

_ESCALATING_CATEGORIES = {
    Category.COMPLAINT: EscalationReason.COMPLAINT,
    Category.HUMAN_AGENT: EscalationReason.HUMAN_REQUESTED,
}


_UNTOPICAL = {Category.GREETING, Category.OUT_OF_SCOPE}
_SAID_FOR_ITSELF = {Category.GREETING, Category.COMPLAINT, Category.HUMAN_AGENT}


class SecondOpinion(Protocol):
    async def classify(self, question: str) -> Category | None: ...


class QuestionRewriter(Protocol):
    """An LLM that reads other languages and follow-ups: it writes the English question
    that stands alone, for classification and retrieval."""

    async def standalone(self, question: str, history: Sequence[Turn]) -> str | None: ...


class _State(TypedDict, total=False):
    request_id: str
    question: str
    history: Sequence[Turn]
    promise: str | None
    """When a person will reply if the question is handed over (``streams.support_hours``)."""
    understood: UnderstoodMessage
    snapshot: KnowledgeSnapshot
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
        snapshots: KnowledgeSnapshots,
        retriever: HybridRetriever,
        sentences: SentenceCache,
        responder: Responder,
        cache: AnswerCache,
        retrieval_limit: int,
        relevance_threshold: float,
        second_opinion: SecondOpinion | None = None,
        second_opinion_below: float = 0.5,
        rewriter: QuestionRewriter | None = None,
        approved: ApprovedAnswers | None = None,
    ) -> None:
        """``second_opinion`` (an LLM) is asked when the local classifier's confidence is
        under ``second_opinion_below``; ``rewriter`` (the same LLM) reads follow-ups and
        other languages, and its presence means the responder answers in any language;
        ``approved`` holds the operator-approved answers to serve (none without it)."""
        self._questions = BatchingEmbedder(embedder)
        self._classifier = classifier
        self._snapshots = snapshots
        self._retriever = retriever
        self._sentences = sentences
        self._rewriter = rewriter
        self._responder = responder
        self._cache = cache
        self._second_opinion = second_opinion
        self._second_opinion_below = second_opinion_below
        self._retrieval_limit = retrieval_limit
        self._relevance_threshold = relevance_threshold
        self._approved = approved
        self._graph = self._build()
        self._published_scope: AnswerScope | None = None

    async def run(
        self,
        *,
        request_id: str,
        question: str,
        history: Sequence[Turn] = (),
        context: ConversationContext | None = None,
        on_delta: DeltaSink | None = None,
        promise: str | None = None,
    ) -> Outcome:
        """``context`` is what the conversation is about so far (the returned outcome
        carries it updated); ``on_delta`` receives the answer's text as a streaming
        responder produces it; an escalation's notice tells the customer ``promise``
        (when a person will reply)."""
        snapshot = await asyncio.to_thread(self._snapshots.current)
        understood = await self._understand(
            question, history, context or ConversationContext(), snapshot
        )
        scope = AnswerScope(
            kb_version=snapshot.version,
            responder=self._responder.name,
            prompt_version=self._responder.prompt_version,
            approvals=self._approved.fingerprint if self._approved else "",
        )
        if scope != self._published_scope:
            await self._cache.publish_scope(scope)
            self._published_scope = scope
        # A first question's key is the question alone, which the gateways look up too.
        key = answer_key(
            question=question,
            context=understood.standalone if understood.used_context else None,
            scope=scope,
        )
        cached = await self._cache.get(key)
        if cached is not None:
            return self._finish(cached, understood)
        state = await self._graph.ainvoke(
            {
                "request_id": request_id,
                "question": question,
                "history": history,
                "promise": promise,
                "understood": understood,
                "snapshot": snapshot,
            },
            config={"configurable": {"on_delta": on_delta}},
        )
        outcome: Outcome = state["outcome"]
        await self._cache.put(key, outcome)
        return self._finish(outcome, understood)

    async def _understand(
        self,
        question: str,
        history: Sequence[Turn],
        context: ConversationContext,
        snapshot: KnowledgeSnapshot,
    ) -> UnderstoodMessage:
        understood = understand(question, context, snapshot)
        rewrite = not understood.language.english or (
            bool(history) and (understood.used_context or not understood.products)
        )
        if self._rewriter is None or not rewrite:
            return understood
        standalone = await self._rewriter.standalone(question, history)
        if not standalone:
            return understood
        reread = understand(standalone, context, snapshot)
        return replace(
            reread,
            language=understood.language,
            used_context=bool(history),
            context=reread.context.updated(
                products=(), order_id=understood.context.order_id, topic=None
            ),
        )

    @staticmethod
    def _finish(outcome: Outcome, understood: UnderstoodMessage) -> Outcome:
        topic = None if outcome.category in _UNTOPICAL else outcome.category.value
        return replace(
            outcome,
            used_context=understood.used_context,
            language=understood.language.code,
            context=understood.context.updated(products=(), order_id=None, topic=topic),
        )

    def _build(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        graph = StateGraph(_State)
        graph.add_node("classify", self._classify)
        graph.add_node("greet", self._greet)
        graph.add_node("decline", self._decline)
        graph.add_node("not_sold", self._not_sold)
        graph.add_node("approved", self._approved_answer)
        graph.add_node("retrieve", self._retrieve)
        graph.add_node("grade", self._grade)
        graph.add_node("answer", self._answer)
        graph.add_node("escalate", self._escalate)
        graph.add_edge(START, "classify")
        # Routes are coroutines: LangGraph runs a plain function in a thread of the executor.
        graph.add_conditional_edges("classify", self._route)
        graph.add_conditional_edges("approved", _end_if_approved, [END, "retrieve"])
        graph.add_edge("retrieve", "grade")
        graph.add_conditional_edges("grade", _answer_if_relevant, ["answer", "escalate"])
        graph.add_conditional_edges("answer", _end_if_answered, [END, "escalate"])
        for terminal in ("greet", "decline", "not_sold", "escalate"):
            graph.add_edge(terminal, END)
        return graph.compile()

    async def _classify(self, state: _State) -> _State:
        understood = state["understood"]
        text = understood.standalone
        vector = await self._questions.embed_one(text)
        classification = self._classifier.classify(text, vector)
        if understood.used_context:
            # "Thanks, that's all" or "let me talk to a person about it" mean the same
            # whatever product the conversation was about.
            alone = self._classifier.classify(
                understood.english, await self._questions.embed_one(understood.english)
            )
            if alone.category in _SAID_FOR_ITSELF:
                classification = alone
        if self._second_opinion and classification.confidence < self._second_opinion_below:
            category = await self._second_opinion.classify(text)
            if category is not None:
                classification = Classification(category, classification.confidence)
        if self._unread(understood.language) and classification.category is Category.OUT_OF_SCOPE:
            # The classifier reads English only: its refusal of this message means nothing.
            classification = Classification(Category.GENERAL_INFO, 0.0)
        return {
            "vector": vector,
            "classification": classification,
            "escalation_reason": EscalationReason.LOW_CONFIDENCE,
        }

    async def _route(
        self, state: _State
    ) -> Literal["greet", "decline", "not_sold", "escalate", "approved"]:
        understood = state["understood"]
        if self._unread(understood.language):
            # Only a person reads this language here: never declined as out of scope.
            return "escalate"
        category = state["classification"].category
        if category is Category.GREETING:
            return "greet"
        if category in _ESCALATING_CATEGORIES:
            return "escalate"
        if understood.unknown_products and not understood.products:
            return "not_sold"
        if category is Category.OUT_OF_SCOPE:
            return "decline"
        return "approved"

    async def _greet(self, state: _State) -> _State:
        return {"outcome": self._plain_outcome(state, replies.greeting(state["question"]))}

    async def _decline(self, state: _State) -> _State:
        return {"outcome": self._plain_outcome(state, replies.OUT_OF_SCOPE)}

    async def _not_sold(self, state: _State) -> _State:
        """A product we don't sell is said to be one, with the ones we do sell of its kind:
        never answered with another product's facts."""
        understood, catalogue = state["understood"], state["snapshot"].catalogue
        name = understood.unknown_products[0]
        kinds = understood.kinds or catalogue.kinds_in(name)
        alternatives = [p.title for kind in sorted(kinds) for p in catalogue.of_kind(kind)]
        outcome = self._plain_outcome(state, replies.not_sold(name, alternatives))
        return {"outcome": replace(outcome, category=Category.PRODUCT_INFO)}

    async def _approved_answer(self, state: _State) -> _State:
        if self._approved is None:
            return {}
        products = [product.doc_id for product in state["understood"].products]
        match = self._approved.match(state["vector"], products, state["snapshot"])
        if match is None:
            return {}
        APPROVED_SERVED.inc()
        approval, similarity = match.approval, round(min(max(match.similarity, 0.0), 1.0), 4)
        return {
            "outcome": Outcome(
                answer=approval.answer,
                category=approval.category,
                confidence=similarity,
                responder=APPROVED_RESPONDER,
                sources=[
                    Source(doc_id=doc.doc_id, title=doc.title, score=similarity)
                    for doc in approval.documents
                ],
                approved_answer_id=approval.approval_id,
            )
        }

    async def _retrieve(self, state: _State) -> _State:
        understood = state["understood"]
        with RETRIEVAL.time():
            passages = await asyncio.to_thread(
                self._retriever.search,
                understood.standalone,
                state["vector"],
                limit=self._retrieval_limit,
                doc_ids=understood.allowed_documents,
            )
        return {"passages": passages}

    async def _grade(self, state: _State) -> _State:
        understood, catalogue = state["understood"], state["snapshot"].catalogue
        vector, passages = state["vector"], state["passages"]
        await self._sentences.prepare([passage.text for passage in passages])
        graded = relevant(
            passages,
            self._relevance_threshold,
            lambda passage: self._sentences.nearest(passage.text, vector),
        )
        return {
            "relevant": focused(graded, catalogue, understood.allowed_documents),
            "escalation_reason": EscalationReason.NO_RELEVANT_KNOWLEDGE,
        }

    async def _answer(self, state: _State, config: RunnableConfig) -> _State:
        on_delta: DeltaSink | None = config.get("configurable", {}).get("on_delta")
        understood = state["understood"]
        try:
            reply = await self._responder.answer(
                understood.standalone,
                state["vector"],
                state["relevant"],
                on_delta=on_delta,
                history=state["history"],
                language=understood.language.code,
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
            )
        }

    async def _escalate(self, state: _State) -> _State:
        classification = state["classification"]
        reason = _ESCALATING_CATEGORIES.get(classification.category) or state["escalation_reason"]
        language = state["understood"].language
        if self._unread(language):
            notice = replies.language_escalation_notice(
                language.code, state["request_id"], state.get("promise")
            )
        else:
            notice = replies.escalation_notice(reason, state["request_id"], state.get("promise"))
        return {
            "outcome": Outcome(
                answer=notice,
                category=classification.category,
                confidence=classification.confidence,
                responder=self._responder.name,
                consulted=sources_of(state.get("passages", [])),
                escalation_reason=reason,
            )
        }

    def _unread(self, language: DetectedLanguage) -> bool:
        """Whether the message is in a language only a person reads here (no LLM)."""
        return not language.answerable_offline and self._rewriter is None

    def _plain_outcome(self, state: _State, answer: str) -> Outcome:
        classification = state["classification"]
        return Outcome(
            answer=answer,
            category=classification.category,
            confidence=classification.confidence,
            responder=self._responder.name,
        )


async def _answer_if_relevant(state: _State) -> Literal["answer", "escalate"]:
    return "answer" if state["relevant"] else "escalate"


async def _end_if_approved(state: _State) -> str:
    return END if "outcome" in state else "retrieve"


async def _end_if_answered(state: _State) -> str:
    return END if "outcome" in state else "escalate"
