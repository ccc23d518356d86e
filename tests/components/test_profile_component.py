"""The ``profile`` component called directly: summary, Markdown, HTML and headline Metrics from step artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from kfp import compiler, dsl

from components.kfp_components import build_components
from components.steps.profile import STEPS
from pipelines.emotion_pipeline import build_pipeline

RUN = Path(__file__).resolve().parents[1] / "data" / "report_run"


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
    if with_leaderboard:
        inputs["automl_leaderboard"] = _artifact(
            dsl.Artifact, run / "train-automl" / "automl_leaderboard", "automl_leaderboard"
        )
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
    build_components().profile.python_func(task="emotion6", **_inputs(tmp_path, with_leaderboard), **outputs)

    summary = json.loads(Path(outputs["summary"].path).read_text(encoding="utf-8"))
    assert summary["task"] == "emotion6"
    assert set(summary["steps"]) == set(STEPS)
    html = Path(outputs["html_report"].path).read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert ("Naive Bayes" in html) is with_leaderboard
    assert "# Emotion pipeline: emotion6" in Path(outputs["report"].path).read_text(encoding="utf-8")

    logged = outputs["metrics"].metadata
    models = summary["models"]
    assert logged["automl_vs_scratch_train_time"] == pytest.approx(
        models["automl"]["train_seconds"] / models["scratch"]["train_seconds"], rel=1e-3
    )
    assert logged["accuracy_delta"] == pytest.approx(models["automl"]["accuracy"] - models["scratch"]["accuracy"])
    assert logged["scratch_accuracy"] == models["scratch"]["accuracy"]
    assert logged["pipeline_wall_seconds"] > 0


def test_profile_fails_clearly_without_a_step_profile(tmp_path: Path):
    inputs = _inputs(tmp_path)
    Path(inputs["vectorise_profile"].path).unlink()
    with pytest.raises(FileNotFoundError, match="vectorise"):
        build_components().profile.python_func(task="t", **inputs, **_outputs(tmp_path))


def test_compiled_pipeline_wires_leaderboard_into_profile_and_outputs_html(tmp_path: Path):
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(build_pipeline(), str(path))
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    component = spec["components"]["comp-profile"]
    assert component["outputDefinitions"]["artifacts"]["html_report"]["artifactType"]["schemaTitle"] == "system.HTML"
    assert component["inputDefinitions"]["artifacts"]["automl_leaderboard"]["isOptional"] is True
    task = spec["root"]["dag"]["tasks"]["profile"]["inputs"]["artifacts"]["automl_leaderboard"]
    assert task["taskOutputArtifact"] == {"outputArtifactKey": "automl_leaderboard", "producerTask": "train-automl"}
