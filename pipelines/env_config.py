"""Per-environment configuration: where runs go (Vertex AI or KFP), which images, and per-step settings.

An environment is a YAML file in ``pipelines/config/env/`` (or any path) with the keys of :class:`EnvFile`.
A file lists only what differs from the environment it ``extends`` (a name, or a path relative to the file;
default ``default``). ``default.yaml`` is the root every chain ends in; the files are deep-merged from the root
down, then the result is validated as a whole::

    default.yaml     Vertex AI target, per-step resources, ingest retries, labels
    vertex.yaml      project, region, gs:// pipeline root, service account, Artifact Registry images
    kfp-local.yaml   KFP at localhost:8080, local :dev images, IfNotPresent, small requests
    kind.yaml        extends: kfp-local
    minikube.yaml    extends: kfp-local

Every file is selectable (``--env kfp-local`` suits any local KFP standalone). An unknown key, a wrong type or a
value that cannot work fails as one line naming the file that set it and the dotted key. Flags of
``emotion-pipeline compile|submit|schedule`` override the file.

Nothing is read at import time: :func:`load_env_config` reads the files when it is called.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from functools import reduce
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    create_model,
    model_validator,
)

import components.arms
from components.arms import ARMS
from components.arms.spec import DEFAULT_IMAGE_KEY

ENV_DIR = Path(__file__).parent / "config" / "env"
ARMS_DIR = Path(components.arms.__file__).parent  # where the arms' declarations (and their step settings) live
DEFAULT_ENV = "default"
EXTENDS = "extends"

Target = Literal["vertex", "kfp"]
PullPolicy = Literal["", "Always", "IfNotPresent", "Never"]  # empty: Kubernetes' default
FailurePolicy = Literal["", "fast", "slow"]  # Vertex AI; empty: the service's default (slow)
TARGETS: tuple[str, ...] = get_args(Target)
PULL_POLICIES: tuple[str, ...] = get_args(PullPolicy)
FAILURE_POLICIES: tuple[str, ...] = get_args(FailurePolicy)

_CPU = re.compile(r"^([0-9]*\.)?[0-9]+m?$")  # the forms KFP's set_cpu_* accept
_MEMORY = re.compile(r"^([0-9]+)(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")  # the forms KFP's set_memory_* accept
_MEMORY_UNITS = {
    "": 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_DURATION = re.compile(r"^[0-9]+s$")
_PIPELINE_ROOT = re.compile(r"^((gs|s3|minio|https?)://|$)")  # or empty: the KFP cluster's object store
_NETWORK = re.compile(r"^(projects/[^/]+/global/networks/[^/]+)?$")  # or empty: not peered
_KMS_KEY = re.compile(r"^(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+)?$")  # or empty
_TEMPLATE_REGISTRY = re.compile(r"^(https://[a-z0-9-]+-kfp\.pkg\.dev/[^/]+/[^/]+)?$")  # Artifact Registry, KFP
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")  # Vertex AI's label rules (pipelines/cloud.py: --label)
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")

_Loc = tuple[str | int, ...]  # where a value sits: ("steps", "clean", "cpu_limit")
_Layers = list[tuple[Path, dict[str, Any]]]  # the files of an environment and their content, root first


class ConfigError(ValueError):
    """An environment file or override that cannot work; the message names the file and the key."""


def cpu_cores(value: str) -> float:
    """CPU quantity in cores (``"500m"`` → 0.5)."""
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def memory_bytes(value: str) -> int:
    """Memory quantity in bytes (``"2Gi"`` → 2147483648)."""
    match = _MEMORY.match(value)
    if match is None:
        raise ValueError(f"not a memory quantity: {value!r}")
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2) or ""]


# --- Value types: each rule once, as a validator of an annotated type ------------------------------------------


def _scalar_text(value: Any) -> Any:
    """YAML reads ``cpu_limit: 2`` or ``project: 123`` as numbers and ``project:`` as null: kept as text."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int | float) else value


