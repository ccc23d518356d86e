"""What the wrappers log for the UIs: per-step Metrics from the profile, model scores, and the verdict."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from components.runtime.outputs import comparison_figures, log_scores, record_verdict, verdict
from components.runtime.profiler import METRIC_KEYS, profiled_step


class Recorder(SimpleNamespace):
    """A Metrics/ClassificationMetrics stand-in with KFP's method names."""

    def log_metric(self, metric: str, value: float) -> None:
        self.metadata[metric] = value

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None:
        self.metadata["confusionMatrix"] = {"categories": categories, "rows": matrix}


def _result(scratch: float, automl: float, winner: str) -> dict:
    model = {"labels": ["a", "b"], "confusion_matrix": [[1, 0], [0, 1]], "accuracy": 0.5}
    best, second = ("scratch", "automl") if scratch >= automl else ("automl", "scratch")
    difference = round(abs(scratch - automl), 4)
    return {
        "winner": winner,
        "winner_metric": "macro_f1",
        "tied": [best, second] if winner == "tie" else [],
        "models": {"scratch": {**model, "macro_f1": scratch}, "automl": {**model, "macro_f1": automl}},
        "comparison": {"models": [best, second], "macro_f1": {"difference": difference, "ci": [-0.01, 0.1]}},
    }


def test_the_score_difference_is_the_best_arm_minus_the_runner_up() -> None:
    assert verdict(_result(0.70, 0.65, "scratch"))["score_difference"] == 0.05
    assert verdict(_result(0.60, 0.65, "automl"))["score_difference"] == 0.05
    metadata: dict = {}
    assert record_verdict(_result(0.6, 0.6, "tie"), metadata) == ("tie", 0.0)
    tied = ["scratch", "automl"]
    assert metadata == {"winner": "tie", "winner_metric": "macro_f1", "score_difference": 0.0, "tied": tied}


def test_one_arm_has_no_difference_and_the_comparison_figures_are_empty() -> None:
    result = {"winner": "scratch", "winner_metric": "macro_f1", "models": {"scratch": {}}, "comparison": None}
    assert verdict(result) == {"winner": "scratch", "winner_metric": "macro_f1", "score_difference": 0.0}
    assert comparison_figures(result) == {}


def test_the_comparison_figures_are_the_lead_and_its_interval_per_metric() -> None:
    figures = comparison_figures(_result(0.70, 0.65, "scratch"))
    assert figures == {"macro_f1_difference": 0.05, "macro_f1_ci_low": -0.01, "macro_f1_ci_high": 0.1}


def test_scores_and_confusion_matrices_are_logged_and_written(tmp_path: Path) -> None:
    outputs = {name: Recorder(metadata={}, path=str(tmp_path / name)) for name in ("m", "c", "m2", "c2")}
    log_scores(
        _result(0.7, 0.6, "scratch"), scratch=(outputs["m"], outputs["c"]), automl=(outputs["m2"], outputs["c2"])
    )
    assert outputs["m"].metadata == {"accuracy": 0.5, "macro_f1": 0.7}
    assert outputs["c2"].metadata["confusionMatrix"]["categories"] == ["a", "b"]
    for artifact in outputs.values():  # a file at each path: kfp.local's cache treats a missing one as a miss
        assert json.loads(Path(artifact.path).read_text(encoding="utf-8")) == artifact.metadata


def test_profiled_step_logs_the_steps_own_figures_to_its_metrics(tmp_path: Path) -> None:
    metrics = Recorder(metadata={}, path=str(tmp_path / "step_metrics"))
    with profiled_step("clean", tmp_path / "step_profile", {}, metrics=metrics):
        sum(range(100_000))
    profile = json.loads((tmp_path / "step_profile").read_text(encoding="utf-8"))
    assert tuple(metrics.metadata) == METRIC_KEYS
    assert metrics.metadata["wall_seconds"] == profile["wall_seconds"] > 0
    assert metrics.metadata["peak_memory_mb"] == profile["peak_memory_mb"]


def test_a_failed_step_logs_no_metrics(tmp_path: Path) -> None:
    metrics = Recorder(metadata={}, path=str(tmp_path / "step_metrics"))
    try:
        with profiled_step("clean", tmp_path / "step_profile", {}, metrics=metrics):
            raise RuntimeError("bad input")
    except RuntimeError:
        pass
    assert metrics.metadata == {} and not (tmp_path / "step_profile").exists()
