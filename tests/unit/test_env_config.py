"""Environment files: every shipped one loads; typos and unsafe values fail naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.kfp_components import StepComponents
from pipelines.env_config import (
    STEP_NAMES,
    ConfigError,
    available_envs,
    cpu_cores,
    load_env_config,
    memory_bytes,
    with_pull_policy,
)


def test_step_names_match_the_components() -> None:
    assert tuple(StepComponents.__dataclass_fields__) == STEP_NAMES


@pytest.mark.parametrize("name", ["default", "vertex", "kind", "minikube"])
def test_shipped_environments_load_with_safe_settings(name: str) -> None:
    config = load_env_config(name)
    assert set(config.settings.steps) == set(STEP_NAMES)
    ingest = config.settings.steps["ingest"]
    assert ingest.caching is False and ingest.retries >= 1
    automl = config.settings.steps["train_automl"]
    for step, settings in config.settings.steps.items():
        assert cpu_cores(settings.cpu_request) <= cpu_cores(settings.cpu_limit), step
        if step != "train_automl":
            assert memory_bytes(settings.memory_limit) < memory_bytes(automl.memory_limit), step


def test_available_envs_lists_the_files() -> None:
    assert {"default", "vertex", "kind", "minikube"} <= set(available_envs())


def test_cluster_envs_use_if_not_present_and_kfp() -> None:
    for name in ("kind", "minikube"):
        config = load_env_config(name)
        assert (config.target, config.settings.image_pull_policy) == ("kfp", "IfNotPresent")
        assert config.kfp_host == "http://localhost:8080"
    vertex = load_env_config("vertex")
    assert vertex.target == "vertex" and vertex.pipeline_root.startswith("gs://")
    assert vertex.settings.image_pull_policy == ""


def test_an_env_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("project: p1\nsteps:\n  clean: {cpu_limit: '3'}\nlabels: {team: ml}\n")
    config = load_env_config(path)
    default = load_env_config()
    assert config.project == "p1" and config.name == "mine"
    assert config.settings.steps["clean"].cpu_limit == "3"
    assert config.settings.steps["clean"].memory_limit == default.settings.steps["clean"].memory_limit
    assert config.labels == {"app": "emotion-pipeline", "team": "ml"}


def test_any_step_may_set_retries_and_caching(tmp_path: Path) -> None:
    """default.yaml sets retries/caching for ingest only; every step may still set them (StepSettings keys)."""
    path = tmp_path / "retry.yaml"
    path.write_text("steps:\n  clean: {retries: 1}\n  profile: {caching: false, retries: 0}\n")
    steps = load_env_config(path).settings.steps
    assert (steps["clean"].retries, steps["clean"].caching) == (1, True)
    assert (steps["profile"].retries, steps["profile"].caching) == (0, False)
    assert steps["clean"].cpu_limit == load_env_config().settings.steps["clean"].cpu_limit  # the rest is kept


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("projct: p\n", "unknown key 'projct'"),
        ("steps:\n  clean: {cpu: '1'}\n", "unknown key 'steps.clean.cpu'"),
        ("steps:\n  cleaning: {cpu_limit: '1'}\n", "unknown key 'steps.cleaning'"),
        ("steps:\n  ingest: {caching: true}\n", "steps.ingest.caching: must stay false"),
        ("steps:\n  clean: {cpu_request: '2', cpu_limit: '1'}\n", "cpu_request 2 is above cpu_limit 1"),
        ("steps:\n  clean: {memory_request: 4Gi}\n", "memory_request 4Gi is above memory_limit 2Gi"),
        ("steps:\n  clean: {memory_limit: 1.5Gi}\n", "memory_limit: '1.5Gi' is not a memory quantity"),
        ("steps:\n  clean: {cpu_limit: one}\n", "cpu_limit: 'one' is not a CPU quantity"),
        ("steps:\n  clean: {retries: -1}\n", "steps.clean.retries: expected a whole number >= 0, got -1"),
        ("steps:\n  clean: {retries: yes}\n", "steps.clean.retries: expected a whole number >= 0, got True"),
        ("steps:\n  clean: {caching: maybe}\n", "steps.clean.caching: expected true or false, got 'maybe'"),
        ("target: airflow\n", "target: expected one of"),
        ("image_pull_policy: Sometimes\n", "image_pull_policy: expected one of"),
        ("pipeline_root: /tmp/root\n", "pipeline_root: expected a gs://"),
        ("images: {default: ''}\n", "images.default"),
        ("images: {steps: {train: x}}\n", "images.steps: unknown step(s) ['train']"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_env_config(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


def test_missing_env_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="environment file not found; shipped environments"):
        load_env_config("staging")


def test_pull_policy_override_is_validated() -> None:
    config = load_env_config("kind")
    with pytest.raises(ConfigError, match="image pull policy"):
        with_pull_policy(config.settings, "Sometimes")


def test_quantities() -> None:
    assert cpu_cores("500m") == 0.5 and cpu_cores("2") == 2.0
    assert memory_bytes("2Gi") == 2 * 2**30 and memory_bytes("512M") == 512 * 10**6
