"""What the KFP wrappers show in the pipeline UIs, kept out of the wrappers so they stay thin.

No ``kfp`` import (the runtime package must not import it): KFP's ``Metrics`` and ``ClassificationMetrics``
outputs and an artifact's ``metadata`` dict are used through the methods they have (``log_metric``,
``log_confusion_matrix``), so these functions also run with plain stand-ins in tests.

A ``Metrics`` or ``ClassificationMetrics`` output lives in its metadata; KFP writes no file for it. kfp.local's
cache (2.17) treats an output whose file is missing as a cache miss, so a step with such an output would never
be reused locally: :func:`write_metadata_file` writes the metadata as JSON at the artifact's path (harmless on
Vertex AI and KFP, where it is stored beside the metadata the UIs read).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol

from components.io import atomic


class MetricsOutput(Protocol):
    """KFP's ``Metrics`` artifact, as used here."""

    def log_metric(self, metric: str, value: float) -> None: ...


class ConfusionOutput(Protocol):
    """KFP's ``ClassificationMetrics`` artifact, as used here."""

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None: ...


#: Per-model scores of the evaluation logged as the model's Metrics (when present).
SCORE_KEYS = ("accuracy", "macro_f1", "weighted_f1", "latency_p50_ms", "model_size_mb")


def write_metadata_file(artifact: Any) -> None:
    """Writes an output's metadata as JSON at its path, when it has one (see the module docstring)."""
    path = getattr(artifact, "path", None)
    if path:
        atomic.write_json(path, getattr(artifact, "metadata", {}))


def log_metrics(metrics: MetricsOutput, values: Mapping[str, float]) -> None:
    """Logs every value to a Metrics output and writes its file (:func:`write_metadata_file`)."""
    for key, value in values.items():
        metrics.log_metric(key, value)
    write_metadata_file(metrics)


def log_scores(result: Mapping[str, Any], **outputs: tuple[MetricsOutput, ConfusionOutput]) -> None:
    """Logs each model's scores and confusion matrix to its Metrics and ClassificationMetrics outputs.

    Args:
        result: The evaluation (``models.<name>`` with the scores, ``labels`` and ``confusion_matrix``).
        **outputs: Model name → (its Metrics output, its ClassificationMetrics output).
    """
    for name, (metrics, confusion) in outputs.items():
        scores = result["models"][name]
        log_metrics(metrics, {key: scores[key] for key in SCORE_KEYS if key in scores})  # no latency: latency_calls 0
        confusion.log_confusion_matrix(scores["labels"], scores["confusion_matrix"])
        write_metadata_file(confusion)


def verdict(result: Mapping[str, Any]) -> dict[str, Any]:
    """The outcome of the comparison in a few fields, for output parameters and artifact metadata.

    Args:
        result: The evaluation (``winner``, ``winner_metric``, ``comparison``: the best arm against the runner-up).

    Returns:
        ``winner`` (an arm or ``tie``), ``winner_metric``, ``tied`` (the tied arms, on a tie), and
        ``score_difference``: the best arm minus the runner-up on the winner's metric (0.0 with one arm).
    """
    metric, comparison = result["winner_metric"], result.get("comparison") or {}
    difference = float((comparison.get(metric) or {}).get("difference", 0.0))
    out = {"winner": result["winner"], "winner_metric": metric, "score_difference": round(difference, 4)}
    if result.get("tied"):
        out["tied"] = list(result["tied"])
    return out


def comparison_figures(result: Mapping[str, Any]) -> dict[str, float]:
    """The best arm's lead over the runner-up per metric, with its interval (``macro_f1_difference``,
    ``macro_f1_ci_low``, ``macro_f1_ci_high`` …); empty with one arm."""
    comparison = result.get("comparison") or {}
    figures: dict[str, float] = {}
    for metric, found in comparison.items():
        if isinstance(found, Mapping) and "difference" in found:
            figures[f"{metric}_difference"] = found["difference"]
            figures[f"{metric}_ci_low"], figures[f"{metric}_ci_high"] = found["ci"]
    return figures


def record_verdict(result: Mapping[str, Any], metadata: MutableMapping[str, Any]) -> tuple[str, float]:
    """Adds :func:`verdict` to an artifact's metadata (the ``evaluation`` artifact in the UIs).

    Returns:
        ``(winner, score_difference)``: the evaluate component's output parameters, in their order.
    """
    outcome = verdict(result)
    metadata.update(outcome)
    return outcome["winner"], outcome["score_difference"]
