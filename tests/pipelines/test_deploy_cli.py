"""``emotion-pipeline deploy`` / ``undeploy`` against Vertex AI fakes bound to the real aiplatform signatures
(tests/vertex_fakes.py): aiplatform's Endpoint, Model and ModelRegistry are replaced; nothing reaches Vertex AI."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.cloud import aiplatform
from google.cloud.aiplatform import models
from vertex_fakes import FakeEndpoints, FakeModelRegistry

from pipelines import preflight
from pipelines.cli.main import main

REGISTRY = "vertex://proj/europe-west4"
#: emotion-demo: version 1 (scratch, the champion), 2 (automl), 3 (transformer).
VERSIONS = {"emotion-demo": {"1": {"model": "scratch"}, "2": {"model": "automl"}, "3": {"model": "transformer"}}}


@pytest.fixture
def vertex(monkeypatch: pytest.MonkeyPatch) -> FakeEndpoints:
    """Fake endpoints and registry in place of aiplatform's classes; credentials taken as present."""
    fake = FakeEndpoints()
    monkeypatch.setattr(aiplatform, "Endpoint", fake.endpoint_cls)
    monkeypatch.setattr(aiplatform, "Model", fake.model_cls)
    monkeypatch.setattr(
        models, "ModelRegistry", FakeModelRegistry(VERSIONS, {"emotion-demo": {"champion": "1"}}).registry_cls
    )
    monkeypatch.setattr(preflight, "check_google_credentials", lambda *args, **kwargs: None)
    return fake


def _deploy(*extra: str, command: str = "deploy", model: str = "emotion-demo@champion") -> int:
    return main([command, "--registry", REGISTRY, "--model", model, "--endpoint", "emotion", *extra])


