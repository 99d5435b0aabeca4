"""How the knowledge-gap report's grouping threshold was chosen.

    .venv/bin/python -m bench.gap_threshold [--file data/eval/gap_paraphrases.jsonl]

Embeds hand-written questions labelled by intent (several paraphrases each of things the
knowledge base does not cover) with the worker's model, groups them as ``techgear report
gaps`` does at each ``--min-similarity``, and prints per threshold the share of
same-intent pairs that land in one group and of different-intent pairs that wrongly do.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.components import build_embedder
from streams.settings import WorkerSettings
from techgear.gaps import DEFAULT_MIN_SIMILARITY, group_vectors

REPO = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.60)


@dataclass(frozen=True, slots=True)
class PairAgreement:
    together_same: float
    """Share of same-intent pairs in one group (higher is better)."""
    together_different: float
    """Share of different-intent pairs wrongly in one group (lower is better)."""
    groups: int


def pair_agreement(intents: Sequence[str], groups: Sequence[Sequence[int]]) -> PairAgreement:
    group_of = {row: number for number, rows in enumerate(groups) for row in rows}
    same = different = same_together = different_together = 0
    for a, b in itertools.combinations(range(len(intents)), 2):
        together = group_of[a] == group_of[b]
        if intents[a] == intents[b]:
            same += 1
            same_together += together
        else:
            different += 1
            different_together += together
    return PairAgreement(
        same_together / max(same, 1), different_together / max(different, 1), len(groups)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--file", type=Path, default=REPO / "data/eval/gap_paraphrases.jsonl")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.file.read_text().splitlines() if line.strip()]
    intents = [row["intent"] for row in rows]
    vectors = build_embedder(WorkerSettings(), threads=0).embed([row["question"] for row in rows])
    print(f"{len(rows)} questions, {len(set(intents))} intents")
    print("min-similarity  same intent together  different intents together  groups")
    for threshold in THRESHOLDS:
        agreement = pair_agreement(intents, group_vectors(vectors, threshold))
        default = "  (default)" if threshold == DEFAULT_MIN_SIMILARITY else ""
        print(
            f"{threshold:>14.2f}  {agreement.together_same:>20.1%}  "
            f"{agreement.together_different:>26.1%}  {agreement.groups:>6}{default}"
        )


if __name__ == "__main__":
    main()
