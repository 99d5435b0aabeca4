"""docker/deploy.sh with a stand-in `docker` on PATH: it deploys, checks /ready, and rolls
back to the previous tag when the new one never becomes ready."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STUB_DOCKER = """#!/usr/bin/env bash
echo "docker $* TECHGEAR_IMAGE=${TECHGEAR_IMAGE:-}" >> "$DOCKER_LOG"
"""


class _Readiness(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def readiness() -> Iterator[type[_Readiness]]:
    handler = type("Readiness", (_Readiness,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/ready"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "docker").mkdir()
    shutil.copy(REPO / "docker" / "deploy.sh", tmp_path / "docker" / "deploy.sh")
    (tmp_path / ".env").write_text("JWT_SECRET=" + "s" * 40 + "\nAPI_KEY_DIGESTS=abc=chat\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(STUB_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    return tmp_path


def deploy(workdir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "PATH": f"{workdir / 'bin'}:{os.environ['PATH']}",
        "DOCKER_LOG": str(workdir / "docker.log"),
        "READY_URL": url,
        "READY_TIMEOUT_S": "3",
    }
    return subprocess.run(
        ["bash", str(workdir / "docker" / "deploy.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
    )


def compose_ups(workdir: Path) -> list[str]:
    lines = (workdir / "docker.log").read_text().splitlines()
    return [line.rsplit("TECHGEAR_IMAGE=", 1)[1] for line in lines if "compose up" in line]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_failed_deployment_rolls_back_to_the_previous_tag(
    workdir: Path, readiness: type[_Readiness]
) -> None:
    url = readiness.url  # type: ignore[attr-defined]
    first = deploy(workdir, url, "compose", "1.0.0")
    readiness.status = 503
    second = deploy(workdir, url, "compose", "1.1.0")

    assert first.returncode == 0, first.stderr
    assert second.returncode != 0
    assert "rolling back to techgear-support-streams:1.0.0" in second.stdout
    assert "not ready either" in second.stderr  # the stub's /ready stays down: said plainly
    assert compose_ups(workdir) == [
        "techgear-support-streams:1.0.0",
        "techgear-support-streams:1.1.0",
        "techgear-support-streams:1.0.0",
    ]
    assert (workdir / ".local" / "deploy" / "current").read_text().strip() == "1.0.0"


def test_missing_secret_stops_before_deploying(workdir: Path, readiness: type[_Readiness]) -> None:
    (workdir / ".env").write_text("JWT_SECRET=\n")
    result = deploy(workdir, readiness.url, "compose", "1.0.0")  # type: ignore[attr-defined]
    assert result.returncode != 0 and "JWT_SECRET is empty" in result.stderr
    assert not (workdir / "docker.log").exists()


STUB_KUBECTL = """#!/usr/bin/env bash
echo "kubectl $*" >> "$KUBECTL_LOG"
if [ "$1 $2" = "apply -k" ]; then cat "$3/kustomization.yaml" >> "$KUBECTL_LOG"; fi
"""


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_kubernetes_release_pins_every_image_and_creates_the_topics_before_the_services(
    workdir: Path, readiness: type[_Readiness]
) -> None:
    (workdir / "bin" / "kubectl").write_text(STUB_KUBECTL)
    (workdir / "bin" / "kubectl").chmod(0o755)
    overlay = REPO / "docker" / "k8s" / "overlays" / "production"
    result = subprocess.run(
        ["bash", str(workdir / "docker" / "deploy.sh"), "k8s", "2.0.0"],
        env=os.environ
        | {
            "PATH": f"{workdir / 'bin'}:{os.environ['PATH']}",
            "KUBECTL_LOG": str(workdir / "kubectl.log"),
            "READY_URL": readiness.url,  # type: ignore[attr-defined]
            "READY_TIMEOUT_S": "3",
            "OVERLAY": str(overlay),
            "IMAGE": "registry.example.com/techgear",
        },
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    log = (workdir / "kubectl.log").read_text().splitlines()
    commands = [line.split()[1] for line in log if line.startswith("kubectl ")]
    assert commands == [
        "get", "kustomize", "delete", "apply", "wait", "rollout", "rollout", "rollout"
    ]  # fmt: skip
    assert "job/techgear-topics" in next(line for line in log if line.startswith("kubectl wait"))
    assert f'resources: ["{overlay}"]' in log
    assert (
        'images: [{name: techgear-support-streams, newName: "registry.example.com/techgear", '
        'newTag: "2.0.0"}]'
    ) in log
