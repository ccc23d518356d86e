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

A file is validated by :class:`TaskFile` and its parameters by a model built from :data:`DATA_PARAMETERS`
(pydantic; unknown keys refused); a problem is one line naming the file and the key or parameter.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    create_model,
)

from pipelines.env_config import validation_problems

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
    "data_format": str,
    "separator": str,
    "header": str,
    "multi_label": str,
    "network_timeout_seconds": float,
    "network_retries": int,
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
    "label_case": str,
    # budgets: a task may carry smaller ones (the demo does, so that it runs in about a minute)
    "automl_budget_minutes": float,
    "scratch_budget_seconds": float,
    "transformer_budget_minutes": float,
}
"""Pipeline parameters a task file may give (``--set`` gives any), with their types."""


class _Yaml12Loader(yaml.SafeLoader):
    """YAML's safe loader with YAML 1.2's booleans: only ``true``/``false`` (any case) are booleans, so ``no``,
    ``yes``, ``on`` and ``off`` stay words (``--set header=no``)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    """YAML text read with YAML 1.2's booleans (see :class:`_Yaml12Loader`)."""
    return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass: no arbitrary objects


_FLAGS = {"yes": True, "on": True, "y": True, "no": False, "off": False, "n": False}


def _flag(value: Any) -> Any:
    """``yes``/``no``/``on``/``off`` as booleans for a boolean parameter (YAML 1.1's words); others as given."""
    return _FLAGS.get(value.strip().lower(), value) if isinstance(value, str) else value


class TaskError(ValueError):
    """A task name, task file or data parameter that cannot work, named in the message."""


def _text(value: Any) -> Any:
    """A scalar as text (``--set url_token=5`` reads 5 as a number); null as empty; lists and mappings refused."""
    if value is None:
        return ""
    return value if isinstance(value, Mapping | list) else str(value)


def _label_map(value: Any) -> Any:
    """``{happy: joy}`` with scalar values as text; null as empty; anything else refused."""
    if value is None:
        return {}
    if isinstance(value, Mapping) and all(isinstance(v, str | int | float) for v in value.values()):
        return {str(k): str(v) for k, v in value.items()}
    return value


def _file_list(value: Any) -> tuple[str, ...]:
    """``train``: one file name or a non-empty list of them."""
    files = [value] if isinstance(value, str) else value
    if not isinstance(files, list | tuple) or not files or not all(isinstance(f, str) and f.strip() for f in files):
        raise ValueError(f"must name one or more files, got {value!r}")
    return tuple(files)


def _file_name(value: Any) -> str:
    """``test``: one file name, or empty (null) for a split of the training rows."""
    if not value:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"must be one file name or empty, got {value!r}")
    return value


# How a data parameter of each Python type is read: never silently converted, except scalars to text and an
# int to a float. A type missing here is validated by pydantic as it is.
_PARAMETER_TYPES: dict[type, Any] = {
    bool: Annotated[StrictBool, BeforeValidator(_flag)],
    int: StrictInt,
    float: StrictFloat,
    str: Annotated[str, BeforeValidator(_text)],
    dict: Annotated[dict[str, str], BeforeValidator(_label_map)],
}

Text = Annotated[str, BeforeValidator(_text)]


