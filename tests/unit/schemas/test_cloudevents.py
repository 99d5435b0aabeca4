from __future__ import annotations

from schemas.cloudevents import header_value


def test_a_header_value_is_its_utf8_text() -> None:
    assert header_value([("ce_id", b"1"), ("request_id", "réq".encode())], "request_id") == "réq"


def test_a_null_or_non_utf8_header_value_counts_as_absent() -> None:
    assert header_value([("request_id", None)], "request_id") is None
    assert header_value([("request_id", b"\xc3\x28")], "request_id") is None
    assert header_value([("request_id", None), ("request_id", b"r-1")], "request_id") == "r-1"
    assert header_value([], "request_id") is None
