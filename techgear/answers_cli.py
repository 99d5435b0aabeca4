"""``techgear answers``: approve, list and revoke approved answers (``techgear.answers``)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path

import click

from schemas import Category


@click.group()
def answers() -> None:
    """Operator-approved answers, served for similar questions while their cited
    documents are unchanged."""


@answers.command("approve")
@click.option("--question", "questions", multiple=True, help="A question it answers (repeatable).")
@click.option(
    "--from-report",
    "report",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Instead of --question: a `techgear report gaps` JSON file (with --group).",
)
@click.option("--group", "group_id", help="The report's group whose questions it answers.")
@click.option("--answer", required=True, help="The answer customers get.")
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    help="A knowledge-base document id the answer rests on (repeatable).",
)
@click.option(
    "--category",
    type=click.Choice([c.value for c in Category]),
    default=Category.GENERAL_INFO.value,
    show_default=True,
)
@click.option("--by", "approved_by", help="Who approves it (default: the user running this).")
def approve(
    questions: tuple[str, ...],
    report: Path | None,
    group_id: str | None,
    answer: str,
    sources: tuple[str, ...],
    category: str,
    approved_by: str | None,
) -> None:
    """Approve ANSWER for similar questions, citing the --source documents as they are now."""
    from streams.settings import WorkerSettings
    from techgear.answers import (
        ApprovalError,
        knowledge_state,
        new_approval,
        publish,
        questions_from_report,
    )

    if bool(questions) == bool(report):
        raise click.UsageError("give either --question (repeatable) or --from-report with --group")
    if bool(report) != bool(group_id):
        raise click.UsageError("--from-report and --group go together")
    settings = WorkerSettings()
    try:
        if report is not None and group_id is not None:
            questions = tuple(questions_from_report(report, group_id))
        approval = new_approval(
            knowledge_state(settings),
            questions=questions,
            answer=answer,
            category=Category(category),
            doc_ids=sources,
            approved_by=approved_by or _operator(),
        )
    except ApprovalError as exc:
        raise click.ClickException(str(exc)) from exc
    asyncio.run(
        publish(
            settings.kafka,
            approval,
            create_topics=settings.kafka_create_topics,
            replication_factor=settings.kafka_replication_factor,
        )
    )
    click.echo(
        f"approved {approval.approval_id} for {len(approval.questions)} question(s), citing "
        f"{', '.join(d.doc_id for d in approval.documents)} "
        f"(knowledge-base version {approval.kb_version})"
    )


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's user without a name
        raise click.UsageError("say who approves it: --by NAME") from None


@answers.command("list")
def list_approvals() -> None:
    """Every approved answer: active, stale (a cited document changed since) or revoked."""
    from streams.settings import WorkerSettings
    from techgear.answers import knowledge_state, read_approvals, with_states

    settings = WorkerSettings()
    approvals = asyncio.run(read_approvals(settings.kafka))
    if not approvals:
        click.echo("no approved answers")
        return
    for listed in with_states(approvals.values(), knowledge_state(settings)):
        approval = listed.approval
        changed = f" (changed: {', '.join(listed.changed)})" if listed.changed else ""
        cited = ", ".join(doc.doc_id for doc in approval.documents)
        click.echo(
            f"{approval.approval_id}  {listed.state.value}{changed}  "
            f"{approval.approved_at:%Y-%m-%d %H:%M}Z by {approval.approved_by}  "
            f"{approval.category.value}  {len(approval.questions)} question(s), e.g. "
            f"{approval.questions[0][:80]!r}  cites {cited}"
        )


@answers.command("revoke")
@click.argument("approval_id")
def revoke_approval(approval_id: str) -> None:
    """Stop serving APPROVAL_ID (workers drop it within a second or so)."""
    from runtime.settings import RuntimeSettings
    from techgear.answers import ApprovalError, revoke

    settings = RuntimeSettings()
    try:
        revoked = asyncio.run(
            revoke(
                settings.kafka,
                approval_id,
                create_topics=settings.kafka_create_topics,
                replication_factor=settings.kafka_replication_factor,
            )
        )
    except ApprovalError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"revoked {approval_id}" if revoked else f"{approval_id} was already revoked")
