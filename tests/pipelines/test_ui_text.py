"""What a Vertex AI / KFP user reads in the UI, checked on the compiled YAML both services receive: a display name
for the pipeline and every task, a description for every parameter, input and output, per-step Metrics, and the
winner as output parameters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import docstring_parser
import pytest
import yaml
from spec_tasks import group_task, pipeline_tasks

from components.arms import ARMS, DEFAULT_ARMS, select_arms
from components.arms.spec import Arm
from pipelines.cli.main import main
from pipelines.emotion_pipeline import (
    OWN_PARAMETERS,
    PIPELINE_DISPLAY_NAME,
    display_names,
    parameter_sources,
    pipeline_signature,
)
from pipelines.parameters import pipeline_parameters, step_options

#: The arm sets compiled: the default run's and every arm's.
ARM_SETS = (DEFAULT_ARMS, tuple(ARMS))
#: The shared steps that profile themselves (fingerprint, promote and log_experiment do not).
PROFILED_SHARED_STEPS = ("ingest", "clean", "evaluate", "register")


@pytest.fixture(scope="module", params=ARM_SETS, ids=lambda arms: "+".join(arms))
def compiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple, dict]:
    arms = request.param
    path = tmp_path_factory.mktemp("ui") / "pipeline.yaml"
    where = ["--project", "my-project", "--region", "europe-west4"]
    assert main(["compile", "--env", "vertex", *where, "--arms", ",".join(arms), "--output", str(path)]) == 0
    return arms, yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spec(compiled: tuple[tuple, dict]) -> dict:
    return compiled[1]


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


def test_the_pipeline_and_every_task_have_display_names(compiled: tuple[tuple, dict]) -> None:
    arms, spec = compiled
    names = display_names(select_arms(arms))
    assert spec["pipelineInfo"]["displayName"] == PIPELINE_DISPLAY_NAME
    assert spec["pipelineInfo"]["name"] == "emotion-pipeline" and spec["pipelineInfo"]["description"]
    tasks = pipeline_tasks(spec)  # every task, in the exit handler and the gate (on Vertex AI: vertex_model too)
    named = {task["taskInfo"]["name"] for task in tasks.values()}
    assert named == set(names.values())
    for task_id, task in tasks.items():
        assert task["taskInfo"]["name"] == names[task_id.replace("-", "_")], task_id
    # the groups: the dsl.If gate is named by its condition, the exit handler by what it holds
    assert group_task(spec, "condition-")["taskInfo"]["name"] == "challenger-beats-champion"
    assert group_task(spec, "exit-handler-")["taskInfo"]["name"] == "emotion-pipeline-run"


def test_parameter_descriptions_are_the_options_own_texts(compiled: tuple[tuple, dict]) -> None:
    """One source: the options dataclasses' Attributes: (a few pipeline-level parameters have their own)."""
    arms, spec = compiled
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    attributes = {
        a.arg_name: a.description for a in docstring_parser.parse(step_options(arms)["train_scratch"].__doc__).params
    }
    assert parameters["scratch_workers"]["description"] == " ".join(attributes["workers"].split())
    assert parameters["train_uris"]["description"] == OWN_PARAMETERS["train_uris"][2]
    _, descriptions = pipeline_signature(select_arms(arms), target="vertex")  # with the deploy step's
    assert list(parameters) == sorted(descriptions)  # the compiled spec lists them sorted
    for name, definition in parameters.items():
        assert definition["description"] == descriptions[name]


@pytest.mark.parametrize("arms", ARM_SETS, ids=lambda arms: "+".join(arms))
def test_the_naming_rule_of_descriptions_agrees_with_the_wiring(arms: tuple[str, ...]) -> None:
    """parameter_sources names the option a parameter describes; the pipeline's wiring must feed exactly that one."""
    sources, options = parameter_sources(select_arms(arms)), step_options(arms)
    parameters = pipeline_parameters(arms)
    assert list(parameters) == list(sources)
    for parameter in parameters.values():
        step, options_class, field = sources[parameter.name]
        if parameter.name in OWN_PARAMETERS:
            assert options_class is None, parameter.name
            continue
        assert options_class is not None, parameter.name
        fed = {(options[fed_step], name) for fed_step, name in parameter.options}
        assert (options_class, field) in fed, (parameter.name, sources[parameter.name], parameter.options)
        assert field in {f.name for f in dataclasses.fields(options_class)}
        if step in options:  # an arm's own parameter feeds its own step
            assert (step, field) in parameter.options, parameter.name


def test_every_profiled_step_reports_its_own_time_and_memory_as_metrics(compiled: tuple[tuple, dict]) -> None:
    arms, spec = compiled
    profiled = (*PROFILED_SHARED_STEPS, *(step for arm in select_arms(arms) for step in arm.all_steps))
    for step in profiled:
        outputs = spec["components"][f"comp-{step.replace('_', '-')}"]["outputDefinitions"]["artifacts"]
        assert outputs["step_metrics"]["artifactType"]["schemaTitle"] == "system.Metrics", step


def test_the_winner_is_an_output_parameter_of_evaluate(spec: dict) -> None:
    outputs = spec["components"]["comp-evaluate"]["outputDefinitions"]["parameters"]
    assert {name: o["parameterType"] for name, o in outputs.items()} == {
        "winner": "STRING",
        "score_difference": "NUMBER_DOUBLE",
    }


def test_the_last_step_gets_the_experiment_and_the_job_name(spec: dict) -> None:
    task = pipeline_tasks(spec)["log-experiment"]
    parameters = task["inputs"]["parameters"]
    # the pipeline's parameter, through the exit handler that holds the task
    assert parameters["experiment"] == {"componentInputParameter": "pipelinechannel--experiment"}
    handler = spec["root"]["dag"]["tasks"]["exit-handler-1"]["inputs"]["parameters"]
    assert handler["pipelinechannel--experiment"] == {"componentInputParameter": "experiment"}
    assert parameters["pipeline_job"]["runtimeValue"]["constant"] == "{{$.pipeline_job_name}}"
    assert task["dependentTasks"] == ["profile"]
    assert spec["root"]["inputDefinitions"]["parameters"]["experiment"]["defaultValue"] == ""


@dataclass(frozen=True)
class UndocumentedOptions:
    """Options whose field has no Attributes: entry."""

    colour: str = "red"


def test_a_parameter_without_a_description_fails_the_build() -> None:
    arm = Arm(
        name="paint",
        display_name="paint",
        train_title="Paint",
        options={"train_paint": f"{__name__}:UndocumentedOptions"},
        parameters=("colour",),
    )
    with pytest.raises(ValueError, match=r"UndocumentedOptions\.colour: no description"):
        pipeline_signature((arm,))


def test_the_batch_prediction_pipeline_is_described_and_named_too(tmp_path) -> None:
    path = tmp_path / "batch.yaml"
    assert main(["compile", "--pipeline", "batch-predict", "--output", str(path)]) == 0
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [f"{where}.{name}" for where, name, d in _definitions(spec) if not d.get("description")]
    assert not missing, missing
    assert spec["pipelineInfo"]["displayName"] == "Emotion classifier: batch prediction"
    (task,) = spec["root"]["dag"]["tasks"].values()
    assert task["taskInfo"]["name"] == "Predict a file with a registered model"
