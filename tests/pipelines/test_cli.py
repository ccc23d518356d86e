"""The command line: one parameter path for every command that starts runs, exit statuses, help, the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli.local import format_summary
from pipelines.cli.main import build_parser, main
from pipelines.cli.parameters import IMAGE_DEMO_DATA, build_run_parameters
from pipelines.local_run import DEMO_DATA


def run_parameters(argv: list[str], *, cluster: bool = False) -> dict:
    return build_run_parameters(build_parser().parse_args(argv), cluster=cluster)


def test_run_without_train_uses_the_shipped_demo_data() -> None:
    params = run_parameters(["run"])
    assert params["train_uris"] == [str(DEMO_DATA)]
    assert params["task"] == "demo"
    assert DEMO_DATA.is_file()


def test_run_options_map_to_pipeline_parameters(demo_csv: Path) -> None:
    params = run_parameters(
        [
            "run",
            "--train",
            str(demo_csv),
            "--train",
            str(demo_csv),
            "--test",
            str(demo_csv),
            "--automl-models",
            "lr, nb",
            "--automl-budget-minutes",
            "2.5",
            "--set",
            "automl_folds=4",
        ]
    )
    assert params["train_uris"] == [str(demo_csv)] * 2
    assert params["test_uri"] == str(demo_csv)
    assert params["automl_models"] == ["lr", "nb"]
    assert params["automl_budget_minutes"] == 2.5
    assert params["automl_folds"] == 4


def test_run_and_submit_build_the_same_parameters() -> None:
    options = ["--task", "demo", "--set", "leakage=keep", "--scratch-budget-seconds", "10", "--seed", "7"]
    local = run_parameters(["run", *options])
    cluster = run_parameters(["submit", *options], cluster=True)
    assert cluster["train_uris"] == [IMAGE_DEMO_DATA]  # the demo data inside the images
    assert {k: v for k, v in local.items() if k != "train_uris"} == {
        k: v for k, v in cluster.items() if k != "train_uris"
    }
    assert local["leakage"] == "keep" and local["scratch_budget_seconds"] == 10.0 and local["seed"] == 7


def test_a_named_option_wins_over_set() -> None:
    params = run_parameters(["run", "--set", "seed=3", "--seed", "5"])
    assert params["seed"] == 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scratch-budget-seconds", "nan"], "scratch_budget_seconds must be a finite number"),
        (["--automl-budget-minutes", "0.1"], "automl_budget_minutes must be >= 0.2, got 0.1"),
        (["--seed", "-1"], "seed must be >= 0"),
        (["--set", "colour=red"], "colour: the pipeline has no such parameter"),
        (["--set", "scratch_workers=1.5"], "scratch_workers must be int"),
        (["--set", "conflict_policy=vote"], "conflict_policy must be one of"),
    ],
)
def test_bad_values_are_usage_errors_before_anything_runs(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--output", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emotion-pipeline run: error: ") and message in err, err
    assert not (tmp_path / "out").exists()  # refused before the output folder was made


def test_version_and_help_show_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("emotion-pipeline ")
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "(default: 45.0)" in shown and "(default: default)" in shown and "(default: macro_f1)" in shown


def test_report_on_a_folder_without_a_run_fails_with_status_1(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("emotion-pipeline report: error: ")


# Missing files and directories given as data: tests/pipelines/test_bad_input_cli.py.


def test_format_summary_lists_models_and_steps() -> None:
    step = {"wall_seconds": 1.0, "cpu_seconds": 0.5, "peak_memory_mb": 100.0}
    model = {"accuracy": 0.9, "macro_f1": 0.8, "train_seconds": 3.0, "peak_memory_mb": 200.0}
    summary = {
        "task": "t",
        "labels": ["a", "b"],
        "rows": {"train": 10, "test": 5},
        "models": {"scratch": model, "automl": {**model, "accuracy": 0.7}},
        "winner": "scratch",
        "winner_metric": "macro_f1",
        "steps": {"ingest": step},
    }
    table = format_summary(summary)
    _assert_aligned(table, {"scratch": "0.9000", "automl": "0.7000"})
    assert "winner by macro_f1: scratch" in table
    assert "ingest" in table
    assert json.dumps(summary)  # the table is built from plain JSON values
    # a longer arm name and a tie: the columns still line up, the tied arms are named
    summary["models"]["transformer"] = {**model, "accuracy": 0.95}
    summary["steps"]["predict_transformer"] = step
    summary |= {"winner": "tie", "tied": ["transformer", "scratch"]}
    table = format_summary(summary)
    _assert_aligned(table, {"scratch": "0.9000", "automl": "0.7000", "transformer": "0.9500"})
    assert "winner by macro_f1: tie (transformer, scratch)" in table
    step_header = next(line for line in table.splitlines() if line.startswith("step "))
    end = step_header.index("wall s") + len("wall s")
    for line in table.splitlines():
        if line.startswith(("ingest ", "predict_transformer ")):
            assert line[end - 4 : end] == "1.00", line


def _assert_aligned(table: str, accuracies: dict[str, str]) -> None:
    """Each model's accuracy ends under the end of the accuracy header."""
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("model "))
    end = header.index("accuracy") + len("accuracy")
    for name, value in accuracies.items():
        (row,) = [line for line in lines if line.startswith(f"{name} ")]
        assert row[end - len(value) : end] == value, (name, table)


