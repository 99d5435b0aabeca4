"""Question classifier: logistic regression on sentence embeddings.

Trained at worker start from labelled examples kept in the repo (about a second), it
gives a category and a calibrated confidence in well under a millisecond per question,
reusing the embedding that retrieval needs anyway. A question far from every in-scope
example is rejected to ``out_of_scope`` whatever the regression says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression

from schemas import Category
from streams.embeddings import OnnxEmbedder, Vectors

DEFAULT_OUT_OF_SCOPE_SIMILARITY = 0.42
"""A question whose nearest in-scope example is less similar than this is out of scope."""


@dataclass(frozen=True, slots=True)
class LabelledExample:
    text: str
    label: Category


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
            examples.append(LabelledExample(text=str(record["text"]), label=Category(record["label"])))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: bad example: {exc}") from exc
    return examples


class QuestionClassifier:
    def __init__(
        self,
        model: CalibratedClassifierCV,
        in_scope_vectors: Vectors,
        *,
        out_of_scope_similarity: float = DEFAULT_OUT_OF_SCOPE_SIMILARITY,
    ) -> None:
        self._model = model
        self._labels = [Category(label) for label in model.classes_]
        self._in_scope_vectors = in_scope_vectors
        self._out_of_scope_similarity = out_of_scope_similarity

    @classmethod
    def train(
        cls,
        examples: Sequence[LabelledExample],
        embedder: OnnxEmbedder,
        *,
        out_of_scope_similarity: float = DEFAULT_OUT_OF_SCOPE_SIMILARITY,
    ) -> QuestionClassifier:
        vectors = embedder.embed([example.text for example in examples])
        labels = np.array([example.label.value for example in examples])
        model = CalibratedClassifierCV(
            LogisticRegression(C=8.0, max_iter=2000), method="sigmoid", cv=5, ensemble=False
        )
        model.fit(vectors, labels)
        in_scope = vectors[labels != Category.OUT_OF_SCOPE.value]
        return cls(model, in_scope, out_of_scope_similarity=out_of_scope_similarity)

    def classify(self, vector: Vectors) -> Classification:
        return self.classify_many(vector[None, :])[0]

    def classify_many(self, vectors: Vectors) -> list[Classification]:
        probabilities = self._model.predict_proba(vectors)
        nearest = (vectors @ self._in_scope_vectors.T).max(axis=1)
        results = []
        for row, similarity in zip(probabilities, nearest, strict=True):
            best = int(row.argmax())
            category, confidence = self._labels[best], float(row[best])
            if similarity < self._out_of_scope_similarity and category is not Category.OUT_OF_SCOPE:
                category, confidence = Category.OUT_OF_SCOPE, float(1.0 - similarity)
            results.append(Classification(category, round(min(max(confidence, 0.0), 1.0), 4)))
        return results
