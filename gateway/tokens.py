"""Signed JWTs: HS256 with a secret of at least 32 bytes, or RS256 with a key pair.

Verification pins the one configured algorithm, so ``alg: none`` and algorithm
confusion (an RS256 public key used as an HS256 secret) are refused, and requires
``sub``, ``exp``, ``iat`` and ``jti``. Two kinds of token, told apart by their audience
so that neither passes for the other:

- access tokens (``techgear-support``) for users. Optional ``name``, ``email`` and
  ``phone`` claims describe the customer: a site that signs its visitors' tokens (as with
  Intercom's identity verification or Zendesk messaging's JWTs) vouches for them, so the
  gateway marks that customer verified;
- conversation tokens (``techgear-conversation``), issued by the gateway, binding one
  conversation to the principal that owns it: a browser's way back into its conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from runtime.errors import TokenError
from schemas import Customer

ISSUER = "techgear-gateway"
AUDIENCE = "techgear-support"
CONVERSATION_AUDIENCE = "techgear-conversation"
_MIN_HMAC_BYTES = 32
_CUSTOMER_CLAIMS = ("name", "email", "phone")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    scopes: frozenset[str]
    token_id: str
    expires_at: int
    customer: Customer | None = None
    """The customer the token's signer vouches for, from its customer claims."""


@dataclass(frozen=True, slots=True)
class ConversationGrant:
    conversation_id: str
    principal: str


class TokenService:
    def __init__(
        self,
        *,
        algorithm: str,
        signing_key: str | bytes,
        verifying_key: str | bytes,
        ttl_s: int,
    ) -> None:
        if algorithm not in {"HS256", "RS256"}:
            raise ValueError("JWT_ALGORITHM must be HS256 or RS256")
        if algorithm == "HS256" and len(signing_key) < _MIN_HMAC_BYTES:
            raise ValueError(f"JWT_SECRET must be at least {_MIN_HMAC_BYTES} bytes")
        self._algorithm = algorithm
        self._signing_key = signing_key
        self._verifying_key = verifying_key
        self.ttl_s = ttl_s

    def derived_key(self, label: str) -> bytes:
        """A key for ``label``'s purpose, from the signing key every gateway shares, so
        that each purpose has its own key and none reveals the signing key."""
        signing_key = (
            self._signing_key.encode() if isinstance(self._signing_key, str) else self._signing_key
        )
        return hmac.new(
            signing_key, f"techgear-derived-key:{label}".encode(), hashlib.sha256
        ).digest()

    def issue(
        self,
        subject: str,
        granted: frozenset[str],
        *,
        customer: Customer | None = None,
        ttl_s: int | None = None,
    ) -> str:
        described = (
            customer.model_dump(include=set(_CUSTOMER_CLAIMS), exclude_none=True)
            if customer
            else {}
        )
        claims = {"scope": " ".join(sorted(granted)), **described}
        return self._encode(subject, AUDIENCE, ttl_s or self.ttl_s, claims)

    def verify(self, token: str) -> TokenClaims:
        claims = self._decode(token, AUDIENCE)
        described = {k: str(claims[k]) for k in _CUSTOMER_CLAIMS if claims.get(k)}
        try:
            customer = Customer(id=str(claims["sub"]), **described) if described else None
        except ValueError as exc:
            raise TokenError(f"invalid customer claims: {exc}") from exc
        return TokenClaims(
            subject=str(claims["sub"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            customer=customer,
        )

    def issue_conversation(self, grant: ConversationGrant, ttl_s: int) -> str:
        return self._encode(
            grant.principal, CONVERSATION_AUDIENCE, ttl_s, {"cid": grant.conversation_id}
        )

    def verify_conversation(self, token: str) -> ConversationGrant:
        claims = self._decode(token, CONVERSATION_AUDIENCE, extra_required=["cid"])
        return ConversationGrant(str(claims["cid"]), str(claims["sub"]))

    def _encode(self, subject: str, audience: str, ttl_s: int, extra: dict[str, Any]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            **extra,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
            "iss": ISSUER,
            "aud": audience,
        }
        return jwt.encode(claims, self._signing_key, algorithm=self._algorithm)

    def _decode(
        self, token: str, audience: str, extra_required: list[str] | None = None
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self._algorithm],
                audience=audience,
                issuer=ISSUER,
                options={"require": ["sub", "exp", "iat", "jti", *(extra_required or [])]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        return claims
