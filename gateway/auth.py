"""Authentication on Starlette's ``AuthenticationBackend``: API keys in ``X-API-Key``.

Keys are compared by SHA-256 digest in constant time, so neither the comparison's timing
nor a memory dump of the configuration reveals a key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request

API_KEY_HEADER = "x-api-key"
SCOPE_CHAT = "chat"


class ApiKeyUser(BaseUser):
    def __init__(self, key_id: str) -> None:
        self.key_id = key_id

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return f"api-key:{self.key_id}"

    @property
    def identity(self) -> str:
        return self.display_name


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyBackend(AuthenticationBackend):
    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [bytes.fromhex(key_digest(key)) for key in keys]

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        presented = conn.headers.get(API_KEY_HEADER)
        if presented is None:
            return None
        digest = hashlib.sha256(presented.encode()).digest()
        # Compare against every key so timing does not reveal which one matched.
        matches = [hmac.compare_digest(digest, known) for known in self._digests]
        if not any(matches):
            raise AuthenticationError("invalid API key")
        return AuthCredentials([SCOPE_CHAT]), ApiKeyUser(digest.hex()[:12])


def authorize(request: Request, scope: str) -> None:
    """401 without valid credentials, 403 with credentials that lack ``scope``."""
    if not request.user.is_authenticated:
        raise HTTPException(401, "missing credentials: send an API key in X-API-Key")
    if scope not in request.auth.scopes:
        raise HTTPException(403, f"this credential lacks the {scope!r} scope")
