"""Prediction drift of a model against its reference profile: the checks ``monitor`` and ``shadow-report`` share.

Given the predictions a model made on new texts (:class:`~components.registry.reference.PredictionStats`: the
predicted labels and the confidence bins) and the model's reference profile (its predictions on its held-out
rows), three checks, each with its statistic, threshold, verdict and reason:

* ``prediction_psi``: PSI of the predicted labels; drift at ``psi_threshold`` (:data:`PSI_THRESHOLD`, 0.2).
* ``prediction_chi2``: chi-squared test of homogeneity of the same counts; drift when its p-value is below
  ``chi2_alpha`` (:data:`CHI2_ALPHA`, 0.01) **and** the PSI shows at least a moderate change (``chi2_min_psi``,
  :data:`CHI2_MIN_PSI`, 0.1).
* ``confidence_psi``: PSI of the confidence (largest score, 10 bins of 0.1); drift at ``psi_threshold``.

Why these thresholds: see :mod:`components.steps.monitor`'s docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from components.registry.reference import PredictionStats
from components.stats import drift as stats

DRIFT, OK = "drift", "ok"
PSI_THRESHOLD = 0.2
CHI2_ALPHA = 0.01
CHI2_MIN_PSI = 0.1


class DriftThresholds(Protocol):
    """What the checks need of a step's options (``MonitorOptions``, ``ShadowReportOptions``)."""

    psi_threshold: float
    chi2_alpha: float
    chi2_min_psi: float


def check(
    name: str, statistic: str, value: float, threshold: float, drifted: bool, reason: str, **details: Any
) -> dict[str, Any]:
    """One check's record: ``name``, ``statistic``, ``value``, ``threshold``, ``drift``, ``verdict``, ``reason`` and
    its details (floats rounded to 6 places)."""
    rounded = {k: round(v, 6) if isinstance(v, float) else v for k, v in details.items()}
    return {
        "name": name,
        "statistic": statistic,
        "value": round(float(value), 6),
        "threshold": threshold,
        "drift": bool(drifted),
        "verdict": DRIFT if drifted else OK,
        "reason": reason,
        **rounded,
    }


def _label_checks(
    reference: Mapping[str, int], observed: Mapping[str, int], options: DriftThresholds
) -> list[dict[str, Any]]:
    """``prediction_psi`` and ``prediction_chi2`` of the predicted labels' counts."""
    value = stats.psi(reference, observed)
    test = stats.chi_squared(reference, observed)
    shares = {k: round(v / max(sum(observed.values()), 1), 4) for k, v in sorted(observed.items())}
    ref_shares = {k: round(v / max(sum(reference.values()), 1), 4) for k, v in sorted(reference.items())}
    limit = options.psi_threshold
    psi_check = check(
        "prediction_psi",
        "PSI of the predicted labels",
        value,
        limit,
        value >= limit,
        f"PSI {value:.4f} (drift at {limit:g}); batch shares {shares}, held-out {ref_shares}",
        reference_counts=dict(reference),
        batch_counts=dict(observed),
    )
    significant = test.p_value < options.chi2_alpha
    chi2 = check(
        "prediction_chi2",
        "chi-squared p-value, predicted labels (batch vs held-out)",
        test.p_value,
        options.chi2_alpha,
        significant and value >= options.chi2_min_psi,
        f"chi2 {test.statistic:.2f} ({test.dof} dof), p={test.p_value:.3g} "
        f"({'below' if significant else 'not below'} {options.chi2_alpha:g}); counts only with PSI >= "
        f"{options.chi2_min_psi:g} (PSI {value:.4f})",
        chi2=test.statistic,
        dof=test.dof,
    )
    return [psi_check, chi2]


def prediction_checks(
    profile: Mapping[str, Any], batch: PredictionStats, options: DriftThresholds
) -> list[dict[str, Any]]:
    """``prediction_psi``, ``prediction_chi2`` and ``confidence_psi`` against the held-out rows' predictions."""
    held = profile["heldout"]
    reference = {label: held["predicted_counts"].get(label, 0) for label in profile["classes"]}
    observed = {label: batch.predicted.get(label, 0) for label in reference} | dict(batch.predicted)
    conf = stats.psi(held["confidence_counts"], batch.confidence)
    limit = options.psi_threshold
    confidence = check(
        "confidence_psi",
        "PSI of the confidence (largest score, 10 bins)",
        conf,
        limit,
        conf >= limit,
        f"PSI {conf:.4f} (drift at {limit:g}); mean confidence {batch.mean_confidence:.4f} against "
        f"{held['mean_confidence']:.4f} on the held-out rows",
        reference_bins=held["confidence_counts"],
        batch_bins=batch.confidence,
        mean_confidence=batch.mean_confidence,
        reference_mean_confidence=held["mean_confidence"],
    )
    return [*_label_checks(reference, observed, options), confidence]
