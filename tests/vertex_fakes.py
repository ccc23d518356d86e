"""Vertex AI endpoints and Model Registry in memory, for tests: fakes bound to the REAL aiplatform signatures.

``aiplatform.Endpoint`` (``list``, ``create``, ``deploy``, ``update``, ``undeploy``), ``aiplatform.Model`` and
``aiplatform.models.ModelRegistry`` (``get_model``): every call is bound to the real SDK signature (a renamed or
unknown keyword fails as it would against the service), what the SDK refuses is refused (a traffic split not
summing to 100, removing a model that still has traffic without a new split), and the state is kept in memory.
"""

from __future__ import annotations

import inspect
import itertools
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform
from google.cloud.aiplatform.models import ModelRegistry

from components.registry.endpoints import VertexSdk

#: The real SDK classes, kept before any test replaces them (the CLI tests patch aiplatform's own names).
ENDPOINT, MODEL, REGISTRY = aiplatform.Endpoint, aiplatform.Model, ModelRegistry


def bind(real: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The arguments bound to the real SDK callable's signature (as tests/unit/test_vertex_registry.py does)."""
    try:
        bound = inspect.signature(real).bind(*args, **kwargs)
    except TypeError as err:
        pytest.fail(f"{real.__qualname__}{inspect.signature(real)} called with {args} {kwargs}: {err}")
    return {name: value for name, value in bound.arguments.items() if name not in ("self", "cls")}


class FakeEndpoints:
    """Vertex AI endpoints in memory: display name, deployed models, traffic split; every call recorded."""

    def __init__(self) -> None:
        self.endpoints: list[Any] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        ids = itertools.count(1001)
        vertex = self

        class Model:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                call = bind(MODEL.__init__, None, *args, **kwargs)
                vertex.calls.append(("Model", call))
                self.resource_name, self.version_id = call["model_name"], call.get("version")

        class Endpoint:
            def __init__(self, display_name: str, number: int) -> None:
                self.display_name = display_name
                self.resource_name = f"projects/p/locations/l/endpoints/{number}"
                self.models: list[SimpleNamespace] = []
                self.traffic_split: dict[str, int] = {}

            @classmethod
            def list(cls, *args: Any, **kwargs: Any) -> list[Any]:
                call = bind(ENDPOINT.list, *args, **kwargs)
                vertex.calls.append(("Endpoint.list", call))
                return [e for e in vertex.endpoints if call["filter"] == f'display_name="{e.display_name}"']

            @classmethod
            def create(cls, *args: Any, **kwargs: Any) -> Any:
                call = bind(ENDPOINT.create, *args, **kwargs)
                vertex.calls.append(("Endpoint.create", call))
                return vertex.add(call["display_name"])

            def list_models(self) -> list[SimpleNamespace]:
                return list(self.models)

            def deploy(self, *args: Any, **kwargs: Any) -> None:
                call = bind(ENDPOINT.deploy, self, *args, **kwargs)
                vertex.calls.append(("Endpoint.deploy", call))
                split = call["traffic_split"]
                assert sum(split.values()) == 100, split  # the SDK's own check
                new = str(next(ids))
                model = call["model"]
                self.models.append(
                    SimpleNamespace(
                        id=new,
                        model=model.resource_name,
                        model_version_id=model.version_id,
                        display_name=call["deployed_model_display_name"],
                    )
                )
                self.traffic_split = {(new if k == "0" else k): v for k, v in split.items()}

            def update(self, *args: Any, **kwargs: Any) -> None:
                call = bind(ENDPOINT.update, self, *args, **kwargs)
                vertex.calls.append(("Endpoint.update", call))
                assert sum(call["traffic_split"].values()) == 100
                self.traffic_split = dict(call["traffic_split"])

            def undeploy(self, *args: Any, **kwargs: Any) -> None:
                call = bind(ENDPOINT.undeploy, self, *args, **kwargs)
                vertex.calls.append(("Endpoint.undeploy", call))
                gone, split = call["deployed_model_id"], call.get("traffic_split")
                if split is not None:
                    assert not split.get(gone) and sum(split.values()) == 100, split
                elif len(self.models) > 1:  # the SDK refuses to strand traffic
                    assert not self.traffic_split.get(gone), f"{gone} still has traffic"
                self.models = [m for m in self.models if m.id != gone]
                self.traffic_split = (
                    split if split is not None else {k: v for k, v in self.traffic_split.items() if k != gone}
                )

        self.model_cls, self.endpoint_cls, self._number = Model, Endpoint, itertools.count(1)
        self.sdk = VertexSdk(endpoint_cls=Endpoint, model_cls=Model)

    def add(self, display_name: str) -> Any:
        endpoint = self.endpoint_cls(display_name, next(self._number))
        self.endpoints.append(endpoint)
        return endpoint

    def shares(self, display_name: str) -> dict[str, int]:
        """Deployed version → its traffic share."""
        (endpoint,) = [e for e in self.endpoints if e.display_name == display_name]
        return {m.model_version_id: endpoint.traffic_split.get(m.id, 0) for m in endpoint.models}

    def sent(self) -> list[str]:
        return [name for name, _ in self.calls if name != "Endpoint.list"]


class FakeModelRegistry:
    """Vertex AI Model Registry for reads: model id → version id → labels; aliases → version id."""

    def __init__(self, versions: dict[str, dict[str, dict[str, str]]], aliases: dict[str, dict[str, str]]) -> None:
        class Registry:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self.model_id = bind(REGISTRY.__init__, None, *args, **kwargs)["model"]

            def get_model(self, *args: Any, **kwargs: Any) -> SimpleNamespace:
                asked = bind(REGISTRY.get_model, None, *args, **kwargs).get("version")
                version = aliases.get(self.model_id, {}).get(asked, asked)
                labels = versions.get(self.model_id, {}).get(version)
                if labels is None:
                    raise exceptions.NotFound(f"{self.model_id}@{asked}")
                return SimpleNamespace(version_id=version, uri=f"gs://b/{version}", labels=labels)

        self.registry_cls = Registry
