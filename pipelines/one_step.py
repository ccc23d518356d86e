"""What the one-task pipelines (``emotion-batch-predict``, ``emotion-monitor``) share: the task's settings, the
pipeline's docstring from the component's input descriptions, and the parameters read back from its spec."""

import inspect
from collections.abc import Callable
from typing import Any

from kfp import dsl

from pipelines.env_config import PipelineSettings


def configure(task: dsl.PipelineTask, display_name: str, settings: PipelineSettings | None) -> dsl.PipelineTask:
    """Names the task, never caches it (the champion and the input file change under their names) and gives it
    the environment's ``evaluate`` resources (the step that loads the same models)."""
    task.set_display_name(display_name)
    task.set_caching_options(enable_caching=False)
    if settings is not None:
        step = settings.steps["evaluate"]
        task.set_cpu_request(step.cpu_request).set_cpu_limit(step.cpu_limit)
        task.set_memory_request(step.memory_request).set_memory_limit(step.memory_limit)
    return task


def one_step_pipeline(
    func: Callable[..., Any], component: Any, *, name: str, display_name: str, description: str
) -> dsl.graph_component.GraphComponent:
    """The pipeline of ``func``, whose parameters are the component's inputs under the same names: its docstring
    is built from the component's input descriptions, so the UIs describe every parameter."""
    described = {key: spec.description for key, spec in component.component_spec.inputs.items()}
    lines = [f"    {key}: {described[key]}" for key in inspect.signature(func).parameters]
    returned = component.component_spec.outputs["Output"].description
    func.__doc__ = "\n".join([description, "", "Args:", *lines, "", "Returns:", f"    Output: {returned}", ""])
    return dsl.pipeline(name=name, display_name=display_name, description=description)(func)


def parameters_of(pipeline: dsl.graph_component.GraphComponent) -> dict[str, Any]:
    """Name → default (None: required) of a pipeline's parameters, read from its spec."""
    return {name: spec.default for name, spec in pipeline.component_spec.inputs.items()}
