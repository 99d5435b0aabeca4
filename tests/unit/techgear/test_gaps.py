"""Which events are knowledge gaps, and how gap questions are grouped."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from click.testing import CliRunner

from schemas import EscalationKind, EscalationReason, FeedbackRating, FeedbackReason
from streams.embeddings import Vectors
from techgear.cli import main
from techgear.gaps import (
    DEFAULT_MIN_SIMILARITY,
    NO_REASON,
    GapQuestion,
    Window,
    build_groups,
    gap_questions,
)
from tests.gap_events import MOMENT, escalation, rating, source


def unit(*rows: list[float]) -> Vectors:
    vectors = np.array(rows, dtype=np.float32)
    normalised: Vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


def test_an_escalation_for_missing_knowledge_is_a_gap_with_its_last_customer_turn() -> None:
    [gap] = gap_questions(
        [escalation("r1", "Do you sell gift cards?", sources=[source("faq-payments")])], []
    )

    assert (gap.request_id, gap.text, gap.escalated, gap.down_reason) == (
        "r1",
        "Do you sell gift cards?",
        True,
        None,
    )
    assert [s.doc_id for s in gap.sources] == ["faq-payments"]


def test_escalations_for_other_reasons_and_messages_to_a_person_are_no_gaps() -> None:
    events = [
        escalation("r1", "I want a human", reason=EscalationReason.HUMAN_REQUESTED),
        escalation("r2", "still waiting", kind=EscalationKind.CUSTOMER_MESSAGE),
    ]

    assert gap_questions(events, []) == []


def test_only_the_highest_revision_of_a_rating_counts_in_any_order() -> None:
    replaced_by_up = [
        rating("r1", "Do you ship to Nepal?", reason=FeedbackReason.WRONG),
        rating("r1", "Do you ship to Nepal?", rating=FeedbackRating.UP, revision=2),
    ]
    replaced_by_down = [
        rating("r2", "Is there a student discount?", reason=FeedbackReason.OUTDATED, revision=2),
        rating("r2", "Is there a student discount?", rating=FeedbackRating.UP),
    ]

    [gap] = gap_questions([], replaced_by_up + replaced_by_down)

    assert (gap.request_id, gap.down_reason) == ("r2", FeedbackReason.OUTDATED.value)


def test_a_thumbs_down_without_reason_or_question_and_a_thumbs_up_are_handled() -> None:
    gaps = gap_questions(
        [],
        [
            rating("r1", "Can I pay with Bitcoin?"),
            rating("r2", "  "),
            rating("r3", "What does the watch cost?", rating=FeedbackRating.UP),
        ],
    )

    assert [(g.request_id, g.down_reason) for g in gaps] == [("r1", NO_REASON)]


def test_an_escalated_answer_also_rated_down_is_one_question_with_both_marks() -> None:
    [gap] = gap_questions(
        [escalation("r1", "Do you sell gift cards?")],
        [rating("r1", "Do you sell gift cards?", reason=FeedbackReason.DIDNT_ANSWER)],
    )

    assert gap.escalated and gap.down_reason == "didnt_answer"


def questions(*texts: str) -> list[GapQuestion]:
    return [
        GapQuestion(f"r{i}", text, escalated=i % 2 == 0, sources=[source("faq-payments")])
        for i, text in enumerate(texts)
    ]


def test_groups_are_largest_first_with_counts_examples_and_documents() -> None:
    gaps = questions("gift card?", "Gift card?", "buy a voucher", "a present card", "bitcoin?")
    gaps[4].sources = [source("policy-payments", "Payment policy")]
    gaps[3].down_reason = "wrong"
    vectors = unit([1, 0.1, 0], [1, 0.1, 0], [1, 0.3, 0], [1, 0, 0.2], [0, 1, 0])

    big, small = build_groups(gaps, vectors, min_similarity=0.8)

    assert (big.size, big.escalations, big.thumbs_down, big.reasons) == (4, 2, 1, {"wrong": 1})
    assert len(big.examples) == 3 and big.examples[0].lower() == "gift card?"
    assert [(d.doc_id, d.count) for d in big.documents] == [("faq-payments", 4)]
    assert [q.text for q in small.questions] == ["bitcoin?"]
    assert [(d.doc_id, d.title) for d in small.documents] == [("policy-payments", "Payment policy")]


def test_group_ids_do_not_depend_on_the_order_questions_were_read() -> None:
    gaps = questions("gift card?", "buy a voucher", "bitcoin?", "crypto payments?")
    vectors = unit([1, 0.1, 0], [1, 0.3, 0], [0, 1, 0.1], [0, 1, 0.3])
    order = [3, 1, 2, 0]

    first = build_groups(gaps, vectors, min_similarity=0.8)
    again = build_groups([gaps[i] for i in order], vectors[order], min_similarity=0.8)

    assert sorted(g.id for g in first) == sorted(g.id for g in again)
    assert len({g.id for g in first}) == 2


def test_no_question_or_one_question_groups_without_the_clusterer() -> None:
    assert build_groups([], np.zeros((0, 2), dtype=np.float32), min_similarity=0.5) == []
    [group] = build_groups(questions("gift card?"), unit([1, 0]), min_similarity=0.5)
    assert group.size == 1


def test_a_window_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError, match="before --until"):
        Window(MOMENT, MOMENT)


def test_the_command_refuses_a_window_that_ends_before_it_starts_or_a_bad_threshold() -> None:
    runner = CliRunner()
    backwards = runner.invoke(main, ["report", "gaps", "--since", "1d", "--until", "2d"])
    threshold = runner.invoke(main, ["report", "gaps", "--since", "1d", "--min-similarity", "1"])

    assert backwards.exit_code == 2 and "--since must be before --until" in backwards.output
    assert threshold.exit_code == 2


def test_the_help_gives_the_default_threshold() -> None:
    help_text = CliRunner().invoke(main, ["report", "gaps", "--help"]).output

    assert f"default {DEFAULT_MIN_SIMILARITY}" in help_text


def test_reasons_are_counted_most_frequent_first_and_ties_by_name() -> None:
    gaps = questions("a", "b", "c", "d")
    for gap, reason in zip(gaps, ["wrong", "outdated", "other", "outdated"], strict=True):
        gap.down_reason = reason

    [group] = build_groups(gaps, unit([1, 0], [1, 0], [1, 0], [1, 0]), min_similarity=0.5)

    assert list(group.reasons.items()) == [("outdated", 2), ("other", 1), ("wrong", 1)]


def test_the_command_says_in_one_line_when_kafka_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{unused.getsockname()[1]}"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", address)

    result = CliRunner().invoke(main, ["report", "gaps", "--since", "7d"])

    assert result.exit_code == 1 and f"cannot reach Kafka at {address}" in result.output
