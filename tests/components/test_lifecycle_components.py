"""Component tests: evaluate → register → promote (only when register says so) → batch_predict, and the registry
block in profile's summary, via python_func with artifacts on tmp paths and a real MLflow registry (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Markdown, Metrics, Model
from lifecycle_models import demo_split, fit, save
from report_run_bundle import report_run_bundle

from components.arms import select_arms
from components.kfp_components import build_batch_predict_component, build_components, build_monitor_component
from components.steps.clean import CleaningOptions

STEPS = build_components(select_arms(("scratch", "automl")))


def _artifact(kind, folder: Path, name: str):
    return kind(uri=str(folder / name))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("data")
    train, test = demo_split()
    paths = {"train": folder / "train.parquet", "test": folder / "test.parquet", "stats": folder / "data_stats"}
    train.to_parquet(paths["train"], index=False)
    test.to_parquet(paths["test"], index=False)
    paths["stats"].write_text(json.dumps({"options": CleaningOptions().to_dict()}))
    models = {kind: save(fit(kind, train), folder / kind) for kind in ("lr", "svm", "weak")}
    return {"folder": folder, "test_rows": test, **paths, "models": models}


def _profile(path: Path, step: str) -> Artifact:
    """A step profile as a training step writes it (the predict step copies it into the bundle)."""
    path.write_text(json.dumps({"step": step, "wall_seconds": 1.0, "cpu_seconds": 1.0, "peak_memory_mb": 10.0}))
    return Artifact(uri=str(path))


def _run(data: dict, folder: Path, registry: str, scratch: str, automl: str) -> tuple[bool, dict, dict]:
    """predict_scratch → predict_automl (the bundle) → evaluate → register → promote (when promoted) for one run;
    returns promoted, the record, the artifacts."""
    folder.mkdir(parents=True)
    art = {
        n: _artifact(k, folder, n)
        for n, k in {
            "scratch_model": Model,
            "automl_model": Model,
            "test": Dataset,
            "train": Dataset,
            "data_stats": Artifact,
            "evaluation": Artifact,
            "evaluation_report": Markdown,
            "comparison_metrics": Metrics,
            "evaluate_profile": Artifact,
            "registered_model": Model,
            "registry_record": Artifact,
            "registry_report": Markdown,
            "registry_metrics": Metrics,
            "register_profile": Artifact,
            "evaluate_step_metrics": Metrics,
            "register_step_metrics": Metrics,
        }.items()
    }
    art["scratch_model"].uri, art["automl_model"].uri = data["models"][scratch], data["models"][automl]
    art["test"].uri, art["train"].uri, art["data_stats"].uri = str(data["test"]), str(data["train"]), str(data["stats"])
    images = {"scratch": "REG/emotion:1", "automl": "REG/automl:1"}
    bundle = None
    for arm in ("scratch", "automl"):  # each arm's predict step scores the champion when that arm built it
        outputs = {
            n: _artifact(k, folder, f"{arm}-{n}")
            for n, k in {
                "arms": Artifact,
                "heldout_metrics": Metrics,
                "confusion": ClassificationMetrics,
                "step_profile": Artifact,
                "step_metrics": Metrics,
            }.items()
        }
        STEPS.arms[arm][f"predict_{arm}"].python_func(
            arm=arm,
            display_name=arm,
            test=art["test"],
            model=art[f"{arm}_model"],
            train_profile=_profile(folder / f"{arm}-train-profile", f"train_{arm}"),
            previous=bundle,
            image=images[arm],
            task="demo",
            registry_uri=registry,
            latency_calls=5,
            **outputs,
        )
        bundle = art[f"{arm}_arms"] = outputs["arms"]
    STEPS.evaluate.python_func(
        test=art["test"],
        arms=bundle,
        evaluation=art["evaluation"],
        evaluation_report=art["evaluation_report"],
        comparison_metrics=art["comparison_metrics"],
        step_profile=art["evaluate_profile"],
        step_metrics=art["evaluate_step_metrics"],
        bootstrap_resamples=200,
    )
    promoted = STEPS.register.python_func(
        task="demo",
        evaluation=art["evaluation"],
        data_stats=art["data_stats"],
        clean_train=art["train"],
        clean_test=art["test"],
        arms=bundle,
        registered_model=art["registered_model"],
        registry_record=art["registry_record"],
        registry_report=art["registry_report"],
        registry_metrics=art["registry_metrics"],
        step_profile=art["register_profile"],
        step_metrics=art["register_step_metrics"],
        registry_uri=registry,
        bootstrap_resamples=200,
        run_name=folder.name,
    )
    if promoted:
        assert "@champion -> version" in STEPS.promote.python_func(
            registry_record=art["registry_record"], registry_uri=registry
        )
    record = json.loads(Path(art["registry_record"].path).read_text())
    assert record["promoted"] is promoted and (Path(art["registered_model"].path) / "MLmodel").is_file()
    profile = json.loads((Path(art["registered_model"].path) / "reference_profile.json").read_text())
    assert profile["heldout"]["rows"] == len(data["test_rows"]) and profile["model_name"] == "emotion-demo"
    assert "## Registry" in Path(art["registry_report"].path).read_text()
    return promoted, record, art


def test_two_runs_a_champion_then_the_rule_and_batch_predictions(data: dict, tmp_path: Path) -> None:
    registry = str(tmp_path / "registry")
    promoted, first, art = _run(data, tmp_path / "run1", registry, "svm", "weak")
    assert promoted and (first["version"], first["champion_version"], first["model"]) == ("1", "1", "scratch")
    assert first["image"] == "REG/emotion:1" and first["tags"]["pipeline_run"] == "run1"
    assert art["registry_metrics"].metadata["promoted"] == 1.0

    promoted, second, art = _run(data, tmp_path / "run2", registry, "weak", "lr")  # AutoML wins, beats svm?
    assert second["model"] == "automl" and second["previous_champion_version"] == "1"
    from components.models.bundle import read_bundle

    # the champion (built by scratch) was scored by predict_scratch, the only arm whose image can load it
    scratch_arm, automl_arm = read_bundle(art["automl_arms"].path)
    assert scratch_arm.champion["version"] == "1" and "error" not in scratch_arm.champion
    assert len(scratch_arm.champion["labels"]) == len(data["test_rows"]) and automl_arm.champion is None
    assert second["image"] == "REG/automl:1"
    assert promoted is (second["interval"][0] > 0) and second["champion_version"] == ("2" if promoted else "1")
    assert art["registry_metrics"].metadata["promoted"] == float(promoted)
    assert "interval_low" in art["registry_metrics"].metadata

    metrics, profile = Metrics(uri=str(tmp_path / "bp_metrics")), Artifact(uri=str(tmp_path / "bp_profile"))
    source = tmp_path / "val.txt"
    source.write_text(
        "".join(f"{t};{lb}\n" for t, lb in zip(data["test_rows"]["text"], data["test_rows"]["label"], strict=True))
    )
    used = build_batch_predict_component().python_func(
        registry_uri=registry,
        model="emotion-demo@champion",
        input_uri=str(source),
        output_uri=str(tmp_path / "out" / "predictions.jsonl"),
        prediction_metrics=metrics,
        step_profile=profile,
        step_metrics=Metrics(uri=str(tmp_path / "bp_step_metrics")),
    )
    assert used == f"emotion-demo/{second['champion_version']}"
    assert metrics.metadata["rows"] == len(data["test_rows"])
    champion = first if second["champion_version"] == "1" else second
    assert metrics.metadata["accuracy"] == champion["metrics"]["accuracy"]  # batch accuracy = evaluate's
    build_batch_predict_component().python_func(
        registry_uri=registry,
        model="emotion-demo@champion",
        input_uri=str(source),
        output_uri=str(tmp_path / "explained.jsonl"),
        prediction_metrics=Metrics(uri=str(tmp_path / "bp_m2")),
        step_profile=Artifact(uri=str(tmp_path / "bp_p2")),
        step_metrics=Metrics(uri=str(tmp_path / "bp_s2")),
        explain=True,
        explain_top=3,
    )
    explained = [json.loads(line)["explanation"] for line in (tmp_path / "explained.jsonl").read_text().splitlines()]
    assert len(explained) == len(data["test_rows"]) and all(len(words) <= 3 for words in explained)
    assert sum(bool(words) for words in explained) > len(explained) / 2  # most rows have words that pushed them

    (tmp_path / "monitor").mkdir()
    out = {
        name: kind(uri=str(tmp_path / "monitor" / name))
        for name, kind in (
            ("monitor_record", Artifact),
            ("monitor_report", Markdown),
            ("monitor_html", HTML),
            ("monitor_metrics", Metrics),
        )
    }
    drifted = build_monitor_component().python_func(
        registry_uri=registry,
        model="emotion-demo@champion",
        input_uri=str(source),
        min_rows=50,
        bootstrap_resamples=200,
        **out,
    )
    result = json.loads(Path(out["monitor_record"].path).read_text())  # its own held-out rows: no drift
    assert drifted is False and result["drift"] is False and result["model"]["version"] == champion["version"]
    assert out["monitor_metrics"].metadata["drift"] == 0.0 and out["monitor_metrics"].metadata["rows"] == 192
    assert "<svg" in Path(out["monitor_html"].path).read_text()


def test_profile_copies_the_registry_decision_into_the_summary(tmp_path: Path) -> None:
    import shutil

    from components.steps.profile import STEPS as PROFILED

    run = tmp_path / "run"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "report_run", run)
    inputs = {f"{s}_profile": Artifact(uri=str(run / s.replace("_", "-") / "step_profile")) for s in PROFILED}
    inputs["register_profile"] = Artifact(uri=str(run / "evaluate" / "step_profile"))
    inputs["arms"] = Artifact(uri=str(report_run_bundle(run, tmp_path / "arms")))
    record = {
        "model_name": "emotion-demo",
        "version": "2",
        "promoted": False,
        "champion_version": "1",
        "previous_champion_version": "1",
        "model": "scratch",
        "reason": "version 2: not shown better: ...",
        "metric": "macro_f1",
        "challenger_score": 0.9,
        "champion_score": 0.89,
        "difference": 0.01,
        "interval": [-0.01, 0.03],
        "confidence": 0.95,
        "test_rows": 100,
    }
    (tmp_path / "record").write_text(json.dumps(record))
    kinds = {"summary": Artifact, "report": Markdown, "html_report": Artifact, "metrics": Metrics}
    outputs = {name: kind(uri=str(tmp_path / name)) for name, kind in kinds.items()}
    STEPS.profile.python_func(
        task="demo",
        evaluation=Artifact(uri=str(run / "evaluate" / "evaluation")),
        data_stats=Artifact(uri=str(run / "clean" / "data_stats")),
        registry_record=Artifact(uri=str(tmp_path / "record")),
        **inputs,
        **outputs,
    )
    summary = json.loads((tmp_path / "summary").read_text())
    assert summary["registry"] == record and "register" in summary["steps"]
    report = (tmp_path / "report").read_text()
    assert "## Registry" in report and "not promoted" in report and "[-0.0100, 0.0300]" in report


def test_batch_predict_defaults_are_the_options_defaults() -> None:
    import dataclasses
    import inspect

    from components import kfp_components
    from components.steps.batch_predict import BatchPredictOptions
    from pipelines.batch_pipeline import batch_parameters

    options = {f.name: getattr(BatchPredictOptions(), f.name) for f in dataclasses.fields(BatchPredictOptions)}
    signature = inspect.signature(kfp_components.batch_predict).parameters
    pipeline = batch_parameters()
    for name, default in options.items():
        assert signature[name].default == default, name
        assert pipeline[name] == default, name
