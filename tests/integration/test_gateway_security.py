"""Authentication, scopes, rate limits and several gateway instances, on the real stack."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.conftest import (
    API_KEY,
    GATEWAY_PORT,
    JWT_SECRET,
    PASSWORD,
    READ_ONLY_KEY,
    USER,
    WorkerProcess,
    running_gateway,
)

pytestmark = pytest.mark.integration

LIMIT = 50


async def token_for(
    gateway_url: str, username: str = USER, password: str = PASSWORD
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return await client.post(
            "/v1/auth/token", json={"username": username, "password": password}
        )


async def chat(gateway_url: str, headers: dict[str, str], message: str = "hello") -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return await client.post("/v1/chat", json={"message": message}, headers=headers)


async def test_user_gets_a_token_that_asks_questions(gateway_url: str) -> None:
    issued = await token_for(gateway_url)
    assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store"
    body = issued.json()
    assert body["token_type"] == "bearer" and body["scope"] == "chat" and body["expires_in"] > 0
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"sub", "exp", "iat", "jti"} <= claims.keys() and claims["sub"] == USER

    answered = await chat(gateway_url, {"Authorization": f"Bearer {body['access_token']}"})
    assert answered.status_code == 200 and answered.json()["category"] == "greeting"


async def test_wrong_password_and_unknown_user_get_the_same_401(gateway_url: str) -> None:
    wrong = await token_for(gateway_url, password="not the password")
    unknown = await token_for(gateway_url, username="mallory")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def forged(kind: str) -> str:
    now = int(time.time())
    claims = {
        "sub": USER,
        "scope": "chat",
        "iat": now,
        "exp": now + 600,
        "jti": "j",
        "iss": "techgear-gateway",
        "aud": "techgear-support",
    }
    if kind == "expired":
        return jwt.encode(claims | {"exp": now - 1}, JWT_SECRET, algorithm="HS256")
    if kind == "tampered":
        header, _, signature = jwt.encode(claims, JWT_SECRET, algorithm="HS256").split(".")
        payload = jwt.encode(claims | {"scope": "chat admin"}, JWT_SECRET, algorithm="HS256").split(
            "."
        )[1]
        return f"{header}.{payload}.{signature}"
    if kind == "wrong_key":
        return jwt.encode(claims, "k" * 48, algorithm="HS256")
    if kind == "alg_none":
        return jwt.encode(claims, None, algorithm="none")
    raise ValueError(kind)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-API-Key": "wrong"}, 401),
        ({"Authorization": f"Bearer {forged('expired')}"}, 401),
        ({"Authorization": f"Bearer {forged('tampered')}"}, 401),
        ({"Authorization": f"Bearer {forged('wrong_key')}"}, 401),
        ({"Authorization": f"Bearer {forged('alg_none')}"}, 401),
        ({"X-API-Key": READ_ONLY_KEY}, 403),
    ],
    ids=[
        "missing",
        "wrong_key",
        "expired",
        "tampered",
        "wrongly_signed",
        "alg_none",
        "wrong_scope",
    ],
)
async def test_each_auth_failure_is_refused(
    gateway_url: str, headers: dict[str, str], status: int
) -> None:
    response = await chat(gateway_url, headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == ("unauthorized" if status == 401 else "forbidden")


async def test_every_response_carries_rate_limit_headers(gateway_url: str) -> None:
    response = await chat(gateway_url, {"X-API-Key": API_KEY})
    for name in ("Limit-Minute", "Limit-Hour", "Remaining-Minute", "Remaining-Hour"):
        assert int(response.headers[f"X-RateLimit-{name}"]) >= 0
    assert response.headers["X-RateLimit-Limit-Minute"] == "100000"


async def test_openapi_describes_the_api(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        document = (await client.get("/openapi.json")).json()
    assert set(document["paths"]) >= {"/v1/chat", "/v1/auth/token", "/health", "/ready"}
    assert "ChatBody" in document["components"]["schemas"]


@pytest.fixture(scope="module")
def two_limited_gateways(gateway_env: dict[str, str], worker: WorkerProcess) -> Iterator[list[str]]:
    env = gateway_env | {"RATE_LIMIT_PER_MINUTE": str(LIMIT), "RATE_LIMIT_PER_HOUR": str(LIMIT)}
    with (
        running_gateway(env, GATEWAY_PORT + 1, worker) as first,
        running_gateway(env, GATEWAY_PORT + 2, worker) as second,
    ):
        yield [first, second]


async def test_rate_limit_is_exact_across_two_gateways_under_200_concurrent_requests(
    two_limited_gateways: list[str],
) -> None:
    key = f"second-key-{'y' * 24}"  # a client no other test spends tokens of
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{two_limited_gateways[i % 2]}/v1/chat",
                    json={"message": "hello"},
                    headers={"X-API-Key": key},
                )
                for i in range(200)
            )
        )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: LIMIT, 429: 200 - LIMIT}
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) > 0
    # The bucket that refused is empty; the minute bucket refills ~0.8 token/s, so on a
    # loaded machine a late refusal can come from the (equally sized) hour bucket instead.
    remaining = {
        refused.headers["X-RateLimit-Remaining-Minute"],
        refused.headers["X-RateLimit-Remaining-Hour"],
    }
    assert "0" in remaining


async def test_replies_reach_the_instance_holding_the_caller(
    two_limited_gateways: list[str],
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{url}/v1/chat",
                    json={"message": f"What is the price of the {product}?"},
                    headers={"X-API-Key": API_KEY},
                )
                for url in two_limited_gateways
                for product in ("FitBand 3", "GaN Charger 65W", "Silent Wireless Mouse")
            )
        )
    assert [r.status_code for r in responses] == [200] * 6
    prices = [r.json()["answer"] for r in responses]
    assert all("₹2,999" in a for a in prices[0::3]) and all("₹2,799" in a for a in prices[1::3])
