"""How the gateways and workers reach a ``chroma run`` server: its settings, and its
heartbeat asked the way the workers ask (with ``CHROMA_AUTH_TOKEN`` as a bearer token, which
the authenticating proxy in front of the server checks: docker/nginx/chroma-auth.conf.template).
"""

from __future__ import annotations

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.errors import ChromaSetupError

HEARTBEAT_TIMEOUT_S = 3.0


class ChromaServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    chroma_host: str | None = None
    """The Chroma server of the workers; unset: each worker embeds its own store."""
    chroma_port: int = 8000
    chroma_ssl: bool = False
    """Reach the Chroma server over HTTPS (the system's trusted CAs)."""
    chroma_auth_token: SecretStr | None = None
    """Sent as ``Authorization: Bearer`` to the Chroma server's authenticating proxy."""

    @property
    def chroma_url(self) -> str | None:
        if not self.chroma_host:
            return None
        scheme = "https" if self.chroma_ssl else "http"
        return f"{scheme}://{self.chroma_host}:{self.chroma_port}"


def auth_headers(token: SecretStr | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}


async def heartbeat(url: str, token: SecretStr | None) -> httpx.Response:
    """The server's heartbeat; raises ``httpx.HTTPError`` when it cannot be asked."""
    async with httpx.AsyncClient(timeout=HEARTBEAT_TIMEOUT_S) as client:
        return await client.get(f"{url}/api/v2/heartbeat", headers=auth_headers(token))


def verify_chroma_server(settings: ChromaServerSettings) -> None:
    """At a worker's start: a server that refuses our token is a :class:`ChromaSetupError`
    naming the setting, not a failure of every question later."""
    url = settings.chroma_url
    if url is None:
        return
    try:
        response = httpx.get(
            f"{url}/api/v2/heartbeat",
            headers=auth_headers(settings.chroma_auth_token),
            timeout=HEARTBEAT_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise ChromaSetupError(f"cannot reach Chroma at {url}: {type(exc).__name__}") from exc
    if response.status_code in (401, 403):
        given = "a wrong" if settings.chroma_auth_token else "no"
        raise ChromaSetupError(
            f"Chroma at {url} refused the request (HTTP {response.status_code}): "
            f"{given} CHROMA_AUTH_TOKEN"
        )
    if response.status_code != 200:
        raise ChromaSetupError(f"Chroma at {url} answered its heartbeat {response.status_code}")
