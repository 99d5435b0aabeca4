from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from schemas import DeadLetter
from techgear.cli import main
from techgear.dlq import Selection

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def letter(dead_letter_id: str, occurred_at: datetime = NOON) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=dead_letter_id,
        request_id="r",
        conversation_id="c",
        occurred_at=occurred_at,
        source_topic="support.requests",
        source_partition=0,
        source_offset=0,
        original_key_b64=None,
        original_value_b64="",
        error_class="InvalidEventError",
        error_message="",
        retryable=False,
        attempts=1,
    )


def test_a_selection_by_time_includes_since_and_excludes_until() -> None:
    window = Selection(since=NOON, until=datetime(2026, 11, 30, 13, 0, tzinfo=UTC))
    assert window.matches(letter("a", NOON))
    assert not window.matches(letter("b", datetime(2026, 11, 30, 13, 0, tzinfo=UTC)))
    assert not window.matches(letter("c", datetime(2026, 11, 30, 11, 59, tzinfo=UTC)))


def test_a_letter_must_match_every_criterion_given() -> None:
    chosen = Selection(ids=frozenset({"a"}), since=NOON)
    assert chosen.matches(letter("a", NOON))
    assert not chosen.matches(letter("b", NOON))
    assert not chosen.matches(letter("a", datetime(2026, 11, 29, tzinfo=UTC)))
    assert Selection(everything=True).matches(letter("z"))


@pytest.mark.parametrize(
    "selection",
    [{}, {"everything": True, "ids": frozenset({"a"})}, {"everything": True, "since": NOON}],
    ids=["nothing", "all-and-ids", "all-and-since"],
)
def test_a_selection_is_explicit(selection: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Selection(**selection)  # type: ignore[arg-type]


def test_replay_without_a_selector_is_a_usage_error_before_any_kafka_call() -> None:
    result = CliRunner().invoke(
        main, ["dlq", "replay"], env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    )
    assert result.exit_code == 2
    assert "choose what to replay: --id ID (repeatable), --since/--until WHEN, or --all" in (
        result.output
    )


def test_an_unreadable_time_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["dlq", "replay", "--since", "last tuesday"])
    assert result.exit_code == 2 and "neither an ISO-8601 timestamp nor a duration" in result.output
