"""Vertex AI endpoints: deploy a registered version behind an endpoint (canary or replace), or remove one.

Two phases, so a dry run shows exactly what would be sent:

1. **Read** (:func:`read_endpoint`, :func:`resolve_target`): the endpoint with the given display name
   (``Endpoint.list(filter='display_name="NAME"')``) and what is deployed on it with its traffic; the registered
   version a reference names (``NAME@champion`` → its version id). Nothing is changed.
2. **Plan** (:func:`plan_deployment`, :func:`plan_undeploy`): plain logic from that state to a list of
   :class:`Request` (the SDK calls, with their keyword arguments), then **apply** (:func:`apply`) sends them.

Traffic. ``traffic_percent`` P gives the new version P % of the endpoint's requests; the versions already deployed
share the other 100 − P % in proportion to their current shares (:func:`split_traffic`: integer shares summing to
100, by the largest remainder). P = 100 replaces: the new version takes all traffic, then every other deployed
model is undeployed. An endpoint with nothing deployed gives the new version 100 % whatever P. A version already
deployed on the endpoint is not deployed twice: its share is set with ``Endpoint.update(traffic_split=…)``.

The serving container is the version's own: it was set when the version was uploaded
(:class:`components.registry.store.VertexRegistry`, the arm's serving image), so a deployment never names an
image. The aiplatform classes are imported only when no test double is given (:class:`VertexSdk`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.checks.errors import ParameterError
from components.registry.store import ModelRef, RegistryError, vertex_model_id

#: Vertex AI's default machine type for a custom-container deployment.
DEFAULT_MACHINE_TYPE = "n1-standard-2"
#: Replace what is deployed unless a canary share is asked for.
DEFAULT_TRAFFIC_PERCENT = 100
DEFAULT_MIN_REPLICAS = 1
DEFAULT_MAX_REPLICAS = 1
#: The key of ``traffic_split`` that stands for the model being deployed (the SDK's convention).
NEW_MODEL_KEY = "0"
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")  # n1-standard-2, g2-standard-8, a2-highgpu-1g
_ENDPOINT_NAME = re.compile(r'^[^\s"\\][^"\\]{0,127}$')
_VERTEX_URI = re.compile(r"^vertex://(?P<project>[^/]+)/(?P<location>[^/]+)/?$")


class DeployError(ParameterError):
    """A deployment that cannot work (bad option, unknown endpoint or version, unsafe removal): one line naming
    the option or the resource (a :class:`ParameterError`, so a run's parameters are checked with it)."""


@dataclass(frozen=True)
class DeployOptions:
    """How a version is deployed.

    Attributes:
        traffic_percent: Share of the endpoint's traffic the new version gets (1-100); 100 replaces what is
            deployed (the others are undeployed once it serves everything).
        machine_type: Machine of each replica (Vertex AI's names, e.g. n1-standard-2).
        min_replicas: Replicas always running (at least 1).
        max_replicas: Most replicas under load (at least min_replicas).
        accelerator_type: GPU of each replica as Vertex AI names it (NVIDIA_TESLA_T4 …); empty: none.
        accelerator_count: GPUs per replica (with accelerator_type only).
    """

    traffic_percent: int = DEFAULT_TRAFFIC_PERCENT
    machine_type: str = DEFAULT_MACHINE_TYPE
    min_replicas: int = DEFAULT_MIN_REPLICAS
    max_replicas: int = DEFAULT_MAX_REPLICAS
    accelerator_type: str = ""
    accelerator_count: int = 0

    def __post_init__(self) -> None:
        _whole("traffic_percent", self.traffic_percent, 1, 100)
        _whole("min_replicas", self.min_replicas, 1)
        _whole("max_replicas", self.max_replicas, 1)
        if self.max_replicas < self.min_replicas:
            raise DeployError(f"max_replicas {self.max_replicas} is below min_replicas {self.min_replicas}")
        if not _MACHINE_TYPE.match(self.machine_type):
            raise DeployError(
                f"machine_type: expected a Vertex AI machine type like n1-standard-2, got {self.machine_type!r}"
            )
        _whole("accelerator_count", self.accelerator_count, 0)
        if bool(self.accelerator_type) != bool(self.accelerator_count):
            raise DeployError(
                "accelerator_type and accelerator_count: give both (e.g. NVIDIA_TESLA_T4 and 1) or neither"
            )


def _whole(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        raise DeployError(f"{name}: expected a whole number {bounds}, got {value!r}")


def check_accelerator(name: str) -> None:
    """Refuses an accelerator type Vertex AI does not know (its ``AcceleratorType`` enum; empty: none).

    Raises:
        DeployError: Naming the type and a few known ones.
    """
    if not name:
        return
    from google.cloud.aiplatform_v1.types import AcceleratorType

    known = [t.name for t in AcceleratorType if t.name != "ACCELERATOR_TYPE_UNSPECIFIED"]
    if name not in known:
        raise DeployError(f"accelerator_type {name!r}: not a Vertex AI accelerator; e.g. {', '.join(known[:6])}")


def check_endpoint_name(name: str) -> str:
    """An endpoint display name that can be looked up: 1-128 characters, no quote or backslash.

    Raises:
        DeployError: Naming the problem.
    """
    if not _ENDPOINT_NAME.match(name or ""):
        raise DeployError(
            f"endpoint {name!r}: expected a display name of 1-128 characters without quotes or backslashes"
        )
    return name


def vertex_coordinates(registry_uri: str) -> tuple[str, str]:
    """``(project, location)`` of a ``vertex://PROJECT/LOCATION`` registry.

    Raises:
        DeployError: Any other registry (endpoints serve Vertex AI Model Registry versions only).
    """
    match = _VERTEX_URI.match(registry_uri)
    if match is None:
        raise DeployError(
            f"registry {registry_uri!r}: Vertex AI endpoints serve versions of Vertex AI Model Registry; "
            "give vertex://PROJECT/REGION"
        )
    return match["project"], match["location"]


@dataclass(frozen=True)
class VersionTarget:
    """A registered version on Vertex AI Model Registry.

    Attributes:
        project: Google Cloud project.
        location: Region.
        model_name: Registered model name (``emotion-demo``).
        version: Vertex AI version id.
        arm: The arm that built it (its ``model`` label), empty when unknown.
    """

    project: str
    location: str
    model_name: str
    version: str
    arm: str = ""

    @property
    def resource_name(self) -> str:
        """``projects/P/locations/L/models/ID`` (the parent model)."""
        return f"projects/{self.project}/locations/{self.location}/models/{vertex_model_id(self.model_name)}"

    @property
    def versioned_name(self) -> str:
        """``projects/P/locations/L/models/ID@VERSION``."""
        return f"{self.resource_name}@{self.version}"

    @property
    def display_name(self) -> str:
        """The deployed model's display name (``emotion-demo-v3``)."""
        return f"{self.model_name}-v{self.version}"[:128]


@dataclass(frozen=True)
class DeployedModel:
    """One model deployed on an endpoint, with its share of the traffic."""

    id: str
    model: str
    version: str
    display_name: str
    traffic: int

    def serves(self, target: VersionTarget) -> bool:
        """Whether this deployed model is ``target``'s version (its model resource may end with ``@VERSION``)."""
        model, _, version = self.model.partition("@")
        return model == target.resource_name and (self.version or version) == target.version


@dataclass(frozen=True)
class EndpointState:
    """What an endpoint display name stands for now.

    Attributes:
        display_name: The name looked up.
        resource_name: ``projects/…/endpoints/ID``; empty when no endpoint has the name (it will be created).
        deployed: Its deployed models with their traffic.
    """

    display_name: str
    resource_name: str = ""
    deployed: tuple[DeployedModel, ...] = ()


@dataclass(frozen=True)
class Request:
    """One SDK call: ``call`` (``Endpoint.create``, ``Model``, ``Endpoint.deploy``, ``Endpoint.update``,
    ``Endpoint.undeploy``) with its keyword arguments (a model as its resource name)."""

    call: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> str:
        """One line: ``{"call": …, <keyword>: <value> …}``."""
        return json.dumps({"call": self.call, **self.kwargs}, ensure_ascii=False)


@dataclass
class VertexSdk:
    """The aiplatform classes the plan is applied with; tests pass doubles bound to the real signatures.

    Attributes:
        endpoint_cls: ``aiplatform.Endpoint`` (``list``, ``create``; instances ``deploy``, ``update``,
            ``undeploy``, ``list_models``, ``traffic_split``).
        model_cls: ``aiplatform.Model`` (a version: ``Model(model_name, version=…)``).
    """

    endpoint_cls: Any = None
    model_cls: Any = None

    def __post_init__(self) -> None:
        if self.endpoint_cls is None or self.model_cls is None:
            from google.cloud import aiplatform

            self.endpoint_cls = self.endpoint_cls or aiplatform.Endpoint
            self.model_cls = self.model_cls or aiplatform.Model


# --- read ------------------------------------------------------------------------------------------------------


def list_request(display_name: str, project: str, location: str) -> Request:
    """The read that finds the endpoint by display name."""
    kwargs = {"filter": f'display_name="{check_endpoint_name(display_name)}"', "project": project, "location": location}
    return Request("Endpoint.list", kwargs)


def read_endpoint(sdk: VertexSdk, display_name: str, project: str, location: str) -> tuple[EndpointState, Any]:
    """The endpoint with this display name and its deployed models (read only).

    Returns:
        Its state and the SDK's endpoint object (None when no endpoint has the name).

    Raises:
        DeployError: Several endpoints have the name (which one is meant cannot be told).
    """
    found = list(sdk.endpoint_cls.list(**list_request(display_name, project, location).kwargs))
    if not found:
        return EndpointState(display_name), None
    if len(found) > 1:
        names = ", ".join(e.resource_name for e in found[:3])
        raise DeployError(
            f"endpoint {display_name!r}: {len(found)} endpoints have this display name ({names}); "
            "rename or delete all but one"
        )
    endpoint = found[0]
    traffic = {str(key): int(value) for key, value in dict(endpoint.traffic_split or {}).items()}
    deployed = tuple(
        DeployedModel(
            str(d.id), str(d.model), str(d.model_version_id or ""), str(d.display_name), traffic.get(str(d.id), 0)
        )
        for d in endpoint.list_models()
    )
    return EndpointState(display_name, endpoint.resource_name, deployed), endpoint


def resolve_target(registry: Any, reference: str) -> VersionTarget:
    """The registered version a reference names (``NAME@ALIAS`` is resolved to its version id).

    Args:
        registry: An open :class:`components.registry.store.VertexRegistry`.
        reference: ``NAME@ALIAS``, ``NAME/VERSION`` or ``NAME``.

    Raises:
        DeployError: The registry is not Vertex AI's, or the reference is malformed or not registered.
    """
    project, location = vertex_coordinates(registry.uri)
    try:
        version = registry.resolve(ModelRef.parse(reference))
    except RegistryError as err:
        raise DeployError(str(err)) from None
    return VersionTarget(project, location, version.name, str(version.version), str(version.tags.get("model", "")))


# --- plan ------------------------------------------------------------------------------------------------------


def rescale(shares: Mapping[str, int], total: int) -> dict[str, int]:
    """``shares`` scaled to integers summing to ``total``, by the largest remainder.

    Each key gets the floor of its exact share; the points left over go one each to the keys with the largest
    fractional parts (ties: the larger current share, then the order given). Keys whose shares are all 0 share
    ``total`` equally, by the same rule.
    """
    if not shares:
        return {}
    weights = dict(shares) if sum(shares.values()) > 0 else dict.fromkeys(shares, 1)
    whole = sum(weights.values())
    exact = {key: total * weight / whole for key, weight in weights.items()}
    out = {key: int(value) for key, value in exact.items()}
    order = list(weights)
    ranked = sorted(order, key=lambda key: (-(exact[key] - out[key]), -weights[key], order.index(key)))
    for key in ranked[: total - sum(out.values())]:
        out[key] += 1
    return out


def split_traffic(current: Mapping[str, int], new_key: str, percent: int) -> dict[str, int]:
    """The traffic split with ``new_key`` at ``percent`` % and the others rescaled to ``100 - percent``.

    Args:
        current: Deployed model id → its share now (without ``new_key``).
        new_key: The new model's key (:data:`NEW_MODEL_KEY` for one being deployed).
        percent: Its share, 1-100; with nothing else deployed it gets 100.

    Returns:
        Id → share, integers summing to 100 (``new_key`` first).
    """
    others = {key: share for key, share in current.items() if key != new_key}
    if not others:
        return {new_key: 100}
    return {new_key: percent, **rescale(others, 100 - percent)}


def create_request(target: VersionTarget, display_name: str) -> Request:
    """``Endpoint.create`` of a new endpoint named ``display_name`` in the version's project and region."""
    return Request(
        "Endpoint.create", {"display_name": display_name, "project": target.project, "location": target.location}
    )


def deploy_request(target: VersionTarget, split: Mapping[str, int], options: DeployOptions) -> Request:
    """``Endpoint.deploy`` of the version with the given traffic split and machines."""
    kwargs: dict[str, Any] = {
        "model": target.versioned_name,
        "deployed_model_display_name": target.display_name,
        "traffic_split": dict(split),
        "machine_type": options.machine_type,
        "min_replica_count": options.min_replicas,
        "max_replica_count": options.max_replicas,
    }
    if options.accelerator_type:
        kwargs |= {"accelerator_type": options.accelerator_type, "accelerator_count": options.accelerator_count}
    return Request("Endpoint.deploy", kwargs)


def plan_deployment(state: EndpointState, target: VersionTarget, options: DeployOptions) -> list[Request]:
    """The calls that put ``target`` behind the endpoint with ``options.traffic_percent`` % of its traffic.

    Returns:
        ``Endpoint.create`` (no endpoint of that name yet), ``Model`` (the version) and ``Endpoint.deploy``; or
        ``Endpoint.update`` when the version is deployed there already; then, when replacing (100 %), an
        ``Endpoint.undeploy`` of every other deployed model.
    """
    current = {d.id: d.traffic for d in state.deployed}
    mine = [d for d in state.deployed if d.serves(target)]
    others = [d for d in state.deployed if not d.serves(target)]
    requests = []
    if mine:  # already serving: only its share changes (a duplicate of it gets none, and goes when replacing)
        duplicates = {d.id for d in mine[1:]}
        kept = {key: share for key, share in current.items() if key not in duplicates}
        split = split_traffic(kept, mine[0].id, options.traffic_percent)
        requests.append(Request("Endpoint.update", {"traffic_split": split}))
        others += mine[1:]
    else:
        if not state.resource_name:
            requests.append(create_request(target, state.display_name))
        model = {"model_name": target.resource_name, "version": target.version}
        requests.append(Request("Model", {**model, "project": target.project, "location": target.location}))
        split = split_traffic(current, NEW_MODEL_KEY, options.traffic_percent)
        requests.append(deploy_request(target, split, options))
    if options.traffic_percent == 100:
        requests += [Request("Endpoint.undeploy", {"deployed_model_id": d.id}) for d in others]
    return requests


def plan_undeploy(state: EndpointState, target: VersionTarget, force: bool = False) -> list[Request]:
    """The calls that remove ``target`` from the endpoint, the others' traffic rescaled to 100 %.

    Removing the only deployed model, or the only one with traffic, leaves the endpoint serving nothing (or
    re-splits the traffic evenly over models that had none): refused unless ``force``.

    Raises:
        DeployError: No such endpoint, the version is not deployed there, or an unforced unsafe removal.
    """
    if not state.resource_name:
        raise DeployError(f"endpoint {state.display_name!r}: no endpoint has this display name")
    removed = [d for d in state.deployed if d.serves(target)]
    if not removed:
        deployed = ", ".join(f"{d.display_name} ({d.traffic} %)" for d in state.deployed) or "nothing"
        raise DeployError(
            f"{target.model_name}/{target.version}: not deployed on endpoint {state.display_name!r} "
            f"(deployed: {deployed})"
        )
    remaining = {d.id: d.traffic for d in state.deployed if not d.serves(target)}
    serving = sum(d.traffic for d in removed) > 0 and sum(remaining.values()) == 0
    if not force and (not remaining or serving):
        why = "the endpoint's last deployed model" if not remaining else "the only deployed model with traffic"
        raise DeployError(
            f"{target.model_name}/{target.version} is {why} on endpoint {state.display_name!r}: removing it "
            f"{'leaves nothing to serve' if not remaining else 'moves all traffic to models that had none'}; "
            "pass --force to remove it anyway"
        )
    split = rescale(remaining, 100)
    kwargs = {"traffic_split": split} if split else {}
    return [Request("Endpoint.undeploy", {"deployed_model_id": d.id, **kwargs}) for d in removed]


# --- apply -----------------------------------------------------------------------------------------------------


def apply(requests: Sequence[Request], sdk: VertexSdk, endpoint: Any = None) -> Any:
    """Sends the planned calls in order.

    Args:
        requests: The plan (:func:`plan_deployment`, :func:`plan_undeploy`).
        sdk: The aiplatform classes.
        endpoint: The endpoint read (:func:`read_endpoint`); None when the plan creates it.

    Returns:
        The endpoint (the SDK's object).

    Raises:
        DeployError: The plan calls the endpoint before there is one, or names an unknown call.
    """
    model = None
    for request in requests:
        kwargs = dict(request.kwargs)
        if request.call == "Endpoint.create":
            endpoint = sdk.endpoint_cls.create(**kwargs)
        elif request.call == "Model":
            model = sdk.model_cls(**kwargs)
        elif request.call.startswith("Endpoint.") and endpoint is None:
            raise DeployError(f"{request.call}: no endpoint to call (the plan neither read nor created one)")
        elif request.call == "Endpoint.deploy":
            endpoint.deploy(**{**kwargs, "model": model})
        elif request.call == "Endpoint.update":
            endpoint.update(**kwargs)
        elif request.call == "Endpoint.undeploy":
            endpoint.undeploy(**kwargs)
        else:
            raise DeployError(f"unknown call {request.call!r} in the plan")
    return endpoint


@dataclass(frozen=True)
class Outcome:
    """What a deploy or undeploy did (or, dry, would do).

    Attributes:
        reads: The reads made, as lines (the endpoint found, the version resolved).
        requests: The calls planned (sent unless dry).
        state: The endpoint before.
        target: The version.
    """

    reads: tuple[str, ...]
    requests: tuple[Request, ...]
    state: EndpointState
    target: VersionTarget

    def lines(self) -> list[str]:
        """The reads, then the requests, one JSON object a line."""
        return [*self.reads, *(request.as_json() for request in self.requests)]


def _reads(state: EndpointState, target: VersionTarget, list_call: Request) -> tuple[str, ...]:
    endpoint = {"read": list_call.call, **list_call.kwargs, "found": state.resource_name or None}
    endpoint["deployed"] = [
        {"id": d.id, "display_name": d.display_name, "model": d.model, "version": d.version, "traffic": d.traffic}
        for d in state.deployed
    ]
    version = {"read": "ModelRegistry.get_model", "version": target.versioned_name, "arm": target.arm or None}
    return json.dumps(version, ensure_ascii=False), json.dumps(endpoint, ensure_ascii=False)


def deploy_version(
    sdk: VertexSdk, target: VersionTarget, endpoint_name: str, options: DeployOptions, dry_run: bool = False
) -> Outcome:
    """Reads the endpoint, plans the deployment of ``target`` and (unless ``dry_run``) sends it."""
    check_accelerator(options.accelerator_type)
    state, endpoint = read_endpoint(sdk, endpoint_name, target.project, target.location)
    requests = plan_deployment(state, target, options)
    if not dry_run:
        apply(requests, sdk, endpoint)
    reads = _reads(state, target, list_request(endpoint_name, target.project, target.location))
    return Outcome(reads, tuple(requests), state, target)


def undeploy_version(
    sdk: VertexSdk, target: VersionTarget, endpoint_name: str, force: bool = False, dry_run: bool = False
) -> Outcome:
    """Reads the endpoint, plans the removal of ``target`` and (unless ``dry_run``) sends it."""
    state, endpoint = read_endpoint(sdk, endpoint_name, target.project, target.location)
    requests = plan_undeploy(state, target, force)
    if not dry_run:
        apply(requests, sdk, endpoint)
    reads = _reads(state, target, list_request(endpoint_name, target.project, target.location))
    return Outcome(reads, tuple(requests), state, target)


def deploy_record(
    record: Mapping[str, Any], endpoint_name: str, options: DeployOptions, sdk: VertexSdk | None = None
) -> Outcome:
    """Deploys the version a register step's record names (the pipeline's ``deploy`` step).

    Args:
        record: The register step's ``registry_record`` (``registry`` ``vertex://P/L``, ``model_name``,
            ``version``, ``model``).
        endpoint_name: The endpoint's display name.
        options: Traffic and machines.
        sdk: The aiplatform classes (tests); the real ones when None.

    Raises:
        DeployError: The record is not of Vertex AI Model Registry, or the deployment cannot work.
    """
    project, location = vertex_coordinates(str(record.get("registry", "")))
    target = VersionTarget(
        project, location, str(record["model_name"]), str(record["version"]), str(record.get("model", ""))
    )
    return deploy_version(sdk or VertexSdk(), target, endpoint_name, options)
