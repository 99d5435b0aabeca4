from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.errors import ConfigurationError
from streams.support_hours import SupportHours

REPO = Path(__file__).resolve().parents[3]
KOLKATA = SupportHours.parse("Mon-Sat 09:00-18:00 Asia/Kolkata")
BERLIN = SupportHours.parse("Mon-Fri 08:00-20:00 Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_open_within_the_local_hours_of_a_support_day() -> None:
    assert KOLKATA.is_open(utc(2026, 12, 7, 3, 30))  # Monday 09:00 IST
    assert KOLKATA.is_open(utc(2026, 12, 12, 12, 29))  # Saturday 17:59 IST
    assert not KOLKATA.is_open(utc(2026, 12, 12, 12, 30))  # Saturday 18:00 IST
    assert not KOLKATA.is_open(utc(2026, 12, 6, 6, 0))  # Sunday 11:30 IST
    assert not KOLKATA.is_open(utc(2026, 12, 7, 3, 29))  # Monday 08:59 IST


def test_inside_hours_a_person_replies_within_the_target() -> None:
    now = utc(2026, 12, 7, 6, 0)
    promise = KOLKATA.promise(now, 900)
    assert promise.open_now and promise.expected_by == now + timedelta(seconds=900)
    assert promise.notice == "A person will reply here, usually within 15 minutes."


def test_after_saturday_closing_the_promise_wraps_to_monday_morning() -> None:
    promise = KOLKATA.promise(utc(2026, 12, 12, 13, 0), 900)  # Saturday 18:30 IST

    assert not promise.open_now
    assert promise.expected_by == utc(2026, 12, 14, 3, 45)  # Monday 09:15 IST
    assert "after we open on Monday 14 December at 09:00 IST" in promise.notice
    assert "Mon-Sat 09:00-18:00 Asia/Kolkata" in promise.notice


def test_before_opening_the_promise_is_for_the_same_morning() -> None:
    promise = KOLKATA.promise(utc(2026, 12, 8, 1, 0), 600)  # Tuesday 06:30 IST
    assert promise.expected_by == utc(2026, 12, 8, 3, 40)


def test_next_opening_follows_the_clock_change_to_summer_time() -> None:
    # Friday 27 March 2026 20:30 CET; Berlin moves to CEST on Sunday 29 March.
    promise = BERLIN.promise(utc(2026, 3, 27, 19, 30), 900)

    assert promise.expected_by == utc(2026, 3, 30, 6, 15)  # Monday 08:15 CEST
    assert "Monday 30 March at 08:00 CEST" in promise.notice


def test_opening_hours_stay_local_across_the_change_back_to_winter_time() -> None:
    assert BERLIN.is_open(utc(2026, 10, 23, 6, 0))  # Friday 08:00 CEST
    assert not BERLIN.is_open(utc(2026, 10, 26, 6, 59))  # Monday 07:59 CET
    assert BERLIN.is_open(utc(2026, 10, 26, 7, 0))  # Monday 08:00 CET


def test_day_lists_and_wrapping_ranges() -> None:
    alternate = SupportHours.parse("Mon,Wed,Fri 10:00-16:00 UTC")
    assert alternate.days == frozenset({0, 2, 4})
    # Friday after closing: the next opening is Monday.
    assert alternate.next_opening(utc(2026, 12, 11, 17, 0)) == utc(2026, 12, 14, 10, 0)
    assert SupportHours.parse("fri-mon 10:00-16:00 UTC").days == frozenset({4, 5, 6, 0})
    assert SupportHours.parse("Mon-Wed,Sat 10:00-16:00 UTC").days == frozenset({0, 1, 2, 5})


def test_one_day_a_week_waits_a_whole_week_after_closing() -> None:
    weekly = SupportHours.parse("Wed 09:00-10:00 UTC")
    assert weekly.next_opening(utc(2026, 12, 9, 11, 0)) == utc(2026, 12, 16, 9, 0)
    assert weekly.next_opening(utc(2026, 12, 9, 8, 0)) == utc(2026, 12, 9, 9, 0)


def test_a_zone_without_a_lettered_abbreviation_is_named_by_its_key() -> None:
    dubai = SupportHours.parse("Sun-Thu 09:00-17:00 Asia/Dubai")  # tzdata abbreviates "+04"
    assert dubai.local_time(utc(2026, 12, 6, 5, 0)) == "Sunday 6 December at 09:00 Asia/Dubai"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "Mon-Sat 09:00-18:00",
        "Mon-Sat 9-18 Asia/Kolkata",
        "Mon-Sut 09:00-18:00 Asia/Kolkata",
        "Mon-Sat 18:00-09:00 Asia/Kolkata",
        "Mon-Sat 09:00-24:00 Asia/Kolkata",
        "Mon-Sat 09:00-18:00 Mars/Olympus",
        "Mon-Sat 09:00-18:00 ../etc/passwd",
    ],
)
def test_malformed_hours_are_a_configuration_error_naming_the_setting(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="SUPPORT_HOURS") as raised:
        SupportHours.parse(spec)
    assert "\n" not in str(raised.value)


def test_a_worker_with_malformed_hours_stops_at_start_with_one_line() -> None:
    env = os.environ | {
        "SUPPORT_HOURS": "Mon-Sat 9-18 Kolkata",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # never reached
        "LOG_FORMAT": "text",
    }
    result = subprocess.run(
        [sys.executable, "-m", "techgear", "worker"],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "Error: SUPPORT_HOURS='Mon-Sat 9-18 Kolkata' is invalid: "
        "expected e.g. 'Mon-Sat 09:00-18:00 Asia/Kolkata'"
    ]
