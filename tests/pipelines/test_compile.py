"""The compiled pipelines: the training pipeline's components on the chosen images (promote behind its gate), the
batch-prediction pipeline, with the artifact types the UIs render."""

from __future__ import annotations

from pathlib import Path

import yaml
from spec_tasks import group_task, pipeline_tasks

from pipelines.cli.main import main

STEPS = [
    "fingerprint",
    "ingest",
    "clean",
    "train-scratch",
    "predict-scratch",
    "vectorise",
    "train-automl",
    "predict-automl",
    "evaluate",
    "register",
    "profile",
    "log-experiment",
]
#: What a cluster build adds (the default environment's target is Vertex AI): the registered version as a
#: google.VertexModel after register, and the exit handler's notice, which ends every run.
CLUSTER_STEPS = ["vertex-model", "notice"]
#: What a Vertex AI build adds behind promote's gate: the deploy step, behind a gate of its own (deploy_endpoint).
VERTEX_GATED_STEPS = ["deploy"]
#: The AutoML arm's steps (they load PyCaret): on the automl image.
AUTOML_STEPS = ("vectorise", "train-automl", "predict-automl")


def _compile(tmp_path: Path, *extra: str) -> dict:
    target = tmp_path / "pipeline.yaml"
    assert main(["compile", "--output", str(target), *extra]) == 0
    return yaml.safe_load(target.read_text())


