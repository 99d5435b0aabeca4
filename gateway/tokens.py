"""Signed JWTs for users: HS256 with a secret of at least 32 bytes, or RS256 with a key pair.

Verification pins the one configured algorithm, so ``alg: none`` and algorithm
confusion (an RS256 public key used as an HS256 secret) are refused, and requires
``sub``, ``exp``, ``iat`` and ``jti``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ISSUER = "techgear-gateway"
AUDIENCE = "techgear-support"
_MIN_HMAC_BYTES = 32


class TokenError(Exception):
    """The token is missing, malformed, expired, tampered with or wrongly signed."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    scopes: frozenset[str]
    token_id: str
    expires_at: int


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

    def issue(self, subject: str, granted: frozenset[str]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "scope": " ".join(sorted(granted)),
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        return jwt.encode(claims, self._signing_key, algorithm=self._algorithm)

    def verify(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self._algorithm],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["sub", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        return TokenClaims(
            subject=str(claims["sub"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
        )
