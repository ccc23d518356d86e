"""Evaluate: every model on the same held-out texts with the same metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


class TextClassifier(Protocol):
    def predict(self, texts: Sequence[str]) -> Sequence[str]: ...


def evaluate_model(model: TextClassifier, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Scores one text → label model.

    Args:
        model: Anything with ``predict(list_of_texts)``.
        texts: Held-out texts.
        labels: Their true labels.

    Returns:
        ``accuracy``, ``macro_f1``, ``weighted_f1``, ``labels`` and the ``confusion_matrix`` (rows: truth).
    """
    if len(texts) != len(labels):
        raise ValueError(f"texts ({len(texts)}) and labels ({len(labels)}) differ in length")
    if not len(texts):
        raise ValueError("evaluate_model: the held-out set is empty")
    predicted = [str(p) for p in model.predict(list(texts))]
    truth = [str(t) for t in labels]
    classes = sorted(set(truth) | set(predicted))
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
        "weighted_f1": round(float(f1_score(truth, predicted, average="weighted", zero_division=0)), 4),
        "test_rows": len(truth),
        "labels": classes,
        "confusion_matrix": confusion_matrix(truth, predicted, labels=classes).tolist(),
    }


def evaluate_models(
    models: Mapping[str, TextClassifier],
    texts: Sequence[str],
    labels: Sequence[str],
    winner_metric: str = "macro_f1",
) -> dict[str, Any]:
    """Scores several models on the same held-out set and names the best by ``winner_metric``."""
    results = {name: evaluate_model(model, texts, labels) for name, model in models.items()}
    if winner_metric not in ("accuracy", "macro_f1", "weighted_f1"):
        raise ValueError(f"winner_metric must be accuracy, macro_f1 or weighted_f1, got {winner_metric!r}")
    winner = max(results, key=lambda name: results[name][winner_metric])
    return {"models": results, "winner": winner, "winner_metric": winner_metric}
