"""Approved answers for operators: approve one (for given questions, or for a group of the
knowledge-gap report), list them with their state, revoke one.

An approval is an ``ApprovedAnswer`` on ``support.approved-answers`` (compacted, keyed by
``approval_id``); a revocation republishes it with ``revoked: true``. Each cited document
must be in the knowledge base as ingested now, and its content digest is recorded: once
the document is re-ingested changed, the approval is *stale* and workers stop serving it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.codec import decode
from runtime.envelope import envelope
from runtime.errors import EventDecodeError
from runtime.kafka import KafkaConnection
from runtime.topics import ensure_topics
from schemas import ApprovedAnswer, Category, CitedDocument, new_id
from schemas.events import APPROVED_QUESTION_MAX_CHARS
from schemas.topics import APPROVED_ANSWERS, TOPICS
from streams.approved import stale_documents
from streams.components import build_embedder, open_store
from streams.knowledge import document_digests
from streams.settings import WorkerSettings
from techgear.dlq import SOURCE
from techgear.records import read_records

MAX_QUESTIONS = 50


class ApprovalError(ValueError):
    """An approval that cannot be made or changed as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class KnowledgeState:
    """The knowledge base as ingested now: its version, and each document's digest and title."""

    version: int
    digests: dict[str, str]
    titles: dict[str, str]


class ApprovalState(enum.StrEnum):
    ACTIVE = "active"
    STALE = "stale"
    """A cited document changed (or was removed) since approval: not served."""
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class ListedApproval:
    approval: ApprovedAnswer
    state: ApprovalState
    changed: tuple[str, ...] = ()
    """When stale: the cited documents that changed."""


def knowledge_state(settings: WorkerSettings) -> KnowledgeState:
    store = open_store(settings, build_embedder(settings))
    version = store.current_version()
    chunks, _ = store.chunks_with_vectors()
    return KnowledgeState(
        version=version,
        digests=document_digests(chunks),
        titles={chunk.doc_id: chunk.title for chunk in chunks},
    )


def new_approval(
    knowledge: KnowledgeState,
    *,
    questions: Iterable[str],
    answer: str,
    category: Category,
    doc_ids: Sequence[str],
    approved_by: str,
) -> ApprovedAnswer:
    """An approval of ``answer`` for ``questions`` citing ``doc_ids`` as they are now."""
    unknown = sorted({doc_id for doc_id in doc_ids if doc_id not in knowledge.digests})
    if unknown:
        raise ApprovalError(
            f"not in the knowledge base (version {knowledge.version}): {', '.join(unknown)}"
        )
    try:
        return ApprovedAnswer(
            approval_id=f"apr-{new_id()[:12]}",
            questions=_distinct(questions),
            answer=answer.strip(),
            category=category,
            documents=[
                CitedDocument(
                    doc_id=doc_id, title=knowledge.titles[doc_id], digest=knowledge.digests[doc_id]
                )
                for doc_id in dict.fromkeys(doc_ids)
            ],
            kb_version=knowledge.version,
            approved_by=approved_by,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ApprovalError(f"invalid approval: {problems}") from exc


def _distinct(questions: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(q.strip() for q in questions if q.strip()))


class _ReportGroup(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    questions: list[str]


class _GapReport(BaseModel):
    """What is read of ``techgear report gaps``'s JSON: each group's id and questions."""

    model_config = ConfigDict(extra="ignore")

    groups: list[_ReportGroup]


def questions_from_report(path: Path, group_id: str) -> list[str]:
    """The distinct questions of group ``group_id`` of a gap report, at most
    ``MAX_QUESTIONS`` (the report lists the most typical first); a question longer than an
    approval holds is left out (a customer's whole story makes a poor example)."""
    try:
        report = _GapReport.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ApprovalError(f"{path} is not a gap report (`techgear report gaps`): {exc}") from exc
    for group in report.groups:
        if group.id == group_id:
            fitting = [q for q in group.questions if len(q.strip()) <= APPROVED_QUESTION_MAX_CHARS]
            questions = _distinct(fitting)[:MAX_QUESTIONS]
            if not questions:
                raise ApprovalError(f"group {group_id!r} of {path} has no questions")
            return questions
    known = ", ".join(group.id for group in report.groups[:20]) or "none"
    raise ApprovalError(f"no group {group_id!r} in {path} (groups: {known})")


async def read_approvals(kafka: KafkaConnection) -> dict[str, ApprovedAnswer]:
    """The latest record of each approval id (revoked ones included)."""
    latest: dict[str, ApprovedAnswer] = {}
    for record in await read_records(kafka, APPROVED_ANSWERS):
        try:
            approval = decode(record.value or b"", ApprovedAnswer)
        except EventDecodeError:
            continue  # not an approval: it approves nothing
        latest[approval.approval_id] = approval
    return latest


def with_states(
    approvals: Iterable[ApprovedAnswer], knowledge: KnowledgeState
) -> list[ListedApproval]:
    """Each approval with its state against the knowledge base as ingested now."""
    listed = []
    for approval in sorted(approvals, key=lambda a: a.approved_at):
        changed = tuple(stale_documents(approval, knowledge.digests))
        if approval.revoked:
            listed.append(ListedApproval(approval, ApprovalState.REVOKED))
        elif changed:
            listed.append(ListedApproval(approval, ApprovalState.STALE, changed))
        else:
            listed.append(ListedApproval(approval, ApprovalState.ACTIVE))
    return listed


async def publish(
    kafka: KafkaConnection,
    approval: ApprovedAnswer,
    *,
    create_topics: bool = True,
    replication_factor: int = 1,
) -> None:
    if create_topics:
        await ensure_topics(
            kafka,
            replication_factor=replication_factor,
            specs=tuple(spec for spec in TOPICS if spec.name == APPROVED_ANSWERS),
        )
    producer = kafka.producer()
    await producer.start()
    try:
        await envelope(approval, source=SOURCE, key=approval.approval_id).send(
            producer, APPROVED_ANSWERS
        )
    finally:
        await producer.stop()


async def revoke(
    kafka: KafkaConnection,
    approval_id: str,
    *,
    create_topics: bool = True,
    replication_factor: int = 1,
) -> bool:
    """Revoke ``approval_id``; ``False`` when it was already revoked (nothing published)."""
    approval = (await read_approvals(kafka)).get(approval_id)
    if approval is None:
        raise ApprovalError(f"no approved answer {approval_id!r}")
    if approval.revoked:
        return False
    revocation = approval.model_copy(update={"revoked": True, "event_id": new_id()})
    await publish(
        kafka, revocation, create_topics=create_topics, replication_factor=replication_factor
    )
    return True
