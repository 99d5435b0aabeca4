from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from techgear.moments import parse_moment

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "ago"),
    [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("2h", timedelta(hours=2))]
    + [("7d", timedelta(days=7)), ("1w", timedelta(weeks=1))],
)
def test_a_duration_means_that_long_ago(text: str, ago: timedelta) -> None:
    assert parse_moment(text, now=NOW) == NOW - ago


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-29T08:30:00Z", datetime(2026, 11, 29, 8, 30, tzinfo=UTC)),
        ("2026-11-29T14:00:00+05:30", datetime(2026, 11, 29, 8, 30, tzinfo=UTC)),
        ("2026-11-29T08:30", datetime(2026, 11, 29, 8, 30, tzinfo=UTC)),
        ("2026-11-29", datetime(2026, 11, 29, tzinfo=UTC)),
    ],
)
def test_an_iso_timestamp_is_read_in_utc_when_it_has_no_offset(text: str, moment: datetime) -> None:
    assert parse_moment(text, now=NOW) == moment


@pytest.mark.parametrize("text", ["yesterday", "2 h", "-2h", "7x", ""])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="neither an ISO-8601 timestamp nor a duration"):
        parse_moment(text, now=NOW)
