"""Coalesces concurrent question embeddings into one model call.

Handlers run concurrently, and each needs its question embedded. Separate model calls
from many threads oversubscribe the cores (each call already uses all of them) and pay
the per-call overhead each time. Here one call runs at a time; the questions that arrive
meanwhile form the next batch, so batches grow with load and cost nothing when idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from streams.embeddings import Vectors


class TextEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> Vectors: ...


class BatchingEmbedder:
    def __init__(self, embedder: TextEmbedder, *, max_batch: int = 32) -> None:
        self._embedder = embedder
        self._max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[Vectors]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def embed_one(self, text: str) -> Vectors:
        future: asyncio.Future[Vectors] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="embedding-batches")
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                vectors = await asyncio.to_thread(self._embedder.embed, [text for text, _ in batch])
            except Exception as exc:  # each waiting question fails with the model's error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():  # its handler may have given up meanwhile
                    future.set_result(vector)
