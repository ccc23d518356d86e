"""Moving the ``champion`` alias, recorded the same way whoever moves it.

The pipeline's ``promote`` task (after ``register`` found the new version better) and ``emotion-pipeline
promote`` (by hand) both call :func:`promote`: it checks the version exists, moves the alias with
:meth:`Registry.set_champion` and records on the promoted version who, when, why and which version was champion
before, as version tags (Vertex AI: labels, their values lower-cased and cut to 63 characters):

* ``promoted``: ``true`` (``register`` sets it at registration: ``false`` for a version that was not promoted);
* ``promotion``: ``automatic`` (the pipeline's champion rule) or ``manual``;
* ``promoted_by``: the pipeline run, or the user who ran the command;
* ``promoted_at``: UTC time, ISO-8601;
* ``promotion_reason``: why;
* ``previous_champion_version``: the version that had the alias (``none`` when there was none).

The whole record is also appended as a line to the version's description (Vertex AI: version description), where
the reason is kept in full.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import asdict, dataclass
from typing import Any

from components.registry.store import ModelRef, Registry, RegistryError

AUTOMATIC, MANUAL = "automatic", "manual"
NO_PREVIOUS = "none"


@dataclass(frozen=True)
class Promotion:
    """One move of the champion alias (or why it did not move).

    Attributes:
        model_name: Registered model name.
        version: The version promoted (or asked for).
        previous_champion_version: The version that had the alias before (None: none had it).
        promotion: ``automatic`` or ``manual``.
        promoted_by: The pipeline run or the user.
        promoted_at: UTC time, ISO-8601.
        reason: Why.
        registry: The registry (password redacted).
        changed: False when nothing moved (already champion, or a dry run).
        dry_run: Only said what would be done.
        message: One line saying what was (or would be) done.
    """

    model_name: str
    version: str
    previous_champion_version: str | None
    promotion: str
    promoted_by: str
    promoted_at: str
    reason: str
    registry: str
    changed: bool
    dry_run: bool
    message: str

    def tags(self) -> dict[str, str]:
        """The version tags that record the promotion (module docstring)."""
        return {
            "promoted": "true",
            "promotion": self.promotion,
            "promoted_by": self.promoted_by,
            "promoted_at": self.promoted_at,
            "promotion_reason": self.reason,
            "previous_champion_version": self.previous_champion_version or NO_PREVIOUS,
        }

    def note(self) -> str:
        """The record as one line of the version's description."""
        before = f"v{self.previous_champion_version}" if self.previous_champion_version else "none"
        return (
            f"{self.promoted_at}: champion ({self.promotion}, by {self.promoted_by}; champion before: {before}): "
            f"{self.reason}"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def current_user() -> str:
    """Who runs the command: the login name, ``unknown`` when it cannot be told (no user in a container)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def utc_now() -> str:
    """The time now, UTC, ISO-8601 to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def promote(
    registry: Registry,
    name: str,
    version: str,
    *,
    reason: str,
    promoted_by: str,
    promotion: str = MANUAL,
    dry_run: bool = False,
) -> Promotion:
    """Moves ``name``'s champion alias to ``version`` and records it on that version (module docstring).

    Args:
        registry: The registry.
        name: Registered model name.
        version: The version to promote.
        reason: Why (required: a promotion without a reason is refused).
        promoted_by: The pipeline run or the user.
        promotion: ``automatic`` or ``manual``.
        dry_run: Check and say what would be done; change nothing.

    Returns:
        The promotion; ``changed`` is False when the version is already champion (nothing is written then).

    Raises:
        RegistryError: No such model or version, or an empty reason.
    """
    if not reason.strip():
        raise RegistryError("a promotion needs a reason (--reason TEXT)")
    target = registry.resolve(ModelRef(name, "", str(version)))
    current = registry.champion(name)
    previous = current.version if current is not None else None
    fields = {
        "model_name": name,
        "version": target.version,
        "previous_champion_version": previous,
        "promotion": promotion,
        "promoted_by": promoted_by,
        "promoted_at": utc_now(),
        "reason": reason.strip(),
        "registry": registry.uri,
        "dry_run": dry_run,
    }
    alias = f"{name}@champion"
    if previous == target.version:
        message = f"{alias} is already version {target.version} ({registry.uri}): nothing to do"
        return Promotion(**fields, changed=False, message=message)
    moved = f"{alias} -> version {target.version} (before: {previous or 'none'}; {registry.uri})"
    if dry_run:
        return Promotion(**fields, changed=False, message=f"would move {moved}; --dry-run: nothing changed")
    done = Promotion(**fields, changed=True, message=moved)
    registry.set_champion(name, target.version)
    registry.set_version_tags(name, target.version, done.tags(), note=done.note())
    return done
