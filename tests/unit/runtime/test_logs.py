from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import correlation
from runtime.logs import LoggingSettings, configure_logging, mask, redact


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "techgear.log"
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging(
        LoggingSettings(
            _env_file=None, log_file_path=path, log_max_size_mb=0.001, log_backup_count=2
        )
    )  # type: ignore[call-arg]
    yield path
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("write to asha.k@example.co.in please", "write to [email] please"),
        ("call me on 9876543210", "call me on [phone]"),
        ("or +91 98765 43210", "or [phone]"),
        ("card 4111 1111 1111 1111 declined", "card [card] declined"),
        ("order #TG48213 for ₹15,999", "order #[order] for ₹15,999"),
        ("order TG-90012 and claim WC10234", "order [order] and claim [order]"),
        ("my order number is 88123456 thanks", "my order number is [order] thanks"),
        ("Order id: AB-12345, please", "Order id: [order], please"),
        ("order no. 7731234 is late", "order no. [order] is late"),
        ("ship to 221B Baker Street, London", "ship to [address], London"),
        ("at 12, MG Road Bengaluru", "at [address] Bengaluru"),
        ("flat 4, 45 2nd Cross Road, Indiranagar", "flat [address], Indiranagar"),
        ("my name is Asha Kumar and I", "my name is [name] and I"),
        ("Name: Ravi", "Name: [name]"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "SmartWatch Pro 2 costs ₹15,999, was ₹18,499",
        "delivered on 2026-11-30 at 14:05, or 30/11/2026",
        "request 3f2a9c1e-77aa-4bb1-9a0c-1234567890ab, event 5b52d8f",
        "65 W charger with 2 USB-C ports and 3 Pro Max cases",
        "I want to order 2 chargers; the order is late; Order placed on Monday",
        "OnePlus 12 Pro Max, Galaxy S24 Ultra, boAt Airdopes 141",
        "my name is not important",
        "offset 12 of partition 3 at 2 retries",
    ],
)
def test_product_names_prices_dates_and_ids_are_not_masked(text: str) -> None:
    assert mask(text) == text


def test_lines_are_json_with_correlation_ids_and_masked_text(log_file: Path) -> None:
    with correlation.bound(request_id="r-1", correlation_id="c-1", conversation_id="conv-1"):
        logging.getLogger("streams.handler").info("question received: %s", "mail asha@example.com")
    logging.getLogger("streams.handler").info("outside any request")

    first, second = lines(log_file)
    assert first["level"] == "INFO" and first["logger"] == "streams.handler" and first["time"]
    assert first["message"] == "question received: mail [email]"
    assert (first["request_id"], first["correlation_id"], first["conversation_id"]) == (
        "r-1",
        "c-1",
        "conv-1",
    )
    assert "request_id" not in second


def test_personal_fields_given_as_extra_are_masked_whole(log_file: Path) -> None:
    logging.getLogger("helpdesk").info(
        "escalated",
        extra={"customer_name": "Asha Kumar", "requester": {"email": "a@b.in"}, "tries": 2},
    )

    [line] = lines(log_file)
    assert line["customer_name"] == "[masked]" and line["requester"] == "[masked]"
    assert line["tries"] == 2 and line["logger"] == "helpdesk"


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhc2hhIn0.c2lnbmF0dXJlLXBhcnQ"


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            '127.0.0.1:5 - "WebSocket /v1/ws?api_key=tgk_s3cret&conversation_id=c1" [accepted]',
            '127.0.0.1:5 - "WebSocket /v1/ws?api_key=[redacted]&conversation_id=c1" [accepted]',
        ),
        ("GET /v1/ws?token=abc.def", "GET /v1/ws?token=[redacted]"),
        (
            "/v1/ws?conversation_id=c1&access_token=xyz",
            "/v1/ws?conversation_id=c1&access_token=[redacted]",
        ),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer [redacted]"),
        ("authorization: ApiKey tgk_s3cret", "authorization: ApiKey [redacted]"),
        ("X-API-Key: tgk_s3cret", "X-API-Key: [redacted]"),
        ("{'x-api-key': 'tgk_s3cret'}", "{'x-api-key': '[redacted]'}"),
        ("(b'x-api-key', b'tgk_s3cret')", "(b'x-api-key', b'[redacted]')"),
        (
            "offered ['techgear.v1', 'techgear.key.dGdrX3MzY3JldA']",
            "offered ['techgear.v1', 'techgear.key.[redacted]']",
        ),
        ("protocol techgear.bearer.ZXlKaGJH", "protocol techgear.bearer.[redacted]"),
        (f"token was {JWT} today", "token was [redacted] today"),
        ("no secret in conversation_id=c1 here", "no secret in conversation_id=c1 here"),
    ],
)
def test_credentials_are_redacted(text: str, redacted: str) -> None:
    assert redact(text) == redacted


def test_every_logger_writes_credentials_redacted_from_message_and_args(log_file: Path) -> None:
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "127.0.0.1:5", "/v1/ws?api_key=tgk_s3cret"
    )
    logging.getLogger("some.library").warning("sent %s", {"Authorization": f"Bearer {JWT}"})

    handshake, library = lines(log_file)
    assert handshake["logger"] == "uvicorn.error"
    assert handshake["message"] == '127.0.0.1:5 - "WebSocket /v1/ws?api_key=[redacted]" [accepted]'
    assert library["message"] == "sent {'Authorization': 'Bearer [redacted]'}"
    assert "s3cret" not in log_file.read_text() and JWT not in log_file.read_text()


def test_file_rotates_by_size_and_keeps_the_backup_count(log_file: Path) -> None:
    for n in range(200):
        logging.getLogger("test").info("line %d %s", n, "x" * 40)

    names = sorted(p.name for p in log_file.parent.iterdir())
    assert names == ["techgear.log", "techgear.log.1", "techgear.log.2"]
