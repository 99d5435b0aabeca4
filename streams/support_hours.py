"""When people answer: ``SUPPORT_HOURS`` and the promise the customer is given.

``SUPPORT_HOURS`` is ``<days> <HH:MM>-<HH:MM> <IANA zone>``: days as a range (``Mon-Sat``,
which may wrap: ``Fri-Mon``), a list (``Mon,Wed,Fri``) or both (``Mon-Wed,Fri``); the hours
are local wall-clock times in the zone, so a change to or from summer time moves them
with the clock. Holidays are not modelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runtime.errors import ConfigurationError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SPEC = re.compile(
    r"^\s*(?P<days>[A-Za-z,\-]+)\s+(?P<opens>\d{1,2}:\d{2})-(?P<closes>\d{1,2}:\d{2})"
    r"\s+(?P<zone>\S+)\s*$"
)


@dataclass(frozen=True, slots=True)
class ResponsePromise:
    """What a customer handed to a person is told, and when a reply is due."""

    expected_by: datetime
    """UTC."""
    open_now: bool
    notice: str
    """One or two sentences saying truthfully when a person will reply."""


@dataclass(frozen=True, slots=True)
class SupportHours:
    days: frozenset[int]
    """Weekdays with support (Monday 0)."""
    opens: time
    closes: time
    zone: ZoneInfo
    spec: str

    @classmethod
    def parse(cls, spec: str) -> SupportHours:
        """Raises ``ConfigurationError`` naming ``SUPPORT_HOURS`` on anything malformed."""
        match = _SPEC.match(spec)
        if match is None:
            raise _invalid(spec, "expected e.g. 'Mon-Sat 09:00-18:00 Asia/Kolkata'")
        opens = _clock(spec, match["opens"])
        closes = _clock(spec, match["closes"])
        if closes <= opens:
            raise _invalid(spec, "the closing time must be after the opening time")
        try:
            zone = ZoneInfo(match["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise _invalid(spec, f"unknown time zone {match['zone']!r}") from None
        return cls(_days(spec, match["days"]), opens, closes, zone, " ".join(spec.split()))

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def next_opening(self, at: datetime) -> datetime:
        """The first opening strictly after ``at`` (UTC)."""
        today = at.astimezone(self.zone).date()
        for ahead in range(8):
            day = today + timedelta(days=ahead)
            if day.weekday() in self.days:
                opening = self._local(day, self.opens)
                if opening > at:
                    return opening
        raise AssertionError("a week always holds an opening")  # days is never empty

    def promise(self, now: datetime, target_s: float) -> ResponsePromise:
        """Inside hours a reply is due ``target_s`` from now; outside, that long after the
        next opening, and the notice says when that is in the support team's zone."""
        target = timedelta(seconds=target_s)
        if self.is_open(now):
            return ResponsePromise(
                expected_by=(now + target).astimezone(UTC),
                open_now=True,
                notice=f"A person will reply here, usually within {_duration(target)}.",
            )
        opening = self.next_opening(now)
        return ResponsePromise(
            expected_by=opening + target,
            open_now=False,
            notice=f"Our support team is away right now (hours: {self.spec}); a person will "
            f"reply here after we open on {self.local_time(opening)}.",
        )

    def local_time(self, at: datetime) -> str:
        """``Monday 7 December at 09:00 IST``: in the zone the support hours are in."""
        local = at.astimezone(self.zone)
        abbreviation = local.tzname() or ""
        zone = abbreviation if abbreviation.isalpha() else self.zone.key
        return f"{local:%A} {local.day} {local:%B} at {local:%H:%M} {zone}"

    def _local(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)


def _days(spec: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        start, end = _day(spec, first), _day(spec, last or first)
        days.update((start + n) % 7 for n in range((end - start) % 7 + 1))
    return frozenset(days)


def _day(spec: str, name: str) -> int:
    day = name.strip().capitalize()
    if day not in DAYS:
        raise _invalid(spec, f"unknown day {name!r} (use {', '.join(DAYS)})")
    return DAYS.index(day)


def _clock(spec: str, text: str) -> time:
    hours, minutes = (int(n) for n in text.split(":"))
    if hours > 23 or minutes > 59:
        raise _invalid(spec, f"{text} is not a time of day")
    return time(hours, minutes)


def _duration(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{round(minutes / 60)} hours"


def _invalid(spec: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"SUPPORT_HOURS={spec!r} is invalid: {why}")
