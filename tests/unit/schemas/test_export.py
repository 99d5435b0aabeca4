from __future__ import annotations

from pathlib import Path

import orjson

from schemas.export import JSON_DIR, export, schema_files, stale_files


def test_committed_json_schemas_match_the_models() -> None:
    assert stale_files() == [], "run `techgear schemas export` and commit schemas/json/"


def test_export_writes_one_schema_per_event(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert sorted(p.name for p in written) == sorted(schema_files())
    chat_request = orjson.loads((tmp_path / "chat-request.schema.json").read_bytes())
    assert set(chat_request["required"]) >= {"request_id", "conversation_id", "message"}
    assert chat_request["$schema"].endswith("2020-12/schema")


def test_stale_file_is_detected(tmp_path: Path) -> None:
    export(tmp_path)
    (tmp_path / "escalation.schema.json").write_text("{}")
    assert stale_files(tmp_path) == ["escalation.schema.json"]
    assert JSON_DIR.is_dir()
