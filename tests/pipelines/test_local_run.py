"""Whole pipeline runs on this machine with kfp.local (SubprocessRunner): the embedded default."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipelines.cli import main

pytestmark = pytest.mark.slow

STEPS = ["ingest", "clean", "vectorise", "train_scratch", "train_automl", "evaluate"]
FAST_AUTOML = ["--automl-models", "nb,ridge", "--automl-budget-minutes", "0.5"]


def _check_summary(summary: dict) -> None:
    assert set(summary["models"]) == {"scratch", "automl"}
    for model in summary["models"].values():
        for key in ("accuracy", "macro_f1", "train_seconds", "peak_memory_mb"):
            assert isinstance(model[key], int | float), key
        assert model["train_seconds"] > 0
        assert model["peak_memory_mb"] > 10
    assert list(summary["steps"]) == STEPS
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
    assert summary["rows"] == {"train": 288, "test": 72}
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


def test_a_failing_step_exits_non_zero_and_leaves_no_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nonly one class here,joy\nand another,joy\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")  # an older result must not survive a failed run
    assert main(["run", "--train", str(bad), "--output", str(out), *FAST_AUTOML]) == 1
    err = capsys.readouterr().err
    assert "ingest" in err
    assert "one class only" in err
    assert not (out / "summary.json").exists()
