"""The champion rule: a challenger replaces the champion only when the whole interval of ``challenger − champion``
is above 0.

One rule, one place: ``register`` applies it to the new version against the champion on the run's held-out rows,
``emotion-pipeline shadow-report`` to the challenger against the champion on the labelled instances of a shadow
log. Both feed it a :class:`~components.stats.bootstrap.PairedDifference` (``a`` the challenger, ``b`` the
champion); the difference's interval decides:

* wholly above 0: **promote** (the challenger beats the champion);
* wholly below 0: **keep** (the challenger is worse);
* containing 0: **keep** (not shown better).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.stats.bootstrap import PairedDifference

PROMOTE, KEEP = "promote", "keep"
#: The champion rule's bootstrap settings (``register``'s and ``shadow-report``'s defaults).
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 42


@dataclass(frozen=True)
class PromotionVerdict:
    """What the champion rule says about one paired difference.

    Attributes:
        promoted: True when the challenger replaces the champion.
        verdict: ``promote`` or ``keep``.
        reason: The rule's sentence: the comparison (``compared``) with what the interval shows.
    """

    promoted: bool
    verdict: str
    reason: str


def describe_difference(diff: PairedDifference, champion: str, rows: str) -> str:
    """The comparison as one phrase: ``macro_f1 0.9100 vs champion v1 0.8800 on 50 rows, difference +0.0300, 95 %
    CI [0.0100, 0.0500]``.

    Args:
        diff: ``challenger − champion``.
        champion: How to name the champion (``champion v1``).
        rows: What the rows were (``this run's 50 held-out rows``).
    """
    low, high = diff.interval
    return (
        f"{diff.metric} {diff.score_a:.4f} vs {champion} {diff.score_b:.4f} on {rows}, difference "
        f"{diff.difference:+.4f}, {diff.confidence * 100:g} % CI [{low:.4f}, {high:.4f}]"
    )


def promotion_verdict(diff: PairedDifference, compared: str) -> PromotionVerdict:
    """Applies the champion rule (module docstring) to ``challenger − champion``.

    Args:
        diff: The paired difference, challenger as ``a``, champion as ``b``.
        compared: The comparison as shown to people (:func:`describe_difference`).

    Returns:
        The verdict and its reason.
    """
    low, high = diff.interval
    if low > 0:
        return PromotionVerdict(True, PROMOTE, f"beats the champion: {compared} (above 0)")
    if high < 0:
        return PromotionVerdict(False, KEEP, f"worse than the champion: {compared} (below 0); champion kept")
    return PromotionVerdict(False, KEEP, f"not shown better: {compared} contains 0; champion kept")
