"""The int8 model's build (idempotent, atomic, keyed by the source model) and the setting
that chooses the model."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

import streams.embeddings as embeddings
from streams.components import build_embedder
from streams.embeddings import (
    INT8_MODEL_NAME,
    MODEL_NAME,
    OnnxEmbedder,
    build_int8_model,
    int8_model_path,
    model_file,
)
from streams.settings import WorkerSettings
from tests.tiny_onnx import write_tiny_model


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "wheel" / "model.onnx")


def test_build_writes_the_int8_model_once(tmp_path: Path, source: Path) -> None:
    models = tmp_path / "models"

    first = build_int8_model(models, source)
    inode = first.path.stat().st_ino
    second = build_int8_model(models, source)

    assert first.built and not second.built
    assert second.path == first.path and first.path.stat().st_ino == inode
    assert first.path.name.startswith(f"{INT8_MODEL_NAME}-")
    assert first.path.stat().st_mode & 0o777 == 0o644  # readable by the processes' user
    assert list(models.iterdir()) == [first.path]
    quantised = {node.op_type for node in onnx.load(str(first.path)).graph.node}
    assert "MatMulInteger" in quantised or "DynamicQuantizeMatMul" in quantised


def test_a_changed_source_model_builds_a_new_file_and_drops_the_old_one(
    tmp_path: Path, source: Path
) -> None:
    models = tmp_path / "models"
    old = build_int8_model(models, source).path

    write_tiny_model(source, seed=1)
    new = build_int8_model(models, source)

    assert new.built and new.path != old
    assert new.path == int8_model_path(models, source)
    assert list(models.iterdir()) == [new.path]


def test_a_failed_build_leaves_neither_the_model_nor_a_temporary_file(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_written(model: Any, output: str, **options: Any) -> None:
        Path(output).write_bytes(b"half a model")
        raise MemoryError

    monkeypatch.setattr("onnxruntime.quantization.quantize_dynamic", half_written)
    models = tmp_path / "models"

    with pytest.raises(MemoryError):
        build_int8_model(models, source)

    assert list(models.iterdir()) == []


def test_builds_racing_each_other_leave_one_whole_model(tmp_path: Path, source: Path) -> None:
    models = tmp_path / "models"
    results: list[embeddings.BuiltModel] = []
    builders = [
        threading.Thread(target=lambda: results.append(build_int8_model(models, source)))
        for _ in range(3)
    ]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()

    assert len({result.path for result in results}) == 1
    assert list(models.iterdir()) == [results[0].path]
    onnx.checker.check_model(str(results[0].path))


def test_a_missing_int8_model_is_built_at_first_use_with_a_warning(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(embeddings, "_source_model", lambda: source)
    models = tmp_path / "models"

    with caplog.at_level(logging.WARNING, logger="streams.embeddings"):
        path = model_file("int8", models)

    assert path == int8_model_path(models, source) and path.exists()
    assert "building it now" in caplog.text
    assert model_file("fp32", models) == source


def test_the_setting_chooses_the_model_each_collection_records() -> None:
    default = build_embedder(WorkerSettings())
    full = build_embedder(WorkerSettings(embedding_model="fp32"))

    assert (default.model_name, full.model_name) == (INT8_MODEL_NAME, MODEL_NAME)
    question = "Is delivery free?"
    similarity = float(default.embed_one(question) @ full.embed_one(question))
    assert 0.95 < similarity < 1.0


def test_int8_vectors_stay_normalised(embedder: OnnxEmbedder) -> None:
    vectors = embedder.embed(["Is delivery free?", "How do I reset my SmartWatch Pro X?"])

    assert embedder.model_name == INT8_MODEL_NAME
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_question_gets_the_same_int8_vector_whatever_is_embedded_beside_it(
    embedder: OnnxEmbedder,
) -> None:
    question = "Is delivery free?"
    others = ["How do I reset my SmartWatch Pro X after a failed update over Bluetooth?"] * 3

    alone = embedder.embed_one(question)
    beside = embedder.embed([question, *others])[0]

    assert np.array_equal(alone, beside)
