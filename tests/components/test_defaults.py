"""Each default lives in its step's options dataclass; the KFP wrappers, the pipeline, the CLI and the benchmarks
agree with it, and this test fails when one of them drifts.

The wrappers repeat the defaults as literals because KFP ships a wrapper's source to the container, where this
package's names are not in scope (components/kfp_components.py); everything else reads the dataclasses.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from components import kfp_components
from components.arms import ARMS
from pipelines.parameters import pipeline_parameters, step_options

ALL_ARMS = tuple(ARMS)
#: Every step's options dataclass, of every arm (each arm's own steps and its predict step) and the shared steps.
STEP_OPTIONS = step_options(ALL_ARMS)


def _wrapper(step: str) -> Any:
    """The KFP wrapper function of a step: a shared one, an arm's own (its component module) or the generic
    predict wrapper of ``predict_<arm>``."""
    import importlib

    if step in kfp_components.SHARED_STEPS:
        return kfp_components.SHARED_STEPS[step]
    for arm in ARMS.values():
        if step == arm.predict_step:
            return kfp_components.predict
        if step in arm.steps:
            return getattr(importlib.import_module(arm.component_module), step)
    raise AssertionError(f"{step}: no wrapper")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _option_defaults(step: str) -> dict[str, Any]:
    return {f.name: _plain(getattr(STEP_OPTIONS[step](), f.name)) for f in dataclasses.fields(STEP_OPTIONS[step])}


@pytest.mark.parametrize("step", sorted(STEP_OPTIONS))
def test_wrapper_defaults_are_the_options_defaults(step: str) -> None:
    signature = inspect.signature(_wrapper(step))
    options = _option_defaults(step)
    shared = [name for name in signature.parameters if name in options]
    assert shared, f"{step}: no wrapper parameter is one of its options"
    for name in shared:
        default = signature.parameters[name].default
        assert default is not inspect.Parameter.empty, f"{step}.{name}: the wrapper has no default"
        assert _plain(default) == options[name], f"{step}.{name}: wrapper {default!r} != options {options[name]!r}"


def test_step_options_cover_every_arm_step() -> None:
    expected = {"ingest", "clean", "evaluate", "register"} | {s for arm in ARMS.values() for s in arm.all_steps}
    assert set(STEP_OPTIONS) == expected


@pytest.mark.parametrize("arms", [("scratch",), ("scratch", "automl"), ALL_ARMS])
def test_pipeline_defaults_are_the_options_defaults(arms: tuple[str, ...]) -> None:
    parameters = pipeline_parameters(arms)
    fed = [p for p in parameters.values() if p.options]
    assert len(fed) >= 30
    for arm in arms:  # every exposed option of every arm of the run feeds its step
        for name, (step, _, field) in ARMS[arm].sources().items():
            assert (step, field) in parameters[name].options, f"{name} does not feed {step}.{field}"
    assert ("predict_" + arms[-1], "latency_calls") in parameters["latency_calls"].options
    for parameter in fed:
        for step, field in parameter.options:
            expected = _option_defaults(step)[field]
            assert _plain(parameter.default) == expected, f"{parameter.name} → {step}.{field}"


def test_every_wired_component_input_has_the_options_default() -> None:
    """The compiled components' own input defaults (what a user reusing one component sees) match too."""
    from components.kfp_components import build_components

    steps = build_components(tuple(ARMS.values()))
    components = {**steps.shared, **{name: c for own in steps.arms.values() for name, c in own.items()}}
    assert set(STEP_OPTIONS) <= set(components)
    for step in STEP_OPTIONS:
        inputs = components[step].component_spec.inputs
        for field, expected in _option_defaults(step).items():
            if field in inputs:
                assert _plain(inputs[field].default) == expected, f"{step}.{field}"


def test_cli_options_default_to_the_pipeline() -> None:
    """Named run options carry no default of their own: not given, the pipeline's (the options') applies."""
    from pipelines.cli.main import build_parser
    from pipelines.cli.parameters import PIPELINE_OPTIONS

    parser = build_parser()
    for command in ("run", "submit"):
        sub = parser._subparsers._group_actions[0].choices[command]  # the sub-command's parser
        actions = {a.dest: a for a in sub._actions}
        for name in PIPELINE_OPTIONS:
            assert name in pipeline_parameters(ALL_ARMS), name
            assert actions[name].default is None, f"{command} --{name}"


def test_benchmark_defaults_are_the_options_defaults() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "compare.py"
    spec = importlib.util.spec_from_file_location("compare_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = module.build_parser().parse_args([])
    assert args.scratch_budget_seconds == _option_defaults("train_scratch")["budget_seconds"]
    assert args.automl_budget_minutes == _option_defaults("train_automl")["budget_minutes"]
    assert args.automl_models.split(",") == _option_defaults("train_automl")["models"]
    assert args.seed == _option_defaults("ingest")["seed"]