def _matching(pattern: re.Pattern[str], problem: str) -> AfterValidator:
    """A check that text matches ``pattern``; ``problem`` (with ``{value!r}``) says what was expected."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(problem.format(value=value))
        return value

    return AfterValidator(check)


def _labels(value: dict[str, str]) -> dict[str, str]:
    """Labels Vertex AI accepts (KFP ignores them)."""
    bad = [f"{key}={text}" for key, text in value.items() if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(text)]
    if bad:
        raise ValueError(
            f"{', '.join(bad)}: keys start with a lower-case letter; keys and values use only lower-case letters, "
            "digits, '-' and '_' (at most 63 characters)"
        )
    return value


def _named_image(value: str) -> str:
    """A default image is required: every step without an override runs on it."""
    if not value:
        raise ValueError("give the image every step runs on")
    return value


def _known_steps(value: dict[str, str]) -> dict[str, str]:
    """Per-step images only for steps that exist."""
    unknown = sorted(set(value) - set(STEP_NAMES))
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}; steps are {STEP_NAMES}")
    return value


def _never_cached(value: bool) -> bool:
    """The fingerprint step's ``caching``, which must stay off."""
    if value:
        raise ValueError(
            "must stay false: the fingerprint step asks the storage for the current version of every input file, "
            "which is what lets ingest be cached without serving stale data (see docs/cloud.md, 'Caching')"
        )
    return value


Text = Annotated[str, BeforeValidator(_scalar_text)]
CpuQuantity = Annotated[Text, _matching(_CPU, "{value!r} is not a CPU quantity (e.g. '500m', '2')")]
MemoryQuantity = Annotated[Text, _matching(_MEMORY, "{value!r} is not a memory quantity (e.g. '512Mi', '4Gi')")]
Seconds = Annotated[Text, _matching(_DURATION, "expected seconds like '30s', got {value!r}")]
PipelineRoot = Annotated[Text, _matching(_PIPELINE_ROOT, "expected a gs://, s3:// or minio:// URI, got {value!r}")]
Network = Annotated[Text, _matching(_NETWORK, "expected projects/PROJECT_NUMBER/global/networks/NAME, got {value!r}")]
KmsKey = Annotated[Text, _matching(_KMS_KEY, "expected projects/P/locations/L/keyRings/R/cryptoKeys/K, got {value!r}")]
TemplateRegistry = Annotated[
    Text, _matching(_TEMPLATE_REGISTRY, "expected https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY, got {value!r}")
]


# --- Models ---------------------------------------------------------------------------------------------------


