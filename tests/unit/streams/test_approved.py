from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY

from schemas import ApprovedAnswer, Category, CitedDocument, EscalationReason
from streams.approved import APPROVED_RESPONDER, ApprovedAnswers
from streams.classifier import QuestionClassifier
from streams.embeddings import OnnxEmbedder
from streams.knowledge import document_digests
from streams.retrieval import HybridRetriever
from streams.understanding import KnowledgeSnapshot, KnowledgeSnapshots
from streams.workflow import AnswerWorkflow
from tests.unit.streams.conftest import build_test_workflow

WATER = "The SmartWatch Pro X is rated 5 ATM: fine for swimming, not for diving."


def approval(
    snapshot: KnowledgeSnapshot,
    questions: Sequence[str],
    doc_ids: Sequence[str],
    *,
    approval_id: str = "apr-1",
    revoked: bool = False,
    digest: str | None = None,
) -> ApprovedAnswer:
    digests = document_digests(snapshot.chunks)
    return ApprovedAnswer(
        approval_id=approval_id,
        questions=list(questions),
        answer=WATER,
        category=Category.PRODUCT_INFO,
        documents=[
            CitedDocument(doc_id=doc_id, title=doc_id, digest=digest or digests[doc_id])
            for doc_id in doc_ids
        ],
        kb_version=snapshot.version,
        approved_by="tests",
        revoked=revoked,
    )


def _stale() -> float:
    return REGISTRY.get_sample_value("techgear_worker_approved_answers_stale_total") or 0.0


@pytest.fixture
def snapshot(snapshots: KnowledgeSnapshots) -> KnowledgeSnapshot:
    return snapshots.current()


@pytest.fixture
async def answers(embedder: OnnxEmbedder, snapshot: KnowledgeSnapshot) -> ApprovedAnswers:
    held = ApprovedAnswers(embedder, min_similarity=0.8)
    await held.apply(
        approval(
            snapshot,
            ["Is the SmartWatch Pro X waterproof?", "Can I swim with the SmartWatch Pro X?"],
            ["product-smartwatch-pro-x"],
        )
    )
    return held


PRO_X = ["product-smartwatch-pro-x"]


async def test_serves_a_paraphrase_of_an_approved_question(
    answers: ApprovedAnswers, embedder: OnnxEmbedder, snapshot: KnowledgeSnapshot
) -> None:
    vector = embedder.embed_one("Can I wear my SmartWatch Pro X while swimming?")

    match = answers.match(vector, PRO_X, snapshot)

    assert match is not None and match.approval.approval_id == "apr-1"
    assert 0.8 <= match.similarity <= 1.0


@pytest.mark.parametrize(
    ("question", "products"),
    [
        ("Is the SmartWatch Lite waterproof?", ["product-smartwatch-lite"]),
        ("What is the price of the SmartWatch Pro X?", PRO_X),
        ("Is it waterproof?", []),
        ("How long does a refund take?", []),
    ],
)
async def test_a_near_miss_is_not_served(
    answers: ApprovedAnswers,
    embedder: OnnxEmbedder,
    snapshot: KnowledgeSnapshot,
    question: str,
    products: list[str],
) -> None:
    assert answers.match(embedder.embed_one(question), products, snapshot) is None


async def test_an_approval_whose_document_changed_is_stale_counted_and_logged_once(
    embedder: OnnxEmbedder, snapshot: KnowledgeSnapshot, caplog: pytest.LogCaptureFixture
) -> None:
    held = ApprovedAnswers(embedder, min_similarity=0.8)
    question = "Is the SmartWatch Pro X waterproof?"
    await held.apply(approval(snapshot, [question], PRO_X, digest="0" * 64))
    before = _stale()

    with caplog.at_level(logging.WARNING, logger="streams.approved"):
        first = held.match(embedder.embed_one(question), PRO_X, snapshot)
        second = held.match(embedder.embed_one(question), PRO_X, snapshot)

    assert first is None and second is None
    assert _stale() == before + 2
    assert caplog.text.count("apr-1 is stale") == 1
    assert "product-smartwatch-pro-x" in caplog.text


async def test_a_revocation_drops_the_approval_and_moves_the_fingerprint(
    answers: ApprovedAnswers, embedder: OnnxEmbedder, snapshot: KnowledgeSnapshot
) -> None:
    held = answers.fingerprint
    await answers.apply(
        approval(snapshot, ["Is the SmartWatch Pro X waterproof?"], PRO_X, revoked=True)
    )

    assert held and answers.fingerprint == ""
    vector = embedder.embed_one("Is the SmartWatch Pro X waterproof?")
    assert answers.match(vector, PRO_X, snapshot) is None


async def test_an_approval_republished_replaces_the_earlier_one(
    answers: ApprovedAnswers, embedder: OnnxEmbedder, snapshot: KnowledgeSnapshot
) -> None:
    before = answers.fingerprint
    await answers.apply(approval(snapshot, ["How long does a refund take?"], ["policy-refunds"]))

    assert answers.fingerprint not in ("", before)
    assert (
        answers.match(embedder.embed_one("Is the SmartWatch Pro X waterproof?"), PRO_X, snapshot)
        is None
    )
    refund = answers.match(embedder.embed_one("how long do refunds take"), [], snapshot)
    assert refund is not None and refund.approval.documents[0].doc_id == "policy-refunds"


@pytest.fixture
def approving_workflow(
    answers: ApprovedAnswers,
    embedder: OnnxEmbedder,
    classifier: QuestionClassifier,
    retriever: HybridRetriever,
    snapshots: KnowledgeSnapshots,
) -> AnswerWorkflow:
    return build_test_workflow(embedder, classifier, retriever, snapshots, answers)


async def test_the_workflow_serves_the_approved_answer_citing_its_documents(
    approving_workflow: AnswerWorkflow,
) -> None:
    outcome = await approving_workflow.run(
        request_id="r", question="Can I go swimming with my SmartWatch Pro X?"
    )

    assert outcome.answer == WATER and outcome.responder == APPROVED_RESPONDER
    assert outcome.approved_answer_id == "apr-1" and not outcome.escalated
    assert [source.doc_id for source in outcome.sources] == PRO_X
    assert outcome.category is Category.PRODUCT_INFO


async def test_the_workflow_answers_other_questions_as_before(
    approving_workflow: AnswerWorkflow,
) -> None:
    outcome = await approving_workflow.run(
        request_id="r", question="What is the price of SmartWatch Pro X?"
    )

    assert "₹15,999" in outcome.answer and outcome.approved_answer_id is None
    assert outcome.responder == "offline"


async def test_a_request_for_a_person_escalates_even_when_an_approval_matches(
    embedder: OnnxEmbedder,
    classifier: QuestionClassifier,
    retriever: HybridRetriever,
    snapshots: KnowledgeSnapshots,
    snapshot: KnowledgeSnapshot,
) -> None:
    human = "I want to talk to a human"
    held = ApprovedAnswers(embedder, min_similarity=0.8)
    await held.apply(approval(snapshot, [human], ["company-contact-and-support-hours"]))
    workflow = build_test_workflow(embedder, classifier, retriever, snapshots, held)

    outcome = await workflow.run(request_id="r", question=human)

    assert outcome.escalation_reason is EscalationReason.HUMAN_REQUESTED
    assert outcome.approved_answer_id is None
