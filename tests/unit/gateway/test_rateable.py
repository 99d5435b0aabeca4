from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from gateway.rateable import LocalRateableAnswers, RateableAnswers
from tests.rateable_store_behaviour import BEHAVIOURS


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__)
async def test_in_process_store(behaviour: Callable[[RateableAnswers], Awaitable[None]]) -> None:
    await behaviour(LocalRateableAnswers(ttl_s=3600))
