"""register: the winner becomes a version; the champion moves only when beaten on this run's held-out rows.

Runs against a real MLflow Model Registry (SQLite and an artifact folder in tmp_path).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from lifecycle_models import demo_split, evaluation_of, fit, save

from components.checks.errors import ParameterError
from components.registry.store import ModelRef, load_version, open_registry
from components.steps.register import (
    RegisterOptions,
    choose_model,
    fingerprint,
    prepare_candidate,
    promote_version,
    record_metrics,
    register_model,
    render_registry_report,
)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return demo_split()


@pytest.fixture(scope="module")
def models(data, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("models")
    train, _ = data
    return {kind: save(fit(kind, train), folder / kind) for kind in ("svm", "lr", "vote", "weak")}


def _run(data, models, tmp_path: Path, registry_uri: str, scratch: str, automl: str, winner: str = "scratch",
         **options) -> dict:  # fmt: skip
    """One run's register and, when promoted, promote: what the pipeline does."""
    import joblib

    train, test = data
    paths = {"scratch": models[scratch], "automl": models[automl]}
    evaluation = evaluation_of({n: joblib.load(p) for n, p in paths.items()}, test, winner)
    target = tmp_path / f"package-{len(list(tmp_path.glob('package-*')))}"
    candidate = prepare_candidate(evaluation, paths, test["text"].tolist(), text_rules={}, images={"scratch": "img:1"},
                                  target=str(target), target_uri=str(target), task="demo")  # fmt: skip
    opts = RegisterOptions(registry_uri=registry_uri, **options)
    record = register_model(task="demo", evaluation=evaluation, candidate=candidate, texts=test["text"].tolist(),
                            labels=test["label"].tolist(), train_fingerprint=fingerprint(train["text"], train["label"]),
                            run_name="run-x", options=opts)  # fmt: skip
    if record["promoted"]:
        promote_version(registry_uri=registry_uri, registry_artifact_uri="", model_name=record["model_name"],
                        version=record["version"])  # fmt: skip
    return record


def test_choose_model_takes_the_winner_or_on_a_tie_the_cheaper_to_serve() -> None:
    models = {"scratch": {"macro_f1": 0.9, "latency_p50_ms": 3.0, "model_size_mb": 9.0},
              "automl": {"macro_f1": 0.89, "latency_p50_ms": 0.5, "model_size_mb": 1.0}}  # fmt: skip
    assert choose_model({"models": models, "winner": "scratch", "winner_metric": "macro_f1"})[0] == "scratch"
    name, why = choose_model({"models": models, "winner": "tie", "winner_metric": "macro_f1"})
    assert name == "automl" and "cheaper to serve" in why and "p50 0.50 ms" in why


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


@pytest.mark.parametrize(("policy", "promoted"), [("keep", False), ("promote", True)])
def test_a_champion_that_cannot_be_loaded_is_reported_never_fatal(data, models, tmp_path, policy, promoted) -> None:
    registry_uri = str(tmp_path / "registry")
    first = _run(data, models, tmp_path, registry_uri, "svm", "weak")
    shutil.rmtree(first["model_uri"].removeprefix("file://"))  # the champion's files are gone
    record = _run(data, models, tmp_path, registry_uri, "lr", "weak", on_champion_error=policy)
    assert record["promoted"] is promoted and record["previous_champion_version"] == "1"
    assert "could not be loaded" in record["reason"] and record["champion_error"]
    assert open_registry(registry_uri).champion("emotion-demo").version == ("2" if promoted else "1")


def test_model_name_and_fingerprint() -> None:
    from components.steps.register import model_name_for

    assert model_name_for("emotion6", RegisterOptions()) == "emotion-emotion6"
    assert model_name_for("my task", RegisterOptions()) == "emotion-my-task"
    assert model_name_for("x", RegisterOptions(model_name="prod-emotions")) == "prod-emotions"
    assert fingerprint(["a"], ["b"]) == fingerprint(["a"], ["b"]) != fingerprint(["a"], ["c"])
