"""register: the winning arm becomes a version; the champion moves only when beaten on this run's held-out rows.

Runs against a real MLflow Model Registry (SQLite and an artifact folder in tmp_path). Each run goes through the
arms' predict steps (:func:`components.steps.predict.predict_arm`, chained into a bundle), then
:func:`register_step` reads the bundle: the candidate and the champion's held-out labels come from there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import pandas as pd
import pytest
from lifecycle_models import demo_split, evaluation_of, fit, save

from components.checks.errors import ParameterError
from components.models.bundle import add_arm
from components.registry.store import ModelRef, load_version, open_registry
from components.steps.predict import ChampionQuery, PredictOptions, predict_arm
from components.steps.register import (
    RegisterOptions,
    choose_model,
    fingerprint,
    promote_version,
    record_metrics,
    register_step,
    render_registry_report,
)

IMAGES = {"scratch": "img:1", "automl": "img:2", "transformer": "img:3"}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return demo_split()


@pytest.fixture(scope="module")
def models(data, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("models")
    train, test = data
    train.to_parquet(folder / "train.parquet")
    test.to_parquet(folder / "test.parquet")
    (folder / "data_stats.json").write_text(json.dumps({"options": {}}))
    paths = {kind: save(fit(kind, train), folder / kind) for kind in ("svm", "lr", "vote", "weak")}
    return {
        **paths,
        "train": str(folder / "train.parquet"),
        "test": str(folder / "test.parquet"),
        "data_stats": str(folder / "data_stats.json"),
    }


def _bundle(models, folder: Path, registry_uri: str, kinds: dict[str, str]) -> Path:
    """The arms' predict steps, chained: each predicts the held-out rows and scores the champion if it built it."""
    previous = None
    for arm, kind in kinds.items():
        result = predict_arm(
            arm=arm,
            display_name=arm,
            image=IMAGES[arm],
            requirements=[f"{arm}-stack==1.0"],
            model_path=models[kind],
            test_path=models["test"],
            training={},
            profiles={},
            extras={},
            champion=ChampionQuery(registry_uri, "", "emotion-demo"),
            options=PredictOptions(latency_calls=0),
        )
        previous = add_arm(folder / f"bundle-{arm}", result, models[kind], previous)
    return previous


def _run(
    data,
    models,
    tmp_path: Path,
    registry_uri: str,
    scratch: str = "",
    automl: str = "",
    winner: str = "scratch",
    kinds: dict[str, str] | None = None,
    **options,
) -> dict:
    """One run's predict steps, register and, when promoted, promote: what the pipeline does."""
    _, test = data
    kinds = kinds or {"scratch": scratch, "automl": automl}
    folder = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
    folder.mkdir()
    bundle = _bundle(models, folder, registry_uri, kinds)
    evaluation = evaluation_of({arm: joblib.load(models[kind]) for arm, kind in kinds.items()}, test, winner)
    (folder / "evaluation.json").write_text(json.dumps(evaluation))
    record = register_step(
        task="demo",
        evaluation_path=str(folder / "evaluation.json"),
        data_stats_path=models["data_stats"],
        train_path=models["train"],
        test_path=models["test"],
        bundle_path=str(bundle),
        target=str(folder / "package"),
        target_uri=str(folder / "package"),
        run_name="run-x",
        options=RegisterOptions(registry_uri=registry_uri, **options),
    )
    if record["promoted"]:
        promote_version(
            registry_uri=registry_uri,
            registry_artifact_uri="",
            model_name=record["model_name"],
            version=record["version"],
        )
    return record


def test_choose_model_takes_the_winner_or_on_a_tie_the_cheapest_to_serve() -> None:
    models = {
        "scratch": {"macro_f1": 0.9, "latency_p50_ms": 3.0, "model_size_mb": 9.0},
        "automl": {"macro_f1": 0.89, "latency_p50_ms": 0.5, "model_size_mb": 1.0},
    }
    assert choose_model({"models": models, "winner": "scratch", "winner_metric": "macro_f1"})[0] == "scratch"
    name, why = choose_model({"models": models, "winner": "tie", "winner_metric": "macro_f1"})
    assert name == "automl" and "cheapest to serve" in why and "p50 0.50 ms" in why


