from __future__ import annotations

import logging

import pytest

from gateway.answer_cache import LOOKUP_TIMEOUT_S, AnswerCacheReader
from runtime.redis import RedisSettings, redis_client


async def test_without_redis_every_first_question_is_a_miss() -> None:
    assert await AnswerCacheReader(None).first_answer("What is the price?") is None


async def test_an_unreachable_redis_is_a_miss_and_is_not_asked_again_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = RedisSettings(redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    reader = AnswerCacheReader(redis_client(settings, timeout_s=LOOKUP_TIMEOUT_S))
    with caplog.at_level(logging.WARNING, logger="gateway.answer_cache"):
        first = await reader.first_answer("What is the price?")
        second = await reader.first_answer("What is the price?")
    await reader.close()

    assert first is None and second is None
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
