"""The compiled pipeline: seven components on the chosen image, with the artifact types the UIs render."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines.cli.main import main

STEPS = ["ingest", "clean", "vectorise", "train-scratch", "train-automl", "evaluate", "profile"]


def _compile(tmp_path: Path, *extra: str) -> dict:
    target = tmp_path / "pipeline.yaml"
    assert main(["compile", "--output", str(target), *extra]) == 0
    return yaml.safe_load(target.read_text())


def test_compile_has_seven_components_wired_in_order(tmp_path: Path) -> None:
    spec = _compile(tmp_path)
    assert sorted(spec["components"]) == sorted(f"comp-{s}" for s in STEPS)
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(STEPS)
    assert tasks["clean"]["dependentTasks"] == ["ingest"]
    assert set(tasks["evaluate"]["dependentTasks"]) >= {"train-scratch", "train-automl"}
    assert "evaluate" in tasks["profile"]["dependentTasks"]


def test_compile_declares_ui_artifact_types(tmp_path: Path) -> None:
    spec = _compile(tmp_path)
    outputs = {
        name: artifact["artifactType"]["schemaTitle"]
        for component in spec["components"].values()
        for name, artifact in component.get("outputDefinitions", {}).get("artifacts", {}).items()
    }
    types = set(outputs.values())
    assert {"system.Metrics", "system.ClassificationMetrics", "system.Markdown", "system.Model"} <= types
    assert outputs["scratch_confusion"] == outputs["automl_confusion"] == "system.ClassificationMetrics"


def test_every_executor_uses_the_given_image_and_installs_nothing(tmp_path: Path) -> None:
    spec = _compile(tmp_path, "--image", "registry.local/emotion:abc", "--automl-image", "registry.local/automl:abc")
    executors = spec["deploymentSpec"]["executors"]
    images = {name: e["container"]["image"] for name, e in executors.items()}
    assert images.pop("exec-train-automl") == images.pop("exec-evaluate") == "registry.local/automl:abc"
    assert set(images.values()) == {"registry.local/emotion:abc"}
    for executor in executors.values():
        command = " ".join(executor["container"]["command"])
        assert "pip install" not in command  # install_kfp_package=False, no packages_to_install