class _Model(BaseModel):
    """Immutable, and unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StepSettings(_Model):
    """Kubernetes/Vertex settings of one step.

    Attributes:
        cpu_request: CPU the scheduler reserves (``"500m"``, ``"2"``).
        cpu_limit: CPU ceiling; Vertex AI picks the machine type from the limits.
        memory_request: Memory the scheduler reserves (``"1Gi"``).
        memory_limit: Memory ceiling; the step is OOM-killed above it.
        retries: Times a failed step is retried (0: never); for steps that touch the network.
        caching: Whether KFP/Vertex may reuse an earlier result of this step.
        accelerator_type: Accelerator of the step's machine, as Vertex AI names it (``NVIDIA_TESLA_T4``,
            ``NVIDIA_L4`` …; KFP: the node's resource, e.g. ``nvidia.com/gpu``); empty: none.
        accelerator_count: How many of them (0 with no accelerator).
    """

    cpu_request: CpuQuantity
    cpu_limit: CpuQuantity
    memory_request: MemoryQuantity
    memory_limit: MemoryQuantity
    retries: int = Field(default=0, ge=0, strict=True)
    caching: StrictBool = True
    accelerator_type: Text = ""
    accelerator_count: int = Field(default=0, ge=0, strict=True)

    @model_validator(mode="after")
    def _requests_within_limits(self) -> StepSettings:
        """A request above its limit cannot be scheduled."""
        if cpu_cores(self.cpu_request) > cpu_cores(self.cpu_limit):
            raise ValueError(f"cpu_request {self.cpu_request} is above cpu_limit {self.cpu_limit}")
        if memory_bytes(self.memory_request) > memory_bytes(self.memory_limit):
            raise ValueError(f"memory_request {self.memory_request} is above memory_limit {self.memory_limit}")
        if bool(self.accelerator_type) != bool(self.accelerator_count):
            raise ValueError("give accelerator_type and accelerator_count together (or neither)")
        return self


class FingerprintSettings(StepSettings):
    """Settings of the fingerprint step: never cached, because it reads the current version of every input file
    (the files behind a URI can change while the URI stays the same)."""

    caching: Annotated[StrictBool, AfterValidator(_never_cached)] = False


#: The steps every run has, in pipeline order; each arm adds its own (``components/arms``), after clean.
SHARED_STEP_NAMES = (
    "fingerprint",
    "ingest",
    "clean",
    "evaluate",
    "profile",
    "register",
    "promote",
    "log_experiment",
    "vertex_model",
    "deploy",
    "notice",
)
#: Every step of every arm, in arm order.
ARM_STEP_NAMES: tuple[str, ...] = tuple(step for arm in ARMS.values() for step in arm.all_steps)
STEP_NAMES: tuple[str, ...] = (*SHARED_STEP_NAMES[:3], *ARM_STEP_NAMES, *SHARED_STEP_NAMES[3:])
#: The images an env file names besides ``default``: every arm's image key and serving image key (``serving``,
#: ``automl``, ``transformer``), as the arms declare them.
ARM_IMAGE_KEYS: tuple[str, ...] = tuple(
    dict.fromkeys(key for a in ARMS.values() for key in (a.image, a.serving_key) if key != DEFAULT_IMAGE_KEY)
)

# "register" names ABCMeta.register on the class only; a field of that name is read on instances, where it wins.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "register" in "Steps" shadows', category=UserWarning)
    #: The ``steps`` of an environment: every step of every arm, in pipeline order (each required once the
    #: ``extends`` chain is merged: default.yaml lists them all).
    Steps = create_model(
        "Steps",
        __base__=_Model,
        **{name: (FingerprintSettings if name == "fingerprint" else StepSettings, ...) for name in STEP_NAMES},
    )


class RetryBackoff(_Model):
    """Back-off between retries (KFP ``set_retry``): first wait, growth factor, longest wait."""

    duration: Seconds = "15s"
    factor: float = Field(default=2.0, gt=0)
    max_duration: Seconds = "60s"


class PipelineSettings(_Model):
    """What ``build_pipeline`` applies to the tasks: per-step settings, retry back-off, image pull policy."""

    steps: dict[str, StepSettings]
    retry_backoff: RetryBackoff = Field(default_factory=RetryBackoff)
    image_pull_policy: PullPolicy = ""

    def step(self, name: str) -> StepSettings:
        """One step's settings.

        Raises:
            KeyError: The environment has no settings for the step.
        """
        return self.steps[name]


class _ImagesBase(_Model):
    """Container images: one for every step, one per arm with an image of its own and one per serving image key
    (``serving``: the slim image the scratch arm's versions are served from; empty: the default), per-step
    overrides."""

    default: Annotated[Text, AfterValidator(_named_image)]
    steps: Annotated[dict[str, Text], AfterValidator(_known_steps)] = Field(default_factory=dict)

    def for_arms(self) -> dict[str, str]:
        """Image key → image, for every arm and serving image key (an empty one: the default image)."""
        return {key: getattr(self, key) or self.default for key in ARM_IMAGE_KEYS}


Images = create_model("Images", __base__=_ImagesBase, **{key: (Text, "") for key in ARM_IMAGE_KEYS})


class _Destination(_Model):
    """Where runs go and what they run: the keys an environment file and :class:`EnvConfig` share.

    ``network``, ``encryption_spec_key_name`` and ``failure_policy`` are Vertex AI's (``PipelineJob``); an
    environment of KFP that sets one is refused when a run is sent (``pipelines/cloud.py``).
    """

    target: Target
    project: Text = ""
    region: Text = ""
    pipeline_root: PipelineRoot = ""
    service_account: Text = ""
    experiment: Text = ""
    kfp_host: Text = ""
    network: Network = ""
    encryption_spec_key_name: KmsKey = ""
    failure_policy: FailurePolicy = ""
    template_registry: TemplateRegistry = ""
    labels: Annotated[dict[Text, Text], AfterValidator(_labels)] = Field(default_factory=dict)
    images: Images


class EnvFile(_Destination):
    """The keys of an environment file (besides ``extends``), checked once its chain is merged."""

    image_pull_policy: PullPolicy = ""
    retry_backoff: RetryBackoff = Field(default_factory=RetryBackoff)
    steps: Steps


class EnvConfig(_Destination):
    """One environment: the target service, its coordinates, images and step settings."""

    name: str
    source: Path
    settings: PipelineSettings


# --- Loading --------------------------------------------------------------------------------------------------


def _is_path(text: str) -> bool:
    """Whether ``--env``/``extends`` names a file (``envs/mine.yaml``) rather than a shipped environment."""
    return "/" in text or text.endswith((".yaml", ".yml"))


def env_path(env: str | Path | None) -> Path:
    """The file of an environment: a name in ``pipelines/config/env`` (``kind``) or a path to a YAML file."""
    if env is None or env == "":
        return ENV_DIR / f"{DEFAULT_ENV}.yaml"
    text = str(env)
    return Path(text) if _is_path(text) else ENV_DIR / f"{text}.yaml"


def available_envs() -> list[str]:
    """Names of the shipped environments (every file in ``pipelines/config/env``, bases included)."""
    return sorted(p.stem for p in ENV_DIR.glob("*.yaml"))


def load_env_config(env: str | Path | None = None) -> EnvConfig:
    """Reads an environment file over the files it extends and validates every key and value.

    Args:
        env: Environment name (``kind``, ``minikube``, ``vertex``), a YAML path, or None for the defaults.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: Missing file, cycle of ``extends``, unknown key, or a value that cannot work (one line
            naming the file that set it and the dotted key).
    """
    path = env_path(env)
    if not path.is_file():
        raise ConfigError(f"{path}: environment file not found; shipped environments: {available_envs()}")
    layers = [arm_layer(), *_layers(path)]
    try:
        document = EnvFile.model_validate(reduce(_deep_merge, (data for _, data in layers)))
    except ValidationError as err:
        raise ConfigError(_one_line(validation_problems(err, EnvFile), layers)) from err
    settings = PipelineSettings(
        steps=dict(document.steps),
        retry_backoff=document.retry_backoff,
        image_pull_policy=document.image_pull_policy,
    )
    shared = {key: getattr(document, key) for key in _Destination.model_fields}
    return EnvConfig(name=path.stem, source=path, settings=settings, **shared)


def _read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (empty for an empty file)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def arm_layer() -> tuple[Path, dict[str, Any]]:
    """The arms' own step settings (their declarations' ``resources``): the layer below every environment file.

    Its path names the arms' package, so a bad declared value is reported there.
    """
    steps = {step: dict(settings) for arm in ARMS.values() for step, settings in arm.resources.items()}
    return ARMS_DIR, {"steps": steps}


def _layers(path: Path) -> _Layers:
    """The files of an environment with their content (``extends`` removed), root first.

    Raises:
        ConfigError: A file extends a missing file or, through its chain, itself.
    """
    layers: _Layers = []
    current: Path | None = path
    while current is not None:
        if current.resolve() in [seen.resolve() for seen, _ in layers]:
            chain = " -> ".join(str(seen) for seen, _ in layers)
            raise ConfigError(f"{layers[-1][0]}: {EXTENDS}: cycle {chain} -> {current}")
        data = _read_yaml(current)
        layers.append((current, data))
        current = _parent(current, data)
    return layers[::-1]


def _parent(path: Path, data: dict[str, Any]) -> Path | None:
    """The file ``path`` extends, removing the ``extends`` key from its ``data``; None for the root."""
    root = ENV_DIR / f"{DEFAULT_ENV}.yaml"
    if EXTENDS not in data:
        return None if path.resolve() == root.resolve() else root
    name = data.pop(EXTENDS)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}: {EXTENDS}: expected the name of another environment, got {name!r}")
    parent = path.parent / name if _is_path(name) else env_path(name)
    if not parent.is_file():
        raise ConfigError(
            f"{path}: {EXTENDS}: {parent}: environment file not found; shipped environments: {available_envs()}"
        )
    return parent


def _deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` over it: mappings merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = _deep_merge(base[key], value)
        else:
            merged[key] = value
    return merged


# --- Errors as one line ---------------------------------------------------------------------------------------


def _origin(loc: _Loc, layers: _Layers) -> Path:
    """The most derived file that sets the key at ``loc``; the requested file if none does (a missing key)."""
    for path, data in reversed(layers):
        node: Any = data
        for part in loc:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            return path
    return layers[-1][0]


def _one_line(problems: list[tuple[_Loc, str]], layers: _Layers) -> str:
    """``file: problem; problem; other-file: problem``: each problem after the file that set its key."""
    by_file: dict[Path, list[str]] = {}
    for loc, text in problems:
        by_file.setdefault(_origin(loc, layers), []).append(text)
    return "; ".join(f"{path}: {'; '.join(texts)}" for path, texts in by_file.items())


_EXPECTED = {
    "bool_type": "expected true or false",
    "int_type": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "string_type": "expected text",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "greater_than_equal": "expected a value >= {ge}",
    "greater_than": "expected a value > {gt}",
    "literal_error": "expected one of {expected}",
    "invalid_key": "expected a text key",
}


def validation_problems(error: ValidationError, model: type[BaseModel]) -> list[tuple[_Loc, str]]:
    """Each problem of a pydantic error as its location and one readable phrase that names the dotted key.

    Args:
        error: What ``model.model_validate`` raised.
        model: The validated model, to list the known keys next to an unknown one.

    Returns:
        ``(loc, "steps.clean.cpu_limit: 'one' is not a CPU quantity (e.g. '500m', '2')")`` pairs.
    """
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        key = ".".join(map(str, loc))
        kind = item["type"]
        if kind == "extra_forbidden":
            known = _known_keys(model, loc[:-1])
            problems.append((loc, f"unknown key {key!r}" + (f"; known keys here: {known}" if known else "")))
            continue
        if kind == "value_error":
            phrase = str(item["ctx"]["error"])
        elif kind == "missing":
            phrase = "missing"
        else:
            template = _EXPECTED.get(kind)
            phrase = template.format(**item.get("ctx", {})) if template else item["msg"]
            phrase += f", got {item['input']!r}"
        problems.append((loc, f"{key}: {phrase}" if key else phrase))
    return problems


def _known_keys(model: type[BaseModel], loc: _Loc) -> list[str]:
    """Field names of the model at ``loc`` inside ``model`` (empty where ``loc`` is no model, e.g. a dict)."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def with_pull_policy(settings: PipelineSettings, policy: str) -> PipelineSettings:
    """Settings with another image pull policy (``IfNotPresent`` for images loaded into kind/minikube)."""
    if policy not in PULL_POLICIES:
        raise ConfigError(f"image pull policy: expected one of {PULL_POLICIES[1:]}, got {policy!r}")
    return settings.model_copy(update={"image_pull_policy": policy})
