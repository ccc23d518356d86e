"""Reading a compiled pipeline spec: every task, wherever the DAG nests it (an exit handler, a condition)."""

from __future__ import annotations

from typing import Any


def pipeline_tasks(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Task name → task, for the root DAG's tasks and those of every control-flow group inside it.

    A cluster build (kfp, vertex) puts every task inside ``dsl.ExitHandler`` (``exit-handler-1``), and promote
    inside ``dsl.If`` (``condition-N``): their tasks are in the groups' own ``dag``.
    """
    found: dict[str, dict[str, Any]] = {}
    pending = [spec["root"]["dag"]["tasks"]]
    while pending:
        for name, task in pending.pop().items():
            component = spec["components"].get(task["componentRef"]["name"], {})
            if "dag" in component:  # a group: its tasks, not itself
                pending.append(component["dag"]["tasks"])
            else:
                found[name] = task
    return found


def group_task(spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The control-flow group task whose name starts with ``prefix`` (``condition-``), wherever it is nested."""
    pending = [spec["root"]["dag"]["tasks"]]
    while pending:
        for name, task in pending.pop().items():
            if name.startswith(prefix):
                return task
            component = spec["components"].get(task["componentRef"]["name"], {})
            if "dag" in component:
                pending.append(component["dag"]["tasks"])
    raise KeyError(prefix)
