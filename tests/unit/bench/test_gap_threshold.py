"""The knowledge-gap report's default threshold on the hand-written paraphrase set: the
figures docs/operations.md gives ("Knowledge-gap report") stay true."""

from __future__ import annotations

import json

from bench.gap_threshold import REPO, pair_agreement
from streams.embeddings import OnnxEmbedder
from techgear.gaps import DEFAULT_MIN_SIMILARITY, group_vectors


def test_pair_agreement_counts_same_and_different_intent_pairs() -> None:
    agreement = pair_agreement(["a", "a", "b", "b"], [[0, 1, 2], [3]])

    assert (agreement.together_same, agreement.together_different) == (0.5, 0.5)


def test_the_default_threshold_keeps_most_paraphrases_together_and_few_strangers(
    embedder: OnnxEmbedder,
) -> None:
    path = REPO / "data/eval/gap_paraphrases.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    vectors = embedder.embed([row["question"] for row in rows])

    agreement = pair_agreement(
        [row["intent"] for row in rows], group_vectors(vectors, DEFAULT_MIN_SIMILARITY)
    )

    assert agreement.together_same >= 0.65
    assert agreement.together_different <= 0.02
