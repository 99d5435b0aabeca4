"""JSON Schema files for consumers outside Python (``techgear schemas export``)."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import BaseModel

from schemas.events import EVENT_TYPES, SCHEMA_VERSION

JSON_DIR = Path(__file__).parent / "json"


def schema_files() -> dict[str, bytes]:
    """File name → JSON Schema document for every event type."""
    files: dict[str, bytes] = {}
    for model in EVENT_TYPES:
        files[_file_name(model)] = render_schema(model)
    return files


def render_schema(model: type[BaseModel]) -> bytes:
    schema = model.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:techgear:schema:{_file_name(model).removesuffix('.schema.json')}"
    schema["x-schema-version"] = SCHEMA_VERSION
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def export(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in schema_files().items():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written


def stale_files(directory: Path = JSON_DIR) -> list[str]:
    """Names of committed schema files that differ from the models (or are missing)."""
    return [
        name
        for name, content in schema_files().items()
        if not (directory / name).is_file() or (directory / name).read_bytes() != content
    ]


def _file_name(model: type[BaseModel]) -> str:
    snake = "".join(f"-{c.lower()}" if c.isupper() else c for c in model.__name__).lstrip("-")
    return f"{snake}.schema.json"