def test_compile_has_the_components_wired_in_order(tmp_path: Path) -> None:
    spec = _compile(tmp_path)
    gate = group_task(spec, "condition-")["componentRef"]["name"]  # the promote gate's sub-DAG
    deploy_gate = group_task(spec, "condition-3")["componentRef"]["name"]  # inside it: the deploy gate's
    steps = [*STEPS, *CLUSTER_STEPS, *VERTEX_GATED_STEPS, "promote", "exit-handler-1"]
    assert sorted(spec["components"]) == sorted([*(f"comp-{s}" for s in steps), gate, deploy_gate])
    # every step inside the exit handler; its exit task, notice, after it whatever happened; no pipeline output
    root = spec["root"]["dag"]["tasks"]
    assert sorted(root) == ["exit-handler-1", "notice"]
    assert root["notice"]["dependentTasks"] == ["exit-handler-1"]
    assert root["notice"]["triggerPolicy"] == {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    assert "outputDefinitions" not in spec["root"]
    inside = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    assert sorted(inside) == sorted([*STEPS, "vertex-model", gate.removeprefix("comp-")])
    tasks = pipeline_tasks(spec)
    assert sorted(tasks) == sorted([*STEPS, *CLUSTER_STEPS, *VERTEX_GATED_STEPS, "promote"])
    assert tasks["ingest"]["dependentTasks"] == ["fingerprint"]
    assert tasks["clean"]["dependentTasks"] == ["ingest"]
    assert tasks["log-experiment"]["dependentTasks"] == ["profile"]
    assert set(tasks["train-scratch"]["dependentTasks"]) == set(tasks["vectorise"]["dependentTasks"]) == {"clean"}
    assert set(tasks["train-automl"]["dependentTasks"]) == {"clean", "vectorise"}
    # each arm predicts after its training; the predict steps chain (each adds its arm to the previous bundle)
    assert set(tasks["predict-scratch"]["dependentTasks"]) == {"clean", "train-scratch"}
    assert set(tasks["predict-automl"]["dependentTasks"]) == {"clean", "vectorise", "train-automl", "predict-scratch"}
    assert set(tasks["evaluate"]["dependentTasks"]) == {"clean", "predict-automl"}
    assert {"evaluate", "predict-automl"} <= set(tasks["register"]["dependentTasks"])
    assert {"evaluate", "register", "predict-automl"} <= set(tasks["profile"]["dependentTasks"])
    assert tasks["register"]["cachingOptions"] == {} or not tasks["register"]["cachingOptions"].get("enableCache")
    assert tasks["vertex-model"]["dependentTasks"] == ["register"]  # the version register made, as lineage
    registry_record = tasks["vertex-model"]["inputs"]["artifacts"]["registry_record"]["taskOutputArtifact"]
    assert registry_record == {"outputArtifactKey": "registry_record", "producerTask": "register"}


def test_promote_runs_only_behind_the_gate_on_registers_decision(tmp_path: Path) -> None:
    spec = _compile(tmp_path)
    gate = group_task(spec, "condition-")
    assert gate["taskInfo"]["name"] == "challenger-beats-champion" and gate["dependentTasks"] == ["register"]
    assert gate["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--register-Output'] == true"
    assert gate in spec["components"]["comp-exit-handler-1"]["dag"]["tasks"].values()  # inside the exit handler
    inner = spec["components"][gate["componentRef"]["name"]]["dag"]["tasks"]
    assert sorted(inner) == ["condition-3", "promote"]  # on Vertex AI the deploy gate too (test_deploy_…)
    assert (
        spec["components"]["comp-register"]["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "BOOLEAN"
    )
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert {"registry_uri", "registry_artifact_uri", "model_name", "on_champion_error"} <= set(parameters)


def test_the_batch_prediction_pipeline_compiles(tmp_path: Path) -> None:
    target = tmp_path / "batch.yaml"
    assert main(["compile", "--pipeline", "batch-predict", "--output", str(target), "--automl-image", "A:1"]) == 0
    spec = yaml.safe_load(target.read_text())
    assert spec["pipelineInfo"]["name"] == "emotion-batch-predict"
    assert list(spec["root"]["dag"]["tasks"]) == ["batch-predict"]
    assert spec["deploymentSpec"]["executors"]["exec-batch-predict"]["container"]["image"] == "A:1"
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert {"registry_uri", "model", "input_uri", "output_uri"} <= {
        n for n, p in parameters.items() if not p.get("isOptional")
    }


def test_compile_declares_ui_artifact_types(tmp_path: Path) -> None:
    spec = _compile(tmp_path)
    outputs = {
        name: artifact["artifactType"]["schemaTitle"]
        for component in spec["components"].values()
        for name, artifact in component.get("outputDefinitions", {}).get("artifacts", {}).items()
    }
    types = set(outputs.values())
    assert {"system.Metrics", "system.ClassificationMetrics", "system.Markdown", "system.Model"} <= types
    for step in ("predict-scratch", "predict-automl"):  # each arm's confusion matrix, from its predict step
        artifacts = spec["components"][f"comp-{step}"]["outputDefinitions"]["artifacts"]
        assert artifacts["confusion"]["artifactType"]["schemaTitle"] == "system.ClassificationMetrics", step
        assert artifacts["heldout_metrics"]["artifactType"]["schemaTitle"] == "system.Metrics", step


def test_every_executor_uses_the_given_image_and_installs_nothing(tmp_path: Path) -> None:
    spec = _compile(tmp_path, "--image", "registry.local/emotion:abc", "--automl-image", "registry.local/automl:abc")
    executors = spec["deploymentSpec"]["executors"]
    images = {name: e["container"]["image"] for name, e in executors.items()}
    automl = [images.pop(f"exec-{step}") for step in AUTOML_STEPS]  # load PyCaret models
    assert set(automl) == {"registry.local/automl:abc"}
    assert {"exec-evaluate", "exec-register", "exec-predict-scratch"} <= set(images)  # no model unpickled there
    assert set(images.values()) == {"registry.local/emotion:abc"}
    for executor in executors.values():
        command = " ".join(executor["container"]["command"])
        assert "pip install" not in command  # install_kfp_package=False, no packages_to_install


def test_the_monitoring_pipeline_compiles_with_ui_artifacts(tmp_path: Path) -> None:
    target = tmp_path / "monitor.yaml"
    assert main(["compile", "--pipeline", "monitor", "--output", str(target), "--automl-image", "A:1"]) == 0
    spec = yaml.safe_load(target.read_text())
    assert spec["pipelineInfo"]["name"] == "emotion-monitor"
    assert list(spec["root"]["dag"]["tasks"]) == ["monitor"]
    assert spec["deploymentSpec"]["executors"]["exec-monitor"]["container"]["image"] == "A:1"
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert {n for n, p in parameters.items() if not p.get("isOptional")} == {"registry_uri", "model", "input_uri"}
    assert parameters["psi_threshold"]["defaultValue"] == 0.2
    outputs = spec["components"]["comp-monitor"]["outputDefinitions"]
    kinds = {name: a["artifactType"]["schemaTitle"] for name, a in outputs["artifacts"].items()}
    assert kinds == {
        "monitor_record": "system.Artifact",
        "monitor_report": "system.Markdown",
        "monitor_html": "system.HTML",
        "monitor_metrics": "system.Metrics",
    }
    assert outputs["parameters"]["Output"]["parameterType"] == "BOOLEAN"


def test_the_vertex_build_deploys_the_promoted_champion_only_when_deploy_endpoint_is_set(tmp_path: Path) -> None:
    spec = _compile(tmp_path)  # the default environment's target: Vertex AI
    promote_gate = group_task(spec, "condition-2")
    deploy_gate = group_task(spec, "condition-3")
    assert deploy_gate in spec["components"][promote_gate["componentRef"]["name"]]["dag"]["tasks"].values()
    assert deploy_gate["taskInfo"]["name"] == "deploy-endpoint-set" and deploy_gate["dependentTasks"] == ["promote"]
    assert (
        deploy_gate["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--deploy_endpoint'] != ''"
    )
    (deploy,) = spec["components"][deploy_gate["componentRef"]["name"]]["dag"]["tasks"].values()
    assert deploy["componentRef"]["name"] == "comp-deploy"
    assert deploy["inputs"]["artifacts"]["registry_record"] == {
        "componentInputArtifact": "pipelinechannel--register-registry_record"
    }
    fed = {name: value["componentInputParameter"] for name, value in deploy["inputs"]["parameters"].items()}
    assert fed == {
        "endpoint": "pipelinechannel--deploy_endpoint",
        "traffic_percent": "pipelinechannel--deploy_traffic_percent",
    }
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["deploy_endpoint"]["defaultValue"] == ""
    assert parameters["deploy_traffic_percent"]["defaultValue"] == 100


def test_kfp_and_local_builds_have_no_deploy_step_nor_its_parameters(tmp_path: Path) -> None:
    from kfp import compiler

    from pipelines.emotion_pipeline import build_pipeline

    kind = tmp_path / "kind.yaml"
    assert main(["compile", "--env", "kind", "--output", str(kind)]) == 0  # target: kfp
    kfp_spec = next(yaml.safe_load_all(kind.read_text()))  # then the Kubernetes platform spec
    compiler.Compiler().compile(build_pipeline(), str(tmp_path / "local.yaml"))
    local_spec = yaml.safe_load((tmp_path / "local.yaml").read_text())
    for spec in (kfp_spec, local_spec):
        assert "comp-deploy" not in spec["components"] and "deploy" not in pipeline_tasks(spec)
        assert not {"deploy_endpoint", "deploy_traffic_percent"} & set(spec["root"]["inputDefinitions"]["parameters"])
    gate = group_task(kfp_spec, "condition-")
    assert list(kfp_spec["components"][gate["componentRef"]["name"]]["dag"]["tasks"]) == ["promote"]
