"""Fixtures of the container tests: the Docker engine and the images built by scripts/build_images.sh
(runtime, automl; the transformer image has its own fixture in test_images.py).

Where no engine answers or an image is missing, the tests skip with the command to run; under CI (``CI`` set,
as .ci/run runs) they fail instead: .ci/run starts the engine and builds the images, so nothing may be skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.docker_run import AUTOML_IMAGE, BUILD_IMAGES, RUNTIME_IMAGE, START_ENGINE

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES = {"runtime": os.environ.get("IMAGE", RUNTIME_IMAGE), "automl": os.environ.get("AUTOML_IMAGE", AUTOML_IMAGE)}


def unavailable(reason: str) -> None:
    """Skips the test, or fails it under CI, where the container tests must run."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set: container tests may not be skipped; .ci/run starts the engine and builds)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client of the engine that answers (DOCKER_HOST, else the default socket)."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as err:
        unavailable(f"no Docker engine answers ({str(err)[:120]}): {START_ENGINE}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def images(docker_client: Any) -> dict[str, str]:
    """The runtime and automl image names (IMAGE/AUTOML_IMAGE, default the dev tags), both present."""
    import docker

    for name in IMAGES.values():
        try:
            docker_client.images.get(name)
        except docker.errors.ImageNotFound:
            unavailable(f"image {name} not found: {BUILD_IMAGES}")
    return dict(IMAGES)


@pytest.fixture(scope="session")
def run_in(docker_client: Any) -> Callable[..., str]:
    """``run_in(image, command, **options)``: runs a command in a throw-away container of ``image`` (no network)
    and returns its output; a non-zero exit fails with the container's output."""
    import docker

    def run(image: str, command: list[str], **options: Any) -> str:
        try:
            output = docker_client.containers.run(
                image, command, remove=True, stdout=True, stderr=True, network_mode="none", **options
            )
        except docker.errors.ContainerError as err:
            raise AssertionError(f"{command} failed in {image} ({err.exit_status}): {err.stderr!r}") from err
        return output.decode("utf-8", errors="replace")

    return run
