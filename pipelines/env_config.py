"""Per-environment configuration: where runs go (Vertex AI or KFP), which images, and per-step settings.

An environment is a YAML file in ``pipelines/config/env/`` (or any path). Every file is read over
``default.yaml``, so an environment names only what differs: ``kind.yaml`` shrinks the resource requests
to fit a laptop cluster and sets the image pull policy; ``vertex.yaml`` names the project, region, bucket
and service account. Flags of ``emotion-pipeline compile|submit|schedule`` override the file.

Nothing is read at import time: :func:`load_env_config` reads the files when it is called.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

ENV_DIR = Path(__file__).parent / "config" / "env"
DEFAULT_ENV = "default"
STEP_NAMES = ("ingest", "clean", "vectorise", "train_scratch", "train_automl", "evaluate", "profile")
TARGETS = ("vertex", "kfp")
PULL_POLICIES = ("", "Always", "IfNotPresent", "Never")

_CPU = re.compile(r"^([0-9]*\.)?[0-9]+m?$")  # the forms KFP's set_cpu_* accept
_MEMORY = re.compile(r"^([0-9]+)(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")  # the forms KFP's set_memory_* accept
_MEMORY_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
                 "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}  # fmt: skip
_DURATION = re.compile(r"^[0-9]+s$")


class ConfigError(ValueError):
    """An environment file or override that cannot work; the message names the file and the key."""


@dataclass(frozen=True)
class StepSettings:
    """Kubernetes/Vertex settings of one step.

    Attributes:
        cpu_request: CPU the scheduler reserves (``"500m"``, ``"2"``).
        cpu_limit: CPU ceiling; Vertex AI picks the machine type from the limits.
        memory_request: Memory the scheduler reserves (``"1Gi"``).
        memory_limit: Memory ceiling; the step is OOM-killed above it.
        retries: Times a failed step is retried (0: never); for steps that touch the network.
        caching: Whether KFP/Vertex may reuse an earlier result of this step.
    """

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    retries: int = 0
    caching: bool = True


@dataclass(frozen=True)
class RetryBackoff:
    """Back-off between retries (KFP ``set_retry``): first wait, growth factor, longest wait."""

    duration: str = "15s"
    factor: float = 2.0
    max_duration: str = "60s"


@dataclass(frozen=True)
class PipelineSettings:
    """What ``build_pipeline`` applies to the tasks: per-step settings, retry back-off, image pull policy."""

    steps: Mapping[str, StepSettings]
    retry_backoff: RetryBackoff = field(default_factory=RetryBackoff)
    image_pull_policy: str = ""


@dataclass(frozen=True)
class Images:
    """Container images: one for every step, one for the PyCaret steps, and per-step overrides."""

    default: str
    automl: str = ""
    steps: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvConfig:
    """One environment: the target service, its coordinates, images and step settings."""

    name: str
    source: Path
    target: str
    project: str
    region: str
    pipeline_root: str
    service_account: str
    experiment: str
    kfp_host: str
    labels: Mapping[str, str]
    images: Images
    settings: PipelineSettings


def env_path(env: str | Path | None) -> Path:
    """The file of an environment: a name in ``pipelines/config/env`` (``kind``) or a path to a YAML file."""
    if env is None or env == "":
        return ENV_DIR / f"{DEFAULT_ENV}.yaml"
    text = str(env)
    if "/" in text or text.endswith((".yaml", ".yml")):
        return Path(text)
    return ENV_DIR / f"{text}.yaml"


def available_envs() -> list[str]:
    """Names of the shipped environments."""
    return sorted(p.stem for p in ENV_DIR.glob("*.yaml"))


def load_env_config(env: str | Path | None = None) -> EnvConfig:
    """Reads an environment file over ``default.yaml`` and validates every key and value.

    Args:
        env: Environment name (``kind``, ``minikube``, ``vertex``), a YAML path, or None for the defaults.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: Missing file, unknown key, or a value that cannot work (named with its file and key).
    """
    default_path = ENV_DIR / f"{DEFAULT_ENV}.yaml"
    path = env_path(env)
    if not path.is_file():
        raise ConfigError(f"{path}: environment file not found; shipped environments: {available_envs()}")
    merged = _read_yaml(default_path)
    if path.resolve() != default_path.resolve():
        overlay = _read_yaml(path)
        _check_keys(overlay, merged, str(path), "")
        merged = _deep_merge(merged, overlay)
    return _build(merged, path)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _check_keys(overlay: Mapping[str, Any], base: Mapping[str, Any], source: str, prefix: str) -> None:
    """Every key of an environment file must exist in default.yaml (typos fail loudly, naming the key).

    Below ``steps.<name>`` nothing is compared with default.yaml, which sets ``retries``/``caching`` for ingest
    only: a step's keys are checked against :class:`StepSettings` by :func:`_step_settings`.
    """
    free_form = {"labels", "images.steps"}  # maps whose keys are user-chosen
    for key, value in overlay.items():
        dotted = f"{prefix}{key}"
        if prefix.rstrip(".") in free_form:
            continue
        if key not in base:
            raise ConfigError(f"{source}: unknown key {dotted!r}; known keys here: {sorted(base)}")
        if prefix == "steps.":
            continue  # a step's settings: validated by _step_settings
        if isinstance(value, Mapping) and isinstance(base[key], Mapping):
            _check_keys(value, base[key], source, f"{dotted}.")


def _deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = _deep_merge(base[key], value)
        else:
            merged[key] = value
    return merged


def cpu_cores(value: str) -> float:
    """CPU quantity in cores (``"500m"`` → 0.5)."""
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def memory_bytes(value: str) -> int:
    """Memory quantity in bytes (``"2Gi"`` → 2147483648)."""
    match = _MEMORY.match(value)
    if match is None:
        raise ValueError(f"not a memory quantity: {value!r}")
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2) or ""]


def _step_settings(name: str, raw: Any, source: str) -> StepSettings:
    where = f"{source}: steps.{name}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping of cpu_request, cpu_limit, memory_request, memory_limit, …")
    known = set(StepSettings.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        named = ", ".join(repr(f"steps.{name}.{key}") for key in unknown)
        raise ConfigError(f"{source}: unknown key {named}; known keys of a step: {sorted(known)}")
    values = {k: str(raw[k]) for k in ("cpu_request", "cpu_limit", "memory_request", "memory_limit") if k in raw}
    missing = {"cpu_request", "cpu_limit", "memory_request", "memory_limit"} - set(values)
    if missing:
        raise ConfigError(f"{where}: missing {sorted(missing)}")
    for key in ("cpu_request", "cpu_limit"):
        if not _CPU.match(values[key]):
            raise ConfigError(f"{where}.{key}: {values[key]!r} is not a CPU quantity (e.g. '500m', '2')")
    for key in ("memory_request", "memory_limit"):
        if not _MEMORY.match(values[key]):
            raise ConfigError(f"{where}.{key}: {values[key]!r} is not a memory quantity (e.g. '512Mi', '4Gi')")
    if cpu_cores(values["cpu_request"]) > cpu_cores(values["cpu_limit"]):
        raise ConfigError(f"{where}: cpu_request {values['cpu_request']} is above cpu_limit {values['cpu_limit']}")
    if memory_bytes(values["memory_request"]) > memory_bytes(values["memory_limit"]):
        raise ConfigError(
            f"{where}: memory_request {values['memory_request']} is above memory_limit {values['memory_limit']}"
        )
    retries = raw.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ConfigError(f"{where}.retries: expected a whole number >= 0, got {retries!r}")
    caching = raw.get("caching", True)
    if not isinstance(caching, bool):
        raise ConfigError(f"{where}.caching: expected true or false, got {caching!r}")
    if name == "ingest" and caching:
        raise ConfigError(
            f"{where}.caching: must stay false: ingest reads files that can change under the same URI, "
            "so a cached ingest would serve stale data (see docs/cloud.md, 'Caching')"
        )
    return StepSettings(**values, retries=retries, caching=caching)


def _build(data: Mapping[str, Any], path: Path) -> EnvConfig:
    source = str(path)
    steps_raw = data.get("steps") or {}
    unknown_steps = set(steps_raw) - set(STEP_NAMES)
    if unknown_steps:
        raise ConfigError(f"{source}: unknown step(s) {sorted(unknown_steps)} under steps; steps are {STEP_NAMES}")
    steps = {name: _step_settings(name, steps_raw.get(name), source) for name in STEP_NAMES}
    backoff_raw = data.get("retry_backoff") or {}
    backoff = RetryBackoff(
        duration=str(backoff_raw.get("duration", RetryBackoff.duration)),
        factor=float(backoff_raw.get("factor", RetryBackoff.factor)),
        max_duration=str(backoff_raw.get("max_duration", RetryBackoff.max_duration)),
    )
    for key in ("duration", "max_duration"):
        if not _DURATION.match(getattr(backoff, key)):
            raise ConfigError(f"{source}: retry_backoff.{key}: expected seconds like '30s'")
    images_raw = data.get("images") or {}
    step_images = dict(images_raw.get("steps") or {})
    bad = set(step_images) - set(STEP_NAMES)
    if bad:
        raise ConfigError(f"{source}: images.steps: unknown step(s) {sorted(bad)}; steps are {STEP_NAMES}")
    config = EnvConfig(
        name=path.stem,
        source=path,
        target=str(data.get("target", "")),
        project=str(data.get("project") or ""),
        region=str(data.get("region") or ""),
        pipeline_root=str(data.get("pipeline_root") or ""),
        service_account=str(data.get("service_account") or ""),
        experiment=str(data.get("experiment") or ""),
        kfp_host=str(data.get("kfp_host") or ""),
        labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
        images=Images(
            default=str(images_raw.get("default") or ""),
            automl=str(images_raw.get("automl") or ""),
            steps={str(k): str(v) for k, v in step_images.items()},
        ),
        settings=PipelineSettings(
            steps=steps, retry_backoff=backoff, image_pull_policy=str(data.get("image_pull_policy") or "")
        ),
    )
    if not config.images.default:
        raise ConfigError(f"{source}: images.default: give the image every step runs on")
    _check_target(config, source)
    return config


def _check_target(config: EnvConfig, source: str) -> None:
    if config.target not in TARGETS:
        raise ConfigError(f"{source}: target: expected one of {TARGETS}, got {config.target!r}")
    if config.settings.image_pull_policy not in PULL_POLICIES:
        raise ConfigError(
            f"{source}: image_pull_policy: expected one of {PULL_POLICIES[1:]} or empty, "
            f"got {config.settings.image_pull_policy!r}"
        )
    if config.pipeline_root and not re.match(r"^(gs|s3|minio|https?)://", config.pipeline_root):
        raise ConfigError(
            f"{source}: pipeline_root: expected a gs://, s3:// or minio:// URI, got {config.pipeline_root!r}"
        )


def with_pull_policy(settings: PipelineSettings, policy: str) -> PipelineSettings:
    """Settings with another image pull policy (``IfNotPresent`` for images loaded into kind/minikube)."""
    if policy not in PULL_POLICIES:
        raise ConfigError(f"image pull policy: expected one of {PULL_POLICIES[1:]}, got {policy!r}")
    return replace(settings, image_pull_policy=policy)
