"""The knowledge-gap report: what customers asked that the knowledge base did not answer.

A gap is a question that escalated for ``no_relevant_knowledge`` (``support.escalations``:
the last customer turn of the transcript, and the documents the workflow consulted) or
whose answer was rated down (``support.feedback``: the highest revision of each answer's
rating, so a rating replaced by a thumbs-up is no gap). Records count when their Kafka
timestamp lies in ``[since, until)``; the read ends at the topics' end offsets as of its
start. The questions are embedded with the system's own model and grouped by average-
linkage agglomerative clustering on cosine distance: a group's questions are, on
average, at least ``min_similarity`` alike (docs/operations.md, "Knowledge-gap report",
has how the default was measured).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sklearn.cluster import AgglomerativeClustering

from runtime.codec import decode
from runtime.errors import EventDecodeError
from runtime.kafka import KafkaConnection
from schemas import (
    Escalation,
    EscalationKind,
    EscalationReason,
    Feedback,
    FeedbackRating,
    Source,
)
from schemas.topics import ESCALATIONS, FEEDBACK
from streams.batching import TextEmbedder
from streams.embeddings import Vectors
from techgear.records import offsets_at, read_records

DEFAULT_MIN_SIMILARITY = 0.35
"""Measured on data/eval/gap_paraphrases.jsonl (``python -m bench.gap_threshold``)."""
EXAMPLES = 3
NO_REASON = "unspecified"
"""A thumbs-down given without a reason."""

EventT = TypeVar("EventT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Window:
    """``since`` inclusive, ``until`` exclusive."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since >= self.until:
            raise ValueError("--since must be before --until")

    def holds(self, timestamp_ms: int) -> bool:
        return self.since.timestamp() * 1000 <= timestamp_ms < self.until.timestamp() * 1000


@dataclass(slots=True)
class GapQuestion:
    """One answer that fell short; an escalation and a thumbs-down of the same request are
    one question with both marks."""

    request_id: str
    text: str
    escalated: bool = False
    down_reason: str | None = None
    """The thumbs-down's reason (``NO_REASON`` when none was given); ``None``: not rated down."""
    sources: list[Source] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DocumentCount:
    doc_id: str
    title: str
    count: int


@dataclass(frozen=True, slots=True)
class GapGroup:
    id: str
    """Derived from the group's most central question: the same data gives the same id."""
    questions: list[GapQuestion]
    """Most central first."""

    @property
    def size(self) -> int:
        return len(self.questions)

    @property
    def escalations(self) -> int:
        return sum(q.escalated for q in self.questions)

    @property
    def thumbs_down(self) -> int:
        return sum(q.down_reason is not None for q in self.questions)

    @property
    def reasons(self) -> dict[str, int]:
        """Thumbs-down reasons, most frequent first (ties: by name)."""
        counts = Counter(q.down_reason for q in self.questions if q.down_reason is not None)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    @property
    def examples(self) -> list[str]:
        """Up to ``EXAMPLES`` differently worded questions, most central first."""
        seen: dict[str, str] = {}
        for question in self.questions:
            seen.setdefault(" ".join(question.text.lower().split()), question.text)
        return list(seen.values())[:EXAMPLES]

    @property
    def documents(self) -> list[DocumentCount]:
        """The documents cited or consulted for these questions, with how many cited each."""
        counts: Counter[str] = Counter()
        titles: dict[str, str] = {}
        for question in self.questions:
            for source in question.sources:
                titles[source.doc_id] = source.title
            counts.update({source.doc_id for source in question.sources})
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return [DocumentCount(doc_id, titles[doc_id], count) for doc_id, count in ranked]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "size": self.size,
            "escalations": self.escalations,
            "thumbs_down": self.thumbs_down,
            "reasons": self.reasons,
            "questions": [q.text for q in self.questions],
            "examples": self.examples,
            "documents": [
                {"doc_id": d.doc_id, "title": d.title, "count": d.count} for d in self.documents
            ],
        }


