"""``techgear keys create``: secret and publishable keys."""

from __future__ import annotations

from click.testing import CliRunner

from gateway.keys import KeyRing, parse_entries
from techgear.cli import main


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