def test_on_a_tie_of_some_arms_the_cheapest_of_the_tied_arms_is_chosen() -> None:
    models = {
        "scratch": {"macro_f1": 0.9, "latency_p50_ms": 3.0, "model_size_mb": 9.0},
        "automl": {"macro_f1": 0.7, "latency_p50_ms": 0.1, "model_size_mb": 0.1},  # cheapest, but not tied
        "transformer": {"macro_f1": 0.91, "latency_p50_ms": 2.0, "model_size_mb": 90.0},
    }
    evaluation = {"models": models, "winner": "tie", "tied": ["transformer", "scratch"], "winner_metric": "macro_f1"}
    name, why = choose_model(evaluation)
    assert name == "transformer" and "between transformer, scratch" in why and "automl" not in why
    del models["transformer"]["latency_p50_ms"]  # not measured: the size decides after the known latency
    assert choose_model(evaluation)[0] == "scratch"


def test_options_are_checked() -> None:
    with pytest.raises(ParameterError, match="on_champion_error"):
        RegisterOptions(on_champion_error="maybe")
    with pytest.raises(ParameterError, match="model_name"):
        RegisterOptions(model_name="no spaces please")
    with pytest.raises(ParameterError, match="bootstrap_resamples"):
        RegisterOptions(bootstrap_resamples=3)


