"""Points in time as operators type them: ISO-8601 timestamps or durations ago."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_moment(text: str, *, now: datetime) -> datetime:
    """``2h``, ``30m``, ``7d``, ``1w``, ``90s`` mean that long before ``now``; anything else
    must be an ISO-8601 date or timestamp (``2026-11-30``, ``2026-11-30T08:00:00+05:30``),
    read as UTC when it has no offset. ``ValueError`` when it is neither."""
    text = text.strip()
    if duration := _DURATION.fullmatch(text):
        amount, unit = duration.groups()
        return now - timedelta(seconds=int(amount) * _UNIT_S[unit])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO-8601 timestamp nor a duration like 2h or 7d"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
