"""The from-scratch model's soft vote: calibrated probabilities of diverse members, averaged, with a prior correction.

Each member's decision scores become probabilities by a softmax with one temperature per member (temperature
scaling: the temperature of least log loss on held-out rows), so an SVM's margins and a logistic model's
log-odds weigh alike. The vote averages the probabilities and adds ``−prior_weight · log prior(class)`` to their
logarithm: with ``prior_weight`` > 0 the small classes (surprise, love) win more of the rows the members are unsure
about, which raises macro-F1. ``prior_weight`` is the one per-class offset that is tuned (on held-out rows, for
the search's metric): six free offsets, one per class, fitted on the same rows, were noisier in cross-validation
(docs/RESULTS.md). Everything here is fitted on held-out *training* rows, never on the test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, f1_score

from components.models.scoring import ScoredPredictions

#: Values of ``prior_weight`` tried, smallest first (a tie goes to the smaller one: the plain average).
PRIOR_WEIGHTS = tuple(np.round(np.arange(0.0, 1.0001, 0.125), 3))


#: Up to this many rows, :func:`row_max` and :func:`row_argmax` run in Python: numpy's reductions to a row's maximum
#: drop the GIL, which on a row or two costs more than it saves (threads serving one text each then wait for it).
PYTHON_ROWS = 8


def row_max(values: np.ndarray) -> np.ndarray:
    """Each row's largest value."""
    if len(values) > PYTHON_ROWS:
        return values.max(axis=1)
    return np.asarray([max(row) for row in values.tolist()], dtype=np.float64)


def row_argmax(values: np.ndarray) -> list[int]:
    """Each row's index of its largest value (the first of equal ones, as ``argmax``)."""
    if len(values) > PYTHON_ROWS:
        return values.argmax(axis=1).tolist()
    return [row.index(max(row)) for row in values.tolist()]


def decision_columns(decision: np.ndarray) -> np.ndarray:
    """A decision function's output as rows × classes scores: a binary one (one value per row, positive for
    ``classes_[1]``) becomes two columns ``[−d/2, d/2]``."""
    scores = np.asarray(decision, dtype=np.float64)
    return np.column_stack([-scores / 2, scores / 2]) if scores.ndim == 1 else scores


