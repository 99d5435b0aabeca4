"""``techgear keys create`` (secret and publishable keys), ``techgear tokens customer`` and
``techgear models build``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.keys import KeyRing, parse_entries
from gateway.tokens import TokenService
from schemas import Customer
from techgear.cli import main
from tests.tiny_onnx import write_tiny_model


def test_publishable_key_is_printed_with_an_entry_that_accepts_it_from_its_origin() -> None:
    result = CliRunner().invoke(
        main, ["keys", "create", "--publishable", "--origin", "https://shop.example"]
    )
    key = result.output.split("it is not stored): ")[1].split()[0]
    entry = result.output.split("comma-separated): ")[1].strip()

    [parsed] = parse_entries(entry)
    assert result.exit_code == 0 and KeyRing([parsed]).match(key) == parsed
    assert parsed.accepts_origin("https://shop.example") and not parsed.accepts_origin(None)


def test_publishable_key_beyond_chat_or_without_origin_is_a_usage_error() -> None:
    runner = CliRunner()
    admin = ["keys", "create", "--publishable", "--origin", "https://a.example", "--scope", "admin"]
    assert runner.invoke(main, admin).exit_code == 2
    assert runner.invoke(main, ["keys", "create", "--publishable"]).exit_code == 2


def test_customer_token_carries_a_verified_customer_the_gateway_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "s" * 32
    monkeypatch.setenv("JWT_SECRET", secret)
    result = CliRunner().invoke(
        main, ["tokens", "customer", "c-7", "--name", "Ravi", "--email", "ravi@example.in"]
    )

    tokens = TokenService(algorithm="HS256", signing_key=secret, verifying_key=secret, ttl_s=60)
    claims = tokens.verify(result.output.strip())
    assert result.exit_code == 0 and claims.scopes == {"chat"}
    assert claims.customer == Customer(id="c-7", name="Ravi", email="ravi@example.in")


def test_customer_token_needs_a_shared_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.chdir("/tmp")  # no .env with a JWT_SECRET here
    result = CliRunner().invoke(main, ["tokens", "customer", "c-7", "--name", "Ravi"])
    assert result.exit_code == 2 and "JWT_SECRET" in result.output


def test_models_build_writes_the_int8_model_into_models_dir_then_finds_it_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_tiny_model(tmp_path / "wheel" / "model.onnx")
    monkeypatch.setattr("streams.embeddings._source_model", lambda: source)
    monkeypatch.setenv("MODELS_DIR", str(tmp_path / "models"))
    runner = CliRunner()

    first = runner.invoke(main, ["models", "build"])
    second = runner.invoke(main, ["models", "build"])

    [built] = (tmp_path / "models").iterdir()
    assert first.exit_code == 0 and first.output == f"built: {built}\n"
    assert second.exit_code == 0 and second.output == f"up to date: {built}\n"
