"""schemathesis against the running gateway's /openapi.json: no 5xx, no schema violation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import API_KEY

pytestmark = pytest.mark.integration


def test_api_conforms_to_its_description(gateway_url: str) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "run",
            f"{gateway_url}/openapi.json",
            "--header",
            f"X-API-Key: {API_KEY}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "25",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
