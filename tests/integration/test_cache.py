"""The answer cache in Redis, and its invalidation by knowledge-base changes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.kafka import KafkaConnection
from schemas import ChatAnswer
from schemas.topics import ANSWERS
from streams.settings import WorkerSettings
from streams.worker import ingest
from techgear.records import end_offsets, read_records
from tests.conftest import API_KEY, REPO
from tests.integration.conftest import decodes_as

pytestmark = pytest.mark.integration


async def ask(gateway_url: str, message: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return await client.post(
            "/v1/chat", json={"message": message}, headers={"X-API-Key": API_KEY}
        )


async def answer_eventually(
    gateway_url: str, question: str, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first answer to ``question`` that is ``wanted``: a knowledge-base change reaches
    workers and gateways within a couple of seconds (their version and scope refresh)."""
    deadline = time.monotonic() + 15
    while True:
        body: dict[str, Any] = (await ask(gateway_url, question)).json()
        if wanted(body) or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.25)


@pytest.fixture
async def edited_kb(tmp_path: Path, chroma_path: Path, gateway_url: str) -> AsyncIterator[Path]:
    """A copy of the knowledge base to edit; the original is re-ingested afterwards."""
    copy = tmp_path / "knowledge"
    shutil.copytree(REPO / "data" / "knowledge", copy)
    yield copy
    ingest(
        WorkerSettings(_env_file=None, chroma_path=chroma_path),
        REPO / "data" / "knowledge",
        show_progress=False,
    )  # type: ignore[call-arg]
    restored = await answer_eventually(
        gateway_url, "What is the price of the FitBand 3?", lambda b: "₹2,999" in b["answer"]
    )
    assert "₹2,999" in restored["answer"]


async def test_repeated_question_is_served_from_cache(gateway_url: str) -> None:
    question = f"What is the price of the K8 Mechanical Keyboard? ({uuid.uuid4().hex[:6]})"
    first = await ask(gateway_url, question)
    second = await ask(gateway_url, question.upper())

    assert first.json()["cached"] is False and first.headers["X-Cache"] == "MISS"
    assert second.json()["cached"] is True and second.headers["X-Cache"] == "HIT"
    assert second.json()["answer"] == first.json()["answer"]
    assert second.json()["request_id"] != first.json()["request_id"]


async def test_a_first_question_answered_by_the_gateway_still_reaches_the_worker(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    question = f"Tell me about the FitBand 3 ({uuid.uuid4().hex[:6]})"
    await ask(gateway_url, question)
    answers_from = await end_offsets(KafkaConnection(kafka_bootstrap), ANSWERS)
    hit = await ask(gateway_url, question)
    follow_up = await ask_in(gateway_url, hit.json()["conversation_id"], "how much does it cost?")

    assert hit.headers["X-Cache"] == "HIT"
    # The worker recorded the turn (the follow-up was read against it) ...
    assert "₹2,999" in follow_up.json()["answer"]
    # ... and published the answer event of the request the gateway answered.
    answered = [
        event.request_id
        for record in await read_records(KafkaConnection(kafka_bootstrap), ANSWERS, answers_from)
        if (event := decodes_as(record, ChatAnswer)) is not None
    ]
    assert hit.json()["request_id"] in answered


async def ask_in(gateway_url: str, conversation_id: str, message: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return await client.post(
            "/v1/chat",
            json={"message": message, "conversation_id": conversation_id},
            headers={"X-API-Key": API_KEY},
        )


async def test_escalations_are_never_cached(gateway_url: str) -> None:
    first = await ask(gateway_url, "Please connect me to a human agent")
    second = await ask(gateway_url, "Please connect me to a human agent")
    assert first.json()["escalated"] and second.json()["escalated"]
    assert second.json()["cached"] is False


async def test_edited_document_changes_the_next_answer(
    gateway_url: str, chroma_path: Path, edited_kb: Path
) -> None:
    question = "What is the price of the FitBand 3?"
    before = await ask(gateway_url, question)
    await ask(gateway_url, question)  # now certainly cached
    doc = edited_kb / "products" / "product-fitband-3.md"
    doc.write_text(doc.read_text().replace("₹2,999", "₹3,499"))

    report = ingest(
        WorkerSettings(_env_file=None, chroma_path=chroma_path), edited_kb, show_progress=False
    )  # type: ignore[call-arg]
    after = await answer_eventually(gateway_url, question, lambda b: "₹3,499" in b["answer"])

    assert "₹2,999" in before.json()["answer"]
    assert report.added >= 1 and report.removed >= 1
    assert "₹3,499" in after["answer"] and "₹2,999" not in after["answer"]


def test_reingesting_an_unchanged_tree_embeds_nothing(chroma_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "techgear", "ingest", "--quiet"],
        env={"CHROMA_PATH": str(chroma_path), "PATH": "/usr/bin:/bin"},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "added 0, removed 0" in result.stdout
