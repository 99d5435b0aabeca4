"""The Chroma server behind nginx's bearer-token check (docker/nginx/chroma-auth.conf.template):
a request without the token, or with another, is refused; the workers' client and the
gateway's readiness probe, given the token, get through."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from gateway.readiness import probe_chroma
from runtime.chroma import ChromaServerSettings, verify_chroma_server
from runtime.errors import ChromaSetupError
from techgear.processes import stop as stop_process
from techgear.services import LocalChroma, ingest_into_chroma_server
from tests.integration.conftest import wait_for
from tests.nginx_config import local_chroma_proxy_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed"),
]

PROXY_PORT = int(os.environ.get("TEST_CHROMA_PROXY_PORT", "16691"))
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
TOKEN = SecretStr(secrets.token_hex(32))


def _status(url: str, headers: dict[str, str] | None = None) -> int | None:
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code
    except httpx.HTTPError:
        return None


@pytest.fixture(scope="module")
def chroma_proxy(
    local_chroma: LocalChroma, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    prefix = tmp_path_factory.mktemp("chroma-nginx")
    config = local_chroma_proxy_config(
        prefix, f"127.0.0.1:{PROXY_PORT}", local_chroma.address, TOKEN.get_secret_value()
    )
    nginx = subprocess.Popen(["nginx", "-c", str(config), "-p", str(prefix), "-g", "daemon off;"])
    try:
        wait_for(lambda: _status(PROXY_URL) is not None, "nginx in front of chroma", timeout_s=20)
        yield PROXY_URL
    finally:
        stop_process(nginx)
    assert TOKEN.get_secret_value() not in (prefix / "logs" / "chroma-access.log").read_text()


def test_requests_without_the_token_or_with_another_are_refused(chroma_proxy: str) -> None:
    heartbeat = f"{chroma_proxy}/api/v2/heartbeat"
    collections = f"{chroma_proxy}/api/v2/tenants/default_tenant/databases/default_database"
    wrong = {"Authorization": f"Bearer {secrets.token_hex(32)}"}
    prefixed = {"Authorization": f"Bearer {TOKEN.get_secret_value()}x"}
    other_scheme = {"Authorization": f"Basic {TOKEN.get_secret_value()}"}

    assert _status(heartbeat) == 401
    assert _status(f"{collections}/collections") == 401
    assert [_status(heartbeat, h) for h in (wrong, prefixed, other_scheme)] == [401] * 3
    bearer = {"Authorization": f"Bearer {TOKEN.get_secret_value()}"}
    assert _status(heartbeat, bearer) == 200


def ingest(kb: Path, token: SecretStr | None) -> subprocess.CompletedProcess[str]:
    """``techgear ingest`` through the proxy: the workers' own client code."""
    env = {
        "CHROMA_HOST": "127.0.0.1",
        "CHROMA_PORT": str(PROXY_PORT),
        "CHROMA_COLLECTION": f"kb-auth-{secrets.token_hex(4)}",
    }
    if token is not None:
        env["CHROMA_AUTH_TOKEN"] = token.get_secret_value()
    return ingest_into_chroma_server(env, kb)


def test_ingestion_with_the_token_writes_through_the_proxy_and_a_wrong_one_stops_at_once(
    chroma_proxy: str, tmp_path: Path
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "shipping.md").write_text(
        "---\nid: shipping\ntitle: Shipping\ncategory: faq\n---\n# Shipping\n\n"
        "## Free shipping\nShipping is free on orders above ₹999.\n"
    )
    written = ingest(kb, TOKEN)
    refused = ingest(kb, SecretStr(secrets.token_hex(32)))

    assert written.returncode == 0, written.stderr
    assert "added 1, removed 0" in written.stdout
    assert refused.returncode != 0
    assert "refused the request (HTTP 401): a wrong CHROMA_AUTH_TOKEN" in refused.stderr


async def test_gateway_readiness_reports_chroma_ready_only_with_the_token(
    chroma_proxy: str,
) -> None:
    with_token = await probe_chroma(chroma_proxy, TOKEN)
    without = await probe_chroma(chroma_proxy, None)

    assert (with_token.ok, with_token.detail) == (True, "HTTP 200")
    assert (without.ok, without.detail) == (False, "HTTP 401")


@pytest.mark.parametrize(
    ("token", "refusal"),
    [
        (None, "no CHROMA_AUTH_TOKEN"),
        (SecretStr(secrets.token_hex(32)), "a wrong CHROMA_AUTH_TOKEN"),
    ],
)
def test_a_worker_refused_by_the_proxy_stops_at_start_naming_the_token(
    chroma_proxy: str, token: SecretStr | None, refusal: str
) -> None:
    def server(token: SecretStr | None) -> ChromaServerSettings:
        return ChromaServerSettings(
            _env_file=None,  # type: ignore[call-arg]
            chroma_host="127.0.0.1",
            chroma_port=PROXY_PORT,
            chroma_auth_token=token,
        )

    verify_chroma_server(server(TOKEN))
    with pytest.raises(ChromaSetupError, match=f"refused the request \\(HTTP 401\\): {refusal}"):
        verify_chroma_server(server(token))
