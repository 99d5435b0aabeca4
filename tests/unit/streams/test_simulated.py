from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from runtime.errors import LlmUnavailableError
from streams.embeddings import OnnxEmbedder
from streams.responder import OfflineResponder
from streams.sentences import SentenceCache
from streams.simulated import SimulatedResponder
from streams.store import Passage

PASSAGES = [
    Passage(
        "p:1",
        "product-fitband-3",
        "FitBand 3",
        "FitBand 3 > Price",
        "The FitBand 3 costs ₹2,999.",
        0.8,
    )
]


async def test_streams_the_grounded_answer_over_its_latency(embedder: OnnxEmbedder) -> None:
    received: list[str] = []

    async def sink(text: str) -> None:
        received.append(text)

    responder = SimulatedResponder(OfflineResponder(SentenceCache(embedder)), latency_s=0.3)
    question = "How much is the FitBand 3?"
    started = time.perf_counter()
    reply = await responder.answer(question, embedder.embed_one(question), PASSAGES, on_delta=sink)

    assert reply is not None and "₹2,999" in reply.text
    assert "".join(received) == reply.text and len(received) > 3
    assert time.perf_counter() - started >= 0.3


async def test_failure_mode_raises_a_retryable_llm_error(embedder: OnnxEmbedder) -> None:
    responder = SimulatedResponder(
        OfflineResponder(SentenceCache(embedder)), latency_s=0.0, failure_rate=1.0
    )
    with pytest.raises(LlmUnavailableError):
        await responder.answer("q", embedder.embed_one("q"), PASSAGES)


async def test_outage_file_fails_every_call_while_it_exists(
    embedder: OnnxEmbedder, tmp_path: Path
) -> None:
    outage = tmp_path / "llm-outage"
    responder = SimulatedResponder(
        OfflineResponder(SentenceCache(embedder)), latency_s=0.0, outage_file=outage
    )
    question = "How much is the FitBand 3?"
    vector = embedder.embed_one(question)
    assert await responder.answer(question, vector, PASSAGES) is not None
    outage.touch()
    with pytest.raises(LlmUnavailableError):
        await responder.answer(question, vector, PASSAGES)
    outage.unlink()
    assert await responder.answer(question, vector, PASSAGES) is not None


async def test_timeout_mode_never_replies(embedder: OnnxEmbedder) -> None:
    responder = SimulatedResponder(
        OfflineResponder(SentenceCache(embedder)),
        latency_s=0.0,
        failure_rate=1.0,
        failure_mode="timeout",
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(responder.answer("q", embedder.embed_one("q"), PASSAGES), 0.2)
