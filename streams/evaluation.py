"""``techgear eval``: the classifier measured on a labelled file kept apart from training."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from schemas import Category
from streams.classifier import (
    QuestionClassifier,
    load_examples,
    load_training_examples,
)
from streams.embeddings import OnnxEmbedder

_CALIBRATION_BINS = 10

Normalize = Callable[[str], str]
"""Rewrites a customer's text before it is classified, as the worker does (language, spelling)."""


@dataclass(frozen=True, slots=True)
class KindAccuracy:
    kind: str
    examples: int
    accuracy: float


@dataclass(frozen=True, slots=True)
class OutOfScopeCheck:
    """Questions that must all be declined, such as CLINC150's out-of-scope test set."""

    source: str
    questions: int
    rejection: float


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
    by_kind: list[KindAccuracy]
    out_of_scope_check: OutOfScopeCheck | None
    training_seconds: float
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
            f"training time            {self.training_seconds:.1f}s",
            f"time                     {self.seconds:.1f}s",
        ]
        if self.out_of_scope_check:
            check = self.out_of_scope_check
            lines += [
                "",
                f"out-of-scope file {check.source}: {check.questions} questions, "
                f"rejection {check.rejection:.3f}",
            ]
        kind_width = max(len(kind.kind) for kind in self.by_kind)
        lines += ["", f"{'kind':<{kind_width}} examples accuracy"]
        lines += [
            f"{kind.kind:<{kind_width}} {kind.examples:>8} {kind.accuracy:>8.3f}"
            for kind in self.by_kind
        ]
        lines += [
            "",
            "confusion matrix (rows: true label, columns: predicted)",
            " " * (width + 1) + " ".join(f"{s:>5}" for s in short),
        ]
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{label:<{width}} " + " ".join(f"{n:>5}" for n in row))
        return "\n".join(lines)


def evaluate(
    train_dir: Path,
    eval_path: Path,
    embedder: OnnxEmbedder | None = None,
    *,
    normalize: Normalize | None = None,
    out_of_scope_path: Path | None = None,
    out_of_scope_key: str | None = None,
) -> EvaluationReport:
    """``normalize`` is applied to every evaluated text, never to the training examples;
    ``out_of_scope_path`` (see :func:`load_questions`) adds the rejection rate on its questions."""
    started = time.perf_counter()
    embedder = embedder or OnnxEmbedder()
    classifier = QuestionClassifier.train(load_training_examples(train_dir), embedder)
    training_seconds = time.perf_counter() - started

    def classify(texts: Sequence[str]) -> np.ndarray:
        if normalize:
            texts = [normalize(text) for text in texts]
        results = classifier.classify_many(texts, embedder.embed(texts))
        return np.array([[result.category.value, result.confidence] for result in results])

    examples = load_examples(eval_path)
    classified = classify([example.text for example in examples])
    truth = np.array([example.label.value for example in examples])
    kinds = np.array([example.kind for example in examples])
    predicted = classified[:, 0]
    confidence = classified[:, 1].astype(float)
    out = Category.OUT_OF_SCOPE.value
    labels = [category.value for category in Category]
    check = None
    if out_of_scope_path:
        questions = load_questions(out_of_scope_path, out_of_scope_key)
        check = OutOfScopeCheck(
            source=out_of_scope_path.name + (f"[{out_of_scope_key}]" if out_of_scope_key else ""),
            questions=len(questions),
            rejection=float(np.mean(classify(questions)[:, 0] == out)),
        )
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
        by_kind=[
            KindAccuracy(
                kind=str(kind),
                examples=int((kinds == kind).sum()),
                accuracy=float(np.mean(predicted[kinds == kind] == truth[kinds == kind])),
            )
            for kind in dict.fromkeys(kinds)
        ],
        out_of_scope_check=check,
        training_seconds=training_seconds,
        seconds=time.perf_counter() - started,
    )


def load_questions(path: Path, key: str | None = None) -> list[str]:
    """Questions from a JSON Lines file (a string or an object with ``text`` per line) or a
    JSON file: a list of strings, ``{"text": ...}`` objects or ``[text, label]`` pairs, or an
    object whose ``key`` holds such a list (CLINC150's ``data_full.json`` with ``oos_test``)."""
    raw = path.read_bytes()
    if path.suffix == ".jsonl":
        items: object = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    else:
        items = orjson.loads(raw)
    if key is not None:
        if not isinstance(items, dict) or key not in items:
            raise ValueError(f"{path}: no list under {key!r}")
        items = items[key]
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of questions (or give the key that holds it)")
    return [_question(item, path) for item in items]


def _question(item: object, path: Path) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        return str(item["text"])
    if isinstance(item, list) and item and isinstance(item[0], str):
        return item[0]
    raise ValueError(f"{path}: not a question: {item!r}")


def _expected_calibration_error(confidence: np.ndarray, correct: np.ndarray) -> float:
    bins = np.minimum((confidence * _CALIBRATION_BINS).astype(int), _CALIBRATION_BINS - 1)
    error = 0.0
    for b in range(_CALIBRATION_BINS):
        members = bins == b
        if members.any():
            error += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(error)
