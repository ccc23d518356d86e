"""Vertex AI endpoints (components/registry/endpoints.py) with only the SDK's network boundary replaced.

``aiplatform.Endpoint`` (``list``, ``create``, ``deploy``, ``update``, ``undeploy``) and ``aiplatform.Model``
are fakes that bind every call to the REAL SDK signature (a renamed or unknown keyword fails here as it would
against the service), refuse what the SDK refuses (a traffic split not summing to 100, removing a model that still
has traffic without a new split) and keep endpoints in memory. Nothing here reaches Vertex AI.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from vertex_fakes import FakeEndpoints

from components.registry.endpoints import (
    DEFAULT_MACHINE_TYPE,
    DeployError,
    DeployOptions,
    EndpointState,
    VersionTarget,
    check_accelerator,
    check_endpoint_name,
    deploy_record,
    deploy_version,
    plan_deployment,
    rescale,
    split_traffic,
    undeploy_version,
    vertex_coordinates,
)


def target(version: str, arm: str = "scratch") -> VersionTarget:
    return VersionTarget("p", "l", "emotion-demo", version, arm)


def test_the_first_deploy_creates_the_endpoint_and_takes_all_traffic_whatever_the_share() -> None:
    vertex = FakeEndpoints()
    outcome = deploy_version(vertex.sdk, target("1"), "emotion", DeployOptions(traffic_percent=10))
    assert vertex.sent() == ["Endpoint.create", "Model", "Endpoint.deploy"]
    created, model, deploy = (call for name, call in vertex.calls if name != "Endpoint.list")
    assert created == {"display_name": "emotion", "project": "p", "location": "l"}
    assert model == {
        "model_name": "projects/p/locations/l/models/emotion-demo",
        "version": "1",
        "project": "p",
        "location": "l",
    }
    assert deploy["traffic_split"] == {"0": 100} and deploy["machine_type"] == DEFAULT_MACHINE_TYPE == "n1-standard-2"
    assert (deploy["min_replica_count"], deploy["max_replica_count"]) == (1, 1)
    assert deploy["deployed_model_display_name"] == "emotion-demo-v1" and "accelerator_type" not in deploy
    assert vertex.shares("emotion") == {"1": 100}
    assert outcome.state.resource_name == "" and '"found": null' in outcome.lines()[1]


def test_a_canary_reuses_the_endpoint_and_scales_the_others_down_in_proportion() -> None:
    vertex = FakeEndpoints()
    deploy_version(vertex.sdk, target("1"), "emotion", DeployOptions())
    deploy_version(vertex.sdk, target("2"), "emotion", DeployOptions(traffic_percent=30))
    assert vertex.sent().count("Endpoint.create") == 1  # reused by its display name
    assert vertex.shares("emotion") == {"1": 70, "2": 30}
    deploy_version(vertex.sdk, target("3"), "emotion", DeployOptions(traffic_percent=15))
    assert vertex.shares("emotion") == {"1": 60, "2": 25, "3": 15}  # 85 × 70/100 = 59.5, 85 × 30/100 = 25.5
    assert sum(vertex.shares("emotion").values()) == 100


def test_a_version_already_deployed_only_gets_its_new_share() -> None:
    vertex = FakeEndpoints()
    deploy_version(vertex.sdk, target("1"), "emotion", DeployOptions())
    deploy_version(vertex.sdk, target("2"), "emotion", DeployOptions(traffic_percent=10))
    vertex.calls.clear()
    deploy_version(vertex.sdk, target("2"), "emotion", DeployOptions(traffic_percent=50))
    assert vertex.sent() == ["Endpoint.update"]
    assert vertex.shares("emotion") == {"1": 50, "2": 50}


def test_100_percent_replaces_the_others_after_the_new_version_takes_all_traffic() -> None:
    vertex = FakeEndpoints()
    deploy_version(vertex.sdk, target("1"), "emotion", DeployOptions())
    deploy_version(vertex.sdk, target("2"), "emotion", DeployOptions(traffic_percent=20))
    vertex.calls.clear()
    deploy_version(
        vertex.sdk,
        target("3", "transformer"),
        "emotion",
        DeployOptions(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1),
    )
    assert vertex.sent() == ["Model", "Endpoint.deploy", "Endpoint.undeploy", "Endpoint.undeploy"]
    deploy = vertex.calls[2][1]
    assert set(deploy["traffic_split"].values()) == {100, 0} and deploy["traffic_split"]["0"] == 100
    assert (deploy["accelerator_type"], deploy["accelerator_count"]) == ("NVIDIA_TESLA_T4", 1)
    assert vertex.shares("emotion") == {"3": 100}


def test_undeploy_rescales_the_remaining_traffic_and_refuses_to_strand_it_without_force() -> None:
    vertex = FakeEndpoints()
    deploy_version(vertex.sdk, target("1"), "emotion", DeployOptions())
    deploy_version(vertex.sdk, target("2"), "emotion", DeployOptions(traffic_percent=25))
    deploy_version(vertex.sdk, target("3"), "emotion", DeployOptions(traffic_percent=10))  # 1: 68, 2: 22, 3: 10
    undeploy_version(vertex.sdk, target("2"), "emotion")
    assert vertex.shares("emotion") == {"1": 87, "3": 13}  # 68 and 10 of 78, scaled to 100: 87.18, 12.82
    undeploy_version(vertex.sdk, target("3"), "emotion")
    assert vertex.shares("emotion") == {"1": 100}
    with pytest.raises(DeployError, match=r"last deployed model.*--force"):
        undeploy_version(vertex.sdk, target("1"), "emotion")
    with pytest.raises(DeployError, match=r"emotion-demo/9: not deployed on endpoint 'emotion' \(deployed: emotion"):
        undeploy_version(vertex.sdk, target("9"), "emotion")
    with pytest.raises(DeployError, match="no endpoint has this display name"):
        undeploy_version(vertex.sdk, target("1"), "elsewhere")
    undeploy_version(vertex.sdk, target("1"), "emotion", force=True)
    assert vertex.shares("emotion") == {}


def test_removing_the_only_version_with_traffic_needs_force_and_then_splits_evenly() -> None:
    vertex = FakeEndpoints()
    deploy_version(vertex.sdk, target("1"), "emotion", DeployOptions())
    deploy_version(vertex.sdk, target("2"), "emotion", DeployOptions(traffic_percent=100))
    endpoint = vertex.endpoints[0]
    endpoint.models.append(
        SimpleNamespace(
            id="7", model="projects/p/locations/l/models/emotion-demo@5", model_version_id="", display_name="v5"
        )
    )
    with pytest.raises(DeployError, match="only deployed model with traffic"):
        undeploy_version(vertex.sdk, target("2"), "emotion")
    undeploy_version(vertex.sdk, target("2"), "emotion", force=True)
    assert endpoint.traffic_split == {"7": 100}


def test_a_dry_run_reads_but_sends_nothing_and_says_every_call_on_its_own_line() -> None:
    vertex = FakeEndpoints()
    outcome = deploy_version(vertex.sdk, target("4"), "emotion", DeployOptions(traffic_percent=5), dry_run=True)
    assert vertex.sent() == [] and vertex.endpoints == []
    lines = outcome.lines()
    assert '"read": "ModelRegistry.get_model"' in lines[0] and '"arm": "scratch"' in lines[0]
    assert '"filter": "display_name=\\"emotion\\""' in lines[1]
    assert [line.split('"call": "')[1].split('"')[0] for line in lines[2:]] == [
        "Endpoint.create",
        "Model",
        "Endpoint.deploy",
    ]
    assert '"model": "projects/p/locations/l/models/emotion-demo@4"' in lines[-1]


def test_two_endpoints_with_the_name_are_refused() -> None:
    vertex = FakeEndpoints()
    vertex.add("emotion"), vertex.add("emotion")
    with pytest.raises(DeployError, match="2 endpoints have this display name"):
        deploy_version(vertex.sdk, target("1"), "emotion", DeployOptions())


@pytest.mark.parametrize(
    ("shares", "total", "expected"),
    [
        ({"a": 70, "b": 30}, 85, {"a": 60, "b": 25}),  # 59.5 / 25.5: the tie goes to the larger share
        ({"a": 1, "b": 1, "c": 1}, 100, {"a": 34, "b": 33, "c": 33}),
        ({"a": 0, "b": 0}, 90, {"a": 45, "b": 45}),  # no traffic anywhere: equal shares
        ({"a": 50, "b": 50}, 0, {"a": 0, "b": 0}),
        ({}, 100, {}),
    ],
)
def test_rescale_gives_integers_summing_to_the_total_by_the_largest_remainder(
    shares: dict[str, int], total: int, expected: dict[str, int]
) -> None:
    assert rescale(shares, total) == expected


def test_split_traffic_puts_the_new_share_first_and_gives_all_to_a_lone_model() -> None:
    assert split_traffic({"11": 50, "12": 50}, "0", 33) == {"0": 33, "11": 34, "12": 33}
    assert split_traffic({}, "0", 10) == {"0": 100}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"traffic_percent": 0}, "traffic_percent: expected a whole number from 1 to 100, got 0"),
        ({"traffic_percent": 101}, "traffic_percent"),
        ({"traffic_percent": 12.5}, "traffic_percent"),
        ({"min_replicas": 0}, "min_replicas: expected a whole number >= 1"),
        ({"min_replicas": 3, "max_replicas": 2}, "max_replicas 2 is below min_replicas 3"),
        ({"machine_type": "big one"}, "machine_type: expected a Vertex AI machine type"),
        ({"accelerator_type": "NVIDIA_TESLA_T4"}, "give both"),
        ({"accelerator_count": 1}, "give both"),
    ],
)
def test_bad_options_are_refused_in_one_line_naming_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DeployError, match=message) as caught:
        DeployOptions(**kwargs)
    assert "\n" not in str(caught.value)


def test_bad_names_and_registries_are_refused() -> None:
    with pytest.raises(DeployError, match="not a Vertex AI accelerator"):
        check_accelerator("NVIDIA_GTX_1080")
    check_accelerator("NVIDIA_L4")
    with pytest.raises(DeployError, match="without quotes"):
        check_endpoint_name('a"b')
    with pytest.raises(DeployError, match="give vertex://PROJECT/REGION"):
        vertex_coordinates("/tmp/registry")
    assert vertex_coordinates("vertex://proj/europe-west4") == ("proj", "europe-west4")
    assert plan_deployment(EndpointState("e", "projects/p/locations/l/endpoints/1"), target("1"), DeployOptions())[0]


def test_the_pipeline_step_deploys_the_version_its_register_record_names() -> None:
    vertex = FakeEndpoints()
    record = {"registry": "vertex://p/l", "model_name": "emotion-demo", "version": "3", "model": "automl"}
    outcome = deploy_record(record, "emotion", DeployOptions(), sdk=vertex.sdk)
    assert outcome.target.arm == "automl" and vertex.shares("emotion") == {"3": 100}
    with pytest.raises(DeployError, match="give vertex://"):
        deploy_record({**record, "registry": "/runs/registry"}, "emotion", DeployOptions(), sdk=vertex.sdk)
