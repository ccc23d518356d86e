"""The held-out scores of one model's predictions: the figures ``evaluate`` reports and each arm's predict step logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.metrics import classification_report, confusion_matrix, f1_score

from components.models.trained import score


def score_predictions(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro- and weighted-F1, per-class precision/recall/F1 and the confusion matrix (rows: truth).

    Raises:
        ValueError: The lengths differ, or there are no rows.
    """
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions: they differ in length")
    if not len(truth):
        raise ValueError("score_predictions: the held-out set is empty")
    truth, predicted = [str(t) for t in truth], [str(p) for p in predicted]
    classes = sorted(set(truth) | set(predicted))
    per_class = classification_report(truth, predicted, labels=classes, output_dict=True, zero_division=0)
    return {
        **score(truth, predicted),
        "weighted_f1": round(float(f1_score(truth, predicted, average="weighted", zero_division=0)), 4),
        "test_rows": len(truth),
        "labels": classes,
        "per_class": {
            label: {
                "precision": round(float(per_class[label]["precision"]), 4),
                "recall": round(float(per_class[label]["recall"]), 4),
                "f1": round(float(per_class[label]["f1-score"]), 4),
                "support": int(per_class[label]["support"]),
            }
            for label in classes
        },
        "confusion_matrix": confusion_matrix(truth, predicted, labels=classes).tolist(),
    }