def test_deploy_creates_then_reuses_the_endpoint_and_splits_a_canary(
    vertex: FakeEndpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _deploy() == 0
    assert vertex.sent() == ["Endpoint.create", "Model", "Endpoint.deploy"]
    create = vertex.calls[1][1]
    assert (create["project"], create["location"]) == ("proj", "europe-west4")
    model = next(call for name, call in vertex.calls if name == "Model")
    assert model["model_name"] == "projects/proj/locations/europe-west4/models/emotion-demo" and model["version"] == "1"
    assert "emotion-demo/1 deployed to endpoint 'emotion' (100 %)" in capsys.readouterr().out
    assert _deploy("--model", "emotion-demo/2", "--traffic", "10", "--min-replicas", "1", "--max-replicas", "3") == 0
    assert vertex.sent().count("Endpoint.create") == 1
    assert vertex.shares("emotion") == {"1": 90, "2": 10}
    deploy = [call for name, call in vertex.calls if name == "Endpoint.deploy"][-1]
    assert (deploy["machine_type"], deploy["min_replica_count"], deploy["max_replica_count"]) == ("n1-standard-2", 1, 3)


def test_traffic_100_replaces_and_undeploy_re_splits(vertex: FakeEndpoints) -> None:
    assert _deploy() == 0
    assert _deploy("--traffic", "20", model="emotion-demo/2") == 0
    assert _deploy("--accelerator", "NVIDIA_TESLA_T4", model="emotion-demo/3") == 0  # --traffic 100: replaces
    assert vertex.shares("emotion") == {"3": 100}
    deploy = [call for name, call in vertex.calls if name == "Endpoint.deploy"][-1]
    assert (deploy["accelerator_type"], deploy["accelerator_count"]) == ("NVIDIA_TESLA_T4", 1)
    assert _deploy("--traffic", "25", model="emotion-demo/1") == 0
    assert _deploy(command="undeploy", model="emotion-demo/3") == 0
    assert vertex.shares("emotion") == {"1": 100}


def test_undeploy_of_the_last_version_needs_force(vertex: FakeEndpoints, capsys: pytest.CaptureFixture[str]) -> None:
    assert _deploy() == 0
    assert _deploy(command="undeploy") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "last deployed model" in err and "--force" in err
    assert _deploy("--force", command="undeploy") == 0
    assert vertex.shares("emotion") == {}


def test_dry_run_prints_the_requests_one_a_line_and_sends_nothing(
    vertex: FakeEndpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _deploy("--traffic", "10", "--dry-run") == 0
    assert vertex.sent() == [] and vertex.endpoints == []
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {
        "read": "ModelRegistry.get_model",
        "version": "projects/proj/locations/europe-west4/models/emotion-demo@1",
        "arm": "scratch",
    }
    assert lines[1]["read"] == "Endpoint.list" and lines[1]["found"] is None
    assert [line["call"] for line in lines[2:]] == ["Endpoint.create", "Model", "Endpoint.deploy"]
    assert lines[-1]["traffic_split"] == {"0": 100}  # nothing deployed yet: it takes all traffic


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--traffic", "0"], "--traffic: traffic_percent: expected a whole number from 1 to 100, got 0"),
        (["--min-replicas", "2"], "--max-replicas: max_replicas 1 is below min_replicas 2"),
        (["--machine-type", "huge"], "--machine-type: machine_type: expected a Vertex AI machine type"),
        (["--accelerator", "NVIDIA_TESLA_T4:x"], "--accelerator NVIDIA_TESLA_T4:x: expected TYPE[:COUNT]"),
        (["--accelerator", "GPU_9000"], "accelerator_type 'GPU_9000': not a Vertex AI accelerator"),
        (["--registry", "/tmp/registry"], "registry '/tmp/registry': Vertex AI endpoints serve versions"),
        (["--model", "emotion-demo@nope"], "emotion-demo@nope: not in Vertex AI Model Registry"),
        (["--model", "emotion-demo/9"], "emotion-demo/9: not in Vertex AI Model Registry"),
        (["--endpoint", 'a"b'], "endpoint 'a\"b': expected a display name"),
    ],
)
def test_bad_input_is_one_line_with_exit_status_2_and_sends_nothing(
    vertex: FakeEndpoints, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert _deploy(*extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("emotion-pipeline deploy: error: ") and err.count("\n") == 1, err
    assert message in err
    assert vertex.sent() == []


def test_no_credentials_is_one_line_before_any_call(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no SDK call without credentials")

    monkeypatch.setattr(aiplatform.Endpoint, "list", refuse)

    def no_credentials(target: str) -> None:
        raise preflight.PreflightError(f"{target}: no Google Cloud credentials (none); run 'gcloud auth …'")

    monkeypatch.setattr(preflight, "check_google_credentials", no_credentials)
    assert _deploy("--dry-run") == 2
    err = capsys.readouterr().err
    assert "Vertex AI (project proj): no Google Cloud credentials" in err and err.count("\n") == 1


def test_a_service_error_is_one_line_with_exit_status_1(
    vertex: FakeEndpoints, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from google.api_core import exceptions

    def denied(*args: Any, **kwargs: Any) -> None:
        raise exceptions.PermissionDenied("aiplatform.endpoints.list denied")

    monkeypatch.setattr(vertex.endpoint_cls, "list", classmethod(denied))
    assert _deploy() == 1
    err = capsys.readouterr().err
    assert "Google Cloud refused the request" in err and "denied" in err and err.count("\n") == 1


def test_a_vertex_run_takes_the_deploy_parameters_and_checks_them(capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--env", "vertex", "--project", "my-proj", "--region", "europe-west4", "--dry-run"]
    given = ["--set", "deploy_endpoint=emotion", "--set", "deploy_traffic_percent=10"]
    assert main(["submit", *where, *given]) == 0
    parameters = json.loads(capsys.readouterr().out)["request"]["parameters"]
    assert (parameters["deploy_endpoint"], parameters["deploy_traffic_percent"]) == ("emotion", 10)
    assert main(["submit", *where, "--set", "deploy_traffic_percent=0"]) == 2
    assert "--set deploy_traffic_percent: deploy_traffic_percent: expected a whole number from 1 to 100" in (
        capsys.readouterr().err
    )
    assert main(["submit", "--env", "kind", "--set", "deploy_endpoint=emotion", "--dry-run"]) == 2
    assert "deploy_endpoint: a parameter of Vertex AI runs only" in capsys.readouterr().err


def test_the_scratch_arm_registers_with_the_serving_image_the_others_with_their_own(tmp_path: Any) -> None:
    import yaml
    from spec_tasks import pipeline_tasks

    from pipelines.images import source_tag

    path = tmp_path / "pipeline.yaml"
    where = ["--project", "my-proj", "--region", "europe-west4", "--arms", "scratch,automl,transformer"]
    assert main(["compile", "--env", "vertex", *where, "--output", str(path)]) == 0
    tasks = pipeline_tasks(yaml.safe_load(path.read_text(encoding="utf-8")))
    registry = f"europe-west4-docker.pkg.dev/my-proj/emotion/emotion-pipeline-{{}}:{source_tag()}"
    for arm, image in (("scratch", "serving"), ("automl", "automl"), ("transformer", "transformer")):
        given = tasks[f"predict-{arm}"]["inputs"]["parameters"]["image"]["runtimeValue"]["constant"]
        assert given == registry.format(image), arm  # recorded in the bundle; register uploads the version with it
    assert main(["compile", "--image", "REG/emotion:1", "--output", str(path)]) == 0  # one image: it serves all
    tasks = pipeline_tasks(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert tasks["predict-scratch"]["inputs"]["parameters"]["image"]["runtimeValue"]["constant"] == "REG/emotion:1"
    assert main(["compile", "--image", "REG/emotion:1", "--serving-image", "REG/serving:1", "--output", str(path)]) == 0
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    tasks = pipeline_tasks(spec)
    assert tasks["predict-scratch"]["inputs"]["parameters"]["image"]["runtimeValue"]["constant"] == "REG/serving:1"
    assert spec["deploymentSpec"]["executors"]["exec-predict-scratch"]["container"]["image"] == "REG/emotion:1"


def test_the_pipelines_deploy_step_deploys_the_promoted_version(
    vertex: FakeEndpoints, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import inspect
    from types import SimpleNamespace

    from components.kfp_components import deploy
    from components.registry.endpoints import DeployOptions

    assert inspect.signature(deploy).parameters["traffic_percent"].default == DeployOptions().traffic_percent
    record = tmp_path / "registry_record.json"
    record.write_text(
        json.dumps({"registry": REGISTRY, "model_name": "emotion-demo", "version": "2", "model": "automl"})
    )
    assert deploy(SimpleNamespace(path=str(record)), "emotion", 100) == "emotion-demo/2 -> endpoint emotion (100 %)"
    assert vertex.shares("emotion") == {"2": 100}
    assert '"call": "Endpoint.deploy"' in capsys.readouterr().out
