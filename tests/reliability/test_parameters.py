"""Defects 7 and 10 of issue 18: every parameter is checked before the first step starts (finite numbers, known
AutoML model ids, known search-space keys, encodings, seeds), and the message names the command-line option."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_helpers import run_cli

CASES = [
    (["--scratch-budget-seconds", "nan"], "--scratch-budget-seconds: scratch_budget_seconds must be a finite number"),
    (["--automl-budget-minutes", "inf"], "--automl-budget-minutes: automl_budget_minutes must be a finite number"),
    (
        ["--set", "scratch_budget_seconds=.inf"],
        "--set scratch_budget_seconds: scratch_budget_seconds must be a finite number",
    ),
    (
        ["--set", "network_timeout_seconds=.nan"],
        "--set network_timeout_seconds: network_timeout_seconds must be a finite number",
    ),
    (["--seed", "-1"], "--seed: seed must be >= 0, got -1"),
    (["--automl-models", "ridge,foo"], "--automl-models: automl_models: unknown PyCaret model ids ['foo']"),
    (
        ["--set", "scratch_search_space=[{gamma: [1]}]"],
        "--set scratch_search_space: scratch_search_space: unknown parameters ['gamma']",
    ),
    (["--set", "scratch_search_space=[{classifier: [xgb]}]"], "scratch_search_space: unknown classifier ['xgb']"),
    (["--encoding", "klingon"], "--encoding: encoding: 'klingon' is not a known text encoding"),
    (["--set", "automl_dense_features=0"], "--set automl_dense_features: automl_dense_features must be >= 1, got 0"),
    (["--set", "dense_features=10"], "--set dense_features: dense_features: the pipeline has no such parameter"),
    (["--set", "latency_calls=-1"], "--set latency_calls: latency_calls must be >= 0, got -1"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_refused_before_any_step_with_the_option_name(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_cli(tmp_path, capsys, *args)
    assert outcome.status == 2
    assert message in outcome.err, outcome.err
    assert not (outcome.output / "artifacts").exists()  # no step started
