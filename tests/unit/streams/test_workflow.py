from __future__ import annotations

import pytest

from schemas import Category, EscalationReason
from streams.context import ConversationContext
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

    outcome = await workflow.run(
        request_id="r2", question="how much is it?", history=history, context=first.context
    )

    assert "₹15,999" in outcome.answer and outcome.used_context
    assert [s.doc_id for s in outcome.sources] == ["product-smartwatch-pro-x"]


async def test_unrelated_question_ignores_history(workflow: AnswerWorkflow) -> None:
    history = [Turn("Tell me about the SmartWatch Pro X", "…")]
    outcome = await workflow.run(
        request_id="r", question="What is the price of Wireless Earbuds Elite?", history=history
    )
    assert "₹4,999" in outcome.answer and not outcome.used_context


async def test_follow_ups_stay_on_the_product_being_discussed(workflow: AnswerWorkflow) -> None:
    history: list[Turn] = []
    context = ConversationContext()
    answers = []
    for question in (
        "Do the Wireless Earbuds Elite have noise cancellation?",
        "What's their price?",
        "what about the warranty?",
    ):
        outcome = await workflow.run(
            request_id=f"r{len(history)}", question=question, history=history, context=context
        )
        answers.append(outcome)
        history.append(Turn(question, outcome.answer))
        assert outcome.context is not None
        context = outcome.context

    price, warranty = answers[1], answers[2]
    assert "₹4,999" in price.answer and price.used_context
    assert "warranty" in warranty.answer.lower() and warranty.used_context
    for outcome in answers:
        assert {s.doc_id for s in outcome.sources} <= {"product-wireless-earbuds-elite"}


async def test_a_product_we_do_not_sell_is_never_answered_with_another(
    workflow: AnswerWorkflow,
) -> None:
    outcome = await workflow.run(
        request_id="r", question="What's the price of the TechGear Laptop Air 14?"
    )

    assert not outcome.escalated and not outcome.sources
    assert "Laptop Air 14" in outcome.answer and "₹" not in outcome.answer
    assert "AeroBook 14" in outcome.answer  # what we do sell of that kind


@pytest.mark.parametrize(
    ("question", "doc_id", "fact"),
    [
        ("how mcuh for the erbuds elite", "product-wireless-earbuds-elite", "₹4,999"),
        ("retrun policy pls", "policy-returns", None),
        ("SmartWatch Pro X ka price kya hai?", "product-smartwatch-pro-x", "₹15,999"),
        ("What's your toll-free number?", "company-contact-and-support-hours", "1800-123-4567"),
        ("Can I pay with a RuPay card?", "faq-general", "RuPay"),
        ("What is your support email address?", "company-contact-and-support-hours", "support@"),
    ],
)
async def test_questions_as_people_write_them_are_answered(
    workflow: AnswerWorkflow, question: str, doc_id: str, fact: str | None
) -> None:
    outcome = await workflow.run(request_id="r", question=question)

    assert not outcome.escalated and outcome.category is not Category.OUT_OF_SCOPE
    assert outcome.sources[0].doc_id == doc_id
    assert fact is None or fact in outcome.answer


async def test_a_question_naming_no_product_cites_none(workflow: AnswerWorkflow) -> None:
    outcome = await workflow.run(request_id="r", question="Can I pay with a RuPay card?")

    assert outcome.sources and not any(s.doc_id.startswith("product-") for s in outcome.sources)


async def test_devanagari_offline_goes_to_a_person_who_reads_it(workflow: AnswerWorkflow) -> None:
    outcome = await workflow.run(request_id="r", question="स्मार्टवॉच प्रो एक्स की कीमत क्या है?")

    assert outcome.escalated and outcome.language == "hi"
    assert outcome.category is not Category.OUT_OF_SCOPE
