"""Escalations say honestly who the requester is: verified only when the credential
carries the customer, on the real stack."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gateway.tokens import TokenService
from schemas import Customer, Escalation
from schemas.topics import ESCALATIONS
from tests.conftest import API_KEY, JWT_SECRET
from tests.integration.conftest import decodes_as, read_until

pytestmark = pytest.mark.integration


async def escalation_for(
    gateway_url: str, kafka_bootstrap: str, headers: dict[str, str], customer: dict[str, str]
) -> Escalation:
    conversation = f"identity-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60, headers=headers) as client:
        response = await client.post(
            "/v1/chat",
            json={
                "message": "I want to talk to a human",
                "conversation_id": conversation,
                "customer": customer,
            },
        )
    assert response.status_code == 200 and response.json()["escalated"]
    record = await read_until(
        kafka_bootstrap,
        ESCALATIONS,
        lambda r: getattr(decodes_as(r, Escalation), "conversation_id", None) == conversation,
    )
    escalation = decodes_as(record, Escalation)
    assert escalation is not None
    return escalation


async def test_customer_asserted_in_the_body_is_unverified(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    asserted = {"name": "Mallory", "email": "victim@example.in"}
    escalation = await escalation_for(
        gateway_url, kafka_bootstrap, {"X-API-Key": API_KEY}, asserted
    )
    assert escalation.requester.email == "victim@example.in"
    assert not escalation.requester_verified


async def test_customer_carried_by_a_signed_token_is_verified_and_the_body_ignored(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    tokens = TokenService(
        algorithm="HS256", signing_key=JWT_SECRET, verifying_key=JWT_SECRET, ttl_s=600
    )
    customer = Customer(name="Ravi Kumar", email="ravi@example.in")
    bearer = tokens.issue(f"cust-{uuid.uuid4().hex}", frozenset({"chat"}), customer=customer)

    escalation = await escalation_for(
        gateway_url,
        kafka_bootstrap,
        {"Authorization": f"Bearer {bearer}"},
        {"email": "attacker@evil.example"},
    )

    assert escalation.requester_verified
    assert (escalation.requester.name, escalation.requester.email) == (
        "Ravi Kumar",
        "ravi@example.in",
    )
    assert escalation.principal is not None and escalation.principal.startswith("user:cust-")
