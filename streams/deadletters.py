"""Dead letters that always fit on the broker, whatever the record they describe.

A letter carries at most ``DEAD_LETTER_MAX_VALUE_BYTES`` of the original value and
``DEAD_LETTER_MAX_KEY_BYTES`` of its key; beyond that it is marked truncated, and its
size, SHA-256 and source coordinates let ``techgear dlq replay`` read the whole record
from the source topic. Headers copied from the original are bounded the same way.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

import orjson

from runtime.errors import is_retryable
from schemas import DeadLetter
from schemas.events import DEAD_LETTER_MAX_KEY_BYTES, DEAD_LETTER_MAX_VALUE_BYTES, Event
from schemas.topics import CORRELATION_HEADER
from streams.inbound import InboundMessage

UNKNOWN = "unknown"
MAX_HEADER_BYTES = 8 * 1024
"""Original headers copied onto a letter at most, name and value together."""
_MAX_ERROR_CHARS = 2000
_MAX_ID_CHARS = 128


def dead_letter_for(
    message: InboundMessage,
    error: BaseException,
    *,
    attempts: int,
    event: Event | None,
    keep_original: bool = True,
) -> DeadLetter:
    """The letter for ``message``; without ``keep_original`` it carries none of the
    original bytes (for a broker whose message size is below even the bounded letter)."""
    value_limit = DEAD_LETTER_MAX_VALUE_BYTES if keep_original else 0
    key_limit = DEAD_LETTER_MAX_KEY_BYTES if keep_original else 0
    key = message.key
    truncated = len(message.value) > value_limit or (key is not None and len(key) > key_limit)
    return DeadLetter(
        request_id=event.request_id if event else (_peek_request_id(message) or UNKNOWN),
        conversation_id=event.conversation_id if event else _key_text(key),
        correlation_id=event.correlation_id
        if event
        else _header_text(message.headers.get(CORRELATION_HEADER)),
        source_topic=message.topic,
        source_partition=message.partition,
        source_offset=message.offset,
        original_key_b64=_b64(key[:key_limit]) if key is not None else None,
        original_value_b64=_b64(message.value[:value_limit]),
        original_size=len(message.value),
        original_sha256=hashlib.sha256(message.value).hexdigest(),
        original_truncated=truncated,
        error_class=type(error).__name__,
        error_message=str(error)[:_MAX_ERROR_CHARS],
        retryable=is_retryable(error),
        attempts=attempts,
    )


def bounded_headers(headers: Mapping[str, bytes]) -> dict[str, bytes]:
    """The original headers to copy onto a letter, in order, up to ``MAX_HEADER_BYTES``."""
    kept: dict[str, bytes] = {}
    budget = MAX_HEADER_BYTES
    for name, value in headers.items():
        budget -= len(name.encode()) + len(value)
        if budget < 0:
            break
        kept[name] = value
    return kept


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _peek_request_id(message: InboundMessage) -> str | None:
    """The request id an invalid event still carries, so its letter can name it. Only a
    value small enough to be a real request is parsed."""
    if len(message.value) > DEAD_LETTER_MAX_VALUE_BYTES:
        return None
    try:
        payload = orjson.loads(message.value)
    except orjson.JSONDecodeError:
        return None
    request_id = payload.get("request_id") if isinstance(payload, dict) else None
    return request_id[:_MAX_ID_CHARS] if isinstance(request_id, str) and request_id else None


def _key_text(key: bytes | None) -> str:
    text = key[:_MAX_ID_CHARS].decode("utf-8", "replace").strip() if key else ""
    return text or UNKNOWN


def _header_text(value: bytes | None) -> str | None:
    return value[:_MAX_ID_CHARS].decode("utf-8", "replace") if value else None
