import asyncio
import threading
from collections.abc import Sequence

import numpy as np

from streams.embeddings import Vectors
from streams.sentences import SentenceCache

PASSAGE = (
    "The SmartWatch Pro X costs 14,999 rupees. Its battery lasts seven days. "
    "The Power Bank Slim charges it in two hours."
)


class CountingEmbedder:
    """One-hot vectors by first sight; records every text embedded and on which thread."""

    model_name = "counting"

    def __init__(self) -> None:
        self.embedded: list[str] = []
        self.threads: set[int] = set()
        self._index: dict[str, int] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.embedded += texts
        self.threads.add(threading.get_ident())
        vectors = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row, self._index.setdefault(text, len(self._index))] = 1.0
        return vectors


def test_a_passage_cut_down_to_some_sentences_embeds_nothing_new() -> None:
    embedder = CountingEmbedder()
    cache = SentenceCache(embedder)  # type: ignore[arg-type]
    whole = cache.of(PASSAGE)
    cut = cache.of("The SmartWatch Pro X costs 14,999 rupees.\nIts battery lasts seven days.")
    assert len(embedder.embedded) == 3
    assert cut.texts == whole.texts[:2]
    np.testing.assert_array_equal(cut.vectors, whole.vectors[:2])
    assert cut.tokens == whole.tokens[:2]


def test_nearest_is_the_closest_sentence() -> None:
    cache = SentenceCache(CountingEmbedder())  # type: ignore[arg-type]
    second = cache.of(PASSAGE).vectors[1]
    assert cache.nearest(PASSAGE, second) == 1.0
    assert cache.nearest("too short", second) == -1.0


def test_prepare_embeds_off_the_event_loop_and_only_once() -> None:
    embedder = CountingEmbedder()
    cache = SentenceCache(embedder)  # type: ignore[arg-type]

    async def prepare_twice() -> None:
        await cache.prepare([PASSAGE])
        await cache.prepare([PASSAGE, "Its battery lasts seven days."])

    asyncio.run(prepare_twice())
    assert len(embedder.embedded) == 3
    assert threading.get_ident() not in embedder.threads


def test_the_least_recently_used_sentences_leave_first() -> None:
    embedder = CountingEmbedder()
    cache = SentenceCache(embedder, size=2)  # type: ignore[arg-type]
    cache.of("First sentence here. Second sentence here.")
    cache.of("First sentence here.")  # used again: the second is now the oldest
    cache.of("Third sentence here.")
    cache.of("First sentence here.")
    assert embedder.embedded.count("First sentence here.") == 1
    cache.of("Second sentence here.")
    assert embedder.embedded.count("Second sentence here.") == 2
