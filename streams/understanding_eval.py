"""End-to-end understanding evaluation: questions as customers write them, run through the
whole answering workflow (classification, retrieval, answer) and scored on what the
customer would get.

Two labelled files, written apart from the knowledge base and the classifier's data:

- single-turn cases (``data/eval/understanding.jsonl``), one ``kind`` each (misspelt,
  Hinglish, Devanagari, products we don't sell, exact facts, contact details, out of scope,
  plain), reported per kind;
- conversations (``data/eval/conversations.jsonl``) of 2-4 turns, each turn run with the
  turns before it and the context the workflow returned for the previous turn, reported per
  turn, for follow-up turns (the second and later) and per whole conversation.

An expectation (``Expectation``) checks, all that it names:

- ``outcome``: ``answered`` (neither escalated nor declined), ``escalated``, ``declined``
  (classified out of scope, not escalated) or ``not_declined`` (answered or escalated);
- ``doc_id``: the first cited source; ``not_doc_ids``: documents that must not be cited;
- ``contains``: substrings of the answer (case-insensitive);
- ``language``: the language the workflow detected (BCP 47);
- ``category``: the category the workflow decided;
- ``unknown_product``: the answer cites no product document and states no price, as a
  question about a product we don't sell must be answered.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from schemas import Category, Source
from streams.memory import MAX_TURNS, Turn

_PRODUCT_DOC_PREFIX = "product-"
_PRICE = re.compile(r"(₹|\bRs\.?|\bINR)\s?\d", re.IGNORECASE)

Context = TypeVar("Context")
Context_co = TypeVar("Context_co", covariant=True)


class EvaluatedOutcome(Protocol[Context_co]):
    """What the evaluation reads of ``streams.outcome.Outcome``."""

    @property
    def answer(self) -> str: ...
    @property
    def category(self) -> Category: ...
    @property
    def sources(self) -> Sequence[Source]: ...
    @property
    def escalated(self) -> bool: ...
    @property
    def context(self) -> Context_co | None: ...
    @property
    def language(self) -> str: ...


class UnderstandingWorkflow(Protocol[Context]):
    """``streams.workflow.AnswerWorkflow`` as the evaluation calls it."""

    async def run(
        self, *, request_id: str, question: str, history: Sequence[Turn], context: Context
    ) -> EvaluatedOutcome[Context]: ...


class ExpectedOutcome(enum.StrEnum):
    ANSWERED = "answered"
    ESCALATED = "escalated"
    DECLINED = "declined"
    NOT_DECLINED = "not_declined"


class CaseKind(enum.StrEnum):
    PLAIN = "plain"
    MISSPELT = "misspelt"
    HINGLISH = "hinglish"
    DEVANAGARI = "devanagari"
    UNKNOWN_PRODUCT = "unknown_product"
    EXACT_FACT = "exact_fact"
    CONTACT = "contact"
    OUT_OF_SCOPE = "out_of_scope"
    UNANSWERABLE = "unanswerable"
    """In scope, but the knowledge base does not hold the answer: a person must take it."""


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: ExpectedOutcome
    doc_id: str | None = None
    contains: tuple[str, ...] = ()
    not_doc_ids: tuple[str, ...] = ()
    language: str | None = None
    category: Category | None = None
    unknown_product: bool = False

    def unmet(self, outcome: EvaluatedOutcome[object]) -> list[str]:
        """The conditions ``outcome`` fails, in words; empty when it meets them all."""
        cited = [source.doc_id for source in outcome.sources]
        problems: list[str] = []
        got = _outcome_of(outcome)
        if not _outcome_matches(self.outcome, got):
            problems.append(f"outcome {got}, expected {self.outcome}")
        if self.doc_id is not None and cited[:1] != [self.doc_id]:
            problems.append(f"first source {cited[0] if cited else None}, expected {self.doc_id}")
        problems.extend(f"cites {doc_id}" for doc_id in self.not_doc_ids if doc_id in cited)
        answer = outcome.answer.casefold()
        problems.extend(
            f"answer lacks {text!r}" for text in self.contains if text.casefold() not in answer
        )
        if self.language is not None and outcome.language != self.language:
            problems.append(f"language {outcome.language}, expected {self.language}")
        if self.category is not None and outcome.category is not self.category:
            problems.append(f"category {outcome.category}, expected {self.category}")
        if self.unknown_product:
            problems.extend(
                f"cites product {doc_id}"
                for doc_id in cited
                if doc_id.startswith(_PRODUCT_DOC_PREFIX)
            )
            if _PRICE.search(outcome.answer):
                problems.append("states a price")
        return problems


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: CaseKind
    question: str = Field(min_length=1)
    expect: Expectation


class ConversationTurn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1)
    expect: Expectation


class Conversation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    turns: tuple[ConversationTurn, ...] = Field(min_length=2)


@dataclass(frozen=True, slots=True)
class Failure:
    label: str
    """The case's kind, or the conversation's id and turn number."""
    question: str
    expected: Expectation
    got: str
    """The answer the workflow gave and how it failed the expectation."""


@dataclass(frozen=True, slots=True)
class Score:
    passed: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def render(self) -> str:
        return f"{self.accuracy:.3f}  ({self.passed}/{self.total})"


@dataclass(frozen=True, slots=True)
class UnderstandingReport:
    by_kind: dict[CaseKind, Score]
    turns: Score
    """Every turn of every conversation."""
    follow_ups: Score
    """The second and later turns of the conversations."""
    conversations: Score
    """Conversations whose every turn passed."""
    failures: list[Failure]

    @property
    def cases(self) -> Score:
        return Score(
            sum(score.passed for score in self.by_kind.values()),
            sum(score.total for score in self.by_kind.values()),
        )

    def render(self, *, verbose: bool = False) -> str:
        rows = [(kind.value, score) for kind, score in self.by_kind.items()]
        rows += [
            ("all single-turn cases", self.cases),
            ("conversation turns", self.turns),
            ("follow-up turns", self.follow_ups),
            ("whole conversations", self.conversations),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {score.render()}" for name, score in rows]
        if verbose and self.failures:
            lines += ["", "failures"]
            for failure in self.failures:
                lines += [
                    f"- [{failure.label}] {failure.question}",
                    f"  expected {failure.expected.model_dump(exclude_defaults=True, mode='json')}",
                    f"  got      {failure.got}",
                ]
        return "\n".join(lines)


async def evaluate_understanding(
    workflow: UnderstandingWorkflow[Context],
    cases_path: Path,
    conversations_path: Path,
    *,
    fresh_context: Context,
) -> UnderstandingReport:
    """Runs every case and conversation through ``workflow``; each case and each
    conversation starts from ``fresh_context`` (``ConversationContext()``) and no history."""
    failures: list[Failure] = []
    passed: Counter[CaseKind] = Counter()
    totals: Counter[CaseKind] = Counter()
    for number, case in enumerate(load_cases(cases_path)):
        outcome = await workflow.run(
            request_id=f"understanding-{case.kind}-{number}",
            question=case.question,
            history=(),
            context=fresh_context,
        )
        totals[case.kind] += 1
        if problems := case.expect.unmet(outcome):
            failures.append(
                _failure(case.kind.value, case.question, case.expect, outcome, problems)
            )
        else:
            passed[case.kind] += 1
    turns = follow_ups = whole = Score(0, 0)
    conversations = load_conversations(conversations_path)
    for conversation in conversations:
        results = await _run_conversation(workflow, conversation, fresh_context, failures)
        turns = _add(turns, results)
        follow_ups = _add(follow_ups, results[1:])
        whole = Score(whole.passed + all(results), whole.total + 1)
    return UnderstandingReport(
        by_kind={kind: Score(passed[kind], totals[kind]) for kind in CaseKind if totals[kind]},
        turns=turns,
        follow_ups=follow_ups,
        conversations=whole,
        failures=failures,
    )


def load_cases(path: Path) -> list[Case]:
    return [Case.model_validate_json(line) for line in _lines(path)]


def load_conversations(path: Path) -> list[Conversation]:
    conversations = [Conversation.model_validate_json(line) for line in _lines(path)]
    ids = Counter(conversation.id for conversation in conversations)
    if repeated := sorted(i for i, n in ids.items() if n > 1):
        raise ValueError(f"{path}: conversation ids used more than once: {repeated}")
    return conversations


async def _run_conversation(
    workflow: UnderstandingWorkflow[Context],
    conversation: Conversation,
    context: Context,
    failures: list[Failure],
) -> list[bool]:
    history: list[Turn] = []
    results: list[bool] = []
    for number, turn in enumerate(conversation.turns, start=1):
        outcome = await workflow.run(
            request_id=f"understanding-{conversation.id}-{number}",
            question=turn.question,
            history=tuple(history),
            context=context,
        )
        problems = turn.expect.unmet(outcome)
        if problems:
            label = f"{conversation.id} turn {number}"
            failures.append(_failure(label, turn.question, turn.expect, outcome, problems))
        results.append(not problems)
        history = [
            *history,
            Turn(turn.question, outcome.answer, tuple(s.doc_id for s in outcome.sources)),
        ][-MAX_TURNS:]
        if outcome.context is not None:
            context = outcome.context
    return results


def _outcome_of(outcome: EvaluatedOutcome[object]) -> ExpectedOutcome:
    if outcome.escalated:
        return ExpectedOutcome.ESCALATED
    if outcome.category is Category.OUT_OF_SCOPE:
        return ExpectedOutcome.DECLINED
    return ExpectedOutcome.ANSWERED


def _outcome_matches(expected: ExpectedOutcome, got: ExpectedOutcome) -> bool:
    if expected is ExpectedOutcome.NOT_DECLINED:
        return got is not ExpectedOutcome.DECLINED
    return got is expected


def _failure(
    label: str,
    question: str,
    expected: Expectation,
    outcome: EvaluatedOutcome[object],
    problems: list[str],
) -> Failure:
    cited = ", ".join(source.doc_id for source in outcome.sources) or "nothing"
    answer = " ".join(outcome.answer.split())
    return Failure(
        label=label,
        question=question,
        expected=expected,
        got=f"{'; '.join(problems)} | cited {cited} | {answer[:200]}",
    )


def _add(score: Score, results: Sequence[bool]) -> Score:
    return Score(score.passed + sum(results), score.total + len(results))


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
