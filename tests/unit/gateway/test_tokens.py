"""Access tokens with customer claims, and conversation tokens."""

from __future__ import annotations

import time

import jwt
import pytest

from gateway.tokens import CONVERSATION_AUDIENCE, ISSUER, ConversationGrant, TokenService
from runtime.errors import TokenError
from runtime.logs import redact
from schemas import Customer

SECRET = "s" * 32


def service(secret: str = SECRET) -> TokenService:
    return TokenService(algorithm="HS256", signing_key=secret, verifying_key=secret, ttl_s=600)


def test_customer_claims_become_the_tokens_customer() -> None:
    customer = Customer(name="Ravi", email="ravi@example.in", phone="+91 98765 43210")
    claims = service().verify(service().issue("c-7", frozenset({"chat"}), customer=customer))
    assert claims.customer == customer.model_copy(update={"id": "c-7"})


def test_token_without_customer_claims_has_no_customer() -> None:
    assert service().verify(service().issue("asha", frozenset({"chat"}))).customer is None


def test_conversation_token_round_trips_its_grant() -> None:
    grant = ConversationGrant("conv-1", "key:abc")
    assert service().verify_conversation(service().issue_conversation(grant, 60)) == grant


def test_conversation_and_access_tokens_never_pass_for_each_other() -> None:
    conversation = service().issue_conversation(ConversationGrant("c", "key:abc"), 60)
    access = service().issue("asha", frozenset({"chat"}))
    with pytest.raises(TokenError):
        service().verify(conversation)
    with pytest.raises(TokenError):
        service().verify_conversation(access)


@pytest.mark.parametrize("kind", ["expired", "wrong_key", "no_cid"])
def test_bad_conversation_tokens_are_refused(kind: str) -> None:
    now = int(time.time())
    claims = {
        "sub": "key:abc",
        "cid": "c",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
        "iss": ISSUER,
        "aud": CONVERSATION_AUDIENCE,
    }
    secret = SECRET
    if kind == "expired":
        claims["exp"] = now - 1
    elif kind == "wrong_key":
        secret = "w" * 32
    else:
        del claims["cid"]
    with pytest.raises(TokenError):
        service().verify_conversation(jwt.encode(claims, secret, algorithm="HS256"))


def test_conversation_tokens_are_redacted_from_log_lines() -> None:
    token = service().issue_conversation(ConversationGrant("c", "key:abc"), 60)
    lines = [
        f"GET /v1/ws?conversation_token={token}",
        f"offered ['techgear.v1', 'techgear.conversation.{token}']",
        f"headers {{'x-conversation-token': '{token}'}}",
    ]
    assert all(token not in redact(line) for line in lines)
