"""Task presets: which files a task reads and how its data is cleaned, as small YAML files.

A task file (``pipelines/config/tasks/<name>.yaml`` for the shipped ones, any file for ``--config``)::

    task: emotion6                      # name recorded in summary.json
    description: ...                    # optional
    data_root: ../../data               # optional; relative to the task file; --data-root wins
    train: [dair_ai_emotion/train.txt]  # one or more files
    test: dair_ai_emotion/val.txt       # empty: a stratified, seeded split of the training rows
    parameters: {leakage: drop_train}   # data parameters of the pipeline (see DATA_PARAMETERS)

Relative file names are resolved against the data root (``--data-root``, else the file's ``data_root``, else
:data:`DEFAULT_DATA_ROOT`, relative to the current folder); absolute paths and URIs (``gs://…``) are used as
they are. No machine path is written in a preset. Precedence, weakest first: preset, ``--config`` file,
command-line options (``--train``, ``--test``, ``--text-column`` …, ``--label-map``, ``--set KEY=VALUE``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TASKS_DIR = Path(__file__).parent / "config" / "tasks"
DEFAULT_DATA_ROOT = "../shared/data"
DEFAULT_TASK = "demo"
CUSTOM_TASK = "custom"

DATA_PARAMETERS: dict[str, type] = {
    # ingest
    "text_column": str,
    "label_column": str,
    "encoding": str,
    "test_size": float,
    "keep_extra_columns": bool,
    "max_line_chars": int,
    # clean
    "lowercase": bool,
    "drop_duplicates": bool,
    "unescape_html": bool,
    "fix_mojibake": bool,
    "url_token": str,
    "mention_token": str,
    "label_map": dict,
    "conflict_policy": str,
    "min_class_count": int,
    "small_classes": str,
    "unseen_test_labels": str,
    "leakage": str,
}
"""Pipeline parameters a task file or ``--set`` may give, with their types."""

_TOP_KEYS = {"task", "description", "data_root", "train", "test", "parameters"}
_CLEANING_KEYS = (
    "unescape_html", "fix_mojibake", "url_token", "mention_token", "lowercase", "label_map", "conflict_policy",
    "drop_duplicates", "min_class_count", "small_classes", "unseen_test_labels", "leakage",
)  # fmt: skip


class TaskError(ValueError):
    """A task name, task file or data parameter that cannot work, named in the message."""


@dataclass(frozen=True)
class Task:
    """One task: its files (relative to a data root) and data parameters.

    Attributes:
        name: Name recorded in the summary.
        train: Training files.
        test: Held-out file; empty for a stratified split.
        parameters: Data parameters (keys of :data:`DATA_PARAMETERS`).
        description: One line for people.
        data_root: Root the file names are relative to, from the task file (absolute), if it names one.
        origin: The task file.
    """

    name: str
    train: tuple[str, ...]
    test: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    data_root: str | None = None
    origin: str = ""

    def pipeline_parameters(self, data_root: str | None = None) -> dict[str, Any]:
        """``task``, ``train_uris``, ``test_uri`` and the data parameters, file names resolved against the root."""
        root = data_root or self.data_root or DEFAULT_DATA_ROOT
        return {
            "task": self.name,
            "train_uris": [resolve_uri(uri, root) for uri in self.train],
            "test_uri": resolve_uri(self.test, root) if self.test else "",
            **self.parameters,
        }


def resolve_uri(uri: str, data_root: str) -> str:
    """Joins a relative file name to the data root; absolute paths and URIs (``scheme://``) are kept."""
    if "://" in uri or os.path.isabs(uri):
        return uri
    if "://" in data_root:
        return f"{data_root.rstrip('/')}/{uri}"
    return str(Path(data_root) / uri)


def shipped_tasks() -> list[str]:
    """Names of the task presets shipped with the package."""
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


def load_task(name: str) -> Task:
    """Loads a shipped preset by name."""
    path = TASKS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise TaskError(f"unknown task {name!r}; shipped tasks are {shipped_tasks()}")
    return load_task_file(path)


def load_task_file(path: str | os.PathLike[str]) -> Task:
    """Loads and validates a task file; a relative ``data_root`` in it is taken relative to the file."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"{path}: task file not found" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise TaskError(f"{path}: not a valid YAML task file ({err})") from err
    return parse_task(content, str(path), path.parent)


def parse_task(content: Any, origin: str, base_dir: Path | None = None) -> Task:
    """Validates the content of a task file (see the module docstring) and returns the :class:`Task`."""
    if not isinstance(content, Mapping):
        raise TaskError(f"{origin}: a task file is a mapping with keys {sorted(_TOP_KEYS)}")
    unknown = set(content) - _TOP_KEYS
    if unknown:
        raise TaskError(f"{origin}: unknown keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    train = content.get("train") or []
    train = [train] if isinstance(train, str) else train
    if not isinstance(train, list) or not train or not all(isinstance(u, str) and u.strip() for u in train):
        raise TaskError(f"{origin}: 'train' must name one or more files, got {content.get('train')!r}")
    test = content.get("test") or ""
    if not isinstance(test, str):
        raise TaskError(f"{origin}: 'test' must be one file name or empty, got {test!r}")
    data_root = content.get("data_root")
    if data_root is not None:
        if not isinstance(data_root, str):
            raise TaskError(f"{origin}: 'data_root' must be a folder or URI, got {data_root!r}")
        if "://" not in data_root and base_dir is not None:
            data_root = str((base_dir / data_root).resolve())
    parameters = content.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise TaskError(f"{origin}: 'parameters' must be a mapping of data parameters, got {parameters!r}")
    return Task(
        name=str(content.get("task") or (Path(origin).stem if origin else CUSTOM_TASK)),
        train=tuple(train),
        test=test,
        parameters=coerce_parameters(parameters, origin),
        description=str(content.get("description") or ""),
        data_root=data_root,
        origin=origin,
    )


def coerce_parameters(parameters: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Checks names and types of data parameters (``origin`` names where they came from in errors)."""
    out: dict[str, Any] = {}
    for name, value in parameters.items():
        kind = DATA_PARAMETERS.get(name)
        if kind is None:
            raise TaskError(f"{origin}: unknown data parameter {name!r}; known: {sorted(DATA_PARAMETERS)}")
        out[name] = _coerce(name, value, kind, origin)
    return out


def _coerce(name: str, value: Any, kind: type, origin: str) -> Any:
    wrong = TaskError(f"{origin}: parameter {name} must be {kind.__name__}, got {value!r}")
    if kind is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return float(value)
    if kind is dict:
        value = {} if value is None else value
        if not isinstance(value, Mapping) or not all(isinstance(v, str | int | float) for v in value.values()):
            raise TaskError(f"{origin}: parameter {name} must be a mapping like {{happy: joy}}, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        raise wrong
    return str(value)


def parse_assignment(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--set``; the value is read as YAML (``true``, ``0.25``, ``{happy: joy}``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise TaskError(f"--set {text!r}: expected KEY=VALUE, e.g. --set leakage=keep")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise TaskError(f"--set {text!r}: value is not valid YAML ({err})") from err
    return key.strip(), value


def parse_label_map(text: str) -> dict[str, str]:
    """``happy=joy,happiness=joy`` of ``--label-map``."""
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    bad = [old + sep + new for old, sep, new in pairs if not sep or not old.strip() or not new.strip()]
    if not pairs or bad:
        raise TaskError(
            f"--label-map {text!r}: expected OLD=NEW pairs separated by commas, e.g. happy=joy,happiness=joy"
        )
    return {old.strip(): new.strip() for old, _, new in pairs}


def check_parameters(parameters: Mapping[str, Any]) -> None:
    """Refuses parameter values the steps would refuse, before a run starts."""
    from components.shared.errors import ParameterError
    from components.steps.clean import CleaningOptions

    test_size = parameters.get("test_size", 0.2)
    if not parameters.get("test_uri") and not 0 < test_size < 1:
        raise TaskError(f"test_size must be between 0 and 1, got {test_size}")
    if parameters.get("max_line_chars", 1) < 1:
        raise TaskError(f"max_line_chars must be >= 1, got {parameters['max_line_chars']}")
    try:
        CleaningOptions(**{k: parameters[k] for k in _CLEANING_KEYS if k in parameters})
    except ParameterError as err:
        raise TaskError(str(err)) from err


def select_task(
    task: str = "",
    config: str | os.PathLike[str] | None = None,
    train: Sequence[str] = (),
    test: str = "",
    data_root: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Pipeline parameters (``task``, ``train_uris``, ``test_uri`` and data parameters) of a run.

    Args:
        task: A shipped preset, or (with ``train`` or ``config``) just the name recorded in the summary.
        config: A task file; its values replace a preset's.
        train: Training files; replace the preset's (not resolved against the data root).
        test: Held-out file; replaces the preset's.
        data_root: Folder or URI the preset's relative file names are resolved against.
        overrides: Data parameters that win over the preset's (checked like a task file's).

    Returns:
        The parameters, checked.

    Raises:
        TaskError: Unknown task, invalid task file or parameter.
    """
    if config:
        preset: Task | None = load_task_file(config)
    elif task in shipped_tasks():
        preset = load_task(task)
    elif train:
        preset = None
    elif task:
        raise TaskError(
            f"unknown task {task!r}; shipped tasks are {shipped_tasks()}; "
            "for your own data give --train (and --test) or --config FILE"
        )
    else:
        preset = load_task(DEFAULT_TASK)
    parameters = preset.pipeline_parameters(data_root) if preset else {"train_uris": [], "test_uri": ""}
    if train:
        parameters["train_uris"] = list(train)
    if test:
        parameters["test_uri"] = test
    parameters |= coerce_parameters(overrides or {}, "command line")
    parameters["task"] = task or (preset.name if preset else CUSTOM_TASK)
    check_parameters(parameters)
    return parameters
