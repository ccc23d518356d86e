"""Component tests: vectorise → train_scratch ∥ train_automl → predict_scratch → predict_automl (the bundle) →
evaluate wrappers on small data, via python_func."""

from __future__ import annotations

import json
import random
from pathlib import Path

import joblib
import pandas as pd
import pytest
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Markdown, Metrics, Model

from components.arms import select_arms
from components.kfp_components import build_components

STEPS = build_components(select_arms(("scratch", "automl")))
SCRATCH, AUTOML = STEPS.arms["scratch"], STEPS.arms["automl"]

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
    out = {
        name: _artifact(kind, folder, name)
        for name, kind in {
            "dense_vectoriser": Model,
            "train_features": Dataset,
            "scratch_model": Model,
            "search_report": Markdown,
            "automl_model": Model,
            "leaderboard": Markdown,
            "automl_leaderboard": Artifact,
            "vectorise_profile": Artifact,
            "scratch_profile": Artifact,
            "automl_profile": Artifact,
            "vectorise_metrics": Metrics,
            "scratch_metrics": Metrics,
            "automl_metrics": Metrics,
        }.items()
    }
    AUTOML["vectorise"].python_func(
        train=train,
        dense_vectoriser=out["dense_vectoriser"],
        train_features=out["train_features"],
        step_profile=out["vectorise_profile"],
        step_metrics=out["vectorise_metrics"],
        dense_features=30,
    )
    SCRATCH["train_scratch"].python_func(
        train=train,
        model=out["scratch_model"],
        search_report=out["search_report"],
        step_profile=out["scratch_profile"],
        step_metrics=out["scratch_metrics"],
        search_space=[{"classifier": ["linear_svc"], "C": [0.5, 1.0]}],
        budget_seconds=60,
        max_candidates=2,
        seed=0,
    )
    AUTOML["train_automl"].python_func(
        train=train,
        train_features=out["train_features"],
        dense_vectoriser=out["dense_vectoriser"],
        model=out["automl_model"],
        leaderboard=out["leaderboard"],
        automl_leaderboard=out["automl_leaderboard"],
        step_profile=out["automl_profile"],
        step_metrics=out["automl_metrics"],
        models=["nb", "ridge"],
        budget_minutes=1.0,
        folds=2,
        seed=0,
    )
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


def _predict(arm: str, folder: Path, test, out, previous=None, prefix: str = "", latency_calls: int = 5):
    """Runs an arm's predict step (the generic wrapper on its image); returns its outputs."""
    outputs = {
        name: _artifact(kind, folder, f"{prefix}{arm}-{name}")
        for name, kind in {
            "arms": Artifact,
            "heldout_metrics": Metrics,
            "confusion": ClassificationMetrics,
            "step_profile": Artifact,
            "step_metrics": Metrics,
        }.items()
    }
    handoff = {"model": out[f"{arm}_model"], "train_profile": out[f"{arm}_profile"]}
    if arm == "automl":
        handoff |= {"prep_profile": out["vectorise_profile"], "extras": out["automl_leaderboard"]}
    STEPS.arms[arm][f"predict_{arm}"].python_func(
        arm=arm,
        display_name=arm.upper(),
        test=test,
        previous=previous,
        image=f"{arm}:test",
        requirements=["x==1"],
        latency_calls=latency_calls,
        **handoff,
        **outputs,
    )
    return outputs


@pytest.fixture(scope="module")
def bundle(trained):
    """predict_scratch, then predict_automl on scratch's bundle: the bundle evaluate takes."""
    folder, test, out = trained
    scratch = _predict("scratch", folder, test, out)
    automl = _predict("automl", folder, test, out, previous=scratch["arms"])
    return scratch, automl


