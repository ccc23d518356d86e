"""Vertex AI Model Registry with only the SDK's network boundary replaced.

``aiplatform.Model.upload``, ``aiplatform.models.ModelRegistry`` and ``ModelServiceClient.import_model_evaluation``
are fakes that bind every call to the REAL SDK signature (a renamed or unknown keyword fails here as it would
against the service) and keep versions and aliases in memory, as Vertex AI would. Nothing here reaches Vertex AI:
it cannot be reached from the test machines, so this code has not run against the real service.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform
from google.cloud.aiplatform.models import ModelRegistry
from google.cloud.aiplatform_v1 import ModelServiceClient

from components.registry.store import CLASSIFICATION_METRICS_SCHEMA, ModelRef, RegistryError, open_registry


def _bind(real: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The arguments bound to the real SDK callable's signature (as tests/unit/test_cloud.py does)."""
    try:
        bound = inspect.signature(real).bind(*args, **kwargs)
    except TypeError as err:
        pytest.fail(f"{real.__qualname__}{inspect.signature(real)} called with {args} {kwargs}: {err}")
    return {name: value for name, value in bound.arguments.items() if name not in ("self", "cls")}


class FakeVertex:
    """Vertex AI Model Registry in memory: models → versions (id, uri, labels), aliases → version id."""

    def __init__(self) -> None:
        self.models: dict[str, list[SimpleNamespace]] = {}
        self.aliases: dict[str, dict[str, str]] = {}
        self.uploads: list[dict[str, Any]] = []
        self.evaluations: list[dict[str, Any]] = []
        vertex = self

        class Model:
            @classmethod
            def upload(cls, *args: Any, **kwargs: Any) -> SimpleNamespace:
                call = _bind(aiplatform.Model.upload, *args, **kwargs)
                vertex.uploads.append(call)
                model_id = call.get("parent_model") or call["model_id"]
                versions = vertex.models.setdefault(model_id, [])
                version = SimpleNamespace(
                    version_id=str(len(versions) + 1),
                    uri=call["artifact_uri"],
                    labels=call.get("labels", {}),
                    versioned_resource_name=f"projects/p/locations/l/models/{model_id}@{len(versions) + 1}",
                )
                versions.append(version)
                return version

        class Registry:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self.model_id = _bind(ModelRegistry.__init__, None, *args, **kwargs)["model"]

            def _versions(self) -> list[SimpleNamespace]:
                if self.model_id not in vertex.models:
                    raise exceptions.NotFound(f"model {self.model_id}")
                return vertex.models[self.model_id]

            def list_versions(self, *args: Any, **kwargs: Any) -> list[SimpleNamespace]:
                _bind(ModelRegistry.list_versions, None, *args, **kwargs)
                return self._versions()

            def get_model(self, *args: Any, **kwargs: Any) -> SimpleNamespace:
                version = _bind(ModelRegistry.get_model, None, *args, **kwargs).get("version")
                version = vertex.aliases.get(self.model_id, {}).get(version, version)
                found = [v for v in self._versions() if v.version_id == version]
                if not found:
                    raise exceptions.NotFound(f"{self.model_id}@{version}")
                return found[0]

            def add_version_aliases(self, *args: Any, **kwargs: Any) -> None:
                call = _bind(ModelRegistry.add_version_aliases, None, *args, **kwargs)
                self._versions()
                for alias in call["new_aliases"]:
                    vertex.aliases.setdefault(self.model_id, {})[alias] = call["version"]

        class EvaluationClient:
            def import_model_evaluation(self, *args: Any, **kwargs: Any) -> None:
                vertex.evaluations.append(_bind(ModelServiceClient.import_model_evaluation, None, *args, **kwargs))

        self.sdk = {"model_cls": Model, "registry_cls": Registry, "evaluation_client": EvaluationClient()}


def _register(registry: Any, run: str) -> Any:
    return registry.register(
        "emotion-emotion6",
        Path("/nowhere"),
        "gs://bucket/root/run/register/registered_model",
        tags={"task": "emotion6", "pipeline_run": run, "data_sha256": "ab" * 32, "promoted": "true"},
        metrics={"accuracy": 0.92, "macro_f1": 0.89},
        description="version: first",
        image="REG/emotion:1",
        evaluation={"labels": ["joy", "sadness"], "confusion_matrix": [[5, 1], [2, 7]]},
    )


def test_versions_under_one_parent_model_the_champion_alias_and_the_imported_evaluation() -> None:
    vertex = FakeVertex()
    registry = open_registry("vertex://my-project/europe-west4", "gs://staging", **vertex.sdk)
    assert registry.kind == "vertex" and registry.uri == "vertex://my-project/europe-west4"
    assert registry.champion("emotion-emotion6") is None  # no model yet

    first = _register(registry, "Emotion-Pipeline-2026-12-01 10:00")
    upload = vertex.uploads[0]
    assert upload["model_id"] == "emotion-emotion6" and upload["parent_model"] is None
    assert upload["is_default_version"] is True and upload["display_name"] == "emotion-emotion6"
    assert upload["artifact_uri"] == "gs://bucket/root/run/register/registered_model"
    assert upload["serving_container_image_uri"] == "REG/emotion:1"
    assert upload["serving_container_command"] == ["emotion-pipeline", "serve"]
    assert (upload["serving_container_predict_route"], upload["serving_container_health_route"]) == (
        "/predict",
        "/health",
    )
    assert upload["labels"]["pipeline_run"] == "emotion-pipeline-2026-12-01-10-00"  # a valid label value
    assert (upload["project"], upload["location"]) == ("my-project", "europe-west4")
    evaluation = vertex.evaluations[0]
    assert evaluation["parent"] == "projects/p/locations/l/models/emotion-emotion6@1"
    assert evaluation["model_evaluation"].metrics_schema_uri == CLASSIFICATION_METRICS_SCHEMA
    assert evaluation["model_evaluation"].metrics["confusionMatrix"]["rows"][1][1] == 7

    assert registry.champion("emotion-emotion6") is None  # registered, not promoted
    registry.set_champion("emotion-emotion6", first.version)
    assert registry.champion("emotion-emotion6").version == "1"

    second = _register(registry, "run-2")
    assert vertex.uploads[1]["parent_model"] == "emotion-emotion6" and vertex.uploads[1]["model_id"] is None
    assert vertex.uploads[1]["is_default_version"] is False and second.version == "2"
    assert registry.champion("emotion-emotion6").version == "1"
    assert registry.resolve(ModelRef.parse("emotion-emotion6/2")).source.startswith("gs://bucket/")
    with pytest.raises(RegistryError, match="not in Vertex AI Model Registry"):
        registry.resolve(ModelRef.parse("emotion-other@champion"))


def test_a_folder_not_on_gcs_is_staged_by_the_sdk() -> None:
    vertex = FakeVertex()
    registry = open_registry("vertex://p/l", "gs://staging-bucket", **vertex.sdk)
    registry.register(
        "m", Path("/tmp/model"), "/tmp/model", tags={}, metrics={}, description="", image="i", evaluation={}
    )
    assert (
        vertex.uploads[0]["artifact_uri"] == "/tmp/model"
        and vertex.uploads[0]["staging_bucket"] == "gs://staging-bucket"
    )
