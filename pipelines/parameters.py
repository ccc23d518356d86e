"""The pipeline's run parameters: what they are, their types and defaults, and the checks they must pass.

Nothing here is written twice. Each step's options and defaults live in its options dataclass
(``components/steps``); the pipeline's signature reads them; which pipeline parameter feeds which option is the
pipeline's own wiring, read here from the built pipeline's spec. So a run's parameters are checked by the very
dataclasses the steps will build, before the first step starts, and a message names the pipeline parameter.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.arms import ARMS, DEFAULT_ARMS, select_arms
from components.checks.errors import ParameterError
from components.steps.clean import CleaningOptions
from components.steps.evaluate import EvaluateOptions
from components.steps.ingest import IngestOptions
from components.steps.predict import PredictOptions
from components.steps.register import RegisterOptions


def step_options(arms: tuple[str, ...] = tuple(ARMS), target: str = "local") -> dict[str, type]:
    """Each step's options dataclass (the component's input names are its field names): the shared steps', every
    arm's steps' (its own, and its predict step's) and, on Vertex AI, the deploy step's."""
    found: dict[str, type] = {
        "ingest": IngestOptions,
        "clean": CleaningOptions,
        "evaluate": EvaluateOptions,
        "register": RegisterOptions,
    }
    for arm in select_arms(arms):
        found |= {step: arm.options_class(step) for step in arm.steps} | {arm.predict_step: PredictOptions}
    if target == "vertex":
        from components.registry.endpoints import DeployOptions

        found["deploy"] = DeployOptions
    return found


_TYPES = {"String": str, "Integer": int, "Float": float, "Double": float, "Boolean": bool, "List": list, "Dict": dict}


@dataclass(frozen=True)
class PipelineParameter:
    """One parameter of the pipeline.

    Attributes:
        name: The pipeline parameter's name (``scratch_budget_seconds``).
        kind: Its Python type (str, int, float, bool, list or dict).
        default: Its default; None when it has none (``train_uris``).
        options: The ``(step, option field)`` pairs it feeds (``("train_scratch", "budget_seconds")``).
    """

    name: str
    kind: type
    default: Any
    options: tuple[tuple[str, str], ...]


@functools.cache
def pipeline_parameters(arms: tuple[str, ...] = DEFAULT_ARMS, target: str = "local") -> dict[str, PipelineParameter]:
    """Every parameter of the pipeline with these arms, read from the built pipeline's spec (signature, wiring).

    Args:
        arms: The run's arms, in order.
        target: ``local``, ``kfp`` or ``vertex``: a Vertex AI build also has the deploy step's parameters
            (``VERTEX_PARAMETERS`` of :mod:`pipelines.emotion_pipeline`, after the others).

    Returns:
        Parameter name → :class:`PipelineParameter`, in the signature's order.
    """
    from google.protobuf.json_format import MessageToDict

    from pipelines.emotion_pipeline import build_pipeline

    pipeline = build_pipeline(arms)
    spec = MessageToDict(pipeline.pipeline_spec, preserving_proto_field_name=True)
    options = step_options(arms)
    feeds: dict[str, list[tuple[str, str]]] = {}
    for task_name, task in sorted(spec["root"]["dag"]["tasks"].items()):
        step = task_name.replace("-", "_")
        fields = {f.name for f in dataclasses.fields(options[step])} if step in options else set()
        for field, value in task.get("inputs", {}).get("parameters", {}).items():
            if field in fields and "component_input_parameter" in value:
                feeds.setdefault(value["component_input_parameter"], []).append((step, field))
    found = {
        name: PipelineParameter(name, _TYPES[spec.type], spec.default, tuple(feeds.get(name, ())))
        for name, spec in pipeline.component_spec.inputs.items()
    }
    return found | (_vertex_parameters(arms) if target == "vertex" else {})


def _vertex_parameters(arms: tuple[str, ...]) -> dict[str, PipelineParameter]:
    """The parameters only a Vertex AI build has: type and default from its signature, the option each feeds."""
    from pipelines.emotion_pipeline import VERTEX_PARAMETERS, pipeline_signature

    signature, _ = pipeline_signature(select_arms(arms), output=False, target="vertex")
    return {
        name: PipelineParameter(
            name,
            signature.parameters[name].annotation,
            signature.parameters[name].default,
            (("deploy", field),) if options is not None else (),
        )
        for name, (options, field) in VERTEX_PARAMETERS.items()
    }


def coerce(name: str, value: Any, arms: tuple[str, ...] = DEFAULT_ARMS, target: str = "local") -> Any:
    """A value for pipeline parameter ``name``, converted to its type where that loses nothing (``1`` → ``1.0``).

    Raises:
        ParameterError: Unknown parameter (or one of an arm the run does not have), or a value of the wrong type.
    """
    parameters = pipeline_parameters(arms, target)
    if name not in parameters and name in _vertex_parameters(arms):
        raise ParameterError(
            f"{name}: a parameter of Vertex AI runs only (the deploy step); this run's target is {target}"
        )
    if name not in parameters:
        owner = next((a.name for a in ARMS.values() if name.startswith(a.prefix) and a.name not in arms), None)
        if owner:
            raise ParameterError(f"{name}: a parameter of arm {owner}, which this run does not have (--arms)")
        raise ParameterError(f"{name}: the pipeline has no such parameter; it has {sorted(parameters)}")
    kind = parameters[name].kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list and isinstance(value, tuple):
        return list(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ParameterError(f"{name} must be {kind.__name__}, got {value!r}")
    return value


def check_run_parameters(
    values: Mapping[str, Any], arms: tuple[str, ...] = DEFAULT_ARMS, target: str = "local"
) -> None:
    """Builds every step's options from the run's parameters (defaults where not given), as the steps will.

    Raises:
        ParameterError: A value a step would refuse; the message names the pipeline parameter.
    """
    parameters = pipeline_parameters(arms, target)
    for name in values:
        coerce(name, values[name], arms, target)
    if values.get("deploy_endpoint"):  # a Vertex AI run's (coerce refused it elsewhere)
        from components.registry.endpoints import check_endpoint_name

        try:
            check_endpoint_name(values["deploy_endpoint"])
        except ParameterError as err:
            raise ParameterError(f"deploy_endpoint: {err}") from None
    value = {name: values.get(name, parameters[name].default) for name in ("multi_label", "conflict_policy")}
    if value["multi_label"] == "explode" and value["conflict_policy"] != "keep":
        raise ParameterError(
            f"multi_label: explode gives a text one row per label, which conflict_policy={value['conflict_policy']} "
            "would treat as conflicting labels and drop again: set conflict_policy=keep (--set conflict_policy=keep)"
        )
    for step, options_class in step_options(arms, target).items():
        fields: dict[str, Any] = {}
        names: dict[str, str] = {}
        for parameter in parameters.values():
            for fed_step, field in parameter.options:
                if fed_step == step:
                    fields[field] = values.get(parameter.name, parameter.default)
                    names[field] = parameter.name
        try:
            options_class(**fields)
        except ParameterError as err:
            message = str(err)
            field = next((f for f in names if message.startswith(f + " ") or message.startswith(f + ":")), "")
            raise ParameterError(names[field] + message[len(field) :] if field else message) from err
