from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from gateway.transcripts import LocalTranscripts, TranscriptStore
from tests.transcript_store_behaviour import BEHAVIOURS


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__)
async def test_in_process_store(behaviour: Callable[[TranscriptStore], Awaitable[None]]) -> None:
    await behaviour(LocalTranscripts(ttl_s=3600))
