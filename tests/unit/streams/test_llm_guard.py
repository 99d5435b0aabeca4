from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from runtime.errors import CircuitOpenError, LlmUnavailableError
from streams import metrics
from streams.embeddings import Vectors
from streams.llm_guard import GuardedResponder
from streams.memory import Turn
from streams.responder import DeltaSink, Reply
from streams.store import Passage

VECTOR: Vectors = np.zeros((1, 4), dtype=np.float32)


class ScriptedLlm:
    """Fails, hangs or answers as told, and counts its calls."""

    name = "scripted"
    prompt_version = "v1"

    def __init__(self) -> None:
        self.behaviour = "answer"
        self.calls = 0
        self.heard: tuple[Sequence[Turn], str] | None = None

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
        self.calls += 1
        self.heard = (history, language)
        if self.behaviour == "fail":
            raise LlmUnavailableError("down")
        if self.behaviour == "hang":
            await asyncio.Event().wait()
        if self.behaviour == "fail-after-streaming" and on_delta is not None:
            await on_delta("Partial ")
            raise LlmUnavailableError("connection reset mid-stream")
        return Reply(text="fine", sources=[])


def guarded(llm: ScriptedLlm, *, attempts: int = 3, threshold: int = 5) -> GuardedResponder:
    return GuardedResponder(
        llm,
        timeout_s=0.05,
        attempts=attempts,
        backoff_s=0.001,
        failure_threshold=threshold,
        open_s=0.2,
    )


async def ask(responder: GuardedResponder, on_delta: DeltaSink | None = None) -> Reply | None:
    return await responder.answer("q", VECTOR, [], on_delta=on_delta)


async def test_a_failing_call_is_retried_a_bounded_number_of_times() -> None:
    llm = ScriptedLlm()
    llm.behaviour = "fail"
    retries_before = metrics.LLM_RETRIES._value.get()
    with pytest.raises(LlmUnavailableError):
        await ask(guarded(llm, attempts=3))
    assert llm.calls == 3
    assert metrics.LLM_RETRIES._value.get() - retries_before == 2


async def test_a_call_that_never_replies_is_cut_off_and_retried() -> None:
    llm = ScriptedLlm()
    llm.behaviour = "hang"
    with pytest.raises(LlmUnavailableError, match="within 0.05s"):
        await ask(guarded(llm, attempts=2))
    assert llm.calls == 2


async def test_a_partly_streamed_answer_is_not_started_over() -> None:
    llm = ScriptedLlm()
    llm.behaviour = "fail-after-streaming"
    received: list[str] = []

    async def sink(text: str) -> None:
        received.append(text)

    with pytest.raises(LlmUnavailableError):
        await ask(guarded(llm, attempts=3), sink)
    assert llm.calls == 1 and received == ["Partial "]


async def test_repeated_failures_open_the_circuit_and_recovery_closes_it() -> None:
    llm = ScriptedLlm()
    responder = guarded(llm, attempts=1, threshold=3)
    llm.behaviour = "fail"
    for _ in range(3):
        with pytest.raises(LlmUnavailableError):
            await ask(responder)
    assert metrics.LLM_CIRCUIT_STATE._value.get() == 2

    llm.behaviour = "answer"
    calls = llm.calls
    with pytest.raises(CircuitOpenError):
        await ask(responder)  # the LLM is back, but the circuit is still open
    assert llm.calls == calls

    await asyncio.sleep(0.25)
    reply = await ask(responder)
    assert reply is not None and reply.text == "fine"
    assert metrics.LLM_CIRCUIT_STATE._value.get() == 0


async def test_a_failed_trial_call_opens_the_circuit_again() -> None:
    llm = ScriptedLlm()
    responder = guarded(llm, attempts=3, threshold=1)
    llm.behaviour = "fail"
    with pytest.raises(CircuitOpenError):
        await ask(responder)  # the first failure opens it; the retry meets an open circuit
    assert llm.calls == 1
    await asyncio.sleep(0.25)
    with pytest.raises(LlmUnavailableError):
        await ask(responder)
    assert metrics.LLM_CIRCUIT_STATE._value.get() == 2


async def test_history_and_language_reach_the_guarded_responder() -> None:
    llm = ScriptedLlm()
    history = [Turn("Tell me about the SmartWatch Pro X", "It has GPS.")]
    await guarded(llm).answer("and the price?", VECTOR, [], history=history, language="hi")
    assert llm.heard == (history, "hi")
