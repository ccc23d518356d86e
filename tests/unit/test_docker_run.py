"""``run --runner docker`` before any container starts: options, input mounts, permissions and the one-line errors
(the containerised runs themselves are in tests/containers)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

import docker
from pipelines.cli.errors import UsageError
from pipelines.cli.local import docker_images
from pipelines.cli.main import build_parser, main
from pipelines.docker_run import (
    IMAGE_UID,
    ContainerSetupError,
    DockerImages,
    container_user,
    input_mounts,
    prepare_pipeline_root,
    readable_by,
    run_container_to_exit,
    use_exit_code_preserving_containers,
)


def _args(*argv: str):
    return build_parser().parse_args(["run", *argv])


def test_runner_defaults_to_subprocess_and_docker_takes_the_dev_images():
    assert _args().runner == "subprocess" and docker_images(_args()) is None
    assert docker_images(_args("--runner", "docker")) == DockerImages(
        "emotion-pipeline:dev", "emotion-pipeline-automl:dev"
    )
    chosen = docker_images(_args("--runner", "docker", "--image", "r:1", "--automl-image", "a:1"))
    assert chosen == DockerImages("r:1", "a:1")
    with pytest.raises(UsageError, match="--runner docker"):
        docker_images(_args("--image", "r:1"))  # images mean nothing to the subprocess runner


def test_containers_run_as_the_images_user_under_root_else_as_the_caller():
    assert container_user(0, 0) is None
    assert container_user(1000, 100) == "1000:100"


def test_local_inputs_become_read_only_mounts_at_their_absolute_paths(tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.csv", "test.csv"):
        (data / name).write_text("text,label\n")
        (data / name).chmod(0o644)
    monkeypatch.chdir(tmp_path)
    parameters = {"train_uris": ["data/train.csv", "https://example.org/x.csv"], "test_uri": "data/test.csv", "seed": 1}
    absolute, mounts = input_mounts(parameters, IMAGE_UID, IMAGE_UID)
    assert absolute == {
        "train_uris": [str(data / "train.csv"), "https://example.org/x.csv"],
        "test_uri": str(data / "test.csv"),
        "seed": 1,
    }
    assert sorted((m["Source"], m["Target"], m["ReadOnly"], m["Type"]) for m in mounts) == [
        (str(data / "test.csv"), str(data / "test.csv"), True, "bind"),
        (str(data / "train.csv"), str(data / "train.csv"), True, "bind"),
    ]
    assert input_mounts({"train_uris": ["data/train.csv"], "test_uri": ""}, IMAGE_UID, IMAGE_UID)[0]["test_uri"] == ""


def test_gs_uris_and_unreadable_files_are_refused_with_what_to_do(tmp_path: Path):
    with pytest.raises(ContainerSetupError, match="no credentials"):
        input_mounts({"train_uris": ["gs://bucket/train.csv"], "test_uri": ""}, IMAGE_UID, IMAGE_UID)
    secret = tmp_path / "train.csv"
    secret.write_text("text,label\n")
    secret.chmod(0o600)
    owner = secret.stat().st_uid
    assert readable_by(secret, owner, -1) and not readable_by(secret, owner + 1, -1) and readable_by(secret, 0, 0)
    if owner != IMAGE_UID:
        with pytest.raises(ContainerSetupError, match=rf"not readable by the containers' user \(uid {IMAGE_UID}\)"):
            input_mounts({"train_uris": [str(secret)], "test_uri": ""}, IMAGE_UID, IMAGE_UID)
    secret.chmod(0o604)
    assert readable_by(secret, IMAGE_UID, IMAGE_UID)


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to uid 10001 needs root")
def test_the_pipeline_root_is_handed_to_the_images_user(tmp_path: Path):
    root = tmp_path / "out" / "artifacts"
    prepare_pipeline_root(root, container_user(0, 0))
    assert (root.stat().st_uid, root.stat().st_gid) == (IMAGE_UID, IMAGE_UID)
    mine = tmp_path / "mine"
    prepare_pipeline_root(mine, "1000:100")  # containers that run as the caller write as the caller
    assert mine.stat().st_uid == os.geteuid()


def test_no_engine_is_a_one_line_error_naming_the_script(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert main(["run", "--runner", "docker", "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("emotion-pipeline run: error: --runner docker: no Docker engine answers at unix://")
    assert 'eval "$(scripts/docker_engine.sh start)"' in err and "\n" not in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_local_registry_is_a_read_write_mount_owned_by_the_images_user(tmp_path: Path):
    from pipelines.docker_run import IMAGE_UID, registry_mount

    folder = tmp_path / "registry"
    (folder / "mlruns").mkdir(parents=True)
    mount = registry_mount(folder, user="1000:1000")  # containers run as the caller: ownership unchanged
    assert mount["Target"] == str(folder) and mount["ReadOnly"] is False and mount["Type"] == "bind"
    if os.getuid() == 0:
        registry_mount(folder, user=None)
        assert {p.stat().st_uid for p in [folder, folder / "mlruns"]} == {IMAGE_UID}


class _Images:
    """The ``images`` collection of a Docker client, with images given as name → labels."""

    def __init__(self, present: dict[str, dict[str, str]]) -> None:
        self.present = present

    def get(self, name: str):
        import docker

        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return type("Image", (), {"labels": self.present[name]})()


def test_images_must_be_present_and_built_from_this_checkout():
    from pipelines.docker_run import SOURCE_LABEL, check_images, source_digest

    digest = source_digest()
    assert len(digest) == 16 and digest == source_digest()  # stable
    images = DockerImages("r:1", "a:1")
    current = {SOURCE_LABEL: digest}
    client = type("Client", (), {})()
    client.images = _Images({"r:1": current, "a:1": {}})  # no label (built by hand): not checked
    check_images(client, images, digest)
    client.images = _Images({"r:1": current})
    with pytest.raises(ContainerSetupError, match=r"image a:1 not found on the engine; .*scripts/build_images.sh"):
        check_images(client, images, digest)
    client.images = _Images({"r:1": current, "a:1": {SOURCE_LABEL: "0123456789abcdef"}})
    with pytest.raises(ContainerSetupError, match=r"a:1 was built from other code than this checkout"):
        check_images(client, images, digest)


def test_source_digest_follows_the_packages_code(tmp_path: Path):
    from pipelines.docker_run import source_digest

    for name in ("components/a.py", "pipelines/b.py", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    before = source_digest(tmp_path)
    (tmp_path / "README.md").write_text("docs only\n")
    assert source_digest(tmp_path) == before  # not the packages
    (tmp_path / "components" / "a.py").write_text("x = 2\n")
    assert source_digest(tmp_path) != before


class _Container:
    """A container as the docker SDK returns it, whose process exits with ``code``; ``removed`` when the engine
    has already removed it (the race of kubeflow/pipelines#13332)."""

    def __init__(self, code: int, removed: bool = False) -> None:
        self.code, self.removed, self.remove_calls = code, removed, []

    def logs(self, stream: bool = False):
        return iter([b"Traceback ...\n", b"DataError: one.csv: one class only\n"])

    def wait(self, timeout=None, condition=None):
        if self.removed:
            raise docker.errors.NotFound("No such container")
        return {"StatusCode": self.code, "Error": None}

    def remove(self, **kwargs):
        self.remove_calls.append(kwargs)
        if self.removed:
            raise docker.errors.NotFound("No such container")


class _Client:
    def __init__(self, container: _Container) -> None:
        self.container, self.run_calls = container, []
        image = type("Image", (), {"tags": ["emotion-pipeline:dev"], "attrs": {"RepoDigests": []}})()
        self.images = type("Images", (), {"list": lambda _: [image], "pull": lambda _, name: pytest.fail(name)})()
        self.containers = type("Containers", (), {"run": self._run})()

    def _run(self, image, command=None, **kwargs):
        # bound to the real ContainerCollection.run signature, so an argument the SDK lacks fails here
        inspect.signature(docker.models.containers.ContainerCollection.run).bind(None, image, command, **kwargs)
        self.run_calls.append({"image": image, **kwargs})
        return self.container


@pytest.mark.parametrize("code", [0, 1, 137])
def test_a_containers_exit_code_is_read_before_it_is_removed(code: int, capsys):
    container = _Container(code)
    client = _Client(container)
    assert run_container_to_exit(client, "emotion-pipeline:dev", ["python", "-m", "x"], {}, user="10001") == code
    assert "auto_remove" not in client.run_calls[0] and client.run_calls[0]["user"] == "10001"
    assert container.remove_calls == [{"force": True}]
    assert "DataError: one.csv: one class only" in capsys.readouterr().out  # the step's log reaches the run log


def test_kfps_runner_counted_a_container_removed_too_early_as_a_success_and_ours_is_installed(monkeypatch):
    from kfp.local import docker_task_handler

    gone = _Container(1, removed=True)  # exited with 1, removed by the engine before kfp asks for the code
    assert docker_task_handler.run_docker_container(_Client(gone), "emotion-pipeline:dev", [], {}) == 0  # the bug
    assert run_container_to_exit(_Client(_Container(1)), "emotion-pipeline:dev", [], {}) == 1  # ours keeps it
    monkeypatch.setattr(docker_task_handler, "run_docker_container", docker_task_handler.run_docker_container)
    use_exit_code_preserving_containers()
    assert docker_task_handler.run_docker_container is run_container_to_exit


def test_the_transformer_image_is_needed_only_when_its_arm_runs():
    from pipelines.docker_run import SOURCE_LABEL, TRANSFORMER_IMAGE, check_images, source_digest

    digest = source_digest()
    assert DockerImages().transformer_image == TRANSFORMER_IMAGE == "emotion-pipeline-transformer:dev"
    images = DockerImages("r:1", "a:1", "t:1")
    client = type("Client", (), {})()
    client.images = _Images({"r:1": {SOURCE_LABEL: digest}, "a:1": {}})
    check_images(client, images, digest)  # the default arms: no transformer image needed
    check_images(client, images, digest, arms=("scratch", "automl"))
    with pytest.raises(ContainerSetupError, match=r"image t:1 not found.*--transformer-image"):
        check_images(client, images, digest, arms=iter(["scratch", "transformer"]))
    client.images = _Images({"r:1": {}, "a:1": {}, "t:1": {SOURCE_LABEL: "0123456789abcdef"}})
    with pytest.raises(ContainerSetupError, match=r"t:1 was built from other code than this checkout"):
        check_images(client, images, digest, arms=["transformer"])
    assert DockerImages("x", "x", "x").required(["transformer"]) == ["x"]  # one image for all: checked once
