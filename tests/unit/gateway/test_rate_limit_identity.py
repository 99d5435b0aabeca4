"""Whose buckets a request is charged to."""

from __future__ import annotations

from typing import Any

from starlette.authentication import UnauthenticatedUser

from gateway.auth import Principal
from gateway.client_ip import parse_networks
from gateway.middleware import rate_limit_identity

PROXY = parse_networks(["10.0.0.1"])


def scope(user: Any, forwarded_for: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": ("10.0.0.1", 50000),
        "headers": [(b"x-forwarded-for", forwarded_for.encode())],
        "user": user,
    }


def test_a_secret_key_is_one_bucket_wherever_it_calls_from() -> None:
    key = Principal("key:abc")
    assert rate_limit_identity(scope(key, "203.0.113.7"), PROXY) == "key:abc"
    assert rate_limit_identity(scope(key, "198.51.100.9"), PROXY) == "key:abc"


def test_each_visitor_of_a_publishable_key_has_its_own_bucket() -> None:
    key = Principal("key:pub", publishable=True)
    first = rate_limit_identity(scope(key, "203.0.113.7"), PROXY)
    second = rate_limit_identity(scope(key, "198.51.100.9"), PROXY)
    assert first == "key:pub@ip:203.0.113.7"
    assert second == "key:pub@ip:198.51.100.9"


def test_an_anonymous_caller_is_its_address() -> None:
    assert rate_limit_identity(scope(UnauthenticatedUser(), "203.0.113.7"), PROXY) == (
        "ip:203.0.113.7"
    )
