"""``techgear answers``: what an approval records, the report's groups, states, arguments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from schemas import Category
from techgear.answers import (
    MAX_QUESTIONS,
    ApprovalError,
    ApprovalState,
    KnowledgeState,
    new_approval,
    questions_from_report,
    with_states,
)
from techgear.cli import main
from techgear.gaps import GapGroup, GapQuestion, GapReport, Window

KB = KnowledgeState(
    version=7,
    digests={"policy-refunds": "a" * 64, "policy-returns": "b" * 64},
    titles={"policy-refunds": "Refunds", "policy-returns": "Returns"},
)


def test_an_approval_records_each_cited_document_as_it_is_now() -> None:
    approval = new_approval(
        KB,
        questions=["How long does a refund take?", " How long does a refund take? ", ""],
        answer="Refunds take 5-7 business days.",
        category=Category.RETURNS_REFUNDS,
        doc_ids=["policy-refunds", "policy-refunds"],
        approved_by="asha",
    )

    assert approval.questions == ["How long does a refund take?"]
    assert [(d.doc_id, d.title, d.digest) for d in approval.documents] == [
        ("policy-refunds", "Refunds", "a" * 64)
    ]
    assert approval.kb_version == 7 and approval.approval_id.startswith("apr-")
    assert not approval.revoked


def test_a_document_not_in_the_knowledge_base_is_refused() -> None:
    with pytest.raises(ApprovalError, match="not in the knowledge base .*policy-nope"):
        new_approval(
            KB,
            questions=["q?"],
            answer="a",
            category=Category.GENERAL_INFO,
            doc_ids=["policy-refunds", "policy-nope"],
            approved_by="asha",
        )


def test_an_approval_without_questions_or_answer_is_refused_with_the_reason() -> None:
    with pytest.raises(ApprovalError, match="questions"):
        new_approval(
            KB,
            questions=["  "],
            answer="a",
            category=Category.GENERAL_INFO,
            doc_ids=["policy-refunds"],
            approved_by="asha",
        )


def report(tmp_path: Path, groups: list[GapGroup]) -> Path:
    """A gap report's JSON as `techgear report gaps --json` writes it."""
    now = datetime.now(UTC)
    written = GapReport(now, Window(now - timedelta(days=7), now), groups, 0, 0).to_json()
    path = tmp_path / "gaps.json"
    path.write_text(json.dumps(written))
    return path


def group(group_id: str, texts: list[str]) -> GapGroup:
    return GapGroup(group_id, [GapQuestion(f"r-{i}", text) for i, text in enumerate(texts)])


def test_a_report_group_gives_its_distinct_questions_at_most_fifty(tmp_path: Path) -> None:
    many = [f"question {i}?" for i in range(60)]
    path = report(
        tmp_path,
        [group("g-1", ["a?", "a?", "x" * 501, "b?"]), group("g-2", many)],
    )

    assert questions_from_report(path, "g-1") == ["a?", "b?"]
    assert questions_from_report(path, "g-2") == many[:MAX_QUESTIONS]


def test_an_unknown_group_or_a_file_that_is_no_report_is_refused(tmp_path: Path) -> None:
    path = report(tmp_path, [group("g1", ["a?"])])
    with pytest.raises(ApprovalError, match="no group 'g9'.*g1"):
        questions_from_report(path, "g9")
    other = tmp_path / "other.json"
    other.write_text('{"rows": []}')
    with pytest.raises(ApprovalError, match="not a gap report"):
        questions_from_report(other, "g1")


def test_states_are_active_stale_with_the_changed_document_or_revoked() -> None:
    def approval(doc_ids: list[str]) -> object:
        return new_approval(
            KB,
            questions=["q?"],
            answer="a",
            category=Category.GENERAL_INFO,
            doc_ids=doc_ids,
            approved_by="asha",
        )

    active, stale, revoked = (
        approval(["policy-refunds"]),
        approval(["policy-refunds", "policy-returns"]),
        approval(["policy-refunds"]),
    )
    now = KnowledgeState(
        version=8,
        digests={"policy-refunds": "a" * 64, "policy-returns": "c" * 64},
        titles=KB.titles,
    )
    listed = with_states(
        [active, stale, revoked.model_copy(update={"revoked": True})],  # type: ignore[attr-defined]
        now,
    )

    assert [(item.state, item.changed) for item in listed] == [
        (ApprovalState.ACTIVE, ()),
        (ApprovalState.STALE, ("policy-returns",)),
        (ApprovalState.REVOKED, ()),
    ]


@pytest.mark.parametrize(
    "arguments",
    [
        ["--answer", "a", "--source", "policy-refunds"],
        ["--question", "q?", "--from-report", "{report}", "--group", "g1"]
        + ["--answer", "a", "--source", "policy-refunds"],
        ["--from-report", "{report}", "--answer", "a", "--source", "policy-refunds"],
        ["--question", "q?", "--group", "g1", "--answer", "a", "--source", "policy-refunds"],
        ["--question", "q?", "--answer", "a"],
        ["--question", "q?", "--answer", "a", "--source", "d", "--category", "nonsense"],
    ],
)
def test_approve_refuses_contradictory_or_missing_arguments_before_doing_anything(
    tmp_path: Path, arguments: list[str]
) -> None:
    path = report(tmp_path, [group("g1", ["a?"])])
    argv = [a.replace("{report}", str(path)) for a in arguments]

    result = CliRunner().invoke(main, ["answers", "approve", *argv])

    assert result.exit_code == 2, result.output
