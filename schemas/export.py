"""Contract files for consumers outside Python (``techgear schemas export``): the events'
JSON Schemas under ``schemas/json/`` and the AsyncAPI document ``schemas/asyncapi.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from schemas import asyncapi
from schemas.events import EVENT_TYPES, SCHEMA_VERSION

SCHEMAS_DIR = Path(__file__).parent
ASYNCAPI_FILE = "asyncapi.json"


def schema_files() -> dict[str, bytes]:
    """File name → JSON Schema document for every event type."""
    files: dict[str, bytes] = {}
    for model in EVENT_TYPES:
        files[_file_name(model)] = render_schema(model)
    return files


def contract_files() -> dict[str, bytes]:
    """Path under ``schemas/`` → content of every generated contract file."""
    files: dict[str, bytes] = {f"json/{name}": content for name, content in schema_files().items()}
    files[ASYNCAPI_FILE] = _dumps(asyncapi.document())
    return files


def render_schema(model: type[BaseModel]) -> bytes:
    schema = model.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:techgear:schema:{_file_name(model).removesuffix('.schema.json')}"
    schema["x-schema-version"] = SCHEMA_VERSION
    return _dumps(schema)


def export(directory: Path = SCHEMAS_DIR) -> list[Path]:
    written = []
    for name, content in contract_files().items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


def stale_files(directory: Path = SCHEMAS_DIR) -> list[str]:
    """Paths under ``directory`` of committed contract files that differ from the code (or
    are missing)."""
    return [
        name
        for name, content in contract_files().items()
        if not (directory / name).is_file() or (directory / name).read_bytes() != content
    ]


def _dumps(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _file_name(model: type[BaseModel]) -> str:
    snake = "".join(f"-{c.lower()}" if c.isupper() else c for c in model.__name__).lstrip("-")
    return f"{snake}.schema.json"
