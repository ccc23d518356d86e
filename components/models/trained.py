"""What every trainer returns and every step scores with: the trained-model record, the vote, one scorer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline


@dataclass
class TrainedModel:
    """A fitted text → label model and what its training found.

    Attributes:
        model: Fitted pipeline; ``predict`` takes a list of texts.
        fit_seconds: Time spent fitting (search included).
        params: The chosen parameters.
        scores: Validation scores, where the trainer measured any.
        candidates: One row per candidate tried or skipped (parameters, scores, seconds, status).
    """

    model: Pipeline
    fit_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)


def score(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1 (the two figures every trainer ranks by), rounded to 4 places."""
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
    }


def vote(predictions: list[list[str]]) -> list[str]:
    """Majority vote per row; a tie goes to the first (best) voter's label."""
    voted = []
    for labels in zip(*predictions, strict=True):
        counts = Counter(labels)
        top = max(counts.values())
        voted.append(next(label for label in labels if counts[label] == top))
    return voted


class MajorityVote(BaseEstimator, ClassifierMixin):
    """Hard majority vote of fitted text → label pipelines, best first; a tie goes to the first (best) member.

    The same rule as the vote scored on the validation split. A plain class, so the model pickles.

    Args:
        members: Fitted pipelines, best first.
    """

    def __init__(self, members: Sequence[Pipeline]) -> None:
        self.members = members

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> MajorityVote:
        """The members are fitted already (see :func:`train_scratch_model`): a no-op for ``Pipeline``."""
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(vote([[str(p) for p in member.predict(texts)] for member in self.members]))
