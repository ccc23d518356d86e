"""Component tests: vectorise → train_scratch ∥ train_automl → evaluate wrappers on small data, via python_func."""

from __future__ import annotations

import json
import random
from pathlib import Path

import joblib
import pandas as pd
import pytest
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Markdown, Metrics, Model

from components.kfp_components import build_components

STEPS = build_components()

WORDS = {"joy": ["happy", "glad", "cheerful"], "sadness": ["sad", "gloomy", "lonely"], "anger": ["angry", "furious"]}


def _rows(count: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    labels = [list(WORDS)[i % 3] for i in range(count)]
    texts = [f"{rng.choice(['today', 'now', 'again'])} i feel {rng.choice(WORDS[label])} at home" for label in labels]
    return pd.DataFrame({"text": texts, "label": labels})


def _artifact(kind, folder: Path, name: str):
    return kind(uri=str(folder / name))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Runs vectorise, train_scratch and train_automl once; returns the folder and the artifacts."""
    folder = tmp_path_factory.mktemp("models")
    train, test = _artifact(Dataset, folder, "train.parquet"), _artifact(Dataset, folder, "test.parquet")
    _rows(150, 0).to_parquet(train.path, index=False)
    _rows(60, 1).to_parquet(test.path, index=False)
    out = {name: _artifact(kind, folder, name) for name, kind in {
        "dense_vectoriser": Model, "train_features": Dataset,
        "scratch_model": Model, "search_report": Markdown, "automl_model": Model, "leaderboard": Markdown,
        "automl_leaderboard": Artifact, "vectorise_profile": Artifact, "scratch_profile": Artifact,
        "automl_profile": Artifact, "vectorise_metrics": Metrics, "scratch_metrics": Metrics, "automl_metrics": Metrics,
    }.items()}  # fmt: skip
    STEPS.vectorise.python_func(
        train=train, dense_vectoriser=out["dense_vectoriser"], train_features=out["train_features"],
        step_profile=out["vectorise_profile"], step_metrics=out["vectorise_metrics"], dense_features=30,
    )  # fmt: skip
    STEPS.train_scratch.python_func(
        train=train, model=out["scratch_model"], search_report=out["search_report"],
        step_profile=out["scratch_profile"], step_metrics=out["scratch_metrics"],
        search_space=[{"classifier": ["linear_svc"], "C": [0.5, 1.0]}], budget_seconds=60, max_candidates=2, seed=0,
    )  # fmt: skip
    STEPS.train_automl.python_func(
        train=train, train_features=out["train_features"], dense_vectoriser=out["dense_vectoriser"],
        model=out["automl_model"], leaderboard=out["leaderboard"], automl_leaderboard=out["automl_leaderboard"],
        step_profile=out["automl_profile"], step_metrics=out["automl_metrics"], models=["nb", "ridge"],
        budget_minutes=1.0, folds=2, seed=0,
    )  # fmt: skip
    return folder, test, out


def test_train_scratch_writes_a_text_model_its_choice_and_a_report(trained):
    _, _, out = trained
    model = joblib.load(out["scratch_model"].path)
    assert list(model.predict(["i feel furious", "i feel glad"])) == ["anger", "joy"]
    metadata = out["scratch_model"].metadata
    assert metadata["classifier"] == "linear_svc" and metadata["C"] in (0.5, 1.0)
    assert 0 <= metadata["validation_macro_f1"] <= 1
    assert "| 2 |" in Path(out["search_report"].path).read_text(encoding="utf-8")
    assert json.loads(Path(out["scratch_profile"].path).read_text(encoding="utf-8"))["step"] == "train_scratch"


def test_train_automl_writes_both_leaderboards(trained):
    _, _, out = trained
    rows = json.loads(Path(out["automl_leaderboard"].path).read_text(encoding="utf-8"))
    assert rows[0]["model_id"] == "setup" and rows[-1]["model_id"] == "finalise"  # PyCaret's setup first
    assert sorted(row["model_id"] for row in rows if row["stage"] == "candidate") == ["nb", "ridge"]
    assert {"model_id", "model", "accuracy", "macro_f1", "fit_seconds", "status"} <= set(rows[0])
    assert "Naive Bayes" in Path(out["leaderboard"].path).read_text(encoding="utf-8")
    assert out["automl_model"].metadata["best_model_id"] in {"nb", "ridge"}


def test_evaluate_scores_both_models_with_intervals_and_a_report(trained):
    folder, test, out = trained
    outputs = {name: _artifact(kind, folder, name) for name, kind in {
        "scratch_metrics": Metrics, "automl_metrics": Metrics, "scratch_confusion": ClassificationMetrics,
        "automl_confusion": ClassificationMetrics, "evaluation": Artifact, "evaluation_report": Markdown,
        "step_profile": Artifact, "step_metrics": Metrics,
    }.items()}  # fmt: skip
    winner, difference = STEPS.evaluate.python_func(
        test=test, scratch_model=out["scratch_model"], automl_model=out["automl_model"], **outputs,
        bootstrap_resamples=200, latency_calls=5,
    )  # fmt: skip
    result = json.loads(Path(outputs["evaluation"].path).read_text(encoding="utf-8"))
    assert set(result["models"]) == {"scratch", "automl"}
    for scores in result["models"].values():
        assert {"accuracy_ci", "macro_f1_ci", "per_class", "latency_p50_ms", "model_size_mb"} <= set(scores)
    assert result["models"]["scratch"]["training"]["classifier"] == "linear_svc"
    assert result["winner"] in {"scratch", "automl", "tie"}
    # the winner as output parameters and as the evaluation artifact's metadata (the UIs show both)
    metric = result["winner_metric"]
    expected = round(result["models"]["scratch"][metric] - result["models"]["automl"][metric], 4)
    assert (winner, difference) == (result["winner"], expected)
    assert outputs["evaluation"].metadata == {"winner": winner, "winner_metric": metric, "score_difference": expected}
    assert outputs["scratch_metrics"].metadata["accuracy"] == result["models"]["scratch"]["accuracy"]
    assert outputs["step_metrics"].metadata["wall_seconds"] > 0
    for name in ("scratch_metrics", "automl_confusion", "step_metrics"):  # files too: kfp.local's cache needs them
        assert json.loads(Path(outputs[name].path).read_text(encoding="utf-8")) == outputs[name].metadata
    assert "# Evaluation" in Path(outputs["evaluation_report"].path).read_text(encoding="utf-8")


def test_evaluate_times_predictions_after_its_profiled_block(trained, monkeypatch):
    from components.runtime import profiler
    from components.steps import evaluate as evaluate_logic

    folder, test, out = trained
    events: list[str] = []
    write_profile, measure_latencies = profiler.write_profile, evaluate_logic.measure_latencies

    def logged_write(*args, **kwargs):
        events.append("profile written")
        return write_profile(*args, **kwargs)

    def logged_measure(*args, **kwargs):
        events.append("latency measured")
        return measure_latencies(*args, **kwargs)

    monkeypatch.setattr(profiler, "write_profile", logged_write)
    monkeypatch.setattr(evaluate_logic, "measure_latencies", logged_measure)
    outputs = {name: _artifact(kind, folder, f"timed-{name}") for name, kind in {
        "scratch_metrics": Metrics, "automl_metrics": Metrics, "scratch_confusion": ClassificationMetrics,
        "automl_confusion": ClassificationMetrics, "evaluation": Artifact, "evaluation_report": Markdown,
        "step_profile": Artifact, "step_metrics": Metrics,
    }.items()}  # fmt: skip
    STEPS.evaluate.python_func(
        test=test, scratch_model=out["scratch_model"], automl_model=out["automl_model"], **outputs,
        bootstrap_resamples=50, latency_calls=3,
    )  # fmt: skip
    # The profiler's sampler is stopped before predictions are timed: it does not compete with them.
    assert events == ["profile written", "latency measured"]
    result = json.loads(Path(outputs["evaluation"].path).read_text(encoding="utf-8"))
    for scores in result["models"].values():
        assert scores["latency_rounds"] >= 1 and len(scores["latency_p50_ms_range"]) == 2
