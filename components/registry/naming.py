"""The registered model's name: shared by the predict steps (which look the champion up) and ``register``."""

from __future__ import annotations

import re
from typing import Protocol


class NamedOptions(Protocol):
    """Options with a ``model_name`` (``RegisterOptions``)."""

    model_name: str


def model_name_for(task: str, options: NamedOptions | str = "") -> str:
    """The given model name (``options.model_name``, or ``options`` itself when a string), or ``emotion-<task>``:
    one model per task, so champions compare like with like."""
    given = options if isinstance(options, str) else options.model_name
    return given or "emotion-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", task).strip("-") or "custom")
