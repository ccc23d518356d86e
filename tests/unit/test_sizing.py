"""Unit tests of components.models.sizing: the fit-cost power law and the rows a budget affords."""

from __future__ import annotations

import math
import re

import pytest

from components.models.sizing import MIN_EXPONENT, SAFETY, BudgetTooSmallError, FitCost, RowPlan, plan_rows


def test_the_exponent_comes_from_the_cpu_seconds_and_the_scale_from_the_wall_seconds():
    cost = FitCost.from_probes((1000, 9.0, 1.0), (2000, 3.0, 2.0**1.5))
    assert cost.rows == 2000 and cost.seconds == 3.0
    assert cost.exponent == pytest.approx(1.5)
    assert cost.seconds_for(8000) == pytest.approx(SAFETY * 3.0 * 4**1.5)


@pytest.mark.parametrize(("cpu_ratio", "exponent"), [(1.2, MIN_EXPONENT), (8.0, 2.0)])
def test_the_exponent_is_kept_between_its_floor_and_quadratic(cpu_ratio: float, exponent: float):
    assert FitCost.from_probes((1000, 1.0, 1.0), (2000, 1.0, cpu_ratio)).exponent == exponent


def test_rows_for_inverts_seconds_for():
    cost = FitCost(rows=4000, seconds=0.8, exponent=1.4)
    for rows in (500, 4000, 123_456):
        assert cost.rows_for(cost.seconds_for(rows)) in (rows - 1, rows)  # floored
    assert cost.rows_for(0) == 0


def test_all_rows_when_search_and_refit_fit():
    cost = FitCost(rows=1000, seconds=0.1 / SAFETY, exponent=1.0)  # 0.1 ms a row with the safety factor
    plan = plan_rows(10_000, budget_seconds=10, cost=cost, rounds=2, fit_share=0.8, min_search_rows=1000)
    # needed: 2 rounds × 8,000 fit rows + 10,000 refit rows = 26,000 rows × 0.1 ms = 2.6 s
    assert (plan.search_rows, plan.refit_rows, plan.sampled) == (10_000, 10_000, False)
    assert plan.reason.startswith("all rows: search and refit need about 3s of the 10s left")


def test_a_budget_too_small_for_all_rows_samples_the_search_before_the_refit():
    cost = FitCost(rows=1000, seconds=1.25 / SAFETY, exponent=1.0)  # 1.25 ms a row
    plan = plan_rows(100_000, budget_seconds=100, cost=cost, rounds=2, fit_share=0.8, min_search_rows=1000)
    # The refit gets 60 s: 48,000 rows; the search the other 40 s over 2 rounds of 80 % fit rows: 20,000 rows.
    assert plan.refit_rows == 48_000
    assert plan.search_rows == 20_000
    assert plan.sampled and "search uses 20000 rows and the refit 48000" in plan.reason
    spent = 2 * cost.seconds_for(0.8 * plan.search_rows) + cost.seconds_for(plan.refit_rows)
    assert spent <= 100 + 1e-6


def test_a_budget_that_cannot_fit_the_smallest_search_is_refused_with_the_estimate():
    cost = FitCost(rows=1000, seconds=1.0, exponent=1.0)
    with pytest.raises(BudgetTooSmallError, match=r"leaves 3.0s, too little for 50000 rows.*need about (\d+)s") as err:
        plan_rows(50_000, budget_seconds=3, cost=cost, rounds=2, fit_share=0.8, min_search_rows=4000)
    needed = int(re.search(r"need about (\d+)s", str(err.value)).group(1))
    assert needed == math.ceil(2 * cost.seconds_for(3200) + cost.seconds_for(4000))
    assert isinstance(err.value, ValueError)


def test_a_plan_without_probes_says_so_and_is_json_ready():
    plan = RowPlan(rows=300, search_rows=300, refit_rows=300)
    assert plan.as_dict() == {
        "rows": 300,
        "search_rows": 300,
        "refit_rows": 300,
        "sampled": False,
        "reason": "all rows: the data are small enough not to need a plan",
    }
