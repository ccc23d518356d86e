"""Distribution-shift statistics used by monitoring: PSI, a chi-squared test of homogeneity, a two-sample KS test.

All work on counts (histograms), so a reference profile stores counts, never rows. Scipy computes the tests.

* :func:`psi`: population stability index ``Σ (a − e) · ln(a / e)`` over the bins' proportions, a proportion of 0
  replaced by :data:`PSI_FLOOR` (so an emptied bin counts, finitely). Rule of thumb from credit scoring (Siddiqi,
  *Credit Risk Scorecards*, 2006; also Vertex AI's and Evidently's default drift score): < 0.1 no change,
  0.1–0.25 moderate, > 0.25 major.
* :func:`chi_squared`: ``scipy.stats.chi2_contingency`` on the 2 × k table of counts (reference, batch), bins
  empty in both dropped: are both samples drawn from one distribution?
* :func:`ks_from_counts`: ``scipy.stats.ks_2samp`` on two integer samples given as value → count histograms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

PSI_FLOOR = 1e-4


def _aligned(reference: Mapping[str, float], batch: Mapping[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    keys = sorted(set(reference) | set(batch), key=str)
    ref = np.array([float(reference.get(k, 0)) for k in keys])
    new = np.array([float(batch.get(k, 0)) for k in keys])
    return keys, ref, new


def psi(reference: Sequence[float] | Mapping[str, float], batch: Sequence[float] | Mapping[str, float]) -> float:
    """Population stability index of two histograms (counts or proportions, same bins).

    Args:
        reference: Counts per bin of the reference (a sequence, or bin → count).
        batch: Counts per bin of the new data, the same bins.

    Returns:
        PSI >= 0 (0: identical proportions).

    Raises:
        ValueError: Different numbers of bins, or a histogram with no counts.
    """
    if isinstance(reference, Mapping) or isinstance(batch, Mapping):
        _, ref, new = _aligned(dict(reference), dict(batch))  # type: ignore[arg-type]
    else:
        ref, new = np.asarray(reference, dtype=float), np.asarray(batch, dtype=float)
    if ref.shape != new.shape or ref.sum() <= 0 or new.sum() <= 0:
        raise ValueError(f"psi: need two non-empty histograms over the same bins, got {ref.shape} and {new.shape}")
    e = np.maximum(ref / ref.sum(), PSI_FLOOR)
    a = np.maximum(new / new.sum(), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value."""

    statistic: float
    p_value: float
    dof: int = 0


def chi_squared(reference: Mapping[str, float], batch: Mapping[str, float]) -> TestResult:
    """Chi-squared test of homogeneity of two label (or bin) histograms: ``scipy.stats.chi2_contingency``.

    Raises:
        ValueError: Fewer than two bins with counts, or an empty histogram.
    """
    from scipy.stats import chi2_contingency

    _, ref, new = _aligned(reference, batch)
    keep = (ref + new) > 0
    if keep.sum() < 2 or ref.sum() <= 0 or new.sum() <= 0:
        if keep.sum() == 1 and ref.sum() > 0 and new.sum() > 0:  # one label everywhere: no difference to test
            return TestResult(0.0, 1.0, 0)
        raise ValueError("chi_squared: need two non-empty histograms")
    result = chi2_contingency(np.vstack([ref[keep], new[keep]]), correction=False)
    return TestResult(float(result.statistic), float(result.pvalue), int(result.dof))


def expand(counts: Mapping[int | str, int]) -> np.ndarray:
    """value → count histogram → the sample (values repeated), sorted."""
    values = np.array([int(v) for v in counts], dtype=np.int64)
    repeats = np.array([int(c) for c in counts.values()], dtype=np.int64)
    return np.sort(np.repeat(values, repeats))


def ks_from_counts(reference: Mapping[int | str, int], batch: Mapping[int | str, int]) -> TestResult:
    """Two-sample Kolmogorov–Smirnov test (``scipy.stats.ks_2samp``, asymptotic p-value) of two integer histograms."""
    from scipy.stats import ks_2samp

    result = ks_2samp(expand(reference), expand(batch), method="asymp")
    return TestResult(float(result.statistic), float(result.pvalue))


def quantile_edges(counts: Mapping[int | str, int], bins: int = 10) -> list[float]:
    """Edges cutting a value → count histogram into about ``bins`` equally full bins (duplicates removed)."""
    sample = expand(counts)
    inner = np.quantile(sample, np.linspace(0, 1, bins + 1)[1:-1], method="lower")
    return sorted({float(x) for x in inner})


def binned(counts: Mapping[int | str, int], edges: Sequence[float]) -> list[int]:
    """A value → count histogram regrouped into the bins ``(-inf, e0], (e0, e1], …, (e_last, inf)``."""
    out = [0] * (len(edges) + 1)
    for value, count in counts.items():
        out[int(np.searchsorted(edges, float(value), side="left"))] += int(count)
    return out
