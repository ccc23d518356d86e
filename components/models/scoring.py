"""A label and per-class scores for every text, from any of the pipeline's text → label models.

The label is always the model's own ``predict`` (so a served or batch prediction equals what ``evaluate``
scored); the scores say how sure the model was, and what they are depends on the model (``score_kind``):

* ``probability``: ``predict_proba`` (logistic regression, naive Bayes, PyCaret models that have it);
* ``softmax_decision``: a softmax over ``decision_function`` (linear SVM, ridge, SGD): sums to 1 and ranks the
  classes as the model does, but is not a calibrated probability;
* ``vote_share``: the share of a hard majority vote's members that chose each class (the soft, calibrated vote
  of the from-scratch model has ``predict_proba``: its average calibrated probabilities, before the prior
  correction its label adds);
* ``label_only``: 1 for the predicted label, 0 elsewhere, for a model with none of the above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SCORE_KINDS = ("probability", "softmax_decision", "vote_share", "label_only")


@dataclass(frozen=True)
class ScoredPredictions:
    """Predictions of a batch of texts.

    Attributes:
        labels: Predicted label per text.
        classes: The classes the scores are for, in column order.
        scores: texts × classes matrix of scores (rows sum to 1).
        score_kind: One of :data:`SCORE_KINDS`.
    """

    labels: list[str]
    classes: list[str]
    scores: np.ndarray
    score_kind: str

    def rows(self, digits: int = 4) -> list[dict[str, Any]]:
        """``[{"label": …, "scores": {class: score}}]``, one per text, scores rounded."""
        return [
            {"label": label, "scores": {c: round(float(s), digits) for c, s in zip(self.classes, row, strict=True)}}
            for label, row in zip(self.labels, self.scores, strict=True)
        ]


def _final_step(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = values - values.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def vote_shares(votes: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """The classes any member chose (sorted) and, per text, the share of the members that chose each.

    Args:
        votes: Per member, its label for every text.
    """
    classes = sorted({label for member in votes for label in member})
    index = {label: i for i, label in enumerate(classes)}
    rows = len(votes[0]) if votes else 0
    shares = np.zeros((rows, len(classes)))
    for member in votes:
        shares[np.arange(rows), [index[label] for label in member]] += 1
    return classes, shares / max(len(votes), 1)


def _vote_shares(vote: Any, texts: list[str]) -> tuple[list[str], np.ndarray]:
    return vote_shares([[str(p) for p in member.predict(texts)] for member in vote.members])


def decision_softmax(values: np.ndarray) -> np.ndarray:
    """A softmax over a decision function's scores; a binary one (the score of ``classes_[1]``, one value per row)
    becomes the two columns ``[-d, d]`` first."""
    values = np.asarray(values, dtype=float)
    return _softmax(np.column_stack([-values, values]) if values.ndim == 1 else values)


def _model_scores(model: Any, texts: list[str]) -> tuple[list[str], np.ndarray, str] | None:
    """Classes, scores and their kind from predict_proba or decision_function; None when neither fits."""
    classes = [str(c) for c in getattr(model, "classes_", [])]
    for method, kind in (("predict_proba", "probability"), ("decision_function", "softmax_decision")):
        try:
            values = np.asarray(getattr(model, method)(texts), dtype=float)
        except (AttributeError, NotImplementedError, TypeError, ValueError):
            continue
        if kind == "softmax_decision":
            values = decision_softmax(values)
        if values.shape != (len(texts), len(classes)):
            continue
        return classes, values, kind
    return None


def _joint_scorer(model: Any) -> Any:
    """The model, or the only step of a pipeline, when it gives labels and scores in one call (``predict_scored``:
    a vote computes its members' scores once, a compiled model has no other way); else None."""
    steps = getattr(model, "steps", None)
    for candidate in (model, steps[0][1] if steps and len(steps) == 1 else None):
        if callable(getattr(candidate, "predict_scored", None)):
            return candidate
    return None


def predict_with_scores(model: Any, texts: Sequence[str]) -> ScoredPredictions:
    """Labels (the model's ``predict``) and per-class scores of ``texts`` (see the module docstring).

    A model (or a pipeline's only step) with ``predict_scored`` gives both at once (the from-scratch vote, whose
    members' scores are then computed once; a compiled model, :mod:`components.models.compiled`).

    Args:
        model: A fitted text → label model (scikit-learn pipeline, the from-scratch vote, a PyCaret pipeline, a
            compiled model).
        texts: The texts, already normalised as the training texts were.

    Returns:
        The predictions; classes whose labels the scores cannot be matched to fall back to ``label_only``.
    """
    texts = [str(t) for t in texts]
    joint = _joint_scorer(model)
    if joint is not None and texts:
        return joint.predict_scored(texts)
    labels = [str(p) for p in model.predict(texts)]
    final = _final_step(model)
    found: tuple[list[str], np.ndarray, str] | None = None
    if hasattr(final, "members") and not hasattr(final, "predict_proba"):  # a hard vote (a soft one has probabilities)
        found = (*_vote_shares(final, texts), "vote_share")
    elif texts:
        found = _model_scores(model, texts)
    if found is None or not set(labels) <= set(found[0]):  # e.g. scores over encoded labels: not usable
        classes = sorted(set(labels) | set(found[0] if found else []))
        index = {label: i for i, label in enumerate(classes)}
        scores = np.zeros((len(texts), len(classes)))
        scores[np.arange(len(texts)), [index[label] for label in labels]] = 1.0
        return ScoredPredictions(labels, classes, scores, "label_only")
    return ScoredPredictions(labels, *found)
