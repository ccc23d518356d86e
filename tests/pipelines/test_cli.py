"""The command line: option parsing, early refusal of bad paths, the summary table."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli.main import build_parser, format_summary, run_parameters
from pipelines.local_run import DEMO_DATA


def test_run_without_train_uses_the_shipped_demo_data() -> None:
    params = run_parameters(build_parser().parse_args(["run"]))
    assert params["train_uris"] == [str(DEMO_DATA)]
    assert params["task"] == "demo"
    assert DEMO_DATA.is_file()


def test_run_options_map_to_pipeline_parameters(tmp_path: Path, demo_csv: Path) -> None:
    args = build_parser().parse_args(
        ["run", "--train", str(demo_csv), "--train", str(demo_csv), "--test", str(demo_csv),
         "--automl-models", "lr, nb", "--automl-budget-minutes", "2.5"]
    )  # fmt: skip
    params = run_parameters(args)
    assert params["train_uris"] == [str(demo_csv)] * 2
    assert params["test_uri"] == str(demo_csv)
    assert params["automl_models"] == ["lr", "nb"]
    assert params["automl_budget_minutes"] == 2.5


@pytest.mark.parametrize("budget", ["0", "-1"])
def test_run_refuses_a_non_positive_budget(budget: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["run", "--automl-budget-minutes", budget])
    assert exit_info.value.code == 2
    assert "--automl-budget-minutes" in capsys.readouterr().err


# Missing files and directories given as data: tests/pipelines/test_bad_input_cli.py.


def test_format_summary_lists_models_and_steps() -> None:
    step = {"wall_seconds": 1.0, "cpu_seconds": 0.5, "peak_memory_mb": 100.0}
    model = {"accuracy": 0.9, "macro_f1": 0.8, "train_seconds": 3.0, "peak_memory_mb": 200.0}
    summary = {
        "task": "t", "labels": ["a", "b"], "rows": {"train": 10, "test": 5},
        "models": {"scratch": model, "automl": {**model, "accuracy": 0.7}},
        "winner": "scratch", "winner_metric": "macro_f1", "steps": {"ingest": step},
    }  # fmt: skip
    table = format_summary(summary)
    assert "scratch       0.9000" in table
    assert "automl        0.7000" in table
    assert "winner by macro_f1: scratch" in table
    assert "ingest" in table
