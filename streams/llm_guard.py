"""Protection around an LLM responder: a time limit, bounded retries, a circuit breaker.

Each call is cut off after ``timeout_s``; a failed call is retried with exponential
backoff and jitter, unless part of the answer was already streamed to the customer.
After ``failure_threshold`` consecutive failures the circuit opens: for ``open_s`` seconds
questions skip the LLM and escalate at once (``llm_unavailable``) instead of each waiting
out its own timeouts. The next call after that is a trial; its success closes the circuit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from purgatory import AsyncCircuitBreakerFactory, Event
from purgatory.domain.messages.events import ContextChanged
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from runtime.errors import CircuitOpenError, LlmUnavailableError
from streams.embeddings import Vectors
from streams.memory import Turn
from streams.metrics import LLM_CIRCUIT_REJECTIONS, LLM_CIRCUIT_STATE, LLM_RETRIES
from streams.responder import DeltaSink, Reply, Responder
from streams.store import Passage

log = logging.getLogger(__name__)

CIRCUIT = "llm"
_STATE_VALUES = {"closed": 0, "half-opened": 1, "opened": 2}


class GuardedResponder:
    def __init__(
        self,
        inner: Responder,
        *,
        timeout_s: float,
        attempts: int,
        backoff_s: float,
        failure_threshold: int,
        open_s: float,
    ) -> None:
        self._inner = inner
        self.name = inner.name
        self.prompt_version = inner.prompt_version
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=failure_threshold,
            default_ttl=open_s,
            # A cancelled call (shutdown, processing timeout) says nothing about the LLM.
            exclude=[asyncio.CancelledError],
        )
        self._breakers.add_listener(_record_state)
        LLM_CIRCUIT_STATE.set(_STATE_VALUES["closed"])

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
        streamed = False

        async def forward(text: str) -> None:
            nonlocal streamed
            streamed = True
            if on_delta is not None:
                await on_delta(text)

        def worth_retrying(error: BaseException) -> bool:
            # A partly streamed answer cannot be taken back, so it is not started over.
            return (
                isinstance(error, LlmUnavailableError)
                and not isinstance(error, CircuitOpenError)
                and not streamed
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential_jitter(
                initial=self._backoff_s, max=self._backoff_s * 16, jitter=self._backoff_s
            ),
            retry=retry_if_exception(worth_retrying),
            before_sleep=_log_retry,
            reraise=True,
        )

        async def call() -> Reply | None:
            return await self._inner.answer(
                question,
                question_vector,
                passages,
                on_delta=forward,
                history=history,
                language=language,
            )

        async for attempt in retrying:
            with attempt:
                return await self._call(call)
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    async def _call(self, call: Callable[[], Awaitable[Reply | None]]) -> Reply | None:
        breaker = await self._breakers.get_breaker(CIRCUIT)
        try:
            async with breaker:
                try:
                    return await asyncio.wait_for(
                        call(),
                        self._timeout_s,
                    )
                except TimeoutError as exc:
                    raise LlmUnavailableError(
                        f"no reply from the LLM within {self._timeout_s:g}s"
                    ) from exc
        except OpenedState as exc:
            LLM_CIRCUIT_REJECTIONS.inc()
            raise CircuitOpenError(str(exc)) from exc


def _record_state(
    name: str,
    kind: Literal["circuit_breaker_created", "state_changed", "failed", "recovered"],
    event: Event,
) -> None:
    if kind == "state_changed" and isinstance(event, ContextChanged):
        LLM_CIRCUIT_STATE.set(_STATE_VALUES[event.state])
        log.warning("LLM circuit %s is now %s", name, event.state)


def _log_retry(state: RetryCallState) -> None:
    LLM_RETRIES.inc()
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "LLM call failed (attempt %d), retrying in %.2fs: %r",
        state.attempt_number,
        state.upcoming_sleep,
        error,
    )
