"""Model arms as plug-ins: ``--arms`` on the command line, each arm's steps on its image (an accelerator for the
transformer's training on Vertex AI), the pipeline signature generated per arm set, a local run refused when an
arm's stack is missing, and a made-up fourth arm compiled in without editing shared code.

(A one-arm local run: tests/pipelines/test_local_run.py, slow.)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kfp import compiler
from toy_arm import TOY

from components.arms import ARMS, DEFAULT_ARMS, select_arms
from components.arms.spec import DEFAULT_IMAGE_KEY
from pipelines.cli.main import main
from pipelines.emotion_pipeline import (
    LEADING_PARAMETERS,
    OWN_PARAMETERS,
    TRAILING_PARAMETERS,
    build_pipeline,
    pipeline_signature,
)
from pipelines.env_config import load_env_config
from pipelines.images import source_tag

ALL_ARMS = tuple(ARMS)


def _executor(step: str) -> str:
    return "exec-" + step.replace("_", "-")


def _compile_pipeline(tmp_path: Path, pipeline) -> dict:
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- (1) every arm on Vertex AI: its images, and the accelerator of the transformer's training only


@pytest.fixture(scope="module")
def vertex_spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("vertex") / "pipeline.yaml"
    where = ["--project", "acme-ml", "--region", "europe-west4"]
    assert main(["compile", "--env", "vertex", *where, "--arms", ",".join(ALL_ARMS), "--output", str(path)]) == 0
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_only_the_transformer_training_requests_an_accelerator_on_vertex(vertex_spec: dict) -> None:
    executors = vertex_spec["deploymentSpec"]["executors"]
    accelerated = {name: e["container"].get("resources", {}).get("accelerator") for name, e in executors.items()}
    accelerated = {name: found for name, found in accelerated.items() if found}
    assert list(accelerated) == ["exec-train-transformer"]
    found = accelerated["exec-train-transformer"]
    assert (found["type"], str(found["count"])) == ("NVIDIA_TESLA_T4", "1")
    assert (found.get("resourceType", found["type"]), str(found.get("resourceCount", found["count"]))) == (
        "NVIDIA_TESLA_T4",
        "1",
    )


def _filled(image: str) -> str:
    return image.format(project="acme-ml", region="europe-west4", source_tag=source_tag())


def test_each_arms_steps_run_on_its_env_image(vertex_spec: dict) -> None:
    env = load_env_config("vertex").images
    images = SimpleNamespace(**{key: _filled(getattr(env, key)) for key in ("default", "automl", "transformer")})
    expected = {key: getattr(images, key) for key in ("automl", "transformer")}
    assert len({images.default, *expected.values()}) == 3  # three distinct images: the check can tell them apart
    executors = vertex_spec["deploymentSpec"]["executors"]
    seen = {name: e["container"]["image"] for name, e in executors.items()}
    arm_steps = {}
    for arm in ARMS.values():
        for step in arm.all_steps:
            arm_steps[_executor(step)] = images.default if arm.image == DEFAULT_IMAGE_KEY else expected[arm.image]
    assert {"exec-vectorise", "exec-train-automl", "exec-predict-automl"} == {
        name for name, image in arm_steps.items() if image == images.automl
    }
    assert {"exec-train-transformer", "exec-predict-transformer"} == {
        name for name, image in arm_steps.items() if image == images.transformer
    }
    for name, image in seen.items():
        assert image == arm_steps.get(name, images.default), name  # the shared steps: the default image


# --- (2) --arms on the command line


@pytest.mark.parametrize("command", ["run", "compile"])
@pytest.mark.parametrize(
    ("arms", "message"),
    [("scratch,bert", "unknown arm(s) ['bert']"), ("automl,scratch,automl", "each arm once")],
    ids=["unknown", "repeated"],
)
def test_a_bad_arms_list_is_a_one_line_usage_error(
    command: str, arms: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / ("out" if command == "run" else "p.yaml")
    assert main([command, "--arms", arms, "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--arms" in err and message in err, err
    assert not output.exists() and not (output / "artifacts").exists()


def test_arms_are_taken_in_the_order_given() -> None:
    from pipelines.cli.main import build_parser
    from pipelines.cli.parameters import selected_arms

    parser = build_parser()
    assert selected_arms(parser.parse_args(["run"])) == DEFAULT_ARMS
    assert selected_arms(parser.parse_args(["run", "--arms", "transformer, scratch"])) == ("transformer", "scratch")
    assert selected_arms(parser.parse_args(["compile", "--arms", "automl"])) == ("automl",)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--set", "transformer_budget_minutes=1"], "--set transformer_budget_minutes"),
        (["--transformer-budget-minutes", "1"], "--transformer-budget-minutes"),
        (["--arms", "scratch", "--automl-budget-minutes", "1"], "--automl-budget-minutes"),
    ],
)
def test_a_parameter_of_an_arm_the_run_does_not_have_is_refused_naming_the_arm(
    argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arm = option.removeprefix("--set ").removeprefix("--").split("_")[0].split("-")[0]
    assert main(["run", "--output", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert f"{option}: " in err and f"a parameter of arm {arm}, which this run does not have (--arms)" in err, err
    assert not (tmp_path / "out" / "artifacts").exists()


def test_a_tasks_setting_for_an_absent_arm_does_not_block_a_run_without_it() -> None:
    """The demo task sets automl_budget_minutes; a run of the other arms ignores it (and checks the rest)."""
    from pipelines.cli.main import build_parser
    from pipelines.cli.parameters import build_run_parameters

    parameters = build_run_parameters(build_parser().parse_args(["run", "--arms", "scratch"]), cluster=False)
    assert parameters["task"] == "demo" and not any(name.startswith("automl_") for name in parameters)
    with_automl = build_run_parameters(build_parser().parse_args(["run"]), cluster=False)
    assert with_automl["automl_budget_minutes"] == 0.75  # the demo's own budget still applies when the arm runs


# --- (3) a local run of an arm whose stack is missing


def test_a_local_run_of_an_arm_without_its_libraries_is_refused_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert ARMS["transformer"].missing() and ARMS["scratch"].missing() is None
    out = tmp_path / "out"
    assert main(["run", "--arms", "scratch,transformer", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    # torch at least (transformers and safetensors too where the extra is not installed at all)
    assert re.search(r"arm transformer: torch(, \w+)* not installed here", err), err
    assert ARMS["transformer"].install in err and 'pip install -c constraints.txt -e ".[transformer]"' in err
    assert not (out / "artifacts").exists() and not (out / "summary.json").exists()
    # the arms whose stacks are here still run; a cluster run does not need them on this machine
    from pipelines.cli.main import build_parser
    from pipelines.cli.parameters import build_run_parameters

    assert build_run_parameters(build_parser().parse_args(["run", "--arms", "scratch"]), cluster=False)
    submit = build_parser().parse_args(["submit", "--arms", "scratch,transformer"])
    assert build_run_parameters(submit, cluster=True)["task"] == "demo"


# --- (4) the pipeline's signature, generated per arm set


def _options_default(cls: type, field: str):
    value = getattr(cls(), field)
    return list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, dict) else value


@pytest.mark.parametrize("arms", [("scratch",), ("scratch", "automl"), ALL_ARMS], ids="+".join)
def test_the_signature_has_each_arms_parameters_with_its_defaults_and_descriptions(
    arms: tuple[str, ...], tmp_path: Path
) -> None:
    chosen = select_arms(arms)
    signature, descriptions = pipeline_signature(chosen)
    names = list(signature.parameters)
    shared = [*LEADING_PARAMETERS, *TRAILING_PARAMETERS]
    arm_parameters = [f"{arm.name}_{field}" for arm in chosen for field in arm.parameters]
    assert names == [*LEADING_PARAMETERS, *arm_parameters, *TRAILING_PARAMETERS]
    for other in set(ALL_ARMS) - set(arms):  # no parameter of an arm the run does not have
        assert not [n for n in names if n.startswith(f"{other}_") and n not in shared], other
    assert "automl_dense_features" in names if "automl" in arms else "dense_features" not in names
    assert "latency_calls" in names
    for arm in chosen:
        for name, (_, cls, field) in arm.sources().items():
            assert signature.parameters[name].default == _options_default(cls, field), name
        assert {n: signature.parameters[n].default for n in arm.sources()} == arm.parameter_defaults()

    spec = _compile_pipeline(tmp_path, build_pipeline(arms))
    compiled = spec["root"]["inputDefinitions"]["parameters"]
    assert set(compiled) == set(names)
    for name, definition in compiled.items():
        assert definition.get("description", "").strip(), name
        assert definition["description"] == descriptions[name], name
        if name in OWN_PARAMETERS and OWN_PARAMETERS[name][1] is not signature.parameters[name].empty:
            assert definition["defaultValue"] == OWN_PARAMETERS[name][1], name
    for arm in chosen:
        for name, default in arm.parameter_defaults().items():
            assert compiled[name]["defaultValue"] == default, name
    steps = {t.replace("-", "_") for t in spec["root"]["dag"]["tasks"]}
    assert {step for arm in chosen for step in arm.all_steps} <= steps
    assert not {step for arm in ARMS.values() if arm.name not in arms for step in arm.all_steps} & steps


# --- (5) a fourth arm plugs in without editing shared code


def test_a_made_up_fourth_arm_compiles_into_the_pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(ARMS, TOY.name, TOY)
    assert [arm.name for arm in select_arms("scratch,toy")] == ["scratch", "toy"]
    spec = _compile_pipeline(tmp_path, build_pipeline("scratch,toy", image="REGISTRY/emotion:TAG"))
    tasks = spec["root"]["dag"]["tasks"]
    assert {"train-toy", "predict-toy", "train-scratch", "predict-scratch"} <= set(tasks)
    assert not {"vectorise", "train-automl", "predict-automl"} & set(tasks)
    assert tasks["train-toy"]["inputs"]["artifacts"]["train"]["taskOutputArtifact"]["producerTask"] == "clean"
    artifacts = tasks["predict-toy"]["inputs"]["artifacts"]
    assert artifacts["model"]["taskOutputArtifact"] == {"outputArtifactKey": "model", "producerTask": "train-toy"}
    assert artifacts["previous"]["taskOutputArtifact"] == {
        "outputArtifactKey": "arms",
        "producerTask": "predict-scratch",
    }
    assert tasks["predict-toy"]["inputs"]["parameters"]["arm"]["runtimeValue"]["constant"] == "toy"
    for step in ("evaluate", "register", "profile"):  # the last predict step's bundle: every arm
        source = tasks[step]["inputs"]["artifacts"]["arms"]["taskOutputArtifact"]
        assert source == {"outputArtifactKey": "arms", "producerTask": "predict-toy"}, step
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["toy_budget_seconds"]["defaultValue"] == 3.0
    assert parameters["toy_label"]["description"] == (
        "The one label the toy model predicts; empty: the most frequent training label."
    )
    assert tasks["train-toy"]["taskInfo"]["name"] == "Train the toy"
    assert tasks["predict-toy"]["taskInfo"]["name"] == "Predict held-out rows: toy"
    assert tasks["predict-toy"]["cachingOptions"].get("enableCache", False) is False  # scores the champion
    executors = spec["deploymentSpec"]["executors"]
    assert executors["exec-train-toy"]["container"]["image"] == "REGISTRY/emotion:TAG"  # the runtime image
    assert executors["exec-predict-toy"]["container"]["image"] == "REGISTRY/emotion:TAG"


def test_the_fourth_arms_parameters_are_checked_like_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from components.checks.errors import ParameterError
    from pipelines.parameters import coerce, pipeline_parameters

    monkeypatch.setitem(ARMS, TOY.name, TOY)
    arms = ("scratch", "toy")
    try:
        parameters = pipeline_parameters(arms)
        assert parameters["toy_label"].options == (("train_toy", "label"),)
        assert coerce("toy_budget_seconds", 2, arms) == 2.0
        with pytest.raises(ParameterError, match="toy_label must be str"):
            coerce("toy_label", 5, arms)
        with pytest.raises(ParameterError, match="a parameter of arm toy, which this run does not have"):
            coerce("toy_label", "joy", DEFAULT_ARMS)
    finally:
        pipeline_parameters.cache_clear()  # the toy arm is gone after this test


def test_the_toy_options_are_documented_dataclass_fields() -> None:
    """The plug-in contract the toy follows: every exposed parameter is a documented field of its options."""
    fields = {f.name for f in dataclasses.fields(TOY.options_class())}
    assert set(TOY.parameters) <= fields
    assert set(TOY.sources()) == {"toy_budget_seconds", "toy_label"}