@dataclass(frozen=True, slots=True)
class GapReport:
    generated_at: datetime
    window: Window
    groups: list[GapGroup]
    """Largest first, at most ``top`` of them."""
    questions: int
    """Gap questions in the window, also those in groups beyond ``top``."""
    undecodable: int
    """Records of the two topics in the window that were not valid events (skipped)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "since": self.window.since.isoformat(),
            "until": self.window.until.isoformat(),
            "questions": self.questions,
            "undecodable": self.undecodable,
            "groups": [group.to_json() for group in self.groups],
        }


def gap_questions(
    escalations: Iterable[Escalation], feedback: Iterable[Feedback]
) -> list[GapQuestion]:
    """The gaps among these events, one per request, ordered by request id."""
    gaps: dict[str, GapQuestion] = {}
    for escalation in escalations:
        # A customer_message is a reply to a person, not a question the bot could not answer.
        if (
            escalation.reason is not EscalationReason.NO_RELEVANT_KNOWLEDGE
            or escalation.kind is EscalationKind.CUSTOMER_MESSAGE
        ):
            continue
        asked = [t.text for t in escalation.transcript if t.role == "customer" and t.text.strip()]
        if asked:
            gap = gaps.setdefault(
                escalation.request_id, GapQuestion(escalation.request_id, asked[-1].strip())
            )
            gap.escalated = True
            gap.sources = gap.sources or list(escalation.sources)
    for rating in latest_ratings(feedback):
        if rating.rating is not FeedbackRating.DOWN or not rating.question.strip():
            continue
        gap = gaps.setdefault(
            rating.request_id, GapQuestion(rating.request_id, rating.question.strip())
        )
        gap.down_reason = rating.reason.value if rating.reason else NO_REASON
        gap.sources = gap.sources or list(rating.answer.sources)
    return [gaps[request_id] for request_id in sorted(gaps)]


def latest_ratings(feedback: Iterable[Feedback]) -> list[Feedback]:
    """The highest revision of each answer's rating."""
    latest: dict[str, Feedback] = {}
    for rating in feedback:
        kept = latest.get(rating.request_id)
        if kept is None or rating.revision > kept.revision:
            latest[rating.request_id] = rating
    return list(latest.values())


def group_vectors(vectors: Vectors, min_similarity: float) -> list[list[int]]:
    """Row indices of L2-normalised ``vectors`` in groups whose members are on average at
    least ``min_similarity`` (cosine) alike; largest groups first, each in row order."""
    if len(vectors) < 2:
        return [[row] for row in range(len(vectors))]
    labels = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage="average",
        distance_threshold=1.0 - min_similarity,
    ).fit_predict(vectors)
    groups: defaultdict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        groups[int(label)].append(row)
    return sorted(groups.values(), key=lambda rows: (-len(rows), rows[0]))


def build_groups(
    questions: Sequence[GapQuestion], vectors: Vectors, min_similarity: float
) -> list[GapGroup]:
    """The questions grouped, largest group first (ties: by id)."""
    groups: list[GapGroup] = []
    for rows in group_vectors(vectors, min_similarity):
        members = vectors[rows]
        centrality = (members @ members.T).mean(axis=1)
        order = sorted(range(len(rows)), key=lambda i: (-centrality[i], questions[rows[i]].text))
        ordered = [questions[rows[i]] for i in order]
        groups.append(GapGroup(_group_id(ordered[0].text), ordered))
    return sorted(groups, key=lambda group: (-group.size, group.id))


def _group_id(representative: str) -> str:
    normalised = " ".join(representative.lower().split())
    return "g-" + hashlib.sha256(normalised.encode()).hexdigest()[:10]


async def gap_report(
    kafka: KafkaConnection,
    embedder: TextEmbedder,
    window: Window,
    *,
    now: datetime,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    top: int = 20,
) -> GapReport:
    """Read the window's escalations and ratings, and group their gap questions."""
    escalations, bad_escalations = await _events_in(kafka, ESCALATIONS, window, Escalation)
    feedback, bad_feedback = await _events_in(kafka, FEEDBACK, window, Feedback)
    questions = gap_questions(escalations, feedback)
    groups = build_groups(questions, embedder.embed([q.text for q in questions]), min_similarity)
    return GapReport(now, window, groups[:top], len(questions), bad_escalations + bad_feedback)


async def _events_in(
    kafka: KafkaConnection, topic: str, window: Window, event_type: type[EventT]
) -> tuple[list[EventT], int]:
    """The events of ``topic`` whose records' timestamps lie in ``window``, and how many
    records there were not such events."""
    start = await offsets_at(kafka, topic, window.since)
    events: list[EventT] = []
    undecodable = 0
    for record in await read_records(kafka, topic, start):
        if not window.holds(record.timestamp):
            continue
        try:
            events.append(decode(record.value or b"", event_type))
        except EventDecodeError:
            undecodable += 1
    return events, undecodable
