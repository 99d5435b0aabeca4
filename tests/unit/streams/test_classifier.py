from __future__ import annotations

from pathlib import Path

import numpy as np

from streams.classifier import embed_examples
from streams.embeddings import OnnxEmbedder


def test_embeddings_are_kept_between_starts(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    texts = ["where is my order", "hello there"]
    first = embed_examples(texts, embedder, tmp_path)
    (cached,) = tmp_path.glob("examples-*.npy")

    again = embed_examples(texts, embedder, tmp_path)

    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(np.load(cached), first)


def test_changed_examples_replace_the_cached_embeddings(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    embed_examples(["where is my order"], embedder, tmp_path)
    (old,) = tmp_path.glob("examples-*.npy")

    vectors = embed_examples(["where is my order", "a new example"], embedder, tmp_path)

    (new,) = tmp_path.glob("examples-*.npy")
    assert new != old
    assert vectors.shape == (2, 384)


def test_an_unreadable_cache_is_embedded_again(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    texts = ["where is my order"]
    expected = embed_examples(texts, embedder, tmp_path)
    (cached,) = tmp_path.glob("examples-*.npy")
    cached.write_bytes(b"not an array")

    np.testing.assert_allclose(embed_examples(texts, embedder, tmp_path), expected, atol=1e-6)
