"""The gateway under credential abuse, on the real stack: failed-authentication budgets per
address (HTTP, WebSocket, the token endpoint), and WebSocket expiry, caps and rate limits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import (
    ADMIN_KEY,
    GATEWAY_PORT,
    JWT_SECRET,
    PASSWORD,
    USER,
    WorkerProcess,
    running_gateway,
)
from tests.integration.test_websocket import offering, receive, ws_url

pytestmark = pytest.mark.integration

BUDGET = 5
SOCKETS = 3
OPENINGS = 25  # above the token flood plus one sign-in from the same address
# Keys of this run alone: their rate-limit buckets in Redis start full on every run.
RUN = uuid.uuid4().hex
GOOD_KEY, CAP_KEY, OPENING_KEY = (f"{name}-{RUN}" for name in ("good", "cap", "opening"))


def address() -> str:
    """A client address no other test or run has spent failures of."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


@pytest.fixture(scope="module")
def guarded(gateway_env: dict[str, str], worker: WorkerProcess) -> Iterator[str]:
    env = gateway_env | {
        "API_KEYS": f"{GOOD_KEY},{CAP_KEY},{OPENING_KEY}",
        "AUTH_FAILURES_PER_MINUTE": str(BUDGET),
        "WS_MAX_CONNECTIONS_PER_PRINCIPAL": str(SOCKETS),
        "RATE_LIMIT_PER_MINUTE": str(OPENINGS),
        # A loaded machine may take seconds for the budget's checks; none may turn into 503.
        "PASSWORD_CHECK_WAIT_S": "60",
        # The tests are the proxy: each names its client in X-Forwarded-For.
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    with running_gateway(env, GATEWAY_PORT + 3, worker) as url:
        yield url


async def post(
    url: str, path: str, client: str, headers: dict[str, str] | None = None, **body: str
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        return await http.post(
            path,
            json=body or {"message": "hello"},
            headers={"X-Forwarded-For": client, **(headers or {})},
        )


async def auth_failures(url: str, kind: str) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        text = (await http.get("/metrics", headers={"X-API-Key": ADMIN_KEY})).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "techgear_gateway_auth_failures_total" and sample.labels["kind"] == kind
    )


def assert_too_many_failures(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_auth_failures"
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "credential",
    [{"X-API-Key": "wrong-key"}, {"Authorization": "Bearer not.a.token"}],
    ids=["wrong_api_key", "bad_bearer_token"],
)
async def test_credential_flood_gets_429_before_authentication_and_spares_other_addresses(
    guarded: str, credential: dict[str, str]
) -> None:
    attacker, bystander = address(), address()
    flood = [await post(guarded, "/v1/chat", attacker, credential) for _ in range(BUDGET + 3)]

    assert [r.status_code for r in flood] == [401] * BUDGET + [429] * 3
    assert_too_many_failures(flood[-1])
    # Refused before authentication: even a valid key from that address waits.
    assert_too_many_failures(await post(guarded, "/v1/chat", attacker, {"X-API-Key": GOOD_KEY}))
    served = await post(guarded, "/v1/chat", bystander, {"X-API-Key": GOOD_KEY})
    assert served.status_code == 200


async def test_token_endpoint_flood_runs_bcrypt_only_for_the_budget(guarded: str) -> None:
    attacker, bystander = address(), address()
    checked_before = await auth_failures(guarded, "password")

    flood = await asyncio.gather(
        *(
            post(guarded, "/v1/auth/token", attacker, username=USER, password=f"guess-{i}")
            for i in range(4 * BUDGET)
        )
    )

    assert Counter(r.status_code for r in flood) == {401: BUDGET, 429: 3 * BUDGET}
    assert_too_many_failures(next(r for r in flood if r.status_code == 429))
    assert await auth_failures(guarded, "password") - checked_before == BUDGET
    right = {"username": USER, "password": PASSWORD}
    assert_too_many_failures(await post(guarded, "/v1/auth/token", attacker, **right))
    assert (await post(guarded, "/v1/auth/token", bystander, **right)).status_code == 200


async def test_a_right_password_costs_no_failure(guarded: str) -> None:
    client = address()
    for _ in range(BUDGET + 1):
        response = await post(guarded, "/v1/auth/token", client, username=USER, password=PASSWORD)
        assert response.status_code == 200


async def test_bad_websocket_credentials_exhaust_the_address_budget(guarded: str) -> None:
    attacker = {"X-Forwarded-For": address()}
    for _ in range(BUDGET):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                ws_url(guarded), subprotocols=offering("key", "wrong"), additional_headers=attacker
            ):
                pass
        assert refused.value.response.status_code == 403

    # Refused before authentication: even a valid key from that address waits.
    protocols = offering("key", GOOD_KEY)
    async with connect(ws_url(guarded), subprotocols=protocols, additional_headers=attacker) as ws:
        error = await receive(ws)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()

    assert error["code"] == "too_many_auth_failures" and error["retry_after"] > 0
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429


def short_lived_token(seconds: int) -> str:
    now = int(time.time())
    claims = {
        "sub": USER,
        "scope": "chat",
        "iat": now,
        "nbf": now,
        "exp": now + seconds,
        "jti": uuid.uuid4().hex,
        "iss": "techgear-gateway",
        "aud": "techgear-support",
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


async def test_idle_socket_is_closed_when_its_token_expires(guarded: str) -> None:
    token = short_lived_token(5)
    async with connect(ws_url(guarded), subprotocols=offering("bearer", token)) as ws:
        assert (await receive(ws))["type"] == "ready"
        async with asyncio.timeout(60):
            expired = await receive(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()

    assert expired["type"] == "error" and expired["code"] == "token_expired"
    assert time.time() >= jwt.decode(token, options={"verify_signature": False})["exp"]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_sockets_per_principal_are_capped_and_freed_on_close(guarded: str) -> None:
    protocols = offering("key", CAP_KEY)
    held = [await connect(ws_url(guarded), subprotocols=protocols) for _ in range(SOCKETS)]
    try:
        assert [(await receive(ws))["type"] for ws in held] == ["ready"] * SOCKETS
        async with connect(ws_url(guarded), subprotocols=protocols) as extra:
            refused = await receive(extra)
            with pytest.raises(ConnectionClosed) as closed:
                await extra.recv()
        assert refused["code"] == "too_many_connections"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429

        await held.pop().close()
        async with asyncio.timeout(30):
            while True:  # the gateway frees the slot once it has seen the close
                async with connect(ws_url(guarded), subprotocols=protocols) as again:
                    if (await receive(again))["type"] == "ready":
                        break
                await asyncio.sleep(0.5)
    finally:
        for ws in held:
            await ws.close()


async def test_opening_a_socket_counts_against_the_rate_limit(guarded: str) -> None:
    protocols = offering("key", OPENING_KEY)
    held = [await connect(ws_url(guarded), subprotocols=protocols) for _ in range(SOCKETS)]
    try:
        codes = []
        # Held sockets keep the cap full, so every later opening is refused, yet each one
        # still costs a request: past the limit the refusal turns to rate_limited.
        for _ in range(OPENINGS - SOCKETS + 1):
            async with connect(ws_url(guarded), subprotocols=protocols) as extra:
                error = await receive(extra)
                with pytest.raises(ConnectionClosed) as closed:
                    await extra.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
            codes.append(error["code"])
    finally:
        for ws in held:
            await ws.close()

    assert codes == ["too_many_connections"] * (OPENINGS - SOCKETS) + ["rate_limited"]
    assert error["retry_after"] > 0
