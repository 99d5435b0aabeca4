"""The ids that follow one question through every process, as context variables.

The gateway binds them per HTTP request or WebSocket question, the worker per Kafka
message (from the event and its headers); the logging setup adds them to every line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_FIELDS: dict[str, ContextVar[str | None]] = {
    "request_id": ContextVar("request_id", default=None),
    "correlation_id": ContextVar("correlation_id", default=None),
    "conversation_id": ContextVar("conversation_id", default=None),
}


@contextmanager
def bound(
    *,
    request_id: str | None = None,
    correlation_id: str | None = None,
    conversation_id: str | None = None,
) -> Iterator[None]:
    values = {
        "request_id": request_id,
        "correlation_id": correlation_id,
        "conversation_id": conversation_id,
    }
    tokens = [(_FIELDS[name], _FIELDS[name].set(value)) for name, value in values.items() if value]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def bind(**values: str) -> None:
    """Set ids for the rest of the current task (a request handler's own context)."""
    for name, value in values.items():
        _FIELDS[name].set(value)


def current() -> dict[str, str]:
    return {name: value for name, variable in _FIELDS.items() if (value := variable.get())}
