from __future__ import annotations

from pathlib import Path

import orjson

from schemas.export import ASYNCAPI_FILE, SCHEMAS_DIR, contract_files, export, stale_files


def test_committed_contract_files_match_the_code() -> None:
    assert stale_files() == [], (
        "run `techgear schemas export` and commit schemas/json/ and schemas/asyncapi.json"
    )


def test_export_writes_one_schema_per_event_and_the_asyncapi_document(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in written) == sorted(contract_files())
    chat_request = orjson.loads((tmp_path / "json" / "chat-request.schema.json").read_bytes())
    assert set(chat_request["required"]) >= {"request_id", "conversation_id", "message"}
    assert chat_request["$schema"].endswith("2020-12/schema")
    assert orjson.loads((tmp_path / ASYNCAPI_FILE).read_bytes())["asyncapi"] == "3.0.0"


def test_stale_file_is_detected(tmp_path: Path) -> None:
    export(tmp_path)
    (tmp_path / "json" / "escalation.schema.json").write_text("{}")
    (tmp_path / ASYNCAPI_FILE).unlink()
    assert stale_files(tmp_path) == ["json/escalation.schema.json", ASYNCAPI_FILE]
    assert (SCHEMAS_DIR / ASYNCAPI_FILE).is_file()
