"""The ``profile`` component called directly: summary, Markdown, HTML and headline Metrics from step artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from kfp import compiler, dsl
from report_run_bundle import ARM_STEPS, report_run_bundle

from components.arms import select_arms
from components.kfp_components import build_components
from components.steps.profile import STEPS
from pipelines.emotion_pipeline import build_pipeline

RUN = Path(__file__).resolve().parents[1] / "data" / "report_run"
#: The recorded run's steps: the shared ones the profile step takes and each arm's own (from the bundle).
RUN_STEPS = {*STEPS, *(step for steps in ARM_STEPS.values() for step in steps)}


def _profile_step():
    return build_components(select_arms()).profile


def _artifact(cls: type, path: Path, name: str) -> dsl.Artifact:
    artifact = cls(name=name, uri=str(path))
    artifact.path = str(path)  # the local path KFP would give the component
    return artifact


def _inputs(tmp_path: Path, with_leaderboard: bool = True) -> dict[str, dsl.Artifact]:
    shutil.copytree(RUN, tmp_path / "run")
    run = tmp_path / "run"
    inputs = {
        f"{step}_profile": _artifact(dsl.Artifact, run / step.replace("_", "-") / "step_profile", f"{step}_profile")
        for step in STEPS
    }
    inputs["evaluation"] = _artifact(dsl.Artifact, run / "evaluate" / "evaluation", "evaluation")
    inputs["data_stats"] = _artifact(dsl.Artifact, run / "clean" / "data_stats", "data_stats")
    bundle = report_run_bundle(run, tmp_path / "arms", with_leaderboard=with_leaderboard)
    inputs["arms"] = _artifact(dsl.Artifact, bundle, "arms")
    return inputs


def _outputs(tmp_path: Path) -> dict[str, dsl.Artifact]:
    out = tmp_path / "out"
    out.mkdir()
    return {
        "summary": _artifact(dsl.Artifact, out / "summary", "summary"),
        "report": _artifact(dsl.Markdown, out / "report", "report"),
        "html_report": _artifact(dsl.HTML, out / "html_report", "html_report"),
        "metrics": _artifact(dsl.Metrics, out / "metrics", "metrics"),
    }


@pytest.mark.parametrize("with_leaderboard", [True, False])
def test_profile_writes_summary_reports_and_headline_metrics(tmp_path: Path, with_leaderboard: bool):
    outputs = _outputs(tmp_path)
    _profile_step().python_func(task="emotion6", **_inputs(tmp_path, with_leaderboard), **outputs)

    summary = json.loads(Path(outputs["summary"].path).read_text(encoding="utf-8"))
    assert summary["task"] == "emotion6"
    assert set(summary["steps"]) == RUN_STEPS
    assert list(summary["models"]) == ["scratch", "automl"]
    assert summary["models"]["automl"]["train_step"] == "train_automl"
    assert summary["leaderboard_arm"] == ("automl" if with_leaderboard else None)
    html = Path(outputs["html_report"].path).read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert ("Naive Bayes" in html) is with_leaderboard
    assert "# Emotion pipeline: emotion6" in Path(outputs["report"].path).read_text(encoding="utf-8")

    logged = outputs["metrics"].metadata
    models = summary["models"]
    assert logged["automl_vs_scratch_train_time"] == pytest.approx(
        models["automl"]["train_seconds"] / models["scratch"]["train_seconds"], rel=1e-3
    )
    assert (
        models["automl"]["train_seconds"]
        == json.loads((RUN / "train-automl" / "step_profile").read_text())["wall_seconds"]
    )  # the arm's training profile comes from the bundle
    assert logged["automl_vs_scratch_accuracy_delta"] == pytest.approx(
        models["automl"]["accuracy"] - models["scratch"]["accuracy"]
    )
    assert logged["scratch_accuracy"] == models["scratch"]["accuracy"]
    assert logged["pipeline_wall_seconds"] > 0


def test_profile_fails_clearly_without_a_step_profile(tmp_path: Path):
    inputs = _inputs(tmp_path)
    Path(inputs["clean_profile"].path).unlink()
    with pytest.raises(FileNotFoundError, match="clean"):
        _profile_step().python_func(task="t", **inputs, **_outputs(tmp_path))


def test_profile_fails_clearly_without_an_arm_in_the_bundle(tmp_path: Path):
    from components.models.bundle import ORDER_FILE, BundleError

    inputs = _inputs(tmp_path)
    (Path(inputs["arms"].path) / ORDER_FILE).unlink()
    with pytest.raises(BundleError, match="no arm"):
        _profile_step().python_func(task="t", **inputs, **_outputs(tmp_path))


def test_compiled_pipeline_wires_leaderboard_into_profile_and_outputs_html(tmp_path: Path):
    """The leaderboard travels in the bundle: train_automl → predict_automl (extras) → profile (the last bundle)."""
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(build_pipeline(), str(path))
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    component = spec["components"]["comp-profile"]
    assert component["outputDefinitions"]["artifacts"]["html_report"]["artifactType"]["schemaTitle"] == "system.HTML"
    assert "isOptional" not in component["inputDefinitions"]["artifacts"]["arms"]  # required
    assert spec["components"]["comp-predict-automl"]["inputDefinitions"]["artifacts"]["extras"]["isOptional"] is True
    tasks = spec["root"]["dag"]["tasks"]
    extras = tasks["predict-automl"]["inputs"]["artifacts"]["extras"]
    assert extras["taskOutputArtifact"] == {"outputArtifactKey": "automl_leaderboard", "producerTask": "train-automl"}
    assert "extras" not in tasks["predict-scratch"]["inputs"]["artifacts"]
    previous = tasks["predict-automl"]["inputs"]["artifacts"]["previous"]["taskOutputArtifact"]
    assert previous == {"outputArtifactKey": "arms", "producerTask": "predict-scratch"}
    arms = tasks["profile"]["inputs"]["artifacts"]["arms"]
    assert arms["taskOutputArtifact"] == {"outputArtifactKey": "arms", "producerTask": "predict-automl"}
