"""Paired bootstrap of the difference between two models' scores on the same rows (seeded, vectorised).

Used by ``register`` to decide whether a new model beats the current champion on this run's held-out rows.
Same algorithm as ``components/steps/evaluate.py`` (percentile intervals; macro- and weighted-F1 over a fixed label
set per model, the test labels and that model's predicted labels, as its point estimate has them), kept here
because steps never import each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_METRICS = ("accuracy", "macro_f1", "weighted_f1")


@dataclass(frozen=True)
class PairedDifference:
    """``a − b`` on one metric, with its bootstrap interval.

    Attributes:
        metric: ``accuracy`` or ``macro_f1``.
        score_a: The metric of model a on all rows.
        score_b: The metric of model b on all rows.
        difference: ``score_a − score_b``.
        interval: ``[low, high]`` percentile interval of the difference.
        confidence: Interval coverage.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling.
    """

    metric: str
    score_a: float
    score_b: float
    difference: float
    interval: tuple[float, float]
    confidence: float
    resamples: int
    seed: int


def metric_per_resample(
    truth: np.ndarray, predicted: np.ndarray, rows: np.ndarray, classes: int, label_set: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Accuracy, macro- and weighted-F1 of every resample (``rows``: resamples × row indices; labels as codes).

    ``label_set``: the codes the F1 averages run over in every resample (default: all), as
    ``f1_score(labels=...)`` does: a class a resample misses counts as F1 0, not as absent.
    """
    resamples = rows.shape[0]
    offsets = (np.arange(resamples) * classes)[:, None]
    t, p = truth[rows], predicted[rows]
    correct = (t == p).astype(np.float64)
    size = resamples * classes
    true_counts = np.bincount((offsets + t).ravel(), minlength=size).reshape(resamples, classes)
    pred_counts = np.bincount((offsets + p).ravel(), minlength=size).reshape(resamples, classes)
    hits = np.bincount((offsets + t).ravel(), weights=correct.ravel(), minlength=size).reshape(resamples, classes)
    present = (true_counts + pred_counts) > 0
    f1 = np.divide(2 * hits, true_counts + pred_counts, out=np.zeros_like(hits), where=present)
    fixed = np.ones(classes, dtype=bool) if label_set is None else np.isin(np.arange(classes), label_set)
    return {
        "accuracy": correct.mean(axis=1),
        "macro_f1": f1[:, fixed].sum(axis=1) / fixed.sum(),
        "weighted_f1": (f1 * true_counts)[:, fixed].sum(axis=1) / true_counts[:, fixed].sum(axis=1),
    }


#: Resampled row indices held at once (8 bytes each, about 4 more in the per-resample arrays): about 0.4 GB
#: whatever the test set's size, so the bootstrap's memory stays bounded and its time linear in rows × resamples.
RESAMPLE_BLOCK_CELLS = 4_000_000


def bootstrap_values(
    truth: np.ndarray,
    models: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    classes: int,
    *,
    resamples: int,
    seed: int,
) -> dict[str, dict[str, np.ndarray]]:
    """:func:`metric_per_resample` of every model on the *same* ``resamples`` resamples of the rows (paired),
    drawn a block of :data:`RESAMPLE_BLOCK_CELLS` indices at a time.

    Args:
        truth: True class codes of the rows.
        models: Model name → (its predicted codes, its label set for the F1 averages, or None for all classes).
        classes: Number of class codes.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        Model name → metric → one value a resample.
    """
    rng, count = np.random.default_rng(seed), len(truth)
    block = max(1, RESAMPLE_BLOCK_CELLS // count)
    parts: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in models}
    for start in range(0, resamples, block):
        rows = rng.integers(0, count, size=(min(block, resamples - start), count))
        for name, (predicted, label_set) in models.items():
            parts[name].append(metric_per_resample(truth, predicted, rows, classes, label_set))
    return {
        name: {metric: np.concatenate([part[metric] for part in model]) for metric in BOOTSTRAP_METRICS}
        for name, model in parts.items()
    }


def paired_difference(
    truth: Sequence[str],
    predicted_a: Sequence[str],
    predicted_b: Sequence[str],
    *,
    metric: str = "macro_f1",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 42,
) -> PairedDifference:
    """The difference ``a − b`` on ``metric`` and its paired bootstrap interval (the same resampled rows for both).

    Raises:
        ValueError: Lengths differ, no rows, an unknown metric, fewer than 10 resamples or a bad confidence.
    """
    if not len(truth) or not len(truth) == len(predicted_a) == len(predicted_b):
        raise ValueError(f"paired_difference: need as many predictions as rows ({len(truth)}), and at least one")
    if metric not in BOOTSTRAP_METRICS or resamples < 10 or not 0 < confidence < 1:
        raise ValueError(f"paired_difference: metric in {BOOTSTRAP_METRICS}, resamples >= 10, 0 < confidence < 1")
    classes = sorted(set(truth) | set(predicted_a) | set(predicted_b))
    code = {label: i for i, label in enumerate(classes)}
    t = np.array([code[x] for x in truth])
    a, b = np.array([code[x] for x in predicted_a]), np.array([code[x] for x in predicted_b])
    sets = {"a": np.union1d(t, a), "b": np.union1d(t, b)}  # each model's own label set, fixed in every resample
    every_row = np.arange(len(t))[None, :]
    score_a = float(metric_per_resample(t, a, every_row, len(classes), sets["a"])[metric][0])
    score_b = float(metric_per_resample(t, b, every_row, len(classes), sets["b"])[metric][0])
    models = {"a": (a, sets["a"]), "b": (b, sets["b"])}
    values = bootstrap_values(t, models, len(classes), resamples=resamples, seed=seed)
    diff = values["a"][metric] - values["b"][metric]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diff, [tail, 100 - tail])
    return PairedDifference(
        metric,
        round(score_a, 4),
        round(score_b, 4),
        round(score_a - score_b, 4),
        (round(float(low), 4), round(float(high), 4)),
        confidence,
        resamples,
        seed,
    )


@dataclass(frozen=True)
class MetricInterval:
    """One model's score on one metric with its bootstrap percentile interval."""

    metric: str
    score: float
    interval: tuple[float, float]
    confidence: float
    resamples: int


def metric_interval(
    truth: Sequence[str],
    predicted: Sequence[str],
    *,
    metric: str = "macro_f1",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 42,
) -> MetricInterval:
    """A model's ``metric`` on the rows and its bootstrap interval (the F1 label set fixed as in
    :func:`paired_difference`: the true labels and the model's predicted labels).

    Raises:
        ValueError: Lengths differ, no rows, an unknown metric, fewer than 10 resamples or a bad confidence.
    """
    if not len(truth) or len(truth) != len(predicted):
        raise ValueError(f"metric_interval: need as many predictions as rows ({len(truth)}), and at least one")
    if metric not in BOOTSTRAP_METRICS or resamples < 10 or not 0 < confidence < 1:
        raise ValueError(f"metric_interval: metric in {BOOTSTRAP_METRICS}, resamples >= 10, 0 < confidence < 1")
    classes = sorted(set(truth) | set(predicted))
    code = {label: i for i, label in enumerate(classes)}
    t, p = np.array([code[x] for x in truth]), np.array([code[x] for x in predicted])
    label_set = np.union1d(t, p)
    point = float(metric_per_resample(t, p, np.arange(len(t))[None, :], len(classes), label_set)[metric][0])
    values = bootstrap_values(t, {"p": (p, label_set)}, len(classes), resamples=resamples, seed=seed)["p"][metric]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return MetricInterval(metric, round(point, 4), (round(float(low), 4), round(float(high), 4)), confidence, resamples)
