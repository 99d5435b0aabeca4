"""``techgear eval --tune``: the classifier's hyperparameters chosen on the training files.

Stratified k-fold cross-validation over the ``train*.jsonl`` examples only; the evaluation
file and public benchmarks stay unseen, so the figures they give remain honest. A candidate
scores the mean of two held-out rates: in-scope questions given their category, and
out-of-scope questions rejected, so neither side can be bought with the other.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from schemas import Category
from streams.classifier import Hyperparameters, LabelledExample, QuestionClassifier
from streams.embeddings import Vectors

REGULARIZATIONS = (5.0, 20.0)
OUT_OF_SCOPE_WEIGHTS = (0.5, 1.0, 2.0)
OUT_OF_SCOPE_SIMILARITIES = (0.25, 0.30, 0.35, 0.40, 0.45)


@dataclass(frozen=True, slots=True)
class CrossValidated:
    hyperparameters: Hyperparameters
    in_scope_accuracy: float
    out_of_scope_rejection: float

    @property
    def score(self) -> float:
        return (self.in_scope_accuracy + self.out_of_scope_rejection) / 2


def cross_validate(
    examples: Sequence[LabelledExample],
    vectors: Vectors,
    *,
    regularizations: Sequence[float] = REGULARIZATIONS,
    out_of_scope_weights: Sequence[float] = OUT_OF_SCOPE_WEIGHTS,
    out_of_scope_similarities: Sequence[float] = OUT_OF_SCOPE_SIMILARITIES,
    folds: int = 5,
) -> list[CrossValidated]:
    """Every combination of the candidates, best score first."""
    labels = np.array([example.label.value for example in examples])
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(labels, labels))
    out_of_scope = labels == Category.OUT_OF_SCOPE.value
    results = []
    for regularization, weight in itertools.product(regularizations, out_of_scope_weights):
        predicted = {
            similarity: np.empty(len(examples), dtype=object)
            for similarity in out_of_scope_similarities
        }
        for train, held_out in splits:
            classifier = QuestionClassifier.train_on_vectors(
                [examples[i] for i in train],
                vectors[train],
                Hyperparameters(regularization=regularization, out_of_scope_weight=weight),
            )
            texts = [examples[i].text for i in held_out]
            for similarity in out_of_scope_similarities:
                rejecting = classifier.with_out_of_scope_similarity(similarity)
                predicted[similarity][held_out] = [
                    result.category.value
                    for result in rejecting.classify_many(texts, vectors[held_out])
                ]
        for similarity, guesses in predicted.items():
            results.append(
                CrossValidated(
                    Hyperparameters(regularization, weight, similarity),
                    in_scope_accuracy=float(
                        np.mean(guesses[~out_of_scope] == labels[~out_of_scope])
                    ),
                    out_of_scope_rejection=float(
                        np.mean(guesses[out_of_scope] == Category.OUT_OF_SCOPE.value)
                    ),
                )
            )
    return sorted(results, key=lambda result: result.score, reverse=True)


def render(results: Sequence[CrossValidated]) -> str:
    lines = ["    C  oos-weight  similarity  in-scope  rejection  score"]
    for result in results:
        h = result.hyperparameters
        lines.append(
            f"{h.regularization:>5g}  {h.out_of_scope_weight:>10g}"
            f"  {h.out_of_scope_similarity:>10.2f}  {result.in_scope_accuracy:>8.3f}"
            f"  {result.out_of_scope_rejection:>9.3f}  {result.score:.3f}"
        )
    return "\n".join(lines)
