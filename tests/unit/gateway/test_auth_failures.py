"""The failed-authentication budget per client address, on in-process buckets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth_failures import AuthFailures
from gateway.settings import GatewaySettings
from tests.unit.gateway.test_routes import KEY, ScriptedBridge

BUDGET = 3


async def test_a_check_charges_nothing_and_a_refund_undoes_a_charge() -> None:
    failures = AuthFailures(per_minute=1, redis=None)
    assert (await failures.check("198.51.100.7")).allowed
    assert (await failures.charge("198.51.100.7")).allowed
    refused = await failures.check("198.51.100.7")
    assert not refused.allowed and refused.retry_after_s > 0
    await failures.refund("198.51.100.7")
    assert (await failures.check("198.51.100.7")).allowed


@pytest.fixture
def app() -> Starlette:
    settings = GatewaySettings(  # type: ignore[call-arg]
        _env_file=None, api_keys=[SecretStr(KEY)], auth_failures_per_minute=BUDGET
    )
    return create_app(settings, ScriptedBridge())  # type: ignore[arg-type]


def client_at(app: Starlette, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


def ask(client: TestClient, key: str | None) -> int:
    headers = {"X-API-Key": key} if key else {}
    return client.post("/v1/chat", json={"message": "hello"}, headers=headers).status_code


def test_wrong_keys_exhaust_only_their_own_address(app: Starlette) -> None:
    with client_at(app, "203.0.113.1") as attacker, client_at(app, "203.0.113.2") as other:
        assert [ask(attacker, "wrong") for _ in range(BUDGET + 1)] == [401] * BUDGET + [429]
        refused = attacker.post("/v1/chat", json={"message": "hello"}, headers={"X-API-Key": KEY})
        assert refused.json()["error"]["code"] == "too_many_auth_failures"
        assert int(refused.headers["Retry-After"]) > 0
        assert ask(other, KEY) == 200
        assert attacker.get("/health").status_code == 200  # probes never depend on it


def test_a_missing_credential_guesses_nothing_and_costs_nothing(app: Starlette) -> None:
    with client_at(app, "203.0.113.3") as client:
        assert [ask(client, None) for _ in range(BUDGET + 1)] == [401] * (BUDGET + 1)
        assert ask(client, KEY) == 200


def test_an_exhausted_address_gets_an_error_then_4429_on_the_websocket(app: Starlette) -> None:
    with client_at(app, "203.0.113.4") as client:
        assert [ask(client, "wrong") for _ in range(BUDGET)] == [401] * BUDGET
        with client.websocket_connect("/v1/ws", headers={"X-API-Key": KEY}) as ws:
            error = ws.receive_json()
            closed = ws.receive()

    assert error["code"] == "too_many_auth_failures" and error["retry_after"] > 0
    assert closed == {"type": "websocket.close", "code": 4429, "reason": "too_many_auth_failures"}