def test_first_run_promotes_then_the_rule_decides(data, models, tmp_path) -> None:
    registry_uri = str(tmp_path / "registry")
    first = _run(data, models, tmp_path, registry_uri, "svm", "weak")
    assert (first["version"], first["promoted"], first["champion_version"]) == ("1", True, "1")
    assert first["reason"].startswith("version 1: no champion yet")
    registry = open_registry(registry_uri)
    assert registry.champion("emotion-demo").version == "1"

    same = _run(data, models, tmp_path, registry_uri, "svm", "weak")  # the same model again: a tie with itself
    assert (same["version"], same["promoted"], same["champion_version"]) == ("2", False, "1")
    assert same["difference"] == 0 and same["interval"] == [0.0, 0.0] and "contains 0" in same["reason"]

    worse = _run(data, models, tmp_path, registry_uri, "weak", "svm")  # a clearly worse model is registered, kept out
    assert (worse["version"], worse["promoted"], worse["champion_version"]) == ("3", False, "1")
    assert worse["interval"][1] < 0 and "worse than the champion" in worse["reason"]
    assert registry.champion("emotion-demo").version == "1"

    record = _run(data, models, tmp_path, registry_uri, "weak", "svm", winner="automl")
    assert record["model"] == "automl" and not record["promoted"]
    versions = registry.client.search_model_versions("name='emotion-demo'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]
    v3 = registry.resolve(ModelRef("emotion-demo", "", "3"))
    assert v3.tags["promoted"] == "false" and v3.tags["data_sha256"] == first["tags"]["data_sha256"]
    assert v3.tags["image"] == "img:1" and v3.tags["pipeline_run"] == "run-x" and float(v3.tags["accuracy"]) < 0.9
    assert record["image"] == "img:2" and record["champion_model"] == "scratch"


def test_a_better_challenger_is_promoted_and_serves(data, models, tmp_path) -> None:
    registry_uri = str(tmp_path / "registry")
    _run(data, models, tmp_path, registry_uri, "weak", "svm")
    better = _run(data, models, tmp_path, registry_uri, "lr", "weak")
    assert better["promoted"] and better["champion_version"] == "2" and better["previous_champion_version"] == "1"
    assert better["interval"][0] > 0 and "beats the champion" in better["reason"]
    assert better["challenger_score"] > better["champion_score"]
    model, version, metadata = load_version(open_registry(registry_uri), ModelRef.parse("emotion-demo@champion"))
    assert version.version == "2" and metadata["model"] == "scratch"
    predicted = model.predict_texts(["I am SO happy &amp; grateful today"])
    assert predicted.score_kind == "probability" and predicted.labels[0] in predicted.classes
    metrics = record_metrics(better)
    assert metrics["promoted"] == 1.0 and metrics["version"] == 2.0 and metrics["interval_low"] > 0
    report = render_registry_report(better)
    assert "promoted to champion" in report and "CI [" in report
    requirements = (Path(better["model_uri"].removeprefix("file://")) / "requirements.txt").read_text()
    assert "scratch-stack==1.0" in requirements and "scikit-learn==" in requirements  # the arm's stack is pinned


@pytest.mark.parametrize(("policy", "promoted"), [("keep", False), ("promote", True)])
def test_a_champion_that_cannot_be_loaded_is_reported_never_fatal(data, models, tmp_path, policy, promoted) -> None:
    registry_uri = str(tmp_path / "registry")
    first = _run(data, models, tmp_path, registry_uri, "svm", "weak")
    shutil.rmtree(first["model_uri"].removeprefix("file://"))  # the champion's files are gone
    record = _run(data, models, tmp_path, registry_uri, "lr", "weak", on_champion_error=policy)
    assert record["promoted"] is promoted and record["previous_champion_version"] == "1"
    assert "could not be loaded" in record["reason"] and record["champion_error"]
    assert open_registry(registry_uri).champion("emotion-demo").version == ("2" if promoted else "1")


@pytest.mark.parametrize(("policy", "promoted"), [("keep", False), ("promote", True)])
def test_a_champion_of_an_arm_this_run_does_not_include_follows_the_policy(data, models, tmp_path, policy, promoted):
    registry_uri = str(tmp_path / "registry")
    first = _run(data, models, tmp_path, registry_uri, "weak", "svm", winner="automl")  # the champion is automl's
    assert first["promoted"] and first["model"] == "automl"
    record = _run(data, models, tmp_path, registry_uri, kinds={"scratch": "lr"}, on_champion_error=policy)
    assert record["promoted"] is promoted and record["previous_champion_version"] == "1"
    assert "champion v1 was built by arm automl, which this run does not include" in record["reason"]
    assert "interval" not in record and record["champion_error"]
    assert f"on_champion_error={policy}" in record["reason"]


def test_the_champion_is_compared_from_the_bundle_of_three_arms_without_unpickling(data, models, tmp_path, monkeypatch):
    registry_uri = str(tmp_path / "registry")
    _run(data, models, tmp_path, registry_uri, "weak", "svm", winner="automl")  # champion: automl's svm
    kinds = {"scratch": "weak", "automl": "svm", "transformer": "lr"}
    folder = tmp_path / "three"
    folder.mkdir()
    bundle = _bundle(models, folder, registry_uri, kinds)  # the automl arm scores the champion here
    _, test = data
    evaluation = evaluation_of({arm: joblib.load(models[kind]) for arm, kind in kinds.items()}, test, "transformer")
    (folder / "evaluation.json").write_text(json.dumps(evaluation))

    def refused(*args, **kwargs):
        raise AssertionError("register must not unpickle a model: it runs in the slim image")

    monkeypatch.setattr(joblib, "load", refused)
    record = register_step(
        task="demo",
        evaluation_path=str(folder / "evaluation.json"),
        data_stats_path=models["data_stats"],
        train_path=models["train"],
        test_path=models["test"],
        bundle_path=str(bundle),
        target=str(folder / "pkg"),
        target_uri=str(folder / "pkg"),
        run_name="three",
        options=RegisterOptions(registry_uri=registry_uri),
    )
    assert record["model"] == "transformer" and record["image"] == "img:3"
    assert record["champion_model"] == "automl" and record["previous_champion_version"] == "1"
    assert record["challenger_score"] != record["champion_score"] and "interval" in record  # compared, not an error
    assert "champion_error" not in record


def test_model_name_and_fingerprint() -> None:
    from components.steps.register import model_name_for

    assert model_name_for("emotion6", RegisterOptions()) == "emotion-emotion6"
    assert model_name_for("my task", RegisterOptions()) == "emotion-my-task"
    assert model_name_for("x", RegisterOptions(model_name="prod-emotions")) == "prod-emotions"
    assert fingerprint(["a"], ["b"]) == fingerprint(["a"], ["b"]) != fingerprint(["a"], ["c"])
