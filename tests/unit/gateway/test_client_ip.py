"""Whose address a request carries, with hostile forwarding chains."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from gateway.client_ip import client_address, parse_networks

PROXIES = parse_networks(["10.0.0.5", "10.0.1.0/29", "2001:db8:ffff::/126"])
PROXY = "10.0.0.5"


def scope(peer: str | None, *forwarded: str) -> Scope:
    return {
        "type": "http",
        "client": (peer, 51000) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded],
    }


def test_an_untrusted_peer_is_the_caller_whatever_it_forwards() -> None:
    assert client_address(scope("203.0.113.7", "198.51.100.1"), PROXIES) == "203.0.113.7"


def test_without_trusted_proxies_the_peer_is_the_caller() -> None:
    assert client_address(scope(PROXY, "198.51.100.1"), []) == PROXY


def test_the_rightmost_untrusted_hop_wins_over_what_the_caller_prepended() -> None:
    chain = "1.1.1.1, 2.2.2.2, 198.51.100.1, 10.0.1.3"
    assert client_address(scope(PROXY, chain), PROXIES) == "198.51.100.1"


def test_several_headers_form_one_chain_in_order() -> None:
    request = scope(PROXY, "1.1.1.1, 198.51.100.1", "10.0.1.2", "10.0.1.3")
    assert client_address(request, PROXIES) == "198.51.100.1"


@pytest.mark.parametrize(
    "garbage",
    [
        "not-an-ip",
        "unknown",
        "198.51.100.1:4711",
        "[2001:db8::1]",
        "[2001:db8::1]:443",
        "",
        "fe80::1%eth0",
        "198.51.100.1 198.51.100.2",
        "0x7f.1",
        "198.51.100.1\x00",
        "_hidden",
    ],
)
def test_an_entry_that_is_not_an_ip_literal_ends_the_walk_at_the_peer(garbage: str) -> None:
    request = scope(PROXY, f"198.51.100.9, {garbage}, 10.0.1.3")
    assert client_address(request, PROXIES) == PROXY


def test_garbage_left_of_the_caller_is_never_reached() -> None:
    request = scope(PROXY, "evil, [::1]:80, 198.51.100.1")
    assert client_address(request, PROXIES) == "198.51.100.1"


def test_a_chain_trusted_to_its_left_end_yields_the_peer_not_the_leftmost_hop() -> None:
    assert client_address(scope(PROXY, "10.0.1.1, 10.0.1.2"), PROXIES) == PROXY


def test_a_trusted_peer_without_a_forwarded_header_is_the_caller() -> None:
    assert client_address(scope(PROXY), PROXIES) == PROXY


def test_spaces_and_tabs_around_entries_are_tolerated() -> None:
    assert client_address(scope(PROXY, " \t198.51.100.1\t ,10.0.1.3 "), PROXIES) == "198.51.100.1"


def test_ipv6_hops_are_compared_and_reported_in_canonical_form() -> None:
    request = scope("2001:db8:ffff::1", "2001:DB8:0:0::42, 2001:db8:ffff::2")
    assert client_address(request, PROXIES) == "2001:db8::42"


def test_an_ipv4_mapped_peer_is_trusted_as_its_ipv4_address() -> None:
    assert client_address(scope("::ffff:10.0.0.5", "198.51.100.1"), PROXIES) == "198.51.100.1"


def test_an_ipv4_mapped_hop_reports_its_ipv4_address() -> None:
    assert client_address(scope(PROXY, "::ffff:198.51.100.1"), PROXIES) == "198.51.100.1"


def test_a_long_chain_of_many_headers_still_yields_the_rightmost_untrusted_hop() -> None:
    headers = [f"192.0.2.{index % 250}" for index in range(2000)] + ["198.51.100.1", "10.0.1.4"]
    assert client_address(scope(PROXY, *headers), PROXIES) == "198.51.100.1"


def test_a_request_without_a_peer_is_unknown() -> None:
    assert client_address(scope(None, "198.51.100.1"), PROXIES) == "unknown"
