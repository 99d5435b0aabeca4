"""A stand-in for an LLM in benchmarks and fault tests: grounded text, slow, streamed.

It composes the offline responder's answer, then streams it word by word over
``SIMULATED_LATENCY_S``, so load tests see an LLM's latency and token stream without a
network. It fails like an unreachable API on a share of calls (``SIMULATED_FAILURE_RATE``)
and on every call while ``SIMULATED_OUTAGE_FILE`` exists, which lets a drill start and end
an outage of a running worker. A failure is an error, or with
``SIMULATED_FAILURE_MODE=timeout`` a call that never returns. Selected only by
``RESPONDER=simulated``; never the default.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from runtime.errors import LlmUnavailableError
from streams.embeddings import Vectors
from streams.memory import Turn
from streams.responder import DeltaSink, OfflineResponder, Reply
from streams.store import Passage

FailureMode = Literal["error", "timeout"]


class SimulatedResponder:
    name = "simulated"
    prompt_version = "simulated-v1"

    def __init__(
        self,
        offline: OfflineResponder,
        *,
        latency_s: float,
        failure_rate: float = 0.0,
        failure_mode: FailureMode = "error",
        outage_file: Path | None = None,
    ) -> None:
        self._offline = offline
        self._latency_s = latency_s
        self._failure_rate = failure_rate
        self._failure_mode = failure_mode
        self._outage_file = outage_file
        self._random = random.Random()

    async def answer(
        self,
        question: str,
        question_vector: Vectors,
        passages: Sequence[Passage],
        *,
        on_delta: DeltaSink | None = None,
        history: Sequence[Turn] = (),
        language: str = "en",
    ) -> Reply | None:
        if self._failing():
            if self._failure_mode == "timeout":
                await asyncio.Event().wait()  # hangs until the caller gives up
            await asyncio.sleep(self._latency_s)
            raise LlmUnavailableError("simulated LLM failure")
        reply = await self._offline.answer(question, question_vector, passages)
        text = reply.text if reply else ""
        words = text.split(" ") if text else [""]
        pause = self._latency_s / len(words)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index, word in enumerate(words):
            # Paced on the clock, as a remote model is: a busy event loop here must not
            # stretch the simulated latency word by word.
            await asyncio.sleep(max(0.0, started + (index + 1) * pause - loop.time()))
            if on_delta and reply:
                await on_delta(word if index == len(words) - 1 else word + " ")
        return reply

    def _failing(self) -> bool:
        if self._outage_file is not None and self._outage_file.exists():
            return True
        return self._random.random() < self._failure_rate
