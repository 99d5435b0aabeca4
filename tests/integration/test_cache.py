"""The answer cache in Redis, and its invalidation by knowledge-base changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streams.settings import WorkerSettings
from streams.worker import ingest
from tests.conftest import API_KEY, REPO

pytestmark = pytest.mark.integration


async def ask(gateway_url: str, message: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return await client.post(
            "/v1/chat", json={"message": message}, headers={"X-API-Key": API_KEY}
        )


@pytest.fixture
def edited_kb(tmp_path: Path, chroma_path: Path) -> Iterator[Path]:
    """A copy of the knowledge base to edit; the original is re-ingested afterwards."""
    copy = tmp_path / "knowledge"
    shutil.copytree(REPO / "data" / "knowledge", copy)
    yield copy
    ingest(
        WorkerSettings(_env_file=None, chroma_path=chroma_path),
        REPO / "data" / "knowledge",
        show_progress=False,
    )  # type: ignore[call-arg]


async def test_repeated_question_is_served_from_cache(gateway_url: str) -> None:
    question = f"What is the price of the K8 Mechanical Keyboard? ({uuid.uuid4().hex[:6]})"
    first = await ask(gateway_url, question)
    second = await ask(gateway_url, question.upper())

    assert first.json()["cached"] is False and first.headers["X-Cache"] == "MISS"
    assert second.json()["cached"] is True and second.headers["X-Cache"] == "HIT"
    assert second.json()["answer"] == first.json()["answer"]
    assert second.json()["request_id"] != first.json()["request_id"]


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
    after = await ask(gateway_url, question)

    assert "₹2,999" in before.json()["answer"]
    assert report.added >= 1 and report.removed >= 1
    assert after.json()["cached"] is False
    assert "₹3,499" in after.json()["answer"] and "₹2,999" not in after.json()["answer"]


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
