"""What the pipeline needs to know about a model arm: one :class:`Arm` per arm, declared in its own package.

An arm is a way of building the classifier (from scratch, AutoML, a fine-tuned transformer). Everything about one
arm lives in ``components/arms/<name>/``: its options dataclass and training logic (``train.py``), its KFP
wrappers and how its steps are wired (``component.py``), and this declaration (``__init__.py``: ``ARM``). The
pipeline, the command line, the environment files and the reports read the declarations; nothing else names an
arm. Importing a declaration imports nothing heavy (no PyCaret, no torch): the options class and the stack's
modules are named as strings and imported only when needed.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The key of the image every arm without an image of its own runs in (env files: ``images.default``).
DEFAULT_IMAGE_KEY = "default"


@dataclass(frozen=True)
class Arm:
    """One arm's declaration.

    Attributes:
        name: Short name: the ``--arms`` word, the ``models.<name>`` key of ``summary.json``, the prefix of its
            pipeline parameters (``<name>_budget_minutes``) and of its steps (``train_<name>``, ``predict_<name>``).
        display_name: How reports and the UIs name it ("from scratch").
        train_title: The UI's name of its training step.
        options: Step name → ``module:Class`` of that step's options dataclass (every default and check), in
            step order; the last step trains.
        parameters: The option fields the pipeline exposes as ``<name>_<field>`` parameters, in order (each a
            field of one of its steps' options).
        image: Key of its image in an env file's ``images`` (``default``: the runtime image, shared with the
            steps every run has); an arm whose stack is large or conflicting has its own.
        serving_image: Key of the image its registered versions are served from (an env file's ``images``:
            ``serving``, the slim serving image, for an arm whose model needs only the core stack); empty: its
            ``image``. The register step uploads the version with it (Vertex AI: the serving container), so a
            Vertex AI endpoint serves it from there.
        modules: Top-level modules its stack needs beyond the core install (checked before a local run).
        install: The command that installs them (said when one is missing).
        serving_requirements: Distributions its packaged model needs, pinned in the registered model.
        step_titles: UI names of its steps other than the training step.
        resources: Step name → its settings in every environment unless the env file says otherwise (CPU and
            memory requests and limits, retries, caching, accelerator: the keys of an env file's ``steps``), for
            each of its steps and its predict step.
        component_module: The module with its KFP wrappers (one per step, named after it: ``train_<name>`` …)
            and, for an arm with steps before training, ``wire`` (the pipeline wires a one-step arm itself).
    """

    name: str
    display_name: str
    train_title: str
    options: Mapping[str, str]
    parameters: tuple[str, ...]
    image: str = DEFAULT_IMAGE_KEY
    serving_image: str = ""
    modules: tuple[str, ...] = ()
    install: str = ""
    serving_requirements: tuple[str, ...] = ()
    step_titles: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    component_module: str = ""

    @property
    def train_step(self) -> str:
        """Its training step's name (``train_<name>``)."""
        return f"train_{self.name}"

    @property
    def serving_key(self) -> str:
        """The key of the image its versions are served from (:attr:`serving_image`, else :attr:`image`)."""
        return self.serving_image or self.image

    @property
    def steps(self) -> tuple[str, ...]:
        """Its own steps in pipeline order, the training step last (``("vectorise", "train_automl")``)."""
        return tuple(self.options)

    @property
    def predict_step(self) -> str:
        """Its predict step's name (``predict_<name>``): the held-out rows, in its own image."""
        return f"predict_{self.name}"

    @property
    def all_steps(self) -> tuple[str, ...]:
        """Every step of the arm: its own steps, then its predict step."""
        return (*self.steps, self.predict_step)

    @property
    def prefix(self) -> str:
        """The prefix of its pipeline parameters."""
        return f"{self.name}_"

    def options_class(self, step: str = "") -> type:
        """Imports and returns a step's options dataclass (default: the training step's)."""
        module, _, name = self.options[step or self.train_step].partition(":")
        return getattr(importlib.import_module(module), name)

    def sources(self) -> dict[str, tuple[str, type, str]]:
        """``<name>_<field>`` → ``(step, options class, field)`` for every exposed parameter, in order."""
        classes = {step: self.options_class(step) for step in self.options}
        found = {}
        for name in self.parameters:
            step = next((s for s, c in classes.items() if name in {f.name for f in dataclasses.fields(c)}), None)
            if step is None:
                raise ValueError(f"arm {self.name}: parameter {name!r} is no field of {sorted(self.options.values())}")
            found[f"{self.prefix}{name}"] = (step, classes[step], name)
        return found

    def parameter_defaults(self) -> dict[str, Any]:
        """``<name>_<field>`` → the options dataclass's default, for every exposed field."""
        return {p: _plain(getattr(cls(), f)) for p, (_, cls, f) in self.sources().items()}

    def missing(self) -> str | None:
        """What its stack lacks in this interpreter, with the install command; None when nothing is missing."""
        absent = [m for m in self.modules if importlib.util.find_spec(m) is None]
        if not absent:
            return None
        return f"arm {self.name}: {', '.join(absent)} not installed here; install with: {self.install}"

    def field_of(self, parameter: str) -> str | None:
        """The options field a pipeline parameter of this arm feeds (``scratch_workers`` → ``workers``)."""
        name = parameter.removeprefix(self.prefix)
        return name if parameter.startswith(self.prefix) and name in self.parameters else None


def _plain(value: Any) -> Any:
    """A default as a pipeline parameter holds it (tuples as lists, mappings as dicts)."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value
