from __future__ import annotations

import time

from gateway.ratelimit import RateLimiter
from gateway.socket_limits import OpenSockets, admit, seconds_left


def test_a_principal_holds_at_most_its_cap_and_a_release_frees_a_slot() -> None:
    sockets = OpenSockets(per_principal=2)
    assert sockets.claim("key:a") and sockets.claim("key:a") and not sockets.claim("key:a")
    assert sockets.claim("key:b")
    sockets.release("key:a")
    assert sockets.claim("key:a") and not sockets.claim("key:a")


async def test_an_opening_is_charged_to_the_rate_limit_even_when_the_cap_refuses_it() -> None:
    sockets = OpenSockets(per_principal=1)
    limiter = RateLimiter(per_minute=3, per_hour=100, redis=None)

    refusals = [await admit(sockets, limiter, "key:a") for _ in range(4)]

    assert refusals[0] is None
    assert [r.code if r else None for r in refusals[1:]] == [
        "too_many_connections",
        "too_many_connections",
        "rate_limited",
    ]
    assert all(r.close_code == 4429 for r in refusals[1:] if r)
    assert refusals[3] is not None and (refusals[3].retry_after or 0) > 0


def test_seconds_left_counts_down_to_expiry_and_never_for_api_keys() -> None:
    assert seconds_left(None) is None
    left = seconds_left(int(time.time()) + 30)
    assert left is not None and 28 <= left <= 30
    assert seconds_left(int(time.time()) - 5) == 0