def test_predict_steps_chain_every_arm_into_one_bundle(trained, bundle):
    from components.models.bundle import read_bundle

    _, test, _ = trained
    scratch, automl = bundle
    assert scratch["arms"].metadata["arms"] == ["scratch"]
    assert automl["arms"].metadata["arms"] == ["scratch", "automl"]
    results = read_bundle(automl["arms"].path)
    assert [r.arm for r in results] == ["scratch", "automl"]
    rows = len(pd.read_parquet(test.path))
    for result in results:
        assert len(result.predictions.labels) == rows
        assert result.image == f"{result.arm}:test" and result.requirements == ["x==1"]
        assert result.latency["latency_rounds"] >= 1 and len(result.latency["latency_p50_ms_range"]) == 2
        assert f"predict_{result.arm}" in result.profiles and f"train_{result.arm}" in result.profiles
        assert joblib.load(result.model_file).predict(["i feel furious"])[0] in WORDS
    automl_result = results[1]
    assert "vectorise" in automl_result.profiles  # the prep step's profile travels with the arm
    assert automl_result.extras["leaderboard"][0]["model_id"] == "setup"
    assert results[0].training["classifier"] == "linear_svc"
    for outputs in bundle:
        assert outputs["heldout_metrics"].metadata["accuracy"] >= 0
        for name in ("heldout_metrics", "confusion", "step_metrics"):  # files too: kfp.local's cache needs them
            assert json.loads(Path(outputs[name].path).read_text(encoding="utf-8")) == outputs[name].metadata


def test_evaluate_scores_both_models_with_intervals_and_a_report(trained, bundle):
    folder, test, _ = trained
    scratch, automl = bundle
    outputs = {
        name: _artifact(kind, folder, name)
        for name, kind in {
            "evaluation": Artifact,
            "evaluation_report": Markdown,
            "comparison_metrics": Metrics,
            "step_profile": Artifact,
            "step_metrics": Metrics,
        }.items()
    }
    winner, difference = STEPS.evaluate.python_func(test=test, arms=automl["arms"], **outputs, bootstrap_resamples=200)
    result = json.loads(Path(outputs["evaluation"].path).read_text(encoding="utf-8"))
    assert list(result["models"]) == ["scratch", "automl"]
    for scores in result["models"].values():
        assert {"accuracy_ci", "macro_f1_ci", "per_class", "latency_p50_ms", "model_size_mb"} <= set(scores)
    assert result["models"]["scratch"]["training"]["classifier"] == "linear_svc"
    assert result["winner"] in {"scratch", "automl", "tie"}
    # the winner as output parameters and as the evaluation artifact's metadata (the UIs show both): the best arm
    # minus the runner-up on the winner's metric
    metric = result["winner_metric"]
    best, other = result["comparison"]["models"]
    expected = round(result["models"][best][metric] - result["models"][other][metric], 4)
    assert (winner, difference) == (result["winner"], expected)
    expected_metadata = {"winner": winner, "winner_metric": metric, "score_difference": expected}
    if result["tied"]:
        expected_metadata["tied"] = result["tied"]
    assert outputs["evaluation"].metadata == expected_metadata
    # each predict step's held-out figures are the evaluation's
    for arm, predicted in (("scratch", scratch), ("automl", automl)):
        assert predicted["heldout_metrics"].metadata["accuracy"] == result["models"][arm]["accuracy"]
    assert outputs["comparison_metrics"].metadata[f"{metric}_difference"] == expected
    assert outputs["step_metrics"].metadata["wall_seconds"] > 0
    for name in ("comparison_metrics", "step_metrics"):  # files too: kfp.local's cache needs them
        assert json.loads(Path(outputs[name].path).read_text(encoding="utf-8")) == outputs[name].metadata
    assert "# Evaluation" in Path(outputs["evaluation_report"].path).read_text(encoding="utf-8")


def test_predict_times_predictions_after_its_profiled_block(trained, monkeypatch):
    from components.models import latency
    from components.runtime import profiler
    from components.steps import predict as predict_logic

    folder, test, out = trained
    events: list[str] = []
    write_profile, measure_latencies = profiler.write_profile, latency.measure_latencies

    def logged_write(*args, **kwargs):
        events.append("profile written")
        return write_profile(*args, **kwargs)

    def logged_measure(*args, **kwargs):
        events.append("latency measured")
        return measure_latencies(*args, **kwargs)

    monkeypatch.setattr(profiler, "write_profile", logged_write)
    monkeypatch.setattr(latency, "measure_latencies", logged_measure)
    if hasattr(predict_logic, "measure_latencies"):
        monkeypatch.setattr(predict_logic, "measure_latencies", logged_measure)
    outputs = _predict("scratch", folder, test, out, prefix="timed-", latency_calls=3)
    # The profiler's sampler is stopped before predictions are timed: it does not compete with them.
    assert events == ["profile written", "latency measured"]
    from components.models.bundle import read_bundle

    (result,) = read_bundle(outputs["arms"].path)
    assert result.latency["latency_rounds"] >= 1 and len(result.latency["latency_p50_ms_range"]) == 2
