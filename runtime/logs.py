"""The one logging setup of every process: JSON lines (or text), correlation ids, masking.

Each line carries time, level, logger, message and, where known, ``request_id``,
``correlation_id`` and ``conversation_id``. Email addresses, phone numbers, card numbers,
order and warranty-claim numbers, street addresses and names introduced as such ("my name
is …") in messages are masked, so customer text can be logged; so are fields of personal
data given as ``extra`` (``customer``, ``customer_name``, ``requester`` …), whole.
Credentials are redacted from every logger's lines, uvicorn's and other libraries'
included, since the filters sit on the handlers. ``LOG_FILE_PATH`` adds a size-rotated
file beside standard error.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pythonjsonlogger.json import JsonFormatter

from runtime import correlation

_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?<![\w-])(?:\+?\d{1,3}[ -]?)?(?:\d[ -]?){9}\d\b")
_EMAIL = re.compile(r"\b[\w.+-]+@([\w-]+\.)+[\w-]{2,}\b")
# TechGear order (TG48213, TG-48213) and warranty-claim (WC10234) numbers, and any
# reference introduced as an order's ("order no 88123456", "order id: AB-12345").
_ORDER_NUMBER = re.compile(r"(?i)\b(?:TG|ORD|WC)-?\d{4,}\b")
_ORDER_REFERENCE = re.compile(
    r"(?i)(\border(?:\s*(?:id|no\.?|number|#)){1,2}\s*(?:is\s*)?[:#]?\s*)"
    r"(?=[a-z-]*\d)[a-z0-9][a-z0-9-]{3,}\b"
)
# A house number, up to four words and a street suffix: "221B Baker Street", "12, MG Road".
_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?,?(?:\s+[\w.'-]+){1,4}?\s+"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Marg|Nagar|Cross|Boulevard|Blvd|Drive|Layout|"
    r"Colony|Sector|Block|Apartments?)(?:\s+(?:Road|Street|Main))?\b\.?"
)
_NAME = re.compile(r"(\b(?i:my name is|name:)\s*)[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?")
_PERSONAL_FIELDS = frozenset(
    {"customer", "customer_name", "requester", "requester_name", "address", "email", "phone"}
)
"""``extra`` fields that hold personal data: their values are masked whole."""

_REDACTED = "[redacted]"
_SECRETS = (
    # Query strings: ?api_key=…, ?token=…, ?access_token=…, ?refresh_token=…
    re.compile(r"(?i)(\b(?:api_?key|\w*token)=)[^&\s\"'#]+"),
    # Authorization: Bearer …, Authorization: ApiKey …
    re.compile(r"(?i)(\b(?:bearer|apikey)\s+)[^\s\"',)]+"),
    # X-API-Key: …, {'x-api-key': '…'}, (b'x-api-key', b'…')
    re.compile(r"(?i)(\bx-api-key['\"]?\s*[:=,]\s*b?['\"]?)[^\s\"',)}]+"),
    # WebSocket subprotocol credentials (gateway/auth.py)
    re.compile(r"(?i)(\btechgear\.(?:key|bearer)\.)[\w-]+"),
    # JWTs wherever they appear: three base64url segments, the header starting {"
    re.compile(r"()\beyJ[\w-]*\.[\w-]+\.[\w-]*"),
)


class LoggingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    log_file_path: Path | None = None
    log_max_size_mb: float = Field(default=50, gt=0)
    log_backup_count: int = Field(default=5, ge=0)


def mask(text: str) -> str:
    text = _CARD.sub("[card]", text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    text = _ORDER_NUMBER.sub("[order]", text)
    text = _ORDER_REFERENCE.sub(r"\g<1>[order]", text)
    text = _ADDRESS.sub("[address]", text)
    return _NAME.sub(r"\g<1>[name]", text)


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(rf"\g<1>{_REDACTED}", text)
    return text


class SecretsFilter(logging.Filter):
    """Redacts API keys, tokens and JWTs from the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class ContextFilter(logging.Filter):
    """Adds the correlation ids and masks personal data in the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in correlation.current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        for name in _PERSONAL_FIELDS.intersection(record.__dict__):
            setattr(record, name, "[masked]")
        return True


def configure_logging(settings: LoggingSettings | None = None) -> None:
    settings = settings or LoggingSettings()
    formatter: logging.Formatter
    if settings.log_format == "json":
        formatter = JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.log_file_path:
        settings.log_file_path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                settings.log_file_path,
                maxBytes=int(settings.log_max_size_mb * 1024 * 1024),
                backupCount=settings.log_backup_count,
                encoding="utf-8",
            )
        )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(SecretsFilter())
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Chatty libraries: their INFO lines are lifecycle noise at our INFO level.
    for name in ("aiokafka", "faust", "mode", "httpx", "chromadb"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
