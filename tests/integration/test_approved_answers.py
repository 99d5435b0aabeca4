"""Approved answers end to end: approved with the operator's functions, served by a worker
for a paraphrase through the gateway (marked in the response, the answer event and the
transcript), no longer served once a cited document changes (listed stale) or once revoked."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from runtime.codec import decode
from runtime.kafka import KafkaConnection
from schemas import ApprovedAnswer, Category, ChatAnswer, ConversationMessage
from schemas.topics import ANSWERS, APPROVED_ANSWERS, CONVERSATION_EVENTS
from streams.approved import APPROVED_RESPONDER
from streams.settings import WorkerSettings
from streams.worker import ingest
from techgear.answers import (
    ApprovalState,
    knowledge_state,
    new_approval,
    publish,
    read_approvals,
    revoke,
    with_states,
)
from tests.conftest import API_KEY, REPO, WorkerProcess, substitute_worker
from tests.integration.conftest import (
    answer_to,
    decodes_as,
    produce_raw,
    read_until,
    wait_until,
)

pytestmark = pytest.mark.integration

PRO_X = "product-smartwatch-pro-x"
WATER = "Yes: the SmartWatch Pro X is rated 5 ATM, so swimming is fine; avoid hot showers."


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> WorkerSettings:
    """A copy of the knowledge base ingested into its own store, which this test edits."""
    root = tmp_path_factory.mktemp("approved")
    shutil.copytree(REPO / "data" / "knowledge", root / "knowledge")
    settings = WorkerSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap_servers=kafka_bootstrap,
        chroma_path=root / "chroma",
        knowledge_path=root / "knowledge",
        classifier_examples_path=REPO / "data" / "classifier",
    )
    ingest(settings, show_progress=False)
    return settings


async def revoke_all(kafka: KafkaConnection) -> None:
    for approval in (await read_approvals(kafka)).values():
        if not approval.revoked:
            await revoke(kafka, approval.approval_id)


@pytest.fixture(scope="module")
async def nothing_approved(kafka_bootstrap: str) -> AsyncIterator[None]:
    """No approval is active before these tests (earlier runs on this broker) nor after
    them: the session's worker follows the same topic, and would serve one to later tests."""
    kafka = KafkaConnection(kafka_bootstrap)
    await revoke_all(kafka)
    yield
    await revoke_all(kafka)


@pytest.fixture(scope="module")
def approving_worker(
    worker: WorkerProcess, knowledge: WorkerSettings, nothing_approved: None
) -> Iterator[WorkerProcess]:
    with substitute_worker(
        worker,
        CHROMA_PATH=str(knowledge.chroma_path),
        KNOWLEDGE_PATH=str(knowledge.knowledge_path),
    ) as substitute:
        yield substitute


async def ask(gateway_url: str, message: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        response = await client.post(
            "/v1/chat", json={"message": message}, headers={"X-API-Key": API_KEY}
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def answered_with(gateway_url: str, question: str, approval_id: str | None) -> dict[str, Any]:
    """The answer to ``question`` once a worker serves it with ``approval_id`` (``None``: with
    none), asked in a new conversation each time: approvals reach workers asynchronously."""
    answers: list[dict[str, Any]] = []

    async def served() -> bool:
        answers.append(await ask(gateway_url, question))
        return answers[-1]["approved_answer_id"] == approval_id

    await wait_until(served, f"{question!r} answered with approval {approval_id}", timeout_s=60)
    return answers[-1]


async def approve(settings: WorkerSettings, questions: list[str]) -> ApprovedAnswer:
    approval = new_approval(
        knowledge_state(settings),
        questions=questions,
        answer=WATER,
        category=Category.PRODUCT_INFO,
        doc_ids=[PRO_X],
        approved_by="integration-test",
    )
    await publish(settings.kafka, approval)
    return approval


async def states(settings: WorkerSettings) -> dict[str, tuple[ApprovalState, tuple[str, ...]]]:
    listed = with_states((await read_approvals(settings.kafka)).values(), knowledge_state(settings))
    return {item.approval.approval_id: (item.state, item.changed) for item in listed}


@pytest.mark.timeout(600)  # two worker starts (the substitute, then the session's again)
async def test_an_approved_answer_is_served_marked_until_its_document_changes_or_it_is_revoked(
    gateway_url: str,
    kafka_bootstrap: str,
    knowledge: WorkerSettings,
    approving_worker: WorkerProcess,
) -> None:
    # Anyone who may write the topic chooses its records: one that is no approval is skipped.
    await produce_raw(kafka_bootstrap, APPROVED_ANSWERS, b'{"approval_id": 1}', key=b"junk")
    approval = await approve(
        knowledge, ["Is the SmartWatch Pro X waterproof?", "Can I swim with the SmartWatch Pro X?"]
    )

    body = await answered_with(
        gateway_url, "Can I go swimming with my SmartWatch Pro X?", approval.approval_id
    )
    assert body["answer"] == WATER and body["category"] == "product_info"
    assert [source["doc_id"] for source in body["sources"]] == [PRO_X]
    answer = decode(
        (await read_until(kafka_bootstrap, ANSWERS, answer_to(body["request_id"]))).value,
        ChatAnswer,
    )
    assert answer.approved_answer_id == approval.approval_id
    assert answer.responder == APPROVED_RESPONDER
    message = decode(
        (
            await read_until(
                kafka_bootstrap,
                CONVERSATION_EVENTS,
                lambda r: (
                    getattr(decodes_as(r, ConversationMessage), "message_id", None)
                    == f"{body['request_id']}:answer"
                ),
            )
        ).value,
        ConversationMessage,
    )
    assert message.answer is not None
    assert message.answer.approved_answer_id == approval.approval_id
    assert message.answer.responder == APPROVED_RESPONDER
    # Asked again: from the answer cache, still marked.
    again = await ask(gateway_url, "Can I go swimming with my SmartWatch Pro X?")
    assert again["cached"] and again["approved_answer_id"] == approval.approval_id
    # The same words about another watch are not the approved question.
    lite = await ask(gateway_url, "Is the SmartWatch Lite waterproof?")
    assert lite["approved_answer_id"] is None
    assert (await states(knowledge))[approval.approval_id] == (ApprovalState.ACTIVE, ())

    # The cited document changes: the approval is stale, and the question is answered afresh.
    page = knowledge.knowledge_path / "products" / f"{PRO_X}.md"
    page.write_text(page.read_text() + "\nThe strap is now also sold in olive green.\n")
    ingest(knowledge, show_progress=False)
    fresh = await answered_with(gateway_url, "Can I swim wearing the SmartWatch Pro X?", None)
    assert fresh["answer"] != WATER
    assert (await states(knowledge))[approval.approval_id] == (ApprovalState.STALE, (PRO_X,))

    # Approved again on the new text, then revoked: no longer served.
    again = await approve(knowledge, ["Is the SmartWatch Pro X waterproof?"])
    await answered_with(gateway_url, "Is the SmartWatch Pro X water resistant?", again.approval_id)
    assert await revoke(KafkaConnection(kafka_bootstrap), again.approval_id)
    await answered_with(gateway_url, "Is my SmartWatch Pro X waterproof?", None)
    assert (await states(knowledge))[again.approval_id] == (ApprovalState.REVOKED, ())
