"""Project and region as gcloud users expect them: flag, then environment, then environment file, then gcloud.

Order (first non-empty wins):

1. ``--project`` / ``--region``;
2. the environment: ``GOOGLE_CLOUD_PROJECT``, ``CLOUDSDK_CORE_PROJECT`` (project); ``GOOGLE_CLOUD_REGION``,
   ``CLOUDSDK_AI_REGION`` (region: gcloud's ``ai/region`` property as a variable);
3. the environment file (``--env``);
4. gcloud's active configuration: ``core/project`` and ``ai/region``, read from its file
   (``$CLOUDSDK_CONFIG`` or ``~/.config/gcloud``: ``active_config``, ``configurations/config_NAME``) without
   running gcloud, so it costs milliseconds and works where gcloud is not installed.

Values an environment file may carry as placeholders (``{project}``, ``{region}``) are filled in by
:func:`fill_placeholders` once both are known. A placeholder project (``my-project``, ``PROJECT_ID``…) left in a
user's file is refused by :func:`check_project` with the fix.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
REGION_VARIABLES = ("GOOGLE_CLOUD_REGION", "CLOUDSDK_AI_REGION")
#: Project ids that only ever stand for "yours": examples in docs and old environment files.
PLACEHOLDER_PROJECTS = frozenset({"my-project", "your-project", "project-id", "my-project-id", "example-project"})
_PLACEHOLDER = re.compile(r"^(<.*>|\$\{?\w+\}?|[A-Z_]+|.*\{project\}.*)$")
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class ProjectError(ValueError):
    """The project or region is missing or a placeholder; the message names where to set it."""


@dataclass(frozen=True)
class Resolved:
    """A value and where it came from (``--project``, ``GOOGLE_CLOUD_PROJECT``, ``env file``, ``gcloud``)."""

    value: str
    source: str


def gcloud_properties(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """gcloud's active configuration as ``{"core/project": …, "ai/region": …}`` (empty when there is none).

    Args:
        environ: The environment (``os.environ`` when None): ``CLOUDSDK_CONFIG``, ``CLOUDSDK_ACTIVE_CONFIG_NAME``.
    """
    environ = os.environ if environ is None else environ
    folder = Path(environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    name = environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME", "")
    if not name:
        try:
            name = (folder / "active_config").read_text(encoding="utf-8").strip()
        except OSError:
            name = "default"
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(folder / "configurations" / f"config_{name or 'default'}", encoding="utf-8")
    except configparser.Error:
        return {}
    return {
        f"{section}/{key}": value.strip() for section in parser.sections() for key, value in parser[section].items()
    }


def _first(
    flag: tuple[str, str], variables: tuple[str, ...], env_file: str, gcloud_key: str, environ: Mapping[str, str]
) -> Resolved:
    if flag[1]:
        return Resolved(flag[1], flag[0])
    for variable in variables:
        if environ.get(variable, "").strip():
            return Resolved(environ[variable].strip(), variable)
    if env_file:
        return Resolved(env_file, "environment file")
    value = gcloud_properties(environ).get(gcloud_key, "")
    return Resolved(value, f"gcloud config ({gcloud_key})" if value else "")


def resolve_project(flag: str, env_file: str, environ: Mapping[str, str] | None = None) -> Resolved:
    """The project: ``--project``, else the environment, else the environment file, else gcloud's ``core/project``."""
    environ = os.environ if environ is None else environ
    return _first(("--project", flag), PROJECT_VARIABLES, env_file, "core/project", environ)


def resolve_region(flag: str, env_file: str, environ: Mapping[str, str] | None = None) -> Resolved:
    """The region: ``--region``, else the environment, else the environment file, else gcloud's ``ai/region``."""
    environ = os.environ if environ is None else environ
    return _first(("--region", flag), REGION_VARIABLES, env_file, "ai/region", environ)


def check_project(project: Resolved, env_name: str = "") -> None:
    """Refuses a placeholder or malformed project id, naming where it came from and how to set the real one.

    Raises:
        ProjectError: ``my-project``, ``PROJECT_ID``, ``<project>``, ``${PROJECT}``… or not a project id.
    """
    value = project.value
    fix = "pass --project, set GOOGLE_CLOUD_PROJECT, or run 'gcloud config set project PROJECT_ID'" + (
        f", or put your project in {env_name}" if env_name else ""
    )
    if value.lower() in PLACEHOLDER_PROJECTS or _PLACEHOLDER.match(value):
        raise ProjectError(f"project {value!r} (from {project.source}) is a placeholder, not your project: {fix}")
    if not _PROJECT_ID.match(value):
        raise ProjectError(
            f"project {value!r} (from {project.source}) is not a Google Cloud project id (6-30 lower-case letters, "
            f"digits and '-'): {fix}"
        )


def fill_placeholders(text: str, project: str, region: str) -> str:
    """``{project}`` and ``{region}`` in an environment file's value replaced by the resolved ones."""
    return text.replace("{project}", project).replace("{region}", region)
