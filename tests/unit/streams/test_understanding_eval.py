from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import Category, Source
from streams.memory import Turn
from streams.understanding_eval import (
    CaseKind,
    Expectation,
    evaluate_understanding,
    load_cases,
    load_conversations,
)

REPO = Path(__file__).resolve().parents[3]
PRO_X = "product-smartwatch-pro-x"
RETURNS = "policy-returns"


@dataclass(frozen=True)
class FakeOutcome:
    answer: str
    category: Category = Category.PRODUCT_INFO
    sources: list[Source] = field(default_factory=list)
    escalated: bool = False
    context: tuple[str, ...] | None = None
    language: str = "en"


@dataclass(frozen=True)
class Call:
    question: str
    history: tuple[Turn, ...]
    context: tuple[str, ...]


class ScriptedWorkflow:
    """Answers each question with its scripted outcome and records how it was asked."""

    def __init__(self, script: dict[str, FakeOutcome]) -> None:
        self._script = script
        self.calls: list[Call] = []

    async def run(
        self,
        *,
        request_id: str,
        question: str,
        history: Sequence[Turn],
        context: tuple[str, ...],
    ) -> FakeOutcome:
        self.calls.append(Call(question, tuple(history), context))
        return self._script[question]


def cited(*doc_ids: str) -> list[Source]:
    return [Source(doc_id=doc_id, title=doc_id, score=0.8) for doc_id in doc_ids]


def expect(**fields: object) -> Expectation:
    return Expectation.model_validate(fields)


@pytest.mark.parametrize(
    ("expected", "outcome", "met"),
    [
        ("answered", FakeOutcome("Yes."), True),
        ("answered", FakeOutcome("A person will reply.", escalated=True), False),
        ("answered", FakeOutcome("I only help with TechGear.", Category.OUT_OF_SCOPE), False),
        ("answered", FakeOutcome("Hello!", Category.GREETING), True),
        ("escalated", FakeOutcome("A person will reply.", escalated=True), True),
        ("escalated", FakeOutcome("Yes."), False),
        ("declined", FakeOutcome("I only help with TechGear.", Category.OUT_OF_SCOPE), True),
        (
            "declined",
            FakeOutcome("A person will reply.", Category.OUT_OF_SCOPE, escalated=True),
            False,
        ),
        ("not_declined", FakeOutcome("Yes."), True),
        ("not_declined", FakeOutcome("A person will reply.", escalated=True), True),
        ("not_declined", FakeOutcome("I only help with TechGear.", Category.OUT_OF_SCOPE), False),
    ],
)
def test_outcome_is_answered_escalated_or_declined_by_escalation_then_category(
    expected: str, outcome: FakeOutcome, met: bool
) -> None:
    assert (expect(outcome=expected).unmet(outcome) == []) is met


def test_expected_document_must_be_cited_first() -> None:
    expectation = expect(outcome="answered", doc_id=PRO_X)

    assert expectation.unmet(FakeOutcome("₹15,999", sources=cited(PRO_X, RETURNS))) == []
    assert expectation.unmet(FakeOutcome("₹15,999", sources=cited(RETURNS, PRO_X))) == [
        f"first source {RETURNS}, expected {PRO_X}"
    ]
    assert expectation.unmet(FakeOutcome("₹15,999")) == [f"first source None, expected {PRO_X}"]


def test_forbidden_documents_must_not_be_cited_anywhere() -> None:
    expectation = expect(outcome="answered", not_doc_ids=["product-laptop-sleeve-14"])

    assert expectation.unmet(FakeOutcome("x", sources=cited(RETURNS))) == []
    assert expectation.unmet(
        FakeOutcome("x", sources=cited(RETURNS, "product-laptop-sleeve-14"))
    ) == ["cites product-laptop-sleeve-14"]


def test_answer_must_contain_every_expected_text_ignoring_case() -> None:
    expectation = expect(outcome="answered", contains=["₹15,999", "support@techgear.com"])

    assert expectation.unmet(FakeOutcome("It costs ₹15,999; write to Support@TechGear.com")) == []
    assert expectation.unmet(FakeOutcome("It costs ₹15,999.")) == [
        "answer lacks 'support@techgear.com'"
    ]


def test_language_and_category_are_compared_when_expected() -> None:
    expectation = expect(outcome="not_declined", language="hi", category="product_info")

    assert expectation.unmet(FakeOutcome("x", language="hi")) == []
    assert expectation.unmet(FakeOutcome("x", Category.WARRANTY, language="en")) == [
        "language en, expected hi",
        "category warranty, expected product_info",
    ]


def test_unknown_product_answer_cites_no_product_and_states_no_price() -> None:
    expectation = expect(outcome="not_declined", unknown_product=True)
    catalogue_reply = "We don't sell a Laptop Air 14. Our laptops are the AeroBook 14 and more."

    assert expectation.unmet(FakeOutcome(catalogue_reply, sources=cited(RETURNS))) == []
    assert expectation.unmet(FakeOutcome("A person will reply.", escalated=True)) == []
    assert expectation.unmet(
        FakeOutcome("The Laptop Sleeve 14 costs ₹1,299.", sources=cited("product-laptop-sleeve-14"))
    ) == ["cites product product-laptop-sleeve-14", "states a price"]
    assert expectation.unmet(FakeOutcome("It is Rs. 54990.")) == ["states a price"]


def test_expectations_refuse_unknown_fields_and_outcomes() -> None:
    with pytest.raises(ValidationError):
        expect(outcome="answered", doc="policy-returns")
    with pytest.raises(ValidationError):
        expect(outcome="maybe")


