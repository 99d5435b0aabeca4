from __future__ import annotations

import pytest

from schemas import Category, EscalationReason
from streams.memory import Turn
from streams.workflow import AnswerWorkflow


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("I want to talk to a human", EscalationReason.HUMAN_REQUESTED),
        (
            "This is the third time my delivery failed, absolutely unacceptable service!",
            EscalationReason.COMPLAINT,
        ),
    ],
)
async def test_escalates_human_requests_and_complaints(
    workflow: AnswerWorkflow, question: str, reason: EscalationReason
) -> None:
    promise = "A person will reply here, usually within 15 minutes."
    outcome = await workflow.run(request_id="r-1", question=question, promise=promise)

    assert outcome.escalated and outcome.escalation_reason is reason
    assert "r-1" in outcome.answer and promise in outcome.answer


async def test_greets_without_retrieval(workflow: AnswerWorkflow) -> None:
    outcome = await workflow.run(request_id="r", question="hello there")
    assert outcome.category is Category.GREETING and not outcome.sources and not outcome.escalated


async def test_declines_out_of_scope_politely_without_escalating(workflow: AnswerWorkflow) -> None:
    outcome = await workflow.run(
        request_id="r", question="Can you give me a recipe for butter chicken?"
    )
    assert outcome.category is Category.OUT_OF_SCOPE
    assert not outcome.escalated and "only help with TechGear" in outcome.answer


async def test_answers_grounded_with_sources(workflow: AnswerWorkflow) -> None:
    outcome = await workflow.run(request_id="r", question="What is the price of SmartWatch Pro X?")
    assert "₹15,999" in outcome.answer
    assert outcome.sources[0].doc_id == "product-smartwatch-pro-x"
    assert outcome.responder == "offline"


async def test_escalates_when_no_passage_scores_above_threshold(workflow: AnswerWorkflow) -> None:
    outcome = await workflow.run(
        request_id="r", question="Does my order #TG48213 qualify for the Axis festive cashback?"
    )
    assert outcome.escalated


async def test_follow_up_is_resolved_from_the_previous_turn(workflow: AnswerWorkflow) -> None:
    first = await workflow.run(request_id="r1", question="Tell me about the SmartWatch Pro X")
    history = [Turn("Tell me about the SmartWatch Pro X", first.answer)]

    outcome = await workflow.run(request_id="r2", question="how much is it?", history=history)

    assert "₹15,999" in outcome.answer and outcome.used_context


async def test_unrelated_question_ignores_history(workflow: AnswerWorkflow) -> None:
    history = [Turn("Tell me about the SmartWatch Pro X", "…")]
    outcome = await workflow.run(
        request_id="r", question="What is the price of Wireless Earbuds Elite?", history=history
    )
    assert "₹4,999" in outcome.answer and not outcome.used_context
