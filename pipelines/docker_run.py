"""Local runs in containers: the same pipeline through ``kfp.local.DockerRunner`` on the component images.

Every step runs in a container of its image (the runtime image, the automl image for train_automl and evaluate,
the transformer image for the transformer arm, as the cloud runs them), as the images' non-root user. What the
containers need from this machine is checked before the first step, each with a one-line error saying what to do:

- an engine that answers (``eval "$(scripts/docker_engine.sh start)"``) and the run's images present locally
  (``scripts/build_images.sh``: DockerRunner would otherwise try to pull them from a registry), built from this
  checkout's code when they say so (the steps' wrappers come from the checkout, the rest from the image);
- the pipeline root (``<output>/artifacts``, mounted read-write at the same path) writable by the containers'
  user: as root it is handed to uid 10001; otherwise the containers run as the calling user;
- every local input file readable in the container: each is mounted read-only at its absolute path (the URI
  the steps get), and must be readable by that user. ``gs://`` URIs are refused: the images hold no credentials;
- a local model registry (``registry_uri``, a folder: MLflow's SQLite file and artifacts) mounted read-write at
  its path, so the register step records versions there as a subprocess run does.

kfp 2.17's DockerRunner starts each container with ``auto_remove=True`` and counts a container the engine has
already removed when it asks for the exit code as a success (kubeflow/pipelines#13332, open): a step that fails
within a second or so (bad input) then "succeeds" without outputs, and the next step fails on a missing input.
:func:`use_exit_code_preserving_containers` puts :func:`run_container_to_exit` in its place for this run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE_LABEL = "emotion-pipeline.source-digest"  # set by scripts/build_images.sh: the code the image was built from
RUNTIME_IMAGE = "emotion-pipeline:dev"  # the tags scripts/build_images.sh builds
AUTOML_IMAGE = "emotion-pipeline-automl:dev"
TRANSFORMER_IMAGE = "emotion-pipeline-transformer:dev"
SERVING_IMAGE = "emotion-pipeline-serving:dev"  # `emotion-pipeline serve` for the scratch arm (slim)
TRANSFORMER_ARM = "transformer"  # the arm (and its Arm.image key) whose steps run in the transformer image
IMAGE_UID = 10001  # the images' user (docker/Dockerfile: useradd --uid 10001)
START_ENGINE = 'eval "$(scripts/docker_engine.sh start)"'
BUILD_IMAGES = "scripts/build_images.sh"


class ContainerSetupError(RuntimeError):
    """Something a containerised run needs is missing; the message says what to run or change."""


@dataclass(frozen=True)
class DockerImages:
    """The component images of a containerised run: the runtime and automl images always, the transformer image
    only when the transformer arm runs (:meth:`required`)."""

    image: str = RUNTIME_IMAGE
    automl_image: str = AUTOML_IMAGE
    transformer_image: str = TRANSFORMER_IMAGE

    def required(self, arms: Iterable[Any] = ()) -> list[str]:
        """The images a run of ``arms`` (names, or :class:`components.arms.spec.Arm` declarations) needs, each
        once: the transformer image only when an arm is :data:`TRANSFORMER_ARM` (by name or ``image`` key)."""
        names = [self.image, self.automl_image]
        if _uses_transformer(arms):
            names.append(self.transformer_image)
        return list(dict.fromkeys(names))


def _uses_transformer(arms: Iterable[Any]) -> bool:
    return any(getattr(arm, "image", arm) == TRANSFORMER_ARM for arm in arms)


@dataclass(frozen=True)
class DockerSetup:
    """What :func:`prepare_docker_run` settled: the runner's ``containers.run`` arguments and the parameters with
    local input paths made absolute."""

    run_args: dict[str, Any]
    parameters: dict[str, Any]


def _client() -> Any:
    """A client of the engine that answers (DOCKER_HOST, else the default socket)."""
    import docker

    where = os.environ.get("DOCKER_HOST") or "the default socket"
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except docker.errors.DockerException as err:
        reason = str(err).splitlines()[0][:160]
        raise ContainerSetupError(
            f"--runner docker: no Docker engine answers at {where} ({reason}); start one with: {START_ENGINE}"
        ) from err
    return client


PACKAGES_ROOT = Path(__file__).resolve().parent.parent  # the folder holding components/ and pipelines/


def source_digest(root: Path = PACKAGES_ROOT) -> str:
    """A digest of the packages' files (code, templates, config, data) in this checkout.

    The steps' wrapper functions are shipped from the checkout into the containers, which import the rest of
    the package from the image: the two must be the same code. scripts/build_images.sh labels each image with
    this digest (:data:`SOURCE_LABEL`), and a containerised run compares it before the first step.
    """
    digest = hashlib.sha256()
    for package in ("components", "pipelines"):
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def check_images(client: Any, images: DockerImages, digest: str | None = None, arms: Iterable[Any] = ()) -> None:
    """Raises :class:`ContainerSetupError` naming every image the run of ``arms`` needs
    (:meth:`DockerImages.required`) that is missing on the engine, or that was built from other code than this
    checkout's (its :data:`SOURCE_LABEL`, when it has one, differs from ``digest``)."""
    import docker

    arms = tuple(arms)
    missing, stale = [], []
    for name in images.required(arms):
        try:
            labels = client.images.get(name).labels or {}
        except docker.errors.ImageNotFound:
            missing.append(name)
            continue
        if digest and labels.get(SOURCE_LABEL) not in (None, digest):
            stale.append(name)
    if missing:
        raise ContainerSetupError(
            f"--runner docker: image {', '.join(missing)} not found on the engine; build the images with: "
            f"{BUILD_IMAGES} (or name others with --image/--automl-image"
            f"{'/--transformer-image' if _uses_transformer(arms) else ''})"
        )
    if stale:
        raise ContainerSetupError(
            f"--runner docker: image {', '.join(stale)} was built from other code than this checkout; rebuild "
            f"the images with: {BUILD_IMAGES}"
        )


