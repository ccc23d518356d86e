"""The model arms, in the order reports show them: each one a plug-in package (see :mod:`components.arms.spec`).

Adding an arm: a package ``components/arms/<name>/`` with ``ARM`` (its declaration), ``train.py`` (its options
and training logic) and ``component.py`` (its KFP wrappers and wiring), then one line in :data:`ARMS` below.
"""

from __future__ import annotations

from collections.abc import Iterable

from components.arms.automl import ARM as AUTOML
from components.arms.scratch import ARM as SCRATCH
from components.arms.spec import Arm
from components.arms.transformer import ARM as TRANSFORMER

#: Every arm, by name, in report order.
ARMS: dict[str, Arm] = {arm.name: arm for arm in (SCRATCH, AUTOML, TRANSFORMER)}
#: The arms a run has unless told otherwise (``--arms``): the demo stays about a minute.
DEFAULT_ARMS: tuple[str, ...] = ("scratch", "automl")


class ArmError(ValueError):
    """An unknown, repeated or missing arm, named in the message."""


def select_arms(names: Iterable[str] | str | None = None) -> tuple[Arm, ...]:
    """The arms of a run, in the order given (``"scratch,transformer"`` or a list); the default arms for None.

    Raises:
        ArmError: An unknown or repeated name, or none at all.
    """
    if names is None:
        names = DEFAULT_ARMS
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        raise ArmError(f"arms: unknown arm(s) {unknown}; the arms are {list(ARMS)}")
    if len(set(names)) != len(names):
        raise ArmError(f"arms: each arm once, got {names}")
    if not names:
        raise ArmError(f"arms: give at least one of {list(ARMS)}")
    return tuple(ARMS[n] for n in names)
