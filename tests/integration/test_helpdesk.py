"""The helpdesk bridge against local Zendesk- and Freshdesk-shaped servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from schemas.topics import HELPDESK_DEADLETTER
from tests.conftest import API_KEY, REPO, STATE_DIR, process_env, stop_process
from tests.integration.conftest import read_until, wait_for

pytestmark = pytest.mark.integration

FAKE_PORT = int(os.environ.get("TEST_FAKE_HELPDESK_PORT", "18901"))
FAKE_URL = f"http://127.0.0.1:{FAKE_PORT}"


@pytest.fixture(scope="module")
def fake_helpdesks() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.fake_helpdesks", str(FAKE_PORT)], cwd=REPO
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{FAKE_URL}/_inspect", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield FAKE_URL
    stop_process(process)


def start_bridge(target: str, kafka_bootstrap: str, redis_url: str) -> subprocess.Popen[bytes]:
    env = process_env(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        REDIS_URL=redis_url,
        HELPDESK_BACKOFF_S="0.2",
        ZENDESK_URL=FAKE_URL,
        ZENDESK_EMAIL="bot@techgear.in",
        ZENDESK_API_TOKEN="zd-token",
        FRESHDESK_URL=FAKE_URL,
        FRESHDESK_API_KEY="fd-key",
    )
    with (STATE_DIR / f"helpdesk-{target}.log").open("ab") as log:  # the child keeps its own
        return subprocess.Popen(
            [sys.executable, "-m", "techgear", "helpdesk", "--target", target],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=log,
        )


def records(target: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    state = httpx.get(f"{FAKE_URL}/_inspect").json()
    return state["tickets"][target], state["notes"][target]


def text_of(item: dict[str, Any]) -> str:
    return str(
        item.get("comment", {}).get("body") or item.get("description") or item.get("body") or ""
    )


def mentions(items: list[dict[str, Any]], request_id: str) -> int:
    """Tickets or notes made for ``request_id`` (transcripts may quote other references)."""
    return sum(f"Reference: {request_id} " in text_of(item) for item in items)


def escalate(gateway_url: str, conversation: str, message: str, **customer: str) -> str:
    response = httpx.post(
        f"{gateway_url}/v1/chat",
        json={
            "message": message,
            "conversation_id": conversation,
            **({"customer": customer} if customer else {}),
        },
        headers={"X-API-Key": API_KEY},
        timeout=30,
    )
    assert response.json()["escalated"] is True
    return str(response.json()["request_id"])


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
def test_one_ticket_per_escalation_follow_ups_as_notes_also_across_a_restart(
    target: str, fake_helpdesks: str, gateway_url: str, kafka_bootstrap: str, redis_url: str
) -> None:
    redis.Redis.from_url(redis_url).delete(
        *redis.Redis.from_url(redis_url).keys(f"techgear:helpdesk:{target}:*") or ["none"]
    )
    first_conversation, second_conversation = f"hd-{uuid.uuid4().hex}", f"hd-{uuid.uuid4().hex}"
    opened = escalate(
        gateway_url,
        first_conversation,
        "I want to talk to a human",
        name="Asha",
        email="asha@example.in",
    )
    followed = escalate(
        gateway_url, first_conversation, "This is unacceptable, I will go to consumer court!"
    )

    bridge = start_bridge(target, kafka_bootstrap, redis_url)
    try:
        wait_for(
            lambda: mentions(records(target)[1], followed) == 1, "the follow-up note", timeout_s=60
        )
    finally:
        stop_process(bridge)
    later = escalate(
        gateway_url, second_conversation, "Please connect me to an agent", phone="+91 98765 43210"
    )
    bridge = start_bridge(target, kafka_bootstrap, redis_url)  # restarted mid-stream
    try:
        wait_for(
            lambda: mentions(records(target)[0], later) == 1, "the ticket created after the restart"
        )
        time.sleep(2)  # room for any duplicate to appear
    finally:
        stop_process(bridge)

    tickets, notes = records(target)
    assert mentions(tickets, opened) == 1 and mentions(notes, opened) == 0
    assert mentions(notes, followed) == 1 and mentions(tickets, followed) == 0
    assert mentions(tickets, later) == 1
    ticket = next(t for t in tickets if mentions([t], opened))
    assert next(n for n in notes if mentions([n], followed))["ticket_id"] == ticket["id"]
    if target == "zendesk":
        assert ticket["requester"] == {"name": "Asha", "email": "asha@example.in"}
        assert ticket["external_id"] == first_conversation and ticket["priority"] == "normal"
    else:
        assert (
            ticket["email"] == "asha@example.in"
            and ticket["priority"] == 2
            and ticket["source"] == 7
        )


async def test_ticket_refused_as_invalid_goes_to_the_helpdesk_dead_letters(
    fake_helpdesks: str, gateway_url: str, kafka_bootstrap: str, redis_url: str
) -> None:
    refused = escalate(
        gateway_url, f"hd-{uuid.uuid4().hex}", "REFUSE-ME connect me to a human agent"
    )
    bridge = start_bridge("freshdesk", kafka_bootstrap, redis_url)
    try:
        record = await read_until(
            kafka_bootstrap,
            HELPDESK_DEADLETTER,
            lambda r: refused.encode() in (r.value or b""),
            timeout_s=60,
        )
    finally:
        stop_process(bridge)
    assert b"Validation failed" in (record.value or b"")
    assert mentions(records("freshdesk")[0], refused) == 0
