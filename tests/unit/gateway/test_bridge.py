from __future__ import annotations

import asyncio

from gateway.bridge import KafkaBridge, _DeltaRoute
from schemas import ChatDelta


def delta(seq: int, text: str) -> ChatDelta:
    return ChatDelta(request_id="r", conversation_id="c", correlation_id="k", seq=seq, text=text)


def test_a_redelivered_stream_is_not_repeated_to_the_caller() -> None:
    received: list[str] = []
    route = _DeltaRoute(lambda d: received.append(d.text))
    for seq, text in [(0, "The "), (1, "FitBand "), (0, "The "), (1, "FitBand "), (2, "costs")]:
        route.forward(delta(seq, text))
    assert received == ["The ", "FitBand ", "costs"]


def test_a_gap_does_not_stop_the_stream() -> None:
    received: list[int] = []
    route = _DeltaRoute(lambda d: received.append(d.seq))
    for seq in (0, 2, 3):
        route.forward(delta(seq, "x"))
    assert received == [0, 2, 3]


async def test_only_events_for_this_gateways_callers_are_decoded() -> None:
    bridge = KafkaBridge("127.0.0.1:1")
    bridge._waiting["mine"] = asyncio.get_running_loop().create_future()

    assert bridge._concerns_us([("ce_id", b"x"), ("request_id", b"mine")])
    assert not bridge._concerns_us([("request_id", b"another-gateways")])
    assert bridge._concerns_us([])  # no header: decoded to find out
