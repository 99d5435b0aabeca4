"""CloudEvents 1.0 attributes as Kafka headers (the Kafka protocol binding, binary mode).

The value stays the plain JSON event; the headers let any CloudEvents-aware consumer
route and trace it without parsing the body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel

from schemas.topics import CORRELATION_HEADER, REQUEST_ID_HEADER

SPEC_VERSION = "1.0"
_TYPE_PREFIX = "com.techgear.support."


def event_id(event: BaseModel) -> str:
    """The event's own id where it has one, else a stable id from its type and request,
    so a re-sent event keeps its id."""
    own = (
        getattr(event, "event_id", None)
        or getattr(event, "dead_letter_id", None)
        or getattr(event, "feedback_id", None)
    )
    if own:
        return str(own)
    parts = [
        getattr(event, "event_type", ""),
        getattr(event, "request_id", ""),
        str(getattr(event, "seq", "")),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def ce_type(event_type: str) -> str:
    """The CloudEvents ``type`` of an event whose ``event_type`` field is ``event_type``."""
    return _TYPE_PREFIX + event_type


def headers_for(event: BaseModel, *, source: str) -> dict[str, bytes]:
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": event_id(event),
        "ce_source": source,
        "ce_type": ce_type(str(getattr(event, "event_type", type(event).__name__))),
        "ce_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "content-type": "application/json",
    }
    for name in (REQUEST_ID_HEADER, CORRELATION_HEADER):
        value = getattr(event, name, None)
        if value:
            headers[name] = str(value)
    return {name: value.encode() for name, value in headers.items()}


def header_value(headers: Iterable[tuple[str, bytes | None]], name: str) -> str | None:
    """The first usable value of header ``name``. Anyone who can write to a topic chooses
    its headers: a value that is null (a header produced without one, as ``kcat -H name``
    does) or not UTF-8 counts as absent."""
    for key, value in headers:
        if key != name or value is None:
            continue
        try:
            return value.decode()
        except UnicodeDecodeError:
            continue
    return None
