"""``make run``: the whole system in the foreground on its embedded defaults.

Starts (or reuses) Kafka and Redis, ingests the knowledge base, starts a worker and a
gateway as child processes, and prints a ready-to-paste curl once ``/ready`` answers 200.
SIGINT or SIGTERM stops the children, then the services this run started.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from types import FrameType

import httpx

from gateway.settings import GatewaySettings
from techgear.processes import stop
from techgear.services import ServiceError, ServiceHandle, services

READY_TIMEOUT_S = 180.0
_SAMPLE_QUESTION = "What is the price of SmartWatch Pro X?"


class _Stop(Exception):
    pass


def run_all() -> int:
    local = services()
    started: list[ServiceHandle] = []
    children: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for local_service in local:
            handle = local_service.start()
            if handle.started:
                started.append(handle)
        kafka, redis = local
        settings = GatewaySettings()
        env, api_key = _child_environment(settings, kafka.address, f"redis://{redis.address}/0")
        subprocess.run([sys.executable, "-m", "techgear", "ingest"], env=env, check=True)
        children.append(subprocess.Popen([sys.executable, "-m", "techgear", "worker"], env=env))
        children.append(subprocess.Popen([sys.executable, "-m", "techgear", "gateway"], env=env))
        url = f"http://{settings.gateway_host}:{settings.gateway_port}"
        wait_ready(url, children)
        _print_banner(url, api_key)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a child process exited; stopping", file=sys.stderr)
        return 1
    except _Stop:
        return 0
    except (ServiceError, subprocess.CalledProcessError, TimeoutError) as exc:
        print(f"make run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in reversed(children):
            stop(child)
        for service in reversed(local):
            if any(handle.name == service.name for handle in started):
                service.stop()


def _child_environment(
    settings: GatewaySettings, kafka_address: str, redis_url: str
) -> tuple[dict[str, str], str]:
    """The children's environment, and an API key to show in the sample curl."""
    env = dict(os.environ)
    env.setdefault("KAFKA_BOOTSTRAP_SERVERS", kafka_address)
    env.setdefault("REDIS_URL", redis_url)
    if settings.api_keys:
        return env, settings.api_keys[0].get_secret_value()
    key = f"dev-{secrets.token_urlsafe(24)}"
    env["API_KEYS"] = key
    print("API_KEYS not configured: generated a key for this run", file=sys.stderr)
    return env, key


def wait_ready(
    url: str, children: Iterable[subprocess.Popen[bytes]], timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Wait until ``url``'s ``/ready`` answers 200; ``TimeoutError`` if it does not within
    ``timeout_s`` or one of ``children`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if exited := [child for child in children if child.poll() is not None]:
            raise TimeoutError(
                f"{exited[0].args!r} (pid {exited[0].pid}) exited before the system was ready"
            )
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url}/ready did not answer 200 within {timeout_s:.0f}s")


def _print_banner(url: str, api_key: str) -> None:
    print(
        f"""
TechGear Support Streams is ready at {url}

  Chat page: {url}/#key={api_key}

  curl -s {url}/v1/chat -H 'X-API-Key: {api_key}' -H 'Content-Type: application/json' \\
       -d '{{"message": "{_SAMPLE_QUESTION}"}}'

Press Ctrl+C to stop.
""",
        flush=True,
    )
