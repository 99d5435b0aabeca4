from __future__ import annotations

import pytest
from starlette.authentication import AuthenticationError
from starlette.requests import HTTPConnection

from gateway.auth import ApiKeyBackend


def connection(headers: dict[str, str]) -> HTTPConnection:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return HTTPConnection({"type": "http", "headers": raw})


async def test_any_configured_key_authenticates_with_chat_scope() -> None:
    backend = ApiKeyBackend(["old-key", "new-key"])
    for key in ("old-key", "new-key"):
        result = await backend.authenticate(connection({"X-API-Key": key}))
        assert result is not None
        credentials, user = result
        assert credentials.scopes == ["chat"] and user.is_authenticated


async def test_wrong_key_is_an_authentication_error() -> None:
    with pytest.raises(AuthenticationError):
        await ApiKeyBackend(["right"]).authenticate(connection({"X-API-Key": "wrong"}))


async def test_no_key_is_anonymous() -> None:
    assert await ApiKeyBackend(["right"]).authenticate(connection({})) is None


async def test_user_identity_does_not_reveal_the_key() -> None:
    result = await ApiKeyBackend(["secret-key"]).authenticate(
        connection({"X-API-Key": "secret-key"})
    )
    assert result is not None and "secret-key" not in result[1].display_name
