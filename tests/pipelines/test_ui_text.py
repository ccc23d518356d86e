"""What a Vertex AI / KFP user reads in the UI, checked on the compiled YAML both services receive: a display name
for the pipeline and every task, a description for every parameter, input and output, per-step Metrics, and the
winner as output parameters."""

from __future__ import annotations

import dataclasses

import docstring_parser
import pytest
import yaml

from pipelines.cli.main import main
from pipelines.emotion_pipeline import (
    DISPLAY_NAMES,
    OWN_PARAMETERS,
    PIPELINE_DISPLAY_NAME,
    PROFILED_STEPS,
    option_source,
    parameter_description,
)
from pipelines.parameters import STEP_OPTIONS, pipeline_parameters


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("ui") / "pipeline.yaml"
    assert (
        main(
            ["compile", "--env", "vertex", "--project", "my-project", "--region", "europe-west4", "--output", str(path)]
        )
        == 0
    )
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _definitions(spec: dict) -> list[tuple[str, str, dict]]:
    """(where, name, definition) of every parameter and artifact the pipeline and its components declare."""
    found = []
    owners = {"pipeline": spec["root"], **spec["components"]}
    for owner, component in owners.items():
        for side in ("inputDefinitions", "outputDefinitions"):
            for kind in ("parameters", "artifacts"):
                for name, definition in component.get(side, {}).get(kind, {}).items():
                    found.append((f"{owner}.{side}.{kind}", name, definition))
    return found


def test_every_parameter_input_and_output_has_a_description(spec: dict) -> None:
    definitions = _definitions(spec)
    assert len(definitions) > 120  # 35+ pipeline parameters, every component's inputs and outputs
    missing = [
        f"{where}.{name}"
        for where, name, d in definitions
        if not str(d.get("description", "")).strip() and not name.startswith("pipelinechannel--")
    ]  # pipelinechannel--…: the inputs KFP itself makes for the dsl.If sub-DAG (copies of described outputs)
    assert not missing, missing
    texts = [(w, n, d.get("description", "")) for w, n, d in definitions]
    undecorated = [f"{w}.{n}" for w, n, text in texts if "``" in text or ":data:`" in text]
    assert not undecorated, undecorated  # reST markup is unwrapped for the UIs


def test_the_pipeline_and_every_task_have_display_names(spec: dict) -> None:
    assert spec["pipelineInfo"]["displayName"] == PIPELINE_DISPLAY_NAME
    assert spec["pipelineInfo"]["name"] == "emotion-pipeline" and spec["pipelineInfo"]["description"]
    tasks = spec["root"]["dag"]["tasks"]
    named = {task["taskInfo"]["name"] for task in tasks.values()}
    assert named == (
        {*DISPLAY_NAMES.values(), "challenger-beats-champion"} - {"Promote to champion"}
    )  # promote: inside the gate
    for task_id, task in tasks.items():
        if task_id.startswith("condition-"):  # the dsl.If gate: named by its condition
            continue
        assert task["taskInfo"]["name"] == DISPLAY_NAMES[task_id.replace("-", "_")], task_id


def test_parameter_descriptions_are_the_options_own_texts(spec: dict) -> None:
    """One source: the options dataclasses' Attributes: (a few pipeline-level parameters have their own)."""
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    attributes = {
        a.arg_name: a.description for a in docstring_parser.parse(STEP_OPTIONS["train_scratch"].__doc__).params
    }
    assert parameters["scratch_workers"]["description"] == " ".join(attributes["workers"].split())
    assert parameters["train_uris"]["description"] == OWN_PARAMETERS["train_uris"]
    for name, definition in parameters.items():
        assert definition["description"] == parameter_description(name)


def test_the_naming_rule_of_descriptions_agrees_with_the_wiring() -> None:
    """option_source names the option a parameter describes; the pipeline's wiring must feed exactly that one."""
    for parameter in pipeline_parameters().values():
        source = option_source(parameter.name)
        if parameter.name in OWN_PARAMETERS:
            continue
        assert source is not None, parameter.name
        options_class, field = source
        fed = {(STEP_OPTIONS[step], name) for step, name in parameter.options}
        assert (options_class, field) in fed, (parameter.name, source, parameter.options)
        assert field in {f.name for f in dataclasses.fields(options_class)}


def test_every_profiled_step_reports_its_own_time_and_memory_as_metrics(spec: dict) -> None:
    for step in PROFILED_STEPS:
        outputs = spec["components"][f"comp-{step.replace('_', '-')}"]["outputDefinitions"]["artifacts"]
        assert outputs["step_metrics"]["artifactType"]["schemaTitle"] == "system.Metrics", step


def test_the_winner_is_an_output_parameter_of_evaluate(spec: dict) -> None:
    outputs = spec["components"]["comp-evaluate"]["outputDefinitions"]["parameters"]
    assert {name: o["parameterType"] for name, o in outputs.items()} == {
        "winner": "STRING",
        "score_difference": "NUMBER_DOUBLE",
    }


def test_the_last_step_gets_the_experiment_and_the_job_name(spec: dict) -> None:
    task = spec["root"]["dag"]["tasks"]["log-experiment"]
    parameters = task["inputs"]["parameters"]
    assert parameters["experiment"] == {"componentInputParameter": "experiment"}
    assert parameters["pipeline_job"]["runtimeValue"]["constant"] == "{{$.pipeline_job_name}}"
    assert task["dependentTasks"] == ["profile"]
    assert spec["root"]["inputDefinitions"]["parameters"]["experiment"]["defaultValue"] == ""


def test_a_parameter_without_a_description_fails_the_build() -> None:
    with pytest.raises(ValueError, match="no description"):
        parameter_description("colour")


def test_the_batch_prediction_pipeline_is_described_and_named_too(tmp_path) -> None:
    path = tmp_path / "batch.yaml"
    assert main(["compile", "--pipeline", "batch-predict", "--output", str(path)]) == 0
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [f"{where}.{name}" for where, name, d in _definitions(spec) if not d.get("description")]
    assert not missing, missing
    assert spec["pipelineInfo"]["displayName"] == "Emotion classifier: batch prediction"
    (task,) = spec["root"]["dag"]["tasks"].values()
    assert task["taskInfo"]["name"] == "Predict a file with a registered model"
