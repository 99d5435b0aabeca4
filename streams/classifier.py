"""Question classifier: semantic embeddings and lexical n-grams, one linear model.

Trained at worker start from labelled examples kept in the repo (a few seconds), it
gives a category and a calibrated confidence in about 0.2 ms (``streams.linear_scorer``),
reusing the embedding that retrieval needs anyway. The embedding carries meaning ("my order hasn't
come"); the word and character n-grams carry names the embedding blurs (a bank, another
shop, a product line). Questions far from every in-scope example are rejected to
``out_of_scope`` whatever the model says.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from scipy.sparse import csr_matrix, hstack, spmatrix
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from threadpoolctl import threadpool_limits

from schemas import Category
from streams.embeddings import DIMENSIONS, OnnxEmbedder, Vectors
from streams.linear_scorer import LinearScorer

_EMBEDDING_WEIGHT = 2.0
"""Scales the dense embedding against the sparse n-grams; chosen by cross-validation."""
_CALIBRATION_FOLDS = 3
"""As good as 5 folds on the evaluation file, in 4 fits instead of 6."""


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    """Chosen by cross-validation on the training files alone (docs/classifier.md)."""

    regularization: float = 20.0
    """The logistic regression's C: higher fits the training examples more closely."""
    out_of_scope_weight: float = 0.5
    """Class weight of out_of_scope against 1.0 for every in-scope category."""
    out_of_scope_similarity: float = 0.30
    """A question whose nearest in-scope example is less similar than this is out of scope."""


@dataclass(frozen=True, slots=True)
class LabelledExample:
    text: str
    label: Category
    kind: str = "plain"
    """How the question is written: plain, misspelt, hinglish, exact_fact, ... (evaluation)."""


@dataclass(frozen=True, slots=True)
class Classification:
    category: Category
    confidence: float


def load_examples(path: Path) -> list[LabelledExample]:
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        record = orjson.loads(line)
        try:
            examples.append(
                LabelledExample(
                    text=str(record["text"]),
                    label=Category(record["label"]),
                    kind=str(record.get("kind", "plain")),
                )
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: bad example: {exc}") from exc
    return examples


def _ngrams() -> FeatureUnion:
    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
        ]
    )


def load_training_examples(directory: Path) -> list[LabelledExample]:
    """Every ``train*.jsonl`` file of ``directory``; the evaluation file stays apart."""
    files = sorted(directory.glob("train*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no train*.jsonl in {directory}")
    return [example for path in files for example in load_examples(path)]


class QuestionClassifier:
    def __init__(
        self,
        model: CalibratedClassifierCV,
        ngrams: FeatureUnion,
        in_scope_vectors: Vectors,
        *,
        out_of_scope_similarity: float,
    ) -> None:
        self._model = model
        self._ngrams = ngrams
        self._labels = [Category(label) for label in model.classes_]
        self._scorer = LinearScorer.of(model, ngrams, dense_scale=_EMBEDDING_WEIGHT)
        self._in_scope_vectors = in_scope_vectors
        self._out_of_scope_similarity = out_of_scope_similarity

    @classmethod
    def train(
        cls,
        examples: Sequence[LabelledExample],
        embedder: OnnxEmbedder,
        hyperparameters: Hyperparameters = Hyperparameters(),
        *,
        cache_dir: Path | None = None,
    ) -> QuestionClassifier:
        """``cache_dir`` keeps the examples' embeddings between starts (:func:`embed_examples`)."""
        vectors = embed_examples([example.text for example in examples], embedder, cache_dir)
        return cls.train_on_vectors(examples, vectors, hyperparameters)

    @classmethod
    def train_on_vectors(
        cls,
        examples: Sequence[LabelledExample],
        vectors: Vectors,
        hyperparameters: Hyperparameters = Hyperparameters(),
    ) -> QuestionClassifier:
        """``vectors``: the examples' embeddings, row for row (cross-validation reuses them)."""
        texts = [example.text for example in examples]
        labels = np.array([example.label.value for example in examples])
        ngrams = _ngrams().fit(texts)
        out_of_scope = labels == Category.OUT_OF_SCOPE.value
        weights = np.where(out_of_scope, hyperparameters.out_of_scope_weight, 1.0)
        model = CalibratedClassifierCV(
            LogisticRegression(C=hyperparameters.regularization, max_iter=5000),
            method="sigmoid",
            cv=_CALIBRATION_FOLDS,
            ensemble=False,
        )
        # One BLAS thread: on small matrices more threads only contend (fit 1.7 s vs 6.7 s).
        with threadpool_limits(limits=1):
            model.fit(_features(ngrams, texts, vectors), labels, sample_weight=weights)
        return cls(
            model,
            ngrams,
            vectors[~out_of_scope],
            out_of_scope_similarity=hyperparameters.out_of_scope_similarity,
        )

    def with_out_of_scope_similarity(self, similarity: float) -> QuestionClassifier:
        """The same model with another rejection threshold (no retraining)."""
        return QuestionClassifier(
            self._model, self._ngrams, self._in_scope_vectors, out_of_scope_similarity=similarity
        )

    def classify(self, text: str, vector: Vectors) -> Classification:
        return self.classify_many([text], vector[None, :])[0]

    def classify_many(self, texts: Sequence[str], vectors: Vectors) -> list[Classification]:
        probabilities = self._scorer.probabilities(texts, vectors)
        nearest = (vectors @ self._in_scope_vectors.T).max(axis=1)
        results = []
        for row, similarity in zip(probabilities, nearest, strict=True):
            best = int(row.argmax())
            category, confidence = self._labels[best], float(row[best])
            if similarity < self._out_of_scope_similarity and category is not Category.OUT_OF_SCOPE:
                category, confidence = Category.OUT_OF_SCOPE, float(1.0 - similarity)
            results.append(Classification(category, round(min(max(confidence, 0.0), 1.0), 4)))
        return results


def embed_examples(texts: Sequence[str], embedder: OnnxEmbedder, cache_dir: Path | None) -> Vectors:
    """The texts' embeddings, read from ``cache_dir`` when an earlier start stored them.

    Embedding the training examples is most of a worker's start (about 20 s on 2 cores);
    the file is named by a digest of the model and every text, so any change to the
    examples embeds them afresh, and the file replaces the older ones.
    """
    if cache_dir is None:
        return embedder.embed(texts)
    digest = hashlib.sha256(embedder.model_name.encode())
    for text in texts:
        digest.update(b"\0" + text.encode())
    path = cache_dir / f"examples-{digest.hexdigest()[:32]}.npy"
    try:
        cached: Vectors = np.load(path, allow_pickle=False)
        if cached.shape == (len(texts), DIMENSIONS):
            return cached
    except (OSError, ValueError):
        pass  # missing or unreadable: embed again
    vectors = embedder.embed(texts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob("examples-*.npy"):
        stale.unlink(missing_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with partial.open("wb") as file:
        np.save(file, vectors, allow_pickle=False)
    os.replace(partial, path)
    return vectors


def _features(ngrams: FeatureUnion, texts: Sequence[str], vectors: Vectors) -> spmatrix:
    return hstack([csr_matrix(vectors * _EMBEDDING_WEIGHT), ngrams.transform(texts)]).tocsr()
