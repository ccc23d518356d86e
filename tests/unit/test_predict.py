"""The arms' predict step and their bundle: held-out predictions, size, latency, the champion scored by the arm that
built it (or not), the bundle's chain of arms and ``evaluate`` reading it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from lifecycle_models import demo_split, fit, registered, save

from components.checks.errors import ParameterError
from components.models.bundle import ArmResult, BundleError, add_arm, read_bundle
from components.models.scoring import ScoredPredictions, predict_with_scores
from components.registry.naming import model_name_for
from components.registry.store import load_version, open_registry
from components.steps.evaluate import (
    EvaluateOptions,
    evaluate_bundle,
    evaluate_predictions,
    render_evaluation_report,
)
from components.steps.predict import ChampionQuery, PredictOptions, heldout_scores, predict_arm

NO_LATENCY = PredictOptions(latency_calls=0)


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    return demo_split()


@pytest.fixture(scope="module")
def files(split, tmp_path_factory) -> dict[str, str]:
    """The held-out rows as Parquet and three fitted models (joblib)."""
    folder = tmp_path_factory.mktemp("arms")
    train, test = split
    test.assign(source="demo.csv").to_parquet(folder / "test.parquet")
    out = {"test": str(folder / "test.parquet")}
    out |= {kind: save(fit(kind, train), folder / f"{kind}.joblib") for kind in ("svm", "lr", "weak")}
    return out


def _predict(files, arm: str, kind: str, champion: ChampionQuery | None = None, **options) -> ArmResult:
    return predict_arm(
        arm=arm,
        display_name=f"the {arm} arm",
        image=f"img/{arm}:1",
        requirements=[f"{arm}-stack==1.0"],
        model_path=files[kind],
        test_path=files["test"],
        training={"framework": kind},
        profiles={f"train_{arm}": {"wall_seconds": 1.0}},
        extras={"leaderboard": [{"model": "x"}]} if arm == "automl" else {},
        champion=champion,
        options=PredictOptions(**options) if options else NO_LATENCY,
    )


def test_predict_arm_gives_the_models_own_predictions_size_and_latency(files, split):
    _, test = split
    result = _predict(files, "scratch", "lr", latency_calls=3, latency_rounds=2, batch_size=20)
    expected = predict_with_scores(joblib.load(files["lr"]), test["text"].tolist())
    assert result.predictions.labels == expected.labels and result.predictions.score_kind == "probability"
    np.testing.assert_allclose(result.predictions.scores, expected.scores)
    assert result.model_size_mb == round(Path(files["lr"]).stat().st_size / 2**20, 3) > 0
    assert result.latency["latency_rounds"] == 2 and result.latency["batch_size"] == 20
    assert result.latency["latency_p50_ms_range"][0] <= result.latency["latency_p50_ms"]
    assert (result.arm, result.display_name, result.image, result.requirements) == (
        "scratch",
        "the scratch arm",
        "img/scratch:1",
        ["scratch-stack==1.0"],
    )
    assert result.training == {"framework": "lr"} and result.champion is None
    assert _predict(files, "scratch", "lr").latency == {}  # latency_calls=0: not measured


def test_heldout_scores_are_the_metrics_and_confusion_matrix_of_the_arm(files, split):
    _, test = split
    result = _predict(files, "scratch", "weak", latency_calls=2, latency_rounds=1, batch_size=5)
    scores = heldout_scores(result, test["label"].tolist())
    truth, predicted = test["label"].tolist(), result.predictions.labels
    assert scores["accuracy"] == round(float(np.mean([t == p for t, p in zip(truth, predicted, strict=True)])), 4)
    assert set(scores) == {
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "latency_p50_ms",
        "model_size_mb",
        "labels",
        "confusion_matrix",
    }
    assert sum(map(sum, scores["confusion_matrix"])) == len(truth)
    assert "latency_p50_ms" not in heldout_scores(_predict(files, "scratch", "weak"), truth)  # not measured
    with pytest.raises(ValueError, match="differ in length"):
        heldout_scores(result, truth[:-1])


def test_options_and_query():
    with pytest.raises(ParameterError, match="latency_calls"):
        PredictOptions(latency_calls=-1)
    with pytest.raises(ParameterError, match="batch_size"):
        PredictOptions(batch_size=0)
    assert PredictOptions() == PredictOptions(latency_calls=100, latency_rounds=5, batch_size=1000)
    assert ChampionQuery.for_task("my task", "reg").model_name == "emotion-my-task" == model_name_for("my task")
    assert ChampionQuery.for_task("x", "reg", model_name="prod").model_name == "prod"


# --- the champion, scored by the arm that built it --------------------------------------------------------------


@pytest.fixture(scope="module")
def champion_registry(tmp_path_factory) -> str:
    return registered(tmp_path_factory.mktemp("champion"), kind="svm", arm="scratch")[0]


def test_the_arm_that_built_the_champion_scores_it(files, split, champion_registry):
    _, test = split
    result = _predict(files, "scratch", "lr", ChampionQuery(champion_registry, "", "emotion-demo"))
    registry = open_registry(champion_registry)
    model, version, _ = load_version(registry, registry.champion("emotion-demo"))
    expected = model.predict_texts(test["text"].tolist()).labels
    assert result.champion == {
        "model_name": "emotion-demo",
        "version": version.version,
        "arm": "scratch",
        "labels": expected,
    }
    assert result.champion["labels"] != result.predictions.labels  # the champion's (svm), not the arm's (lr)


def test_a_champion_of_another_arm_or_no_champion_is_none(files, champion_registry, tmp_path):
    assert _predict(files, "automl", "lr", ChampionQuery(champion_registry, "", "emotion-demo")).champion is None
    assert _predict(files, "scratch", "lr", ChampionQuery(champion_registry, "", "emotion-other")).champion is None
    assert _predict(files, "scratch", "lr", ChampionQuery("", "", "emotion-demo")).champion is None  # no registry
    assert _predict(files, "scratch", "lr", ChampionQuery(str(tmp_path / "empty"), "", "emotion-demo")).champion is None


def test_a_broken_champion_or_registry_is_recorded_never_raised(files, tmp_path):
    uri, name = registered(tmp_path, kind="svm", arm="scratch")
    version = open_registry(uri).champion(name)
    shutil.rmtree(version.source.removeprefix("file://"))  # the champion's files are gone
    broken = _predict(files, "scratch", "lr", ChampionQuery(uri, "", name)).champion
    assert broken["model_name"] == name and broken["version"] == version.version and broken["arm"] == "scratch"
    assert "labels" not in broken and broken["error"].split(":")[0].endswith(("Error", "Exception"))
    unreachable = _predict(files, "scratch", "lr", ChampionQuery("ftp://nowhere/registry", "", name)).champion
    assert set(unreachable) == {"model_name", "error"} and unreachable["error"].startswith("RegistryError: ")


# --- the bundle: a chain of arms, read by evaluate ----------------------------------------------------------------


def _arm(name: str, labels: list[str], classes: list[str], **facts) -> ArmResult:
    scores = np.array([[1.0 if c == label else 0.0 for c in classes] for label in labels])
    predictions = ScoredPredictions(labels, classes, scores, "probability")
    return ArmResult(arm=name, display_name=name.upper(), predictions=predictions, **facts)


def test_a_chain_of_three_arms_round_trips(tmp_path):
    labels = {"scratch": ["joy", "anger", "joy"], "automl": ["joy", "joy", "joy"], "transformer": ["fear", "a", "joy"]}
    previous = None
    for i, (name, predicted) in enumerate(labels.items()):
        model = tmp_path / f"{name}.joblib"
        joblib.dump({"model": name}, model)
        champion = {"model_name": "m", "version": "3", "labels": predicted} if i == 1 else None
        result = _arm(
            name,
            predicted,
            ["anger", "joy"],
            image=f"img/{name}",
            requirements=[f"{name}==1"],
            training={"fit_seconds": i},
            profiles={f"train_{name}": {"wall_seconds": i}},
            extras={"i": i},
            latency={"latency_p50_ms": 1.5 + i},
            model_size_mb=0.1 * i,
            champion=champion,
        )
        previous = add_arm(tmp_path / f"bundle-{i}", result, model, previous)
    first = read_bundle(tmp_path / "bundle-0")
    assert [a.arm for a in first] == ["scratch"]  # an earlier bundle is left as it was
    arms = read_bundle(previous)
    assert [a.arm for a in arms] == list(labels)
    for i, arm in enumerate(arms):
        assert arm.predictions.labels == labels[arm.arm]  # "fear" and "a": outside the scored classes, kept
        assert arm.predictions.classes == ["anger", "joy"] and arm.predictions.scores.shape == (3, 2)
        assert joblib.load(arm.model_file) == {"model": arm.arm}
        assert (arm.display_name, arm.image, arm.requirements) == (arm.arm.upper(), f"img/{arm.arm}", [f"{arm.arm}==1"])
        assert arm.latency == {"latency_p50_ms": 1.5 + i} and arm.profiles == {f"train_{arm.arm}": {"wall_seconds": i}}
    assert arms[1].champion == {"model_name": "m", "version": "3", "labels": labels["automl"]}
    assert arms[0].champion is None and arms[2].champion is None
    with pytest.raises(BundleError, match="twice"):
        add_arm(tmp_path / "again", _arm("automl", ["joy"] * 3, ["joy"]), tmp_path / "automl.joblib", previous)
    with pytest.raises(BundleError, match="no arm"):
        read_bundle(tmp_path / "missing")


def test_evaluate_reads_every_arm_of_the_bundle(files, split, tmp_path):
    _, test = split
    previous = None
    for arm, kind in (("scratch", "lr"), ("automl", "weak"), ("transformer", "svm")):
        result = _predict(files, arm, kind, latency_calls=2, latency_rounds=1, batch_size=5)
        previous = add_arm(tmp_path / arm, result, files[kind], previous)
    options = EvaluateOptions(bootstrap_resamples=200)
    evaluation = evaluate_bundle(files["test"], str(previous), options)
    assert list(evaluation["models"]) == ["scratch", "automl", "transformer"]
    predictions = {a.arm: a.predictions.labels for a in read_bundle(previous)}
    same = evaluate_predictions(
        predictions, test["text"].tolist(), test["label"].tolist(), options=options, sources=["demo.csv"] * len(test)
    )
    for name, model in evaluation["models"].items():
        assert model["accuracy"] == same["models"][name]["accuracy"]
        assert model["macro_f1_ci"] == same["models"][name]["macro_f1_ci"]
        assert model["display_name"] == f"the {name} arm" and model["training"]["framework"] in ("lr", "weak", "svm")
        assert model["latency_rounds"] == 1 and model["model_size_mb"] > 0
    assert (evaluation["winner"], evaluation["tied"], evaluation["comparisons"]) == (
        same["winner"],
        same["tied"],
        same["comparisons"],
    )
    assert evaluation["models"]["automl"]["macro_f1"] < evaluation["models"]["scratch"]["macro_f1"]  # weak is weak
    json.dumps(evaluation)  # evaluation.json


def test_each_arms_words_per_class_go_from_its_predict_step_to_the_report(files, split, tmp_path):
    """A linear arm records its top words per class, a non-linear one why it has none; evaluate copies both."""
    files = {**files, "vote": save(fit("vote", split[0]), tmp_path / "vote.joblib")}
    previous = None
    for arm, kind in (("scratch", "lr"), ("automl", "vote")):
        result = _predict(files, arm, kind)
        previous = add_arm(tmp_path / arm, result, files[kind], previous)
    scratch, automl = read_bundle(previous)
    assert scratch.top_words["top"] == 15 and sorted(scratch.top_words["classes"]) == sorted(set(split[0]["label"]))
    assert all(len(words) == 15 for words in scratch.top_words["classes"].values())
    assert automl.top_words == {"unavailable": "MajorityVote is not a linear model over words: it has no word weights"}
    evaluation = evaluate_bundle(files["test"], str(previous), EvaluateOptions(bootstrap_resamples=20))
    assert evaluation["models"]["scratch"]["top_words"] == scratch.top_words
    report = render_evaluation_report(evaluation)
    term, weight = scratch.top_words["classes"]["joy"][0]
    assert f"| joy | {term} {weight:.2f}, " in report
    assert "Words per class: not available for this arm: MajorityVote is not a linear model" in report
    json.dumps(evaluation)


def test_evaluate_refuses_a_bundle_of_other_rows(files, split, tmp_path):
    _, test = split
    short = _arm("scratch", test["label"].tolist()[:-1], sorted(set(test["label"])))
    bundle = add_arm(tmp_path / "b", short, files["lr"], None)
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_bundle(files["test"], str(bundle), EvaluateOptions())
