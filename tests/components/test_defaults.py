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
from pipelines.parameters import STEP_OPTIONS, pipeline_parameters


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
    signature = inspect.signature(getattr(kfp_components, step))
    options = _option_defaults(step)
    shared = [name for name in signature.parameters if name in options]
    assert shared, f"{step}: no wrapper parameter is one of its options"
    for name in shared:
        default = signature.parameters[name].default
        assert default is not inspect.Parameter.empty, f"{step}.{name}: the wrapper has no default"
        assert _plain(default) == options[name], f"{step}.{name}: wrapper {default!r} != options {options[name]!r}"


def test_pipeline_defaults_are_the_options_defaults() -> None:
    parameters = pipeline_parameters()
    fed = [p for p in parameters.values() if p.options]
    assert len(fed) >= 30
    for parameter in fed:
        for step, field in parameter.options:
            expected = _option_defaults(step)[field]
            assert _plain(parameter.default) == expected, f"{parameter.name} → {step}.{field}"


def test_every_wired_component_input_has_the_options_default() -> None:
    """The compiled components' own input defaults (what a user reusing one component sees) match too."""
    from components.kfp_components import build_components

    steps = build_components()
    for step in STEP_OPTIONS:
        inputs = getattr(steps, step).component_spec.inputs
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
            assert name in pipeline_parameters(), name
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
