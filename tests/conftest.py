"""Shared fixtures: the real datasets beside the repo (optional) and the shipped demo data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()
DEMO_CSV = REPO_ROOT / "pipelines" / "data" / "demo_emotions.csv"


@pytest.fixture
def shared_data() -> Path:
    """The real datasets in ../shared/data; the test is skipped where they are absent."""
    if not (SHARED_DATA / "dair_ai_emotion" / "train.txt").is_file():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (../shared/data from the repo root)")
    return SHARED_DATA


@pytest.fixture
def demo_csv() -> Path:
    return DEMO_CSV


class GcsEmulator:
    """gcp-storage-emulator (the real GCS JSON API) serving in memory on a loopback port, for one test session."""

    def __init__(self, log_dir: Path) -> None:
        import socket
        import subprocess
        import sys
        import time
        import urllib.request

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.host = f"http://127.0.0.1:{port}"
        log = log_dir / "emulator.log"
        with log.open("wb") as out:
            self._server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gcp_storage_emulator",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--in-memory",
                    "--quiet",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.host + "/", timeout=1) as answer:  # the emulator's health check
                    if answer.read() == b"OK":
                        return
            except OSError:
                if self._server.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"gcp-storage-emulator did not start on {self.host}: {log.read_text()[-2000:]}")
                time.sleep(0.2)

    def use(self, patch: pytest.MonkeyPatch) -> Any:
        """Points google-cloud-storage and gcsfs at the emulator (undone by ``patch.undo()`` and :meth:`release`);
        returns an anonymous storage client."""
        patch.setenv("STORAGE_EMULATOR_HOST", self.host)  # read by google-cloud-storage and gcsfs at call time
        patch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")  # before gcsfs is imported: no gRPC probe
        import fsspec
        import gcsfs.core
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        # If gcsfs was imported earlier in this process with the experimental class, use the plain one here.
        patch.setattr(fsspec.config, "conf", {**fsspec.config.conf, "gs": {"token": "anon"}})
        fsspec.register_implementation("gs", gcsfs.core.GCSFileSystem, clobber=True)
        gcsfs.core.GCSFileSystem.clear_instance_cache()
        return storage.Client(project="test", credentials=AnonymousCredentials())

    @staticmethod
    def release() -> None:
        """Forgets gcsfs instances bound to the emulator (call after ``patch.undo()``)."""
        import fsspec
        import gcsfs

        gcsfs.core.GCSFileSystem.clear_instance_cache()
        fsspec.register_implementation("gs", gcsfs.GCSFileSystem, clobber=True)

    def stop(self) -> None:
        self._server.terminate()
        self._server.wait(timeout=10)


@pytest.fixture(scope="module")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    """A GCS emulator for the test module (it stops with the module: no server outlives the tests that use it);
    the module points the clients at it with ``use``."""
    pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator (dev extra) is not installed")
    emulator = GcsEmulator(tmp_path_factory.mktemp("gcs"))
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _no_gcloud_of_this_machine(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Project and region never come from the developer's gcloud configuration or shell (pipelines/gcloud_config.py):
    each test sets what it needs."""
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path_factory.mktemp("gcloud-config")))
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_REGION", "CLOUDSDK_AI_REGION"):
        monkeypatch.delenv(name, raising=False)
