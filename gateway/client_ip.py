"""The caller's address, believing ``X-Forwarded-For`` only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(entries: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


def client_address(scope: Scope, trusted: list[Network]) -> str:
    """The nearest address in the forwarding chain that is not a trusted proxy.

    The walk starts at the TCP peer, the one address nobody can forge, and moves left
    through ``X-Forwarded-For`` (several headers count as one list, in order) only while
    the hop just passed is trusted: each trusted proxy vouches for the entry it appended,
    its own peer, and for nothing further left, which the caller may have written. The
    first untrusted hop is the caller.

    Everything else yields the peer itself:

    - an entry that is not a bare IP literal (a name, a port, brackets, ``unknown``, an
      empty entry, a zone index) ends the walk, because a trusted proxy appends only its
      peer's address, so the entry was not written by one;
    - a chain trusted all the way to its left end: the request came from inside the
      trusted set, and its leftmost entry would be whatever a trusted host chose to write
      (with a broad trust range, any pod could mint a fresh rate-limit bucket per request).

    Returning the peer in these cases can only make callers share a bucket, never let one
    choose its address. IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
    """
    peer = _parse(str(scope["client"][0])) if scope.get("client") else None
    if peer is None:
        return "unknown"
    if not _is_trusted(peer, trusted):
        return str(peer)
    forwarded = [
        bytes(value).decode("latin-1")
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
    ]
    hops = [hop for header in forwarded for hop in header.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break
        if not _is_trusted(address, trusted):
            return str(address)
    return str(peer)


def _parse(hop: str) -> Address | None:
    try:
        address = ipaddress.ip_address(hop.strip(" \t"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        return address.ipv4_mapped or address
    return address


def _is_trusted(address: Address, trusted: list[Network]) -> bool:
    return any(address in network for network in trusted)
