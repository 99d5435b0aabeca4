"""A stand-in for an LLM in benchmarks and fault tests: grounded text, slow, streamed.

It composes the offline responder's answer, then streams it word by word over
``SIMULATED_LATENCY_S``, so load tests see an LLM's latency and token stream without a
network. With ``SIMULATED_FAILURE_RATE`` it fails like an unreachable API. Selected only by
``RESPONDER=simulated``; never the default.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from streams.embeddings import Vectors
from streams.errors import LlmUnavailableError
from streams.responder import DeltaSink, OfflineResponder, Reply
from streams.store import Passage


class SimulatedResponder:
    name = "simulated"
    prompt_version = "simulated-v1"

    def __init__(
        self, offline: OfflineResponder, *, latency_s: float, failure_rate: float = 0.0
    ) -> None:
        self._offline = offline
        self._latency_s = latency_s
        self._failure_rate = failure_rate
        self._random = random.Random()

    async def answer(
        self,
        question: str,
        question_vector: Vectors,
        passages: Sequence[Passage],
        *,
        on_delta: DeltaSink | None = None,
    ) -> Reply | None:
        if self._random.random() < self._failure_rate:
            await asyncio.sleep(self._latency_s)
            raise LlmUnavailableError("simulated LLM failure")
        reply = await self._offline.answer(question, question_vector, passages)
        text = reply.text if reply else ""
        words = text.split(" ") if text else [""]
        pause = self._latency_s / len(words)
        for index, word in enumerate(words):
            await asyncio.sleep(pause)
            if on_delta and reply:
                await on_delta(word if index == len(words) - 1 else word + " ")
        return reply
