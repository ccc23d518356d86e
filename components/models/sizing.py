"""How many training rows a budgeted search can afford: sized from timed fits on two small samples.

A budget in seconds does not grow with the data. Rather than let a search on all rows run out of time (no
candidate finishes, or the refit of the chosen model overruns the budget by minutes), a trainer times one fit on
two small stratified samples (one twice the other), fits a power law ``seconds = a · rows ** b`` through them
(:class:`FitCost`; L1 LinearSVC on TF-IDF features grows as about rows ** 1.45, NB-SVM as rows ** 1.2), and plans
the rows it can afford: the refit (the model it returns) gets a share of the budget first, the search gets what
remains for its first rounds of candidates. Below the smallest useful sample it refuses at once, with the
estimate that made it refuse. Estimates are inflated by :data:`SAFETY` for other candidates being slower than
the probe.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

#: Factor on the estimate: later candidates cost a little more than the probed one (× 1.25), and candidates and
#: the vote's members are fitted two at a time, sharing the machine (× 1.3: a fit took 1.7 times as long beside
#: another on a loaded 2-core machine as alone).
SAFETY = 1.6
#: Lowest exponent of the power law: between 4,000 and 38,500 rows L1 LinearSVC's CPU time grew as rows^1.36 to
#: rows^1.55 on both tasks, while two probes at 2,000 and 4,000 rows can measure as little as 1.16.
MIN_EXPONENT = 1.4
#: Share of the budget kept for the refit of the chosen model: more rows for the model returned beats more rows
#: for ranking candidates.
REFIT_SHARE = 0.6


class BudgetTooSmallError(ValueError):
    """The budget cannot fit the smallest useful search and refit; the message gives the estimate."""


@dataclass(frozen=True)
class FitCost:
    """Fit seconds as a power of the rows, through two timed fits (the second on twice the rows of the first).

    Attributes:
        rows: Rows of the larger probe fit.
        seconds: Its seconds.
        exponent: ``b`` in ``seconds ∝ rows ** b``, from the two fits, kept within [:data:`MIN_EXPONENT`, 2].
    """

    rows: int
    seconds: float
    exponent: float

    @classmethod
    def from_probes(cls, small: tuple[int, float, float], large: tuple[int, float, float]) -> FitCost:
        """The cost model through two (rows, wall seconds, CPU seconds) probes: the exponent from their CPU
        seconds (steadier than wall time on a shared machine), the scale from the larger one's wall seconds."""
        ratio = max(large[2], 1e-6) / max(small[2], 1e-6)
        exponent = math.log(ratio) / math.log(large[0] / small[0])
        return cls(rows=large[0], seconds=large[1], exponent=min(2.0, max(MIN_EXPONENT, exponent)))

    def seconds_for(self, rows: float) -> float:
        """Estimated seconds to fit ``rows`` rows (with :data:`SAFETY`)."""
        return SAFETY * self.seconds * (rows / self.rows) ** self.exponent

    def rows_for(self, seconds: float) -> int:
        """The most rows whose estimated fit takes at most ``seconds``."""
        if seconds <= 0:
            return 0
        return math.floor(self.rows * (seconds / (SAFETY * max(self.seconds, 1e-6))) ** (1 / self.exponent))


@dataclass(frozen=True)
class RowPlan:
    """The rows a budgeted search uses, and why.

    Attributes:
        rows: Training rows available.
        search_rows: Rows the search uses (its fit and validation parts together).
        refit_rows: Rows the returned model is fitted on.
        cost: The probe fits' cost model; ``None`` when the data were small enough to skip the probe.
        reason: One sentence: why these sizes.
    """

    rows: int
    search_rows: int
    refit_rows: int
    cost: FitCost | None = None
    reason: str = "all rows: the data are small enough not to need a plan"

    @property
    def sampled(self) -> bool:
        """Whether the search or the refit uses fewer than all rows."""
        return self.search_rows < self.rows or self.refit_rows < self.rows

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values (for the search log, the summary and the report)."""
        plan = {**asdict(self), "sampled": self.sampled}
        if self.cost is None:
            del plan["cost"]
        else:
            plan["cost"] = {**asdict(self.cost), "seconds": round(self.cost.seconds, 3)}
        return plan


def plan_rows(
    rows: int, *, budget_seconds: float, cost: FitCost, rounds: int, fit_share: float, min_search_rows: int
) -> RowPlan:
    """Plans the search and refit rows that fit the budget left after the probes.

    Args:
        rows: Training rows available.
        budget_seconds: Seconds left for search and refit.
        cost: Fit seconds by rows (:class:`FitCost`).
        rounds: Rounds of candidates the search should afford (candidates run ``workers`` at a time).
        fit_share: Share of the search rows a candidate is fitted on (the rest scores it).
        min_search_rows: The smallest search worth running.

    Returns:
        The plan: all rows when search and refit fit, else stratified samples sized to the budget.

    Raises:
        BudgetTooSmallError: Even ``min_search_rows`` and its refit would not fit.
    """

    def needed(search: int, refit: int) -> float:
        return rounds * cost.seconds_for(fit_share * search) + cost.seconds_for(refit)

    probes = f"fits on {cost.rows // 2} and {cost.rows} rows, time ∝ rows^{cost.exponent:.2f}"
    if needed(rows, rows) <= budget_seconds:
        reason = f"all rows: search and refit need about {needed(rows, rows):.0f}s of the {budget_seconds:.0f}s left"
        return RowPlan(rows, rows, rows, cost, f"{reason} ({probes})")
    refit_rows = min(rows, cost.rows_for(REFIT_SHARE * budget_seconds))
    left = (budget_seconds - cost.seconds_for(refit_rows)) / rounds
    search_rows = min(rows, math.floor(cost.rows_for(left) / fit_share))
    if search_rows < min_search_rows:
        smallest = min(rows, min_search_rows)
        raise BudgetTooSmallError(
            f"budget_seconds leaves {budget_seconds:.1f}s, too little for {rows} rows: from {probes}, the smallest "
            f"search ({smallest} rows, {rounds} rounds) and its refit need about "
            f"{math.ceil(needed(smallest, smallest))}s; give at least that, or fewer rows"
        )
    reason = (
        f"sampled: all {rows} rows would need about {needed(rows, rows):.0f}s against {budget_seconds:.0f}s left "
        f"({probes}), so the search uses {search_rows} rows and the refit {refit_rows}"
    )
    return RowPlan(rows, search_rows, refit_rows, cost, reason)
