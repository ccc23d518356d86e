"""Contracts that keep the layout readable: import layers, no import cycle, short functions, thin wrappers."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 60  # body lines, docstring excluded (KFP shows wrappers' docstrings in the UI)
MAX_WRAPPER_LINES = 30


def _body_lines(node: ast.FunctionDef) -> int:
    """Lines of the function's body without its docstring and without the functions defined inside it."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return 0
    nested = sum(
        inner.end_lineno - (inner.decorator_list[0].lineno if inner.decorator_list else inner.lineno) + 1
        for inner in body
        if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef)
    )
    return body[-1].end_lineno - body[0].lineno + 1 - nested


def _functions(package: str) -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node))
    return found


def test_import_contracts_hold() -> None:
    """import-linter's contracts in pyproject.toml: steps never import kfp or each other, and so on."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "lint-imports is installed with the dev extra"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


def test_no_import_cycle() -> None:
    import grimp

    graph = grimp.build_graph("components", "pipelines")
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} <-> {imported}")
    assert not cycles, cycles


@pytest.mark.parametrize("package", ["components", "pipelines"])
def test_no_function_is_longer_than_a_screen(package: str) -> None:
    long = [
        f"{name} ({_body_lines(node)} lines)"
        for name, node in _functions(package)
        if _body_lines(node) > MAX_FUNCTION_LINES and not name.endswith(" emotion_pipeline")
    ]
    assert not long, long


def test_the_pipeline_function_is_wiring_within_a_screen_beside_its_parameter_list() -> None:
    (node,) = [n for name, n in _functions("pipelines") if name.endswith(" emotion_pipeline")]
    assert _body_lines(node) <= MAX_FUNCTION_LINES


def test_kfp_wrappers_are_thin() -> None:
    """Every step's wrapper: the shared ones and the generic predict (components/kfp_components.py) and each
    arm's own (components/arms/<arm>/component.py)."""
    from components.arms import ARMS
    from components.kfp_components import SHARED_STEPS, predict

    where = {func.__name__: "components/kfp_components.py" for func in [*SHARED_STEPS.values(), predict]}
    for arm in ARMS.values():
        where |= {step: arm.component_module.replace(".", "/") + ".py" for step in arm.steps}
    functions = _functions("components")
    for step, path in where.items():
        (node,) = [n for name, n in functions if name.startswith(f"{path}:") and name.endswith(f" {step}")]
        assert _body_lines(node) <= MAX_WRAPPER_LINES, (step, _body_lines(node))


def test_the_formatter_shapes_every_line() -> None:
    """No formatter escape (the fmt-skip comment): calls are shaped (options built from their parameters, phases
    split) so that ruff's formatting stays readable, instead of lines the formatter is told to leave alone."""
    escaped = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("components", "pipelines", "tests", "benchmarks", "scripts", "docker")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.rstrip().endswith("# fmt: " + "skip")
    ]
    assert not escaped, escaped
