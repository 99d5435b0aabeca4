"""False matches and misses of approved answers per similarity threshold.

    .venv/bin/python -m bench.approved [--file data/eval/approved_matches.yaml]

Holds the file's approvals as a worker does (``streams.approved``, the worker's embedding
model, ``data/knowledge`` as the knowledge base) and asks every question as the worker
reads it (``streams.understanding``: typos corrected, the products it names): a paraphrase
(``should_match``) is *served* when the worker would serve its own approval at the
threshold, *wrong* when it would serve another one, *missed* when it would serve none; a
near miss (``must_not_match``) or an ``unrelated`` question is a *false match* when it
would be served any approval.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from schemas import ApprovedAnswer, Category, CitedDocument
from streams.approved import ApprovedAnswers, ApprovedMatch, products_agree
from streams.components import build_embedder
from streams.context import ConversationContext
from streams.embeddings import Vectors
from streams.knowledge import chunk_tree, document_digests
from streams.settings import WorkerSettings
from streams.store import StoredChunk
from streams.understanding import KnowledgeSnapshot, build_snapshot, understand

REPO = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.6, 0.65, 0.7, 0.72, 0.75, 0.78, 0.8, 0.82, 0.85, 0.9)


@dataclass(frozen=True, slots=True)
class Rates:
    threshold: float
    served: float
    missed: float
    wrong: float
    false_matches: float


async def measure(path: Path, settings: WorkerSettings) -> tuple[list[Rates], int, int]:
    """The rates per threshold, and how many paraphrases and near misses were asked."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    snapshot = _snapshot(REPO / "data" / "knowledge")
    digests = document_digests(snapshot.chunks)
    embedder = build_embedder(settings, threads=0)
    answers = ApprovedAnswers(embedder, min_similarity=0.0)
    paraphrases: list[tuple[str, str]] = []
    near_misses: list[str] = list(spec.get("unrelated", []))
    for entry in spec["approvals"]:
        await answers.apply(
            ApprovedAnswer(
                approval_id=entry["id"],
                questions=entry["questions"],
                answer="-",
                category=Category.GENERAL_INFO,
                documents=[
                    CitedDocument(doc_id=doc_id, title=doc_id, digest=digests[doc_id])
                    for doc_id in entry["documents"]
                ],
                kb_version=0,
                approved_by="bench",
            )
        )
        paraphrases += [(entry["id"], question) for question in entry["should_match"]]
        near_misses += entry["must_not_match"]
    served_to_paraphrases = [
        (own, _served(answers, embedder.embed_one, question, snapshot))
        for own, question in paraphrases
    ]
    served_to_near = [
        _served(answers, embedder.embed_one, question, snapshot) for question in near_misses
    ]
    rates = []
    for threshold in THRESHOLDS:
        reached = [
            (own, top)
            for own, top in served_to_paraphrases
            if top is not None and top.similarity >= threshold
        ]
        served = sum(top.approval.approval_id == own for own, top in reached)
        false_matches = sum(
            top is not None and top.similarity >= threshold for top in served_to_near
        )
        rates.append(
            Rates(
                threshold=threshold,
                served=served / len(paraphrases),
                missed=(len(paraphrases) - len(reached)) / len(paraphrases),
                wrong=(len(reached) - served) / len(paraphrases),
                false_matches=false_matches / len(near_misses),
            )
        )
    return rates, len(paraphrases), len(near_misses)


def _served(
    answers: ApprovedAnswers,
    embed: Callable[[str], Vectors],
    question: str,
    snapshot: KnowledgeSnapshot,
) -> ApprovedMatch | None:
    """The approval the worker would serve at a threshold up to its similarity."""
    understood = understand(question, ConversationContext(), snapshot)
    products = [product.doc_id for product in understood.products]
    for candidate in answers.ranked(embed(understood.standalone)):
        if products_agree(candidate.approval, products, snapshot):
            return candidate
    return None


def _snapshot(root: Path) -> KnowledgeSnapshot:
    chunks = [
        StoredChunk(
            chunk_id=c.chunk_id,
            doc_id=c.doc_id,
            title=c.title,
            heading=c.heading,
            category=c.category,
            kind=c.kind,
            aliases=c.aliases,
            text=c.text,
        )
        for c in chunk_tree(root)
    ]
    return build_snapshot(1, chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--file", type=Path, default=REPO / "data" / "eval" / "approved_matches.yaml"
    )
    args = parser.parse_args()
    settings = WorkerSettings()
    rates, paraphrases, near_misses = asyncio.run(measure(args.file, settings))
    print(
        f"{paraphrases} paraphrases, {near_misses} near misses and unrelated questions; "
        f"embedding model {settings.embedding_model}"
    )
    print("| threshold | served | missed | wrong approval | false matches |")
    print("|---|---|---|---|---|")
    for r in rates:
        print(
            f"| {r.threshold:.2f} | {r.served:.0%} | {r.missed:.0%} | {r.wrong:.0%} "
            f"| {r.false_matches:.0%} |"
        )


if __name__ == "__main__":
    main()
