"""`emotion-pipeline compile` for a registry: images, per-step resources, retries, caching, pull policy.

Everything is read back from the compiled YAML, the file Vertex AI and KFP receive.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from spec_tasks import pipeline_tasks

from components.arms import ARMS, select_arms
from pipelines.cli.main import main
from pipelines.emotion_pipeline import uncached_steps
from pipelines.env_config import SHARED_STEP_NAMES, STEP_NAMES, cpu_cores, load_env_config, memory_bytes
from pipelines.images import source_tag

IMAGE = "REGISTRY/emotion:TAG"
ALL_ARMS = ",".join(ARMS)
#: The steps of a run with the default arms: the shared ones and the default arms' own and predict steps.
DEFAULT_RUN_STEPS = (*SHARED_STEP_NAMES, *(step for arm in select_arms() for step in arm.all_steps))
#: The AutoML arm's steps (they load PyCaret): on the automl image.
AUTOML_STEPS = ("vectorise", "train-automl", "predict-automl")
#: Never cached: fingerprint, register and log_experiment, every predict step (it scores the champion), and the
#: end of a cluster run (vertex_model links this run's registered version, notice reports this run's status), and
#: deploy (Vertex AI, behind promote's gate: it changes an endpoint).
UNCACHED = (
    "fingerprint",
    "register",
    "log-experiment",
    "predict-scratch",
    "predict-automl",
    "vertex-model",
    "deploy",
    "notice",
)


def _compile(tmp_path: Path, *extra: str) -> list[dict]:
    target = tmp_path / "pipeline.yaml"
    assert main(["compile", "--output", str(target), *extra]) == 0
    return list(yaml.safe_load_all(target.read_text(encoding="utf-8")))


def _executor(step: str) -> str:
    return "exec-" + step.replace("_", "-")


def test_every_executor_uses_the_image_and_carries_resources(tmp_path: Path) -> None:
    # every arm: every step of STEP_NAMES; one document: no Kubernetes platform spec by default
    (spec,) = _compile(tmp_path, "--image", IMAGE, "--arms", ALL_ARMS)
    executors = spec["deploymentSpec"]["executors"]
    assert sorted(executors) == sorted(_executor(s) for s in STEP_NAMES)
    expected = load_env_config().settings.steps
    for step in STEP_NAMES:
        container = executors[_executor(step)]["container"]
        assert container["image"] == IMAGE
        assert "kfp.dsl.executor_main" in " ".join(container["command"])
        resources = container["resources"]
        settings = expected[step]
        assert resources["resourceCpuRequest"] == settings.cpu_request
        assert resources["resourceCpuLimit"] == settings.cpu_limit
        assert resources["resourceMemoryRequest"] == settings.memory_request
        assert resources["resourceMemoryLimit"] == settings.memory_limit


def test_pycaret_and_transformer_training_get_the_most_resources(tmp_path: Path) -> None:
    (spec,) = _compile(tmp_path, "--image", IMAGE, "--arms", ALL_ARMS)
    executors = spec["deploymentSpec"]["executors"]

    def limits(step: str) -> tuple[float, int]:
        r = executors[_executor(step)]["container"]["resources"]
        return cpu_cores(r["resourceCpuLimit"]), memory_bytes(r["resourceMemoryLimit"])

    heavy = ("train_automl", "train_transformer")
    automl = limits("train_automl")
    assert limits("train_transformer") >= automl  # on the CPU in the default env: at least AutoML's
    for step in STEP_NAMES:
        if step not in heavy:
            assert limits(step)[0] < automl[0] and limits(step)[1] < automl[1], step


def test_network_steps_are_retried_and_only_fingerprint_register_log_experiment_and_predict_are_uncached(
    tmp_path: Path,
) -> None:
    (spec,) = _compile(tmp_path, "--image", IMAGE)
    tasks = pipeline_tasks(spec)  # the default environment targets Vertex AI: every task in the exit handler
    assert {"promote", "vertex-model", "notice"} <= set(tasks)
    for name in ("fingerprint", "ingest", "log-experiment"):  # they talk to storage or to Vertex AI
        assert tasks[name]["retryPolicy"] == {
            "maxRetryCount": 2,
            "backoffDuration": "15s",
            "backoffFactor": 2.0,
            "backoffMaxDuration": "60s",
        }, name
    uncached = UNCACHED  # register and the predict steps: the champion changes between runs
    assert {s.replace("_", "-") for s in uncached_steps(select_arms())} == {*UNCACHED, "promote"}
    for name, task in tasks.items():  # promote too, inside the gate's sub-DAG: never cached either
        assert task.get("cachingOptions", {}).get("enableCache", False) is (name not in {*uncached, "promote"}), name
        assert ("retryPolicy" in task) is (name in ("fingerprint", "ingest", "log-experiment")), name
    # ingest is cached on the versions of its files: the fingerprint is one of its inputs
    fingerprint = tasks["ingest"]["inputs"]["parameters"]["data_fingerprint"]["taskOutputParameter"]
    assert fingerprint == {"outputParameterKey": "Output", "producerTask": "fingerprint"}


def test_without_settings_only_the_caching_rule_applies() -> None:
    """build_pipeline() without settings (local runs): no resources or retries, and the same caching rule."""
    import tempfile

    from kfp import compiler

    from pipelines.emotion_pipeline import build_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "p.yaml"
        compiler.Compiler().compile(build_pipeline(image=IMAGE), str(target))
        spec = yaml.safe_load(target.read_text(encoding="utf-8"))
    tasks = spec["root"]["dag"]["tasks"]
    for name, task in tasks.items():
        if name != "condition-1":  # the promote gate, a sub-DAG
            uncached = UNCACHED
            assert task.get("cachingOptions", {}).get("enableCache", False) is (name not in uncached), name
    assert all("retryPolicy" not in task for task in tasks.values())
    assert all("resources" not in e["container"] for e in spec["deploymentSpec"]["executors"].values())


def test_the_automl_image_and_step_images(tmp_path: Path) -> None:
    (spec,) = _compile(
        tmp_path, "--image", IMAGE, "--automl-image", "REGISTRY/automl:TAG", "--step-image", "profile=REGISTRY/p:1"
    )
    images = {k: e["container"]["image"] for k, e in spec["deploymentSpec"]["executors"].items()}
    automl = {images.pop(f"exec-{step}") for step in AUTOML_STEPS}  # load PyCaret models
    assert automl == {"REGISTRY/automl:TAG"}
    assert images.pop("exec-profile") == "REGISTRY/p:1"
    assert set(images.values()) == {IMAGE}


def test_kind_env_sets_if_not_present_and_its_images_and_resources(tmp_path: Path) -> None:
    spec, platform = _compile(tmp_path, "--env", "kind")
    kind = load_env_config("kind")
    policies = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert {name: p["imagePullPolicy"] for name, p in policies.items()} == {
        _executor(s): "IfNotPresent" for s in DEFAULT_RUN_STEPS if s not in ("vertex_model", "deploy")
    }  # a KFP target: the exit handler's notice, but no Vertex AI lineage or deploy step
    assert "exec-notice" in policies
    executors = spec["deploymentSpec"]["executors"]
    assert kind.images.default == "emotion-pipeline:{source_tag}"  # the content tag scripts/kfp_common.sh builds
    assert executors["exec-ingest"]["container"]["image"] == f"emotion-pipeline:{source_tag()}"
    assert executors["exec-train-scratch"]["container"]["image"] == f"emotion-pipeline:{source_tag()}"
    for step in AUTOML_STEPS:
        assert executors[f"exec-{step}"]["container"]["image"] == kind.images.automl.format(source_tag=source_tag())
    assert executors["exec-train-automl"]["container"]["resources"]["resourceCpuRequest"] == "500m"


def test_kfp_sdk_reads_the_kind_template_with_its_pull_policy(tmp_path: Path) -> None:
    """The loader kfp.Client.create_run_from_pipeline_package uses (kfp 2.17.0, pinned) keeps the platform spec."""
    from kfp.client.client import _extract_pipeline_yaml

    _compile(tmp_path, "--env", "kind")
    document = _extract_pipeline_yaml(str(tmp_path / "pipeline.yaml")).to_dict()
    executors = document["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert {e["imagePullPolicy"] for e in executors.values()} == {"IfNotPresent"}
    assert document["pipeline_spec"]["pipelineInfo"]["name"] == "emotion-pipeline"


def test_image_pull_policy_flag_on_the_default_env(tmp_path: Path) -> None:
    _, platform = _compile(tmp_path, "--image", IMAGE, "--image-pull-policy", "Never")
    policies = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert {p["imagePullPolicy"] for p in policies.values()} == {"Never"}


@pytest.mark.parametrize("arms", [(), ("--arms", ALL_ARMS)], ids=["default-arms", "every-arm"])
def test_vertex_template_is_one_document_that_the_vertex_sdk_loads(tmp_path: Path, arms: tuple[str, ...]) -> None:
    from google.cloud.aiplatform.utils import yaml_utils

    documents = _compile(tmp_path, "--env", "vertex", "--project", "my-project", "--region", "europe-west4", *arms)
    assert len(documents) == 1
    loaded = yaml_utils.load_yaml(str(tmp_path / "pipeline.yaml"))  # what PipelineJob(template_path=…) calls
    images = {e["container"]["image"] for e in loaded["deploymentSpec"]["executors"].values()}
    expected = {  # by content tag, never :latest (pipelines/images.py)
        f"europe-west4-docker.pkg.dev/my-project/emotion/emotion-pipeline:{source_tag()}",
        f"europe-west4-docker.pkg.dev/my-project/emotion/emotion-pipeline-automl:{source_tag()}",
    }
    if arms:  # the transformer image only when the transformer arm runs
        expected.add(f"europe-west4-docker.pkg.dev/my-project/emotion/emotion-pipeline-transformer:{source_tag()}")
    assert images == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--step-image", "train=img"], "--step-image train=img: unknown step"),
        (["--env", "missing-env"], "missing-env.yaml: environment file not found"),
    ],
)
def test_bad_compile_options_are_one_clear_line(tmp_path: Path, argv: list[str], message: str, capsys) -> None:
    assert main(["compile", "--output", str(tmp_path / "p.yaml"), *argv]) == 2  # a usage error
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p.yaml").exists()
