"""Whole pipeline runs on this machine with kfp.local (SubprocessRunner): the embedded default."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipelines.cli.main import main

pytestmark = pytest.mark.slow

#: The profiled steps of a run with the default arms, in the summary's order: the shared steps before the arms,
#: each arm's own steps and its predict step (arm by arm), the shared steps after them.
STEPS = [
    "ingest",
    "clean",
    "train_scratch",
    "predict_scratch",
    "vectorise",
    "train_automl",
    "predict_automl",
    "evaluate",
    "register",
]
FAST_AUTOML = ["--automl-models", "nb,ridge", "--automl-budget-minutes", "1"]  # a ceiling: both take seconds
#: What a predict step measures again each run (it is never cached): the rest of a model's entry is reused.
REMEASURED = ("latency", "throughput")


def _check_summary(summary: dict, steps: list[str] = STEPS) -> None:
    assert list(summary["models"]) == [step.removeprefix("predict_") for step in steps if step.startswith("predict_")]
    for model in summary["models"].values():
        for key in ("accuracy", "macro_f1", "train_seconds", "peak_memory_mb"):
            assert isinstance(model[key], int | float), key
        assert model["train_seconds"] > 0
        assert model["peak_memory_mb"] > 10
    assert list(summary["steps"]) == steps
    for step in summary["steps"].values():
        assert step["wall_seconds"] > 0
        assert step["cpu_seconds"] >= 0
        assert step["peak_memory_mb"] > 10


def _majority_share(summary: dict) -> float:
    counts = summary["data"]["test"]["label_counts"]
    return max(counts.values()) / sum(counts.values())


def test_demo_run_writes_summary_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", "--output", str(out), *FAST_AUTOML]) == 0
    summary = json.loads((out / "summary.json").read_text())
    _check_summary(summary)
    assert summary["task"] == "demo"
    assert summary["labels"] == ["anger", "fear", "joy", "love", "sadness", "surprise"]
    assert summary["rows"] == {"train": 768, "test": 192}  # 960 demo sentences, 20 % held out
    printed = capsys.readouterr().out
    assert f"summary: {out / 'summary.json'}" in printed
    assert "report:" in printed
    assert "winner by macro_f1" in printed


def test_real_data_sample_beats_the_majority_class(tmp_path: Path, shared_data: Path) -> None:
    lines = (shared_data / "dair_ai_emotion" / "train.txt").read_text(encoding="utf-8").splitlines()
    sample = tmp_path / "train_sample.txt"
    sample.write_text("\n".join(random.Random(0).sample(lines, 2000)) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "--train", str(sample), "--output", str(out), *FAST_AUTOML]) == 0
    summary = json.loads((out / "summary.json").read_text())
    _check_summary(summary)
    data = summary["data"]
    assert data["train"]["rows_in"] + data["test"]["rows_in"] == 2000
    assert summary["rows"] == {"train": data["train"]["rows_out"], "test": data["test"]["rows_out"]}
    chance = _majority_share(summary)
    for name, model in summary["models"].items():
        assert model["accuracy"] > chance + 0.05, (name, model["accuracy"], chance)


def test_two_runs_register_a_champion_then_apply_the_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "registry"
    assert main(["run", "--output", str(tmp_path / "a"), "--registry", str(registry), *FAST_AUTOML]) == 0
    first = json.loads((tmp_path / "a" / "summary.json").read_text())["registry"]
    assert (first["model_name"], first["version"], first["promoted"], first["champion_version"]) == (
        "emotion-demo",
        "1",
        True,
        "1",
    )
    assert "registry: emotion-demo v1 promoted to champion" in capsys.readouterr().out
    assert main(["run", "--output", str(tmp_path / "b"), "--registry", str(registry), *FAST_AUTOML]) == 0
    second = json.loads((tmp_path / "b" / "summary.json").read_text())["registry"]
    assert second["version"] == "2" and second["previous_champion_version"] == "1"
    assert second["promoted"] is (second["interval"][0] > 0)  # the same data and seed: identical models, [0, 0]
    assert second["champion_version"] == ("2" if second["promoted"] else "1") and second["reason"]
    from components.registry.store import open_registry

    assert open_registry(str(registry)).champion("emotion-demo").version == second["champion_version"]


# A failing step (exit status 1, its name and error, no summary.json left): tests/pipelines/test_bad_input_cli.py.


def test_a_second_run_on_unchanged_data_reuses_every_step_and_a_changed_file_reruns_them(
    tmp_path: Path, demo_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kfp.local's cache: fingerprint is never cached; ingest is keyed on the files' versions, so an unchanged
    file reuses ingest and every step after it up to the arms' training (the predict steps, which score the
    registry's champion, register, promote and so the steps after them rerun: the registry changes between runs),
    and a file written again (same name) reruns them all."""
    import os
    import shutil

    data, out = tmp_path / "train.csv", tmp_path / "out"
    shutil.copyfile(demo_csv, data)
    argv = ["run", "--train", str(data), "--output", str(out), *FAST_AUTOML]
    assert main(argv) == 0
    first = json.loads((out / "summary.json").read_text())
    assert "cached:" not in capsys.readouterr().out
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "cached:  ingest, clean, train-scratch, vectorise, train-automl (" in printed
    second = json.loads((out / "summary.json").read_text())

    def reused(models: dict) -> dict:
        return {arm: {k: v for k, v in m.items() if not k.startswith(REMEASURED)} for arm, m in models.items()}

    assert reused(second["models"]) == reused(first["models"]) and second["winner"] == first["winner"]
    assert second["steps"]["train_automl"] == first["steps"]["train_automl"]  # the timings of the run that trained
    stat = data.stat()
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # the file changed (mtime)
    assert main(argv) == 0
    assert "cached:" not in capsys.readouterr().out  # a new fingerprint: everything after it reran


def test_cached_steps_are_listed_in_pipeline_order_whatever_order_they_ran_in() -> None:
    from pipelines.local_run import _in_pipeline_order

    ran = ["ingest", "clean", "vectorise", "train-scratch", "predict-scratch", "train-automl", "clean", "evaluate"]
    assert _in_pipeline_order(ran) == (
        "ingest",
        "clean",
        "train-scratch",
        "predict-scratch",
        "vectorise",
        "train-automl",
        "evaluate",
    )


def test_a_one_arm_run_trains_and_reports_that_arm_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["run", "--arms", "scratch", "--output", str(out), "--scratch-budget-seconds", "10", "--no-cache"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    _check_summary(summary, ["ingest", "clean", "train_scratch", "predict_scratch", "evaluate", "register"])
    assert list(summary["models"]) == ["scratch"] and summary["winner"] == "scratch"
    assert summary["comparisons"] == [] and summary["registry"]["model"] == "scratch"
    for step in ("vectorise", "train-automl", "predict-automl"):  # no step of another arm ran
        assert not list(out.rglob(step)), step