class _Model(BaseModel):
    """Immutable, and unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskFile(_Model):
    """The keys of a task file (see the module docstring); ``parameters`` are checked by :func:`coerce_parameters`."""

    task: Text = ""
    description: Text = ""
    data_root: str | None = None
    train: Annotated[tuple[str, ...], BeforeValidator(_file_list)] = Field(default=None, validate_default=True)
    test: Annotated[str, BeforeValidator(_file_name)] = ""
    parameters: Annotated[dict[str, Any], BeforeValidator(lambda value: value or {})] = Field(default_factory=dict)


class Task(_Model):
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
    parameters: dict[str, Any] = Field(default_factory=dict)
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
        content = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise TaskError(f"{path}: not a valid YAML task file ({err})") from err
    return parse_task(content, str(path), path.parent)


def parse_task(content: Any, origin: str, base_dir: Path | None = None) -> Task:
    """Validates the content of a task file (see the module docstring) and returns the :class:`Task`.

    Args:
        content: The parsed YAML.
        origin: Where it came from, for messages (and the task's name if it names none).
        base_dir: Folder a relative ``data_root`` is relative to (the task file's); None keeps it as written.

    Raises:
        TaskError: Not a mapping, an unknown key, a wrong type or an unknown or ill-typed data parameter.
    """
    if not isinstance(content, Mapping):
        raise TaskError(f"{origin}: a task file is a mapping with keys {list(TaskFile.model_fields)}")
    try:
        file = TaskFile.model_validate(content)
    except ValidationError as err:
        raise TaskError(f"{origin}: " + "; ".join(text for _, text in validation_problems(err, TaskFile))) from err
    data_root = file.data_root
    if data_root is not None and "://" not in data_root and base_dir is not None:
        data_root = str((base_dir / data_root).resolve())
    return Task(
        name=file.task or (Path(origin).stem if origin else CUSTOM_TASK),
        train=file.train,
        test=file.test,
        parameters=coerce_parameters(file.parameters, origin),
        description=file.description,
        data_root=data_root,
        origin=origin,
    )


def coerce_parameters(parameters: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Checks names and types of data parameters (``origin`` names where they came from in errors).

    Returns:
        The parameters given, as their types in :data:`DATA_PARAMETERS` (an int given for a float as a float).

    Raises:
        TaskError: An unknown parameter or a value of another type, one line with every problem.
    """
    model = _parameters_model(tuple(DATA_PARAMETERS.items()))
    try:
        return model.model_validate(dict(parameters)).model_dump(exclude_unset=True)
    except ValidationError as err:
        raise TaskError(f"{origin}: {_parameter_problems(err, parameters)}") from err


@lru_cache
def _parameters_model(spec: tuple[tuple[str, type], ...]) -> type[BaseModel]:
    """A model with one optional field per data parameter (built when first needed, for the current spec)."""
    fields: dict[str, Any] = {name: (_PARAMETER_TYPES.get(kind, kind), None) for name, kind in spec}
    return create_model("DataParameters", __config__=ConfigDict(extra="forbid", frozen=True), **fields)


def _parameter_problems(error: ValidationError, parameters: Mapping[str, Any]) -> str:
    """The problems of data parameters as one line, each naming the parameter and the value given."""
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else ""
        kind = DATA_PARAMETERS.get(name)
        value = parameters.get(name, item["input"])
        if kind is None:
            problems.append(f"unknown data parameter {name!r}; known: {sorted(DATA_PARAMETERS)}")
        elif item["type"] == "value_error":
            problems.append(f"parameter {name}: {item['ctx']['error']}")
        elif kind is dict:
            problems.append(f"parameter {name} must be a mapping like {{happy: joy}}, got {value!r}")
        else:
            problems.append(f"parameter {name} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return "; ".join(dict.fromkeys(problems))  # once per parameter (a label map can fail at several keys)


def parse_assignment(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--set``; the value is read as YAML 1.2 (``true``, ``0.25``, ``{happy: joy}``; ``no`` is a
    word, so ``--set header=no`` works verbatim)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise TaskError(f"--set {text!r}: expected KEY=VALUE, e.g. --set leakage=keep")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise TaskError(f"--set {text!r}: value is not valid YAML ({err})") from err
    if DATA_PARAMETERS.get(key.strip()) is str and value is not None and not isinstance(value, Mapping | list):
        value = raw.strip()  # a text parameter takes the word as written (0x10 stays 0x10, 1e3 stays 1e3)
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
    """Refuses parameter values the steps would refuse (their options' own checks), before a run starts."""
    from components.checks.errors import ParameterError
    from components.steps.clean import CleaningOptions
    from components.steps.ingest import IngestOptions

    for options in (IngestOptions, CleaningOptions):
        names = {option.name for option in dataclasses.fields(options)}
        try:
            options(**{key: value for key, value in parameters.items() if key in names})
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