def container_user(host_uid: int, host_gid: int) -> str | None:
    """The user the containers run as: the images' own (None) when this process can hand them the pipeline root
    (root), else the calling user, so that the files the steps write are the caller's."""
    return None if host_uid == 0 else f"{host_uid}:{host_gid}"


def readable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether a file's mode lets ``uid``/``gid`` read it (uid 0 reads anything)."""
    info = path.stat()
    if uid == 0:
        return True
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IRUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IRGRP)
    return bool(info.st_mode & stat.S_IROTH)


def input_mounts(parameters: dict[str, Any], uid: int, gid: int) -> tuple[dict[str, Any], list[Any]]:
    """Local input files as read-only mounts at their absolute paths, and the parameters naming those paths.

    Raises:
        ContainerSetupError: A ``gs://`` URI (no credentials in the images), or a file the containers' user
            cannot read.
    """
    from docker.types import Mount

    mounts: dict[str, Any] = {}

    def local(uri: str) -> str:
        if not uri or "://" in uri:
            if uri.startswith("gs://"):
                raise ContainerSetupError(
                    f"{uri}: --runner docker cannot read gs:// URIs (the images hold no credentials, by design); "
                    "use a local copy, --runner subprocess, or the cloud (emotion-pipeline submit)"
                )
            return uri
        path = Path(os.path.abspath(uri))
        if not readable_by(path, uid, gid):
            raise ContainerSetupError(
                f"{uri}: not readable by the containers' user (uid {uid}); make it readable (chmod o+r) or use "
                "--runner subprocess"
            )
        mounts[str(path)] = Mount(target=str(path), source=os.path.realpath(path), type="bind", read_only=True)
        return str(path)

    absolute = {
        **parameters,
        "train_uris": [local(uri) for uri in parameters["train_uris"]],
        "test_uri": local(parameters.get("test_uri", "")),
    }
    return absolute, list(mounts.values())


def registry_mount(folder: Path, user: str | None) -> Any:
    """The local registry folder as a read-write mount at its own path; handed to the images' user when the
    containers run as that user (root still writes to it from subprocess runs)."""
    from docker.types import Mount

    folder.mkdir(parents=True, exist_ok=True)
    if user is None:
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, IMAGE_UID, IMAGE_UID)
    return Mount(target=str(folder), source=os.path.realpath(folder), type="bind", read_only=False)


def prepare_pipeline_root(pipeline_root: Path, user: str | None) -> None:
    """Creates the pipeline root; hands it to the images' user when the containers run as that user."""
    pipeline_root.mkdir(parents=True, exist_ok=True)
    if user is None:
        os.chown(pipeline_root, IMAGE_UID, IMAGE_UID)


def prepare_docker_run(
    images: DockerImages, parameters: dict[str, Any], pipeline_root: Path, arms: Iterable[Any] = ()
) -> DockerSetup:
    """Checks the engine, the images and the inputs, and prepares the pipeline root for a containerised run.

    Args:
        images: The runtime, automl and transformer images.
        parameters: Pipeline parameters (``train_uris``, ``test_uri`` may name local files).
        pipeline_root: Absolute folder of the run's artifacts, mounted into every container.
        arms: The arms the run trains (names or ``Arm`` declarations); the transformer image is checked only
            when :data:`TRANSFORMER_ARM` is one.

    Returns:
        The ``containers.run`` arguments for ``kfp.local.DockerRunner`` and the parameters to run with.

    Raises:
        ContainerSetupError: The engine does not answer, an image is missing, or an input cannot be read.
    """
    client = _client()
    try:
        check_images(client, images, source_digest(), arms)
    finally:
        client.close()
    user = container_user(os.getuid(), os.getgid())
    uid, gid = (IMAGE_UID, IMAGE_UID) if user is None else (os.getuid(), os.getgid())
    absolute, mounts = input_mounts(parameters, uid, gid)
    registry = str(parameters.get("registry_uri") or "")
    if registry and "://" not in registry:
        mounts.append(registry_mount(Path(os.path.abspath(registry)), user))
    prepare_pipeline_root(pipeline_root, user)
    run_args: dict[str, Any] = {"mounts": mounts}
    if user is not None:
        run_args.update(user=user, working_dir="/tmp")  # the image's home is its own user's
    return DockerSetup(run_args, absolute)


def run_container_to_exit(client: Any, image: str, command: list[str], volumes: dict[str, Any], **run_args: Any) -> int:
    """``kfp.local.docker_task_handler.run_docker_container`` (same signature and output) without its race: the
    container is kept until its exit code is read, then removed.

    Returns:
        The container's exit code.
    """
    from kfp.local.docker_task_handler import add_latest_tag_if_not_present

    import docker

    image = add_latest_tag_if_not_present(image)
    if not any(image in existing.tags + existing.attrs["RepoDigests"] for existing in client.images.list()):
        client.images.pull(image)  # as kfp does; prepare_docker_run has already checked both images are here
    container = client.containers.run(
        image=image, command=command, detach=True, stdout=True, stderr=True, volumes=volumes, **run_args
    )
    try:
        for line in container.logs(stream=True):
            print(line.decode(), end="")
        return int(container.wait()["StatusCode"])
    finally:
        with contextlib.suppress(docker.errors.APIError):  # NotFound included: nothing left to remove
            container.remove(force=True)


def use_exit_code_preserving_containers() -> None:
    """Makes kfp.local's DockerRunner run its containers with :func:`run_container_to_exit` (module docstring)."""
    from kfp.local import docker_task_handler

    docker_task_handler.run_docker_container = run_container_to_exit
