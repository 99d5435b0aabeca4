"""Question classifier: semantic embeddings and lexical n-grams, one linear model.

Trained at worker start from labelled examples kept in the repo (a few seconds), it
gives a category and a calibrated confidence in about a millisecond, reusing the
embedding that retrieval needs anyway. The embedding carries meaning ("my order hasn't
come"); the word and character n-grams carry names the embedding blurs (a bank, another
shop, a product line). Questions far from every in-scope example are rejected to
``out_of_scope`` whatever the model says.
"""

from __future__ import annotations

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

from schemas import Category
from streams.embeddings import OnnxEmbedder, Vectors

_EMBEDDING_WEIGHT = 2.0
"""Scales the dense embedding against the sparse n-grams; chosen by cross-validation."""


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    """Chosen by cross-validation on the training files alone (docs/classifier.md)."""

    regularization: float = 20.0
    """The logistic regression's C: higher fits the training examples more closely."""
    out_of_scope_weight: float = 0.5
    """Class weight of out_of_scope against 1.0 for every in-scope category."""
    out_of_scope_similarity: float = 0.40
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
        self._in_scope_vectors = in_scope_vectors
        self._out_of_scope_similarity = out_of_scope_similarity

    @classmethod
    def train(
        cls,
        examples: Sequence[LabelledExample],
        embedder: OnnxEmbedder,
        hyperparameters: Hyperparameters = Hyperparameters(),
    ) -> QuestionClassifier:
        vectors = embedder.embed([example.text for example in examples])
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
            cv=5,
            ensemble=False,
        )
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
        probabilities = self._model.predict_proba(_features(self._ngrams, texts, vectors))
        nearest = (vectors @ self._in_scope_vectors.T).max(axis=1)
        results = []
        for row, similarity in zip(probabilities, nearest, strict=True):
            best = int(row.argmax())
            category, confidence = self._labels[best], float(row[best])
            if similarity < self._out_of_scope_similarity and category is not Category.OUT_OF_SCOPE:
                category, confidence = Category.OUT_OF_SCOPE, float(1.0 - similarity)
            results.append(Classification(category, round(min(max(confidence, 0.0), 1.0), 4)))
        return results


def _features(ngrams: FeatureUnion, texts: Sequence[str], vectors: Vectors) -> spmatrix:
    return hstack([csr_matrix(vectors * _EMBEDDING_WEIGHT), ngrams.transform(texts)]).tocsr()