def decision_scores(model: Any, inputs: Any) -> np.ndarray:
    """Rows × classes scores of a fitted classifier or pipeline: its ``decision_function`` (binary: see
    :func:`decision_columns`), else log-probabilities."""
    if hasattr(model, "decision_function"):
        return decision_columns(model.decision_function(inputs))
    return np.asarray(model.predict_log_proba(inputs), dtype=np.float64)


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The temperature ``T`` (in [e⁻⁶, e⁶]) of least log loss of ``softmax(scores / T)`` on these rows.

    Args:
        scores: Rows × classes decision scores.
        truth: The rows' true class indices (columns of ``scores``).
    """
    rows = np.arange(len(truth))

    def log_loss(log_t: float) -> float:
        return float(-log_softmax(scores / np.exp(log_t), axis=1)[rows, truth].mean())

    return float(np.exp(minimize_scalar(log_loss, bounds=(-6.0, 6.0), method="bounded").x))


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    """``scipy.special.log_softmax(scores, axis=1)`` for finite scores, without its per-call overhead."""
    shifted = scores - row_max(scores)[:, None]
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def mean_log_proba(scores: Sequence[np.ndarray], temperatures: Sequence[float]) -> np.ndarray:
    """Logarithm of the members' average calibrated probabilities (rows × classes).

    The arithmetic of ``logsumexp(log_softmax(s / T))`` over members in plain numpy ufuncs (each served text runs it:
    no per-call overhead, and nothing that drops the GIL on small arrays, as ``np.stack``'s copy does).
    """
    logs = [_log_softmax(s / t) for s, t in zip(scores, temperatures, strict=True)]
    top = logs[0]  # finite: a log-softmax of finite scores is
    for log in logs[1:]:
        top = np.maximum(top, log)
    total = np.exp(logs[0] - top)
    for log in logs[1:]:
        total += np.exp(log - top)
    return top + np.log(total) - np.log(len(logs))


def _metric(truth: np.ndarray, predicted: np.ndarray, metric: str) -> float:
    if metric == "accuracy":
        return float(accuracy_score(truth, predicted))
    return float(f1_score(truth, predicted, average="macro", zero_division=0))


def calibrate(
    scores: Sequence[np.ndarray], truth: np.ndarray, metric: str = "macro_f1"
) -> tuple[list[float], float, np.ndarray]:
    """Fits the vote on held-out rows: each member's temperature, then the prior weight best for ``metric``.

    Args:
        scores: Each member's rows × classes decision scores on the same held-out rows.
        truth: Their true class indices.
        metric: ``macro_f1`` or ``accuracy``.

    Returns:
        ``(temperatures, prior_weight, offsets)``: ``offsets`` (one per class) is what :class:`CalibratedVote`
        adds to the log-probabilities.
    """
    temperatures = [fit_temperature(s, truth) for s in scores]
    log_proba = mean_log_proba(scores, temperatures)
    classes = log_proba.shape[1]
    prior = (np.bincount(truth, minlength=classes) + 1.0) / (len(truth) + classes)  # +1: no class at zero
    results = {w: _metric(truth, (log_proba - w * np.log(prior)).argmax(axis=1), metric) for w in PRIOR_WEIGHTS}
    weight = max(PRIOR_WEIGHTS, key=lambda w: (results[w], -w))
    return temperatures, float(weight), -weight * np.log(prior)


class CalibratedVote(BaseEstimator, ClassifierMixin):
    """Soft vote of fitted text → label pipelines: average calibrated probability plus per-class offsets.

    A plain class, so the model pickles. See :func:`calibrate` for how its parameters are fitted.

    Args:
        members: Fitted pipelines with ``decision_function`` or ``predict_log_proba``, all over ``classes``.
        temperatures: One softmax temperature per member.
        offsets: Added to the log of the average probability, one per class.
        classes: The class labels, in the members' column order.
    """

    def __init__(
        self, members: Sequence[Any], temperatures: Sequence[float], offsets: Sequence[float], classes: Sequence[str]
    ) -> None:
        self.members = members
        self.temperatures = temperatures
        self.offsets = offsets
        self.classes = classes

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> CalibratedVote:
        """The members are fitted already (see :func:`components.arms.scratch.train.train_scratch_model`)."""
        return self

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.classes)

    def predict_log_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Log of the members' average calibrated probability (without the offsets)."""
        return mean_log_proba([decision_scores(m, texts) for m in self.members], self.temperatures)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.exp(self.predict_log_proba(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        scores = self.predict_log_proba(texts) + np.asarray(self.offsets)
        return self.classes_[scores.argmax(axis=1)]

    def predict_scored(self, texts: Sequence[str]) -> ScoredPredictions:
        """Labels (as :meth:`predict`) and probabilities (as :meth:`predict_proba`), each member scored once."""
        return self._scored([decision_scores(m, texts) for m in self.members])

    def scored_from_decisions(self, decisions: Sequence[np.ndarray]) -> ScoredPredictions:
        """:meth:`predict_scored` from the members' ``decision_function`` outputs, computed elsewhere (by their
        compiled form, :mod:`components.models.compiled`)."""
        return self._scored([decision_columns(d) for d in decisions])

    def _scored(self, scores: Sequence[np.ndarray]) -> ScoredPredictions:
        log_proba = mean_log_proba(scores, self.temperatures)
        classes = [str(c) for c in self.classes]
        labels = [classes[i] for i in row_argmax(log_proba + np.asarray(self.offsets))]
        return ScoredPredictions(labels, classes, np.exp(log_proba), "probability")
