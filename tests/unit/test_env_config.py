"""Environment files: every shipped one loads; typos and unsafe values fail naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from components.arms import ARMS
from components.kfp_components import SHARED_STEPS
from pipelines.env_config import (
    ENV_DIR,
    STEP_NAMES,
    ConfigError,
    StepSettings,
    available_envs,
    cpu_cores,
    load_env_config,
    memory_bytes,
    with_pull_policy,
)


def test_step_names_match_the_components() -> None:
    from components.kfp_components import build_components

    arm_steps = [step for arm in ARMS.values() for step in arm.all_steps]
    assert sorted(STEP_NAMES) == sorted([*SHARED_STEPS, *arm_steps]) and len(set(STEP_NAMES)) == len(STEP_NAMES)
    assert STEP_NAMES[:3] == ("fingerprint", "ingest", "clean")  # then every arm's steps, in arm order
    assert [s for s in STEP_NAMES if s in arm_steps] == arm_steps
    built = build_components(tuple(ARMS.values()))
    assert {*built.shared, *(step for own in built.arms.values() for step in own)} == set(STEP_NAMES)


#: The training steps of the heavy stacks (PyCaret, torch): the largest memory limits of every environment.
HEAVY_STEPS = ("train_automl", "train_transformer")


@pytest.mark.parametrize("name", ["default", "vertex", "vertex-1m", "kfp-local", "kind", "minikube"])
def test_shipped_environments_load_with_safe_settings(name: str) -> None:
    config = load_env_config(name)
    assert set(config.settings.steps) == set(STEP_NAMES)
    fingerprint, ingest = config.settings.steps["fingerprint"], config.settings.steps["ingest"]
    assert fingerprint.caching is False and fingerprint.retries >= 1  # reads the files' versions: never cached
    assert ingest.caching is True and ingest.retries >= 1  # cached while the fingerprint is unchanged
    automl = config.settings.steps["train_automl"]
    transformer = config.settings.steps["train_transformer"]
    assert memory_bytes(transformer.memory_limit) >= memory_bytes(automl.memory_limit)
    for step, settings in config.settings.steps.items():
        assert cpu_cores(settings.cpu_request) <= cpu_cores(settings.cpu_limit), step
        if step not in HEAVY_STEPS:
            assert memory_bytes(settings.memory_limit) < memory_bytes(automl.memory_limit), step
    # an accelerator on Vertex AI only, and only for the transformer's fine-tuning
    accelerated = {
        step: (s.accelerator_type, s.accelerator_count)
        for step, s in config.settings.steps.items()
        if s.accelerator_type or s.accelerator_count
    }
    expected = {"train_transformer": ("NVIDIA_TESLA_T4", 1)} if name.startswith("vertex") else {}
    assert accelerated == expected


def test_an_accelerator_needs_its_type_and_count_together() -> None:
    base = {"cpu_request": "1", "cpu_limit": "1", "memory_request": "1Gi", "memory_limit": "1Gi"}
    assert StepSettings(**base, accelerator_type="NVIDIA_L4", accelerator_count=2).accelerator_count == 2
    for half in ({"accelerator_type": "NVIDIA_L4"}, {"accelerator_count": 1}):
        with pytest.raises(ValidationError, match="accelerator_type and accelerator_count together"):
            StepSettings(**base, **half)
    with pytest.raises(ValidationError):
        StepSettings(**base, accelerator_type="NVIDIA_L4", accelerator_count=-1)


def test_available_envs_lists_the_files() -> None:
    assert {"default", "vertex", "vertex-1m", "kfp-local", "kind", "minikube"} <= set(available_envs())


#: Peak memory (MB, the step's process tree) of each step at 1,000,000 training rows, default settings, as
#: ``python benchmarks/scale.py`` measured it on 2026-12-02 (docs/RESULTS.md).
PEAK_MB_AT_1M = {
    "ingest": 1579,
    "clean": 3623,
    "vectorise": 2159,
    "train_scratch": 1799,
    "train_automl": 4754,
    "evaluate": 472,
}


def test_the_million_row_environment_leaves_every_step_half_again_its_measured_peak() -> None:
    steps = load_env_config("vertex-1m").settings.steps
    short = {
        step: steps[step].memory_limit
        for step, peak in PEAK_MB_AT_1M.items()
        if memory_bytes(steps[step].memory_limit) < 1.5 * peak * 2**20
    }
    assert not short, f"memory limits below 1.5 × the peak measured at 1M rows: {short}"
    default = load_env_config("vertex").settings.steps
    assert memory_bytes(default["clean"].memory_limit) < 1.5 * PEAK_MB_AT_1M["clean"] * 2**20  # why the file exists


def test_cluster_envs_use_if_not_present_and_kfp() -> None:
    for name in ("kfp-local", "kind", "minikube"):
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
        ("steps:\n  fingerprint: {caching: true}\n", "steps.fingerprint.caching: must stay false"),
        ("network: my-vpc\n", "network: expected projects/PROJECT_NUMBER/global/networks/NAME, got 'my-vpc'"),
        ("encryption_spec_key_name: key\n", "encryption_spec_key_name: expected projects/P/locations/L/keyRings/R"),
        ("failure_policy: quick\n", "failure_policy: expected one of '', 'fast' or 'slow', got 'quick'"),
        ("template_registry: gs://b/t\n", "template_registry: expected https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY"),
        ("steps:\n  clean: {cpu_request: '2', cpu_limit: '1'}\n", "cpu_request 2 is above cpu_limit 1"),
        ("steps:\n  clean: {memory_request: 4Gi}\n", "memory_request 4Gi is above memory_limit 2Gi"),
        ("steps:\n  clean: {memory_limit: 1.5Gi}\n", "memory_limit: '1.5Gi' is not a memory quantity"),
        ("steps:\n  clean: {cpu_limit: one}\n", "cpu_limit: 'one' is not a CPU quantity"),
        ("steps:\n  clean: {retries: -1}\n", "steps.clean.retries: expected a value >= 0, got -1"),
        ("steps:\n  clean: {retries: yes}\n", "steps.clean.retries: expected a whole number, got True"),
        ("steps:\n  clean: {retries: 1.0}\n", "steps.clean.retries: expected a whole number, got 1.0"),
        ("steps:\n  clean: {caching: maybe}\n", "steps.clean.caching: expected true or false, got 'maybe'"),
        ("target: airflow\n", "target: expected one of 'vertex' or 'kfp', got 'airflow'"),
        ("retry_backoff: {duration: 15}\n", "retry_backoff.duration: expected seconds like '30s', got '15'"),
        ("retry_backoff: {factor: 0}\n", "retry_backoff.factor: expected a value > 0"),
        ("retry_backoff: {durations: 15s}\n", "unknown key 'retry_backoff.durations'; known keys here: ['duration'"),
        ("labels: {Team: ml}\n", "labels: Team=ml: keys start with a lower-case letter"),
        ("labels: {team: ML}\n", "labels: team=ML: keys start with a lower-case letter"),
        ("steps: null\n", "steps: expected a mapping, got None"),
        ("extends: 3\n", "extends: expected the name of another environment, got 3"),
        ("extends: staging\n", "staging.yaml: environment file not found"),
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


# --- overlays: `extends` ----------------------------------------------------------------------------------------


def test_kind_and_minikube_are_the_same_settings() -> None:
    """Both clusters load the same locally built images: one base (kfp-local.yaml), two thin overlays."""
    base = load_env_config("kfp-local").model_dump(exclude={"name", "source"})
    for name in ("kind", "minikube"):
        config = load_env_config(name)
        assert config.name == name and config.model_dump(exclude={"name", "source"}) == base
    assert (
        base["images"]["default"] == "emotion-pipeline:{source_tag}"
        and base["settings"]["image_pull_policy"] == "IfNotPresent"
    )
    kind = yaml.safe_load((ENV_DIR / "kind.yaml").read_text())
    assert kind == {"extends": "kfp-local"} == yaml.safe_load((ENV_DIR / "minikube.yaml").read_text())


def test_a_file_extends_another_env_and_overrides_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "big-kind.yaml"
    path.write_text("extends: kind\nsteps:\n  train_automl: {cpu_limit: 4, memory_limit: 8Gi}\n")
    config, kind = load_env_config(path), load_env_config("kind")
    automl = config.settings.steps["train_automl"]
    assert (automl.cpu_limit, automl.memory_limit, automl.cpu_request) == ("4", "8Gi", "500m")  # request: kind's
    assert config.images == kind.images and config.settings.image_pull_policy == "IfNotPresent"
    assert config.settings.steps["ingest"] == kind.settings.steps["ingest"]  # retries, caching: default.yaml's
    assert config.labels == {"app": "emotion-pipeline"} and config.name == "big-kind"


def test_extends_a_path_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("extends: vertex\nproject: team-project\n")
    (tmp_path / "mine.yaml").write_text("extends: base.yaml\nregion: us-central1\n")
    config = load_env_config(tmp_path / "mine.yaml")
    assert (config.project, config.region, config.target) == ("team-project", "us-central1", "vertex")
    assert config.service_account == load_env_config("vertex").service_account


@pytest.mark.parametrize(
    "files",
    [
        {"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"},
        {"a.yaml": "extends: a.yaml\n"},
        {"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: c.yaml\n", "c.yaml": "extends: b.yaml\n"},
    ],
)
def test_a_cycle_of_extends_is_refused(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=r"\.yaml: extends: cycle .*a\.yaml -> .*\.yaml") as error:
        load_env_config(tmp_path / "a.yaml")
    assert len(str(error.value).splitlines()) == 1


def test_a_problem_is_named_in_the_file_that_set_it(tmp_path: Path) -> None:
    base, child = tmp_path / "base.yaml", tmp_path / "child.yaml"
    base.write_text("extends: kind\nsteps:\n  clean: {cpu_limit: one}\n  profile: {cpu: 1}\n")
    child.write_text("extends: base.yaml\nsteps:\n  vectorise: {memory_request: 4Gi}\n")
    with pytest.raises(ConfigError) as error:
        load_env_config(child)
    message = str(error.value)
    assert message == (
        f"{base}: steps.clean.cpu_limit: 'one' is not a CPU quantity (e.g. '500m', '2'); "
        f"unknown key 'steps.profile.cpu'; known keys here: {list(StepSettings.model_fields)}; "
        f"{child}: steps.vectorise: memory_request 4Gi is above memory_limit 2Gi"
    )


def test_unknown_key_of_a_shipped_base_names_that_base(tmp_path: Path) -> None:
    """An overlay inherits its base's keys; what the overlay itself adds is checked against the same models."""
    path = tmp_path / "mine.yaml"
    path.write_text("extends: kfp-local\nimages: {defualt: x}\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml: unknown key 'images\.defualt'; known keys here: \['default'"):
        load_env_config(path)


