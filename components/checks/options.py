"""Checks shared by the steps' option dataclasses: each raises :class:`ParameterError` naming the parameter."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import fields
from typing import Any

from components.checks.errors import ParameterError


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    """Refuses a value that is not a finite number (an integer when ``integer``) within the given bounds.

    Raises:
        ParameterError: ``name`` with the value and the range it must lie in.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if integer and value != int(value):
        raise ParameterError(f"{name} must be a whole number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        right = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        bounds = (
            f"in {left}, {right}"
            if low is not None and high is not None
            else (
                f"{'>' if low_open else '>='} {low:g}" if low is not None else f"{'<' if high_open else '<='} {high:g}"
            )
        )
        raise ParameterError(f"{name} must be {bounds}, got {value!r}")


def check_choice(name: str, value: Any, allowed: Collection[str]) -> None:
    """Refuses a value that is not one of ``allowed``.

    Raises:
        ParameterError: ``name`` with the value and the allowed values.
    """
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {list(allowed)}, got {value!r}")


def from_parameters(options: type, parameters: Mapping[str, Any], **given: Any) -> Any:
    """The options dataclass built from a step's parameters of the same names (``locals()`` of a KFP wrapper), so
    a wrapper does not repeat each field; ``given`` values win (fields computed by the wrapper).

    Args:
        options: The options dataclass (e.g. ``CleaningOptions``).
        parameters: Names to values; names that are not fields of ``options`` are ignored.
        **given: Fields set explicitly.
    """
    names = {field.name for field in fields(options) if field.init}
    return options(**{name: parameters[name] for name in names & parameters.keys()} | given)
