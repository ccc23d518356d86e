"""Moving the champion alias (by hand or by the pipeline's promote task), recorded the same way on the version,
in a real MLflow folder registry and in Vertex AI Model Registry with the SDK's network boundary replaced by fakes
bound to the real signatures; and the champion rule itself."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud.aiplatform.models import ModelRegistry
from google.cloud.aiplatform_v1 import ModelServiceClient
from shadow_logs import MODEL, two_versions

from components.registry.promotion import AUTOMATIC, MANUAL, promote
from components.registry.store import ModelRef, RegistryError, open_registry
from components.stats.bootstrap import PairedDifference
from components.stats.promotion import KEEP, PROMOTE, promotion_verdict
from components.steps.register import promote_version

TAG_KEYS = {"promoted", "promotion", "promoted_by", "promoted_at", "promotion_reason", "previous_champion_version"}


def _difference(low: float, high: float) -> PairedDifference:
    return PairedDifference("macro_f1", 0.8, 0.7, 0.1, (low, high), 0.95, 1000, 42)


def test_the_champion_rule_promotes_only_above_zero() -> None:
    above = promotion_verdict(_difference(0.01, 0.2), "cmp")
    assert (above.promoted, above.verdict, above.reason) == (True, PROMOTE, "beats the champion: cmp (above 0)")
    below = promotion_verdict(_difference(-0.2, -0.01), "cmp")
    assert (below.promoted, below.verdict) == (False, KEEP) and "worse than the champion" in below.reason
    zero = promotion_verdict(_difference(0.0, 0.2), "cmp")  # 0 itself is not above 0
    assert not zero.promoted and zero.reason == "not shown better: cmp contains 0; champion kept"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return Path(two_versions(tmp_path_factory.mktemp("promotion"), profile=False)["registry"])


@pytest.fixture()
def registry(built: Path, tmp_path: Path) -> Any:
    """A copy of the two-version registry (version 1 champion) for each test: aliases and tags only change."""
    shutil.copytree(built, tmp_path / "registry")
    return open_registry(str(tmp_path / "registry"))


def test_a_manual_promotion_moves_the_alias_and_records_who_when_why_and_the_champion_before(registry) -> None:
    done = promote(registry, MODEL, "2", reason="won the shadow test", promoted_by="alice")
    assert done.changed and done.previous_champion_version == "1" and registry.champion(MODEL).version == "2"
    tags = registry.resolve(ModelRef.parse(f"{MODEL}/2")).tags
    assert set(tags) >= TAG_KEYS and tags["promotion"] == MANUAL and tags["promoted_by"] == "alice"
    assert tags["promotion_reason"] == "won the shadow test" and tags["previous_champion_version"] == "1"
    assert tags["promoted_at"].endswith("Z") and tags["promoted"] == "true"
    described = registry.client.get_model_version(MODEL, "2").description
    assert (
        described.startswith("test\n") and "(manual, by alice; champion before: v1): won the shadow test" in described
    )
    assert "promotion" not in registry.resolve(ModelRef.parse(f"{MODEL}/1")).tags  # the old champion is untouched


def test_already_champion_dry_run_unknown_version_and_no_reason_change_nothing(registry) -> None:
    same = promote(registry, MODEL, "1", reason="again", promoted_by="bob")
    assert not same.changed and "already version 1" in same.message
    assert "promotion" not in registry.resolve(ModelRef.parse(f"{MODEL}/1")).tags
    dry = promote(registry, MODEL, "2", reason="try", promoted_by="bob", dry_run=True)
    assert not dry.changed and dry.message.startswith("would move") and registry.champion(MODEL).version == "1"
    with pytest.raises(RegistryError, match="emotion-demo/9: not in the registry"):
        promote(registry, MODEL, "9", reason="x", promoted_by="bob")
    with pytest.raises(RegistryError, match="needs a reason"):
        promote(registry, MODEL, "2", reason="  ", promoted_by="bob")
    assert registry.champion(MODEL).version == "1"


def test_the_pipelines_promotion_is_recorded_with_the_same_tags(registry) -> None:
    line = promote_version(
        registry_uri="",
        registry_artifact_uri="",
        model_name=MODEL,
        version="2",
        reason="version 2: beats the champion",
        run_name="run-7",
        registry=registry,
    )
    assert line.startswith(f"{MODEL}@champion -> version 2")
    tags = registry.resolve(ModelRef.parse(f"{MODEL}/2")).tags
    assert set(tags) >= TAG_KEYS and tags["promotion"] == AUTOMATIC and tags["promoted_by"] == "pipeline run run-7"
    assert tags["promotion_reason"] == "version 2: beats the champion"


def _bind(real: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        bound = inspect.signature(real).bind(*args, **kwargs)
    except TypeError as err:
        pytest.fail(f"{real.__qualname__}{inspect.signature(real)} called with {args} {kwargs}: {err}")
    return {name: value for name, value in bound.arguments.items() if name not in ("self", "cls")}


class FakeVertex:
    """Versions (labels, version description), the champion alias and ``UpdateModel`` calls, in memory."""

    def __init__(self) -> None:
        self.versions = {
            str(v): SimpleNamespace(
                version_id=str(v),
                uri=f"gs://b/m{v}",
                labels={"task": "demo"},
                version_description=f"v{v}",
                versioned_resource_name=f"projects/p/locations/l/models/emotion-demo@{v}",
            )
            for v in (1, 2)
        }
        self.aliases = {"champion": "1"}
        self.updates: list[dict[str, Any]] = []
        vertex = self

        class Registry:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                _bind(ModelRegistry.__init__, None, *args, **kwargs)

            def get_model(self, *args: Any, **kwargs: Any) -> SimpleNamespace:
                version = _bind(ModelRegistry.get_model, None, *args, **kwargs).get("version")
                version = vertex.aliases.get(version, version)
                if version not in vertex.versions:
                    raise exceptions.NotFound(f"emotion-demo@{version}")
                return vertex.versions[version]

            def add_version_aliases(self, *args: Any, **kwargs: Any) -> None:
                call = _bind(ModelRegistry.add_version_aliases, None, *args, **kwargs)
                for alias in call["new_aliases"]:
                    vertex.aliases[alias] = call["version"]

        class Client:
            def update_model(self, *args: Any, **kwargs: Any) -> None:
                call = _bind(ModelServiceClient.update_model, None, *args, **kwargs)
                vertex.updates.append(call)
                version = call["model"].name.rpartition("@")[2]
                found = vertex.versions[version]
                found.labels = dict(call["model"].labels)
                if "version_description" in call["update_mask"].paths:
                    found.version_description = call["model"].version_description

        self.sdk = {"registry_cls": Registry, "evaluation_client": Client()}


def test_vertex_promotion_moves_the_alias_and_updates_the_versions_labels_and_description() -> None:
    vertex = FakeVertex()
    registry = open_registry("vertex://my-project/europe-west4", **vertex.sdk)
    done = promote(registry, MODEL, "2", reason="Won the Shadow test, see shadow.md", promoted_by="Alice")
    assert done.changed and vertex.aliases["champion"] == "2" and done.previous_champion_version == "1"
    update = vertex.updates[0]
    assert update["model"].name.endswith("models/emotion-demo@2")  # a version-specific update
    assert sorted(update["update_mask"].paths) == ["labels", "version_description"]
    labels = vertex.versions["2"].labels
    assert labels["task"] == "demo" and labels["promotion"] == "manual" and labels["promoted_by"] == "alice"
    assert labels["previous_champion_version"] == "1" and labels["promotion_reason"].startswith("won-the-shadow-test")
    assert all(len(value) <= 63 for value in labels.values())
    assert "Won the Shadow test, see shadow.md" in vertex.versions["2"].version_description  # the reason in full
    again = promote(registry, MODEL, "2", reason="again", promoted_by="alice")
    assert not again.changed and len(vertex.updates) == 1
    with pytest.raises(RegistryError, match="not in Vertex AI Model Registry"):
        promote(registry, MODEL, "5", reason="x", promoted_by="alice")