def test_quantities_may_be_numbers_in_yaml(tmp_path: Path) -> None:
    path = tmp_path / "numbers.yaml"
    path.write_text("steps:\n  clean: {cpu_request: 0.5, cpu_limit: 2}\nproject: 123456\n")
    config = load_env_config(path)
    assert (config.settings.steps["clean"].cpu_request, config.settings.steps["clean"].cpu_limit) == ("0.5", "2")
    assert config.project == "123456"


def test_models_are_frozen_and_refuse_unknown_keys() -> None:
    step = load_env_config().settings.steps["clean"]
    with pytest.raises(ValidationError):
        step.cpu_limit = "8"
    with pytest.raises(ValidationError, match="cpu_limt"):
        StepSettings(cpu_request="1", cpu_limt="2", memory_request="1Gi", memory_limit="2Gi")
    assert with_pull_policy(load_env_config().settings, "Never").image_pull_policy == "Never"


@pytest.mark.parametrize("name", ["default", "vertex", "kfp-local", "kind", "minikube"])
def test_cpu_limits_fit_the_workers_each_step_starts(name: str) -> None:
    """train_scratch fits ``workers`` candidates at once (and refits its vote in parallel): a lower CPU limit
    would throttle it and make its timings meaningless."""
    from components.arms.scratch.train import ScratchOptions

    steps = load_env_config(name).settings.steps
    assert cpu_cores(steps["train_scratch"].cpu_limit) >= ScratchOptions().workers


def test_the_default_experiment_cannot_clash_with_the_pipelines_name() -> None:
    from pipelines.emotion_pipeline import PIPELINE_NAME

    for name in ("default", "vertex", "kfp-local", "kind", "minikube"):
        assert load_env_config(name).experiment not in ("", PIPELINE_NAME), name


def test_vertex_enterprise_keys_load(tmp_path: Path) -> None:
    path = tmp_path / "corp.yaml"
    path.write_text(
        "extends: vertex\nnetwork: projects/123/global/networks/vpc\nfailure_policy: fast\n"
        "encryption_spec_key_name: projects/p/locations/europe-west4/keyRings/r/cryptoKeys/k\n"
        "template_registry: https://europe-west4-kfp.pkg.dev/p/templates\n",
        encoding="utf-8",
    )
    config = load_env_config(path)
    assert (config.network, config.failure_policy) == ("projects/123/global/networks/vpc", "fast")
    assert config.encryption_spec_key_name.endswith("/cryptoKeys/k")
    assert config.template_registry == "https://europe-west4-kfp.pkg.dev/p/templates"
