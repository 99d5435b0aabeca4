"""``LocalChroma``: the ``chroma run`` command it starts and its readiness probe."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from techgear.services import LocalChroma, ServicesSettings


def _settings(state_dir: Path, port: int) -> ServicesSettings:
    return ServicesSettings(
        _env_file=None,  # type: ignore[call-arg]
        techgear_state_dir=state_dir,
        local_chroma_port=port,
    )


class _Heartbeat(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/api/v2/heartbeat" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def heartbeat_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Heartbeat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_command_runs_the_venvs_chroma_on_the_loopback_with_data_in_the_state_dir(
    tmp_path: Path,
) -> None:
    chroma = LocalChroma(_settings(tmp_path, 18123))

    command = chroma.command()

    assert command == [
        str(Path(sys.executable).parent / "chroma"),
        "run",
        "--path",
        str(tmp_path.resolve() / "chroma" / "data"),
        "--host",
        "127.0.0.1",
        "--port",
        "18123",
    ]
    assert chroma.marker in " ".join(command)  # how stop() knows the pid is still its own
    assert chroma.client_env() == {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": "18123"}


def test_ready_only_when_the_heartbeat_answers_200(
    tmp_path: Path, heartbeat_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    chroma = LocalChroma(_settings(tmp_path, heartbeat_server.server_address[1]))

    assert chroma.ready()
    monkeypatch.setattr(_Heartbeat, "status", 503)
    assert not chroma.ready()


def test_start_reuses_a_server_already_answering_on_the_port(
    tmp_path: Path, heartbeat_server: ThreadingHTTPServer
) -> None:
    chroma = LocalChroma(_settings(tmp_path, heartbeat_server.server_address[1]))

    handle = chroma.start()

    assert (handle.started, handle.address) == (False, chroma.address)
    assert chroma.running_pid() is None and not chroma.stop()