async def test_scores_cases_per_kind_and_lists_failures(tmp_path: Path) -> None:
    cases = write_lines(
        tmp_path / "cases.jsonl",
        {"kind": "misspelt", "question": "retrun policy", "expect": {"outcome": "answered"}},
        {"kind": "misspelt", "question": "pirce of pro x", "expect": {"outcome": "answered"}},
        {"kind": "out_of_scope", "question": "weather?", "expect": {"outcome": "declined"}},
    )
    conversations = write_lines(tmp_path / "conversations.jsonl")
    workflow = ScriptedWorkflow(
        {
            "retrun policy": FakeOutcome("7 days.", sources=cited(RETURNS)),
            "pirce of pro x": FakeOutcome("A person will reply.", escalated=True),
            "weather?": FakeOutcome("I only help with TechGear.", Category.OUT_OF_SCOPE),
        }
    )

    report = await evaluate_understanding(workflow, cases, conversations, fresh_context=())

    assert {kind: (s.passed, s.total) for kind, s in report.by_kind.items()} == {
        CaseKind.MISSPELT: (1, 2),
        CaseKind.OUT_OF_SCOPE: (1, 1),
    }
    assert (report.cases.passed, report.cases.total) == (2, 3)
    assert [(f.label, f.question) for f in report.failures] == [("misspelt", "pirce of pro x")]
    assert report.failures[0].got.startswith("outcome escalated, expected answered")
    assert all(call.history == () and call.context == () for call in workflow.calls)


async def test_conversation_turns_carry_history_and_the_returned_context(tmp_path: Path) -> None:
    cases = write_lines(tmp_path / "cases.jsonl")
    conversations = write_lines(
        tmp_path / "conversations.jsonl",
        {
            "id": "pro-x-battery",
            "turns": [
                {"question": "Tell me about the Pro X", "expect": {"outcome": "answered"}},
                {"question": "and the battery?", "expect": {"outcome": "answered"}},
                {"question": "hmm ok", "expect": {"outcome": "answered"}},
            ],
        },
        {
            "id": "returns",
            "turns": [
                {"question": "return policy?", "expect": {"outcome": "answered"}},
                {"question": "and refunds?", "expect": {"outcome": "answered", "doc_id": PRO_X}},
            ],
        },
    )
    workflow = ScriptedWorkflow(
        {
            "Tell me about the Pro X": FakeOutcome(
                "A watch.", sources=cited(PRO_X), context=(PRO_X,)
            ),
            "and the battery?": FakeOutcome("7 days.", sources=cited(PRO_X), context=None),
            "hmm ok": FakeOutcome("Anything else?", Category.GREETING, context=()),
            "return policy?": FakeOutcome("7 days.", sources=cited(RETURNS)),
            "and refunds?": FakeOutcome("5-7 days.", sources=cited("policy-refunds")),
        }
    )

    report = await evaluate_understanding(workflow, cases, conversations, fresh_context=())

    first, second, third, fourth, _ = workflow.calls
    assert (first.history, first.context) == ((), ())
    assert second.history == (Turn("Tell me about the Pro X", "A watch.", (PRO_X,)),)
    assert second.context == (PRO_X,)
    assert third.context == (PRO_X,)  # an outcome without context keeps the previous one
    assert [turn.question for turn in third.history] == [
        "Tell me about the Pro X",
        "and the battery?",
    ]
    assert (fourth.history, fourth.context) == ((), ())  # each conversation starts afresh
    assert (report.turns.passed, report.turns.total) == (4, 5)
    assert (report.follow_ups.passed, report.follow_ups.total) == (2, 3)
    assert (report.conversations.passed, report.conversations.total) == (1, 2)
    assert [f.label for f in report.failures] == ["returns turn 2"]


async def test_render_lists_kinds_conversation_scores_and_failures_when_verbose(
    tmp_path: Path,
) -> None:
    cases = write_lines(
        tmp_path / "cases.jsonl",
        {"kind": "contact", "question": "phone?", "expect": {"outcome": "answered"}},
    )
    conversations = write_lines(tmp_path / "conversations.jsonl")
    workflow = ScriptedWorkflow({"phone?": FakeOutcome("x", escalated=True)})

    report = await evaluate_understanding(workflow, cases, conversations, fresh_context=())

    assert "contact" in report.render() and "0.000  (0/1)" in report.render()
    assert "whole conversations" in report.render()
    assert "phone?" not in report.render()
    assert "[contact] phone?" in report.render(verbose=True)


def test_conversation_ids_are_unique(tmp_path: Path) -> None:
    turn = {"question": "q", "expect": {"outcome": "answered"}}
    path = write_lines(
        tmp_path / "conversations.jsonl",
        {"id": "same", "turns": [turn, turn]},
        {"id": "same", "turns": [turn, turn]},
    )

    with pytest.raises(ValueError, match="same"):
        load_conversations(path)


def test_repository_sets_cover_every_kind_and_cite_existing_documents() -> None:
    cases = load_cases(REPO / "data/eval/understanding.jsonl")
    conversations = load_conversations(REPO / "data/eval/conversations.jsonl")
    documents = {path.stem for path in (REPO / "data/knowledge").rglob("*.md")}
    expectations = [case.expect for case in cases] + [
        turn.expect for conversation in conversations for turn in conversation.turns
    ]

    assert len(cases) >= 150
    assert {case.kind for case in cases} == set(CaseKind)
    assert len({case.question for case in cases}) == len(cases)
    assert len(conversations) >= 30
    assert all(2 <= len(conversation.turns) <= 4 for conversation in conversations)
    named = {e.doc_id for e in expectations if e.doc_id} | {
        doc_id for e in expectations for doc_id in e.not_doc_ids
    }
    assert named <= documents


def write_lines(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path
