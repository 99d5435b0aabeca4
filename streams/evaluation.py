"""``techgear eval``: the classifier measured on a labelled file kept apart from training."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from schemas import Category
from streams.classifier import (
    QuestionClassifier,
    load_examples,
    load_training_examples,
)
from streams.embeddings import OnnxEmbedder

_CALIBRATION_BINS = 10


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    examples: int
    accuracy: float
    macro_f1: float
    out_of_scope_rejection: float
    """Share of out-of-scope questions the classifier rejected."""
    in_scope_false_rejection: float
    """Share of in-scope questions wrongly rejected as out of scope."""
    calibration_error: float
    """Expected calibration error: mean gap between confidence and accuracy, by bin."""
    labels: list[str]
    confusion: list[list[int]]
    seconds: float

    def render(self) -> str:
        width = max(len(label) for label in self.labels)
        short = [label[:5] for label in self.labels]
        lines = [
            f"examples                 {self.examples}",
            f"accuracy                 {self.accuracy:.3f}",
            f"macro-F1                 {self.macro_f1:.3f}",
            f"out-of-scope rejection   {self.out_of_scope_rejection:.3f}",
            f"in-scope false rejection {self.in_scope_false_rejection:.3f}",
            f"calibration error (ECE)  {self.calibration_error:.3f}",
            f"time                     {self.seconds:.1f}s",
            "",
            "confusion matrix (rows: true label, columns: predicted)",
            " " * (width + 1) + " ".join(f"{s:>5}" for s in short),
        ]
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{label:<{width}} " + " ".join(f"{n:>5}" for n in row))
        return "\n".join(lines)


def evaluate(
    train_dir: Path, eval_path: Path, embedder: OnnxEmbedder | None = None
) -> EvaluationReport:
    started = time.perf_counter()
    embedder = embedder or OnnxEmbedder()
    classifier = QuestionClassifier.train(load_training_examples(train_dir), embedder)
    examples = load_examples(eval_path)
    texts = [example.text for example in examples]
    results = classifier.classify_many(texts, embedder.embed(texts))
    truth = np.array([example.label.value for example in examples])
    predicted = np.array([result.category.value for result in results])
    confidence = np.array([result.confidence for result in results])
    out = Category.OUT_OF_SCOPE.value
    labels = [category.value for category in Category]
    return EvaluationReport(
        examples=len(examples),
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(f1_score(truth, predicted, average="macro", labels=labels, zero_division=0)),
        out_of_scope_rejection=float(np.mean(predicted[truth == out] == out))
        if (truth == out).any()
        else 0.0,
        in_scope_false_rejection=float(np.mean(predicted[truth != out] == out)),
        calibration_error=_expected_calibration_error(confidence, predicted == truth),
        labels=labels,
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
        seconds=time.perf_counter() - started,
    )


def _expected_calibration_error(confidence: np.ndarray, correct: np.ndarray) -> float:
    bins = np.minimum((confidence * _CALIBRATION_BINS).astype(int), _CALIBRATION_BINS - 1)
    error = 0.0
    for b in range(_CALIBRATION_BINS):
        members = bins == b
        if members.any():
            error += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(error)