@pytest.mark.parametrize(
    "command", ["run", "report", "compile", "submit", "upload", "schedule create", "schedule list"]
)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"])
    assert exit_info.value.code == 0 and "usage: emotion-pipeline" in capsys.readouterr().out


def test_submit_help_shows_waiting_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["submit", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--wait" in shown and "--timeout S" in shown and "examples:" in shown and "--failure-policy" in shown


def test_run_caches_by_default_and_no_cache_reruns_everything(monkeypatch, tmp_path: Path) -> None:
    """What ``run`` asks of the local runner; the caching itself: tests/pipelines/test_local_run.py (slow)."""
    import pipelines.local_run
    from components.arms import DEFAULT_ARMS

    seen: list[tuple[bool, tuple[str, ...]]] = []

    def fake_run_locally(
        parameters: dict,
        output: Path,
        verbose: bool = False,
        cache: bool = True,
        docker: object = None,
        arms: tuple[str, ...] = (),
    ) -> None:
        seen.append((cache, arms))
        raise pipelines.local_run.PipelineRunError("stop here")

    monkeypatch.setattr(pipelines.local_run, "run_locally", fake_run_locally)
    assert main(["run", "--output", str(tmp_path)]) == 1
    assert main(["run", "--output", str(tmp_path), "--no-cache"]) == 1
    assert main(["run", "--output", str(tmp_path), "--arms", "automl, scratch"]) == 1
    assert seen == [(True, DEFAULT_ARMS), (False, DEFAULT_ARMS), (True, ("automl", "scratch"))]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compile", "--output", "/proc/emotion/pipeline.yaml"], "--output /proc/emotion/pipeline.yaml: cannot write"),
        (["schedule", "create", "--env", "kind", "--cron", "0 6 * * 1", "--start-time", "soon"], "ISO 8601"),
        (
            [
                "schedule",
                "create",
                "--env",
                "kind",
                "--cron",
                "0 6 * * 1",
                "--end-time",
                "2001-01-01",
                "--start-time",
                "2002-01-01",
            ],
            "is not after start_time",
        ),
        (["schedule", "pause", "rr-1", "--env", "nowhere"], "nowhere.yaml: environment file not found"),
    ],
)
def test_compile_and_schedule_usage_errors_exit_2(argv: list[str], message: str, capsys, monkeypatch) -> None:
    import kfp

    monkeypatch.setattr(kfp, "Client", lambda *a, **k: pytest.fail("refused before any SDK call"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"emotion-pipeline {argv[0]}: error: ") and message in err, err
