from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from streams.batching import BatchingEmbedder
from streams.embeddings import OnnxEmbedder, Vectors


class CountingEmbedder:
    def __init__(self, inner: OnnxEmbedder) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.batches.append(len(texts))
        return self.inner.embed(texts)


class BrokenEmbedder:
    def embed(self, texts: Sequence[str]) -> Vectors:
        raise RuntimeError("model failed")


async def test_concurrent_questions_share_model_calls_and_get_their_own_vectors(
    embedder: OnnxEmbedder,
) -> None:
    counting = CountingEmbedder(embedder)
    batching = BatchingEmbedder(counting, max_batch=8)
    texts = [f"How much does product {i} cost?" for i in range(20)]

    vectors = await asyncio.gather(*(batching.embed_one(text) for text in texts))

    assert sum(counting.batches) == 20 and len(counting.batches) < 20
    assert max(counting.batches) <= 8
    for text, vector in zip(texts, vectors, strict=True):
        assert np.allclose(vector, embedder.embed_one(text), atol=1e-5)


async def test_a_model_failure_reaches_every_waiting_question() -> None:
    batching = BatchingEmbedder(BrokenEmbedder())
    results = await asyncio.gather(
        batching.embed_one("a"), batching.embed_one("b"), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError):
        await batching.embed_one("after")  # and the next question is still served
