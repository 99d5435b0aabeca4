"""Operator-approved answers (``techgear answers``), served for similar questions.

A worker holds every approval that is not revoked (``streams.approved_feed`` follows the
compacted ``support.approved-answers``) with the embeddings of its example questions. A
question is answered with an approval when its cosine similarity to one of those questions
reaches ``APPROVED_ANSWER_MIN_SIMILARITY`` and every document the approval cites still has
the digest it had when approved (``streams.knowledge.document_digests``); an approval whose
documents changed is stale: not served, counted, and logged once.

Sentence embeddings barely tell "Is the SmartWatch Lite waterproof?" from "Is the SmartWatch
Pro X waterproof?" (0.92), so the products a question is about must also be products the
approval cites, and an approval citing products needs a question about one of them; a
policy answer is not served for a question about a particular product.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from schemas import ApprovedAnswer
from streams import metrics
from streams.batching import TextEmbedder
from streams.embeddings import Vectors
from streams.knowledge import document_digests
from streams.understanding import KnowledgeSnapshot

log = logging.getLogger(__name__)

APPROVED_RESPONDER = "approved"
"""The ``responder`` of answers an operator approved."""


@dataclass(frozen=True, slots=True)
class ApprovedMatch:
    approval: ApprovedAnswer
    similarity: float
    """Cosine similarity of the question to the nearest of the approval's questions."""


@dataclass(frozen=True, slots=True)
class _Held:
    approval: ApprovedAnswer
    vectors: Vectors
    """One row per example question."""


def stale_documents(approval: ApprovedAnswer, digests: Mapping[str, str]) -> list[str]:
    """The cited documents whose current digest is not the one approved (or that are gone)."""
    return [doc.doc_id for doc in approval.documents if digests.get(doc.doc_id) != doc.digest]


def products_agree(
    approval: ApprovedAnswer, products: Collection[str], snapshot: KnowledgeSnapshot
) -> bool:
    """Whether the products a question is about are among those ``approval`` cites, and
    it is about one of them when the approval cites any."""
    cited = {doc.doc_id for doc in approval.documents if snapshot.catalogue.get(doc.doc_id)}
    return set(products) <= cited and (bool(products) or not cited)


class ApprovedAnswers:
    def __init__(self, embedder: TextEmbedder, *, min_similarity: float) -> None:
        self._embedder = embedder
        self._min_similarity = min_similarity
        self._held: dict[str, _Held] = {}
        self._digests: tuple[int, dict[str, str]] = (-1, {})
        self._stale_logged: set[str] = set()
        """``event_id`` of each approval already logged as stale."""

    async def apply(self, approval: ApprovedAnswer) -> None:
        """Hold ``approval`` (replacing an earlier one of its id), or drop it if revoked."""
        if approval.revoked:
            self._held.pop(approval.approval_id, None)
        else:
            vectors = await asyncio.to_thread(self._embedder.embed, approval.questions)
            self._held[approval.approval_id] = _Held(approval, vectors)
        metrics.APPROVED_LOADED.set(len(self._held))

    @property
    def fingerprint(self) -> str:
        """Changes with every approval or revocation held; "" while none is held."""
        if not self._held:
            return ""
        records = sorted(held.approval.event_id for held in self._held.values())
        return hashlib.sha256("\n".join(records).encode()).hexdigest()[:16]

    def ranked(self, vector: Vectors) -> list[ApprovedMatch]:
        """Every approval held, the most similar to the question (``vector``,
        L2-normalised) first."""
        return sorted(
            (
                ApprovedMatch(held.approval, float(np.max(held.vectors @ vector)))
                for held in self._held.values()
            ),
            key=lambda candidate: candidate.similarity,
            reverse=True,
        )

    def match(
        self, vector: Vectors, products: Collection[str], snapshot: KnowledgeSnapshot
    ) -> ApprovedMatch | None:
        """The approval most similar to the question at or above the threshold that cites
        the ``products`` it is about (doc ids) and whose documents are unchanged in
        ``snapshot``; ``None`` if none."""
        digests = self._digests_of(snapshot)
        for candidate in self.ranked(vector):
            if candidate.similarity < self._min_similarity:
                return None
            if not products_agree(candidate.approval, products, snapshot):
                continue
            stale = stale_documents(candidate.approval, digests)
            if not stale:
                return candidate
            metrics.APPROVED_STALE.inc()
            if candidate.approval.event_id not in self._stale_logged:
                self._stale_logged.add(candidate.approval.event_id)
                log.warning(
                    "approved answer %s is stale (changed since approval: %s): not served",
                    candidate.approval.approval_id,
                    ", ".join(stale),
                )
        return None

    def _digests_of(self, snapshot: KnowledgeSnapshot) -> dict[str, str]:
        version, digests = self._digests
        if version != snapshot.version:
            digests = document_digests(snapshot.chunks)
            self._digests = (snapshot.version, digests)
        return digests
