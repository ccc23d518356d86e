"""Item 4 of issue #26, as pieces for the pipeline's wiring: the google.VertexModel artifact of the registered
version, and the ExitHandler notice (status record and hook). Compiled with the real kfp compiler into a small
pipeline shaped like the wiring on main; the component functions run here on real files and a local HTTP hook."""

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
import yaml
from kfp import compiler, dsl
from kfp.dsl import Artifact, Output

from components import kfp_components as lineage_components
from components.registry.store import RegistryError
from components.registry.vertex_lineage import vertex_model_fields, vertex_model_resource_name
from components.reporting.notice import post_notice, status_record
from pipelines.images import mutable_images

RECORD = {"registry": "vertex://acme-ml/europe-west4", "model_name": "emotion-demo", "version": "3", "promoted": True}
IMAGE = "europe-west4-docker.pkg.dev/acme-ml/emotion/emotion-pipeline:src-0123456789abcdef"


def test_the_vertex_model_fields_are_those_of_gcpcs_vertex_model() -> None:
    uri, metadata = vertex_model_fields(RECORD)
    name = "projects/acme-ml/locations/europe-west4/models/emotion-demo@3"
    assert metadata == {"resourceName": name}
    assert uri == f"https://europe-west4-aiplatform.googleapis.com/v1/{name}"
    with pytest.raises(RegistryError, match="not a Vertex AI Model Registry version"):
        vertex_model_resource_name({**RECORD, "registry": "/tmp/registry"})


def test_emit_vertex_model_writes_uri_and_metadata(tmp_path: Path) -> None:
    record = tmp_path / "registry_record"
    record.write_text(json.dumps(RECORD))
    out = lineage_components.VertexModel(name="vertex_model", uri="", metadata={})
    lineage_components.emit_vertex_model(SimpleNamespace(path=str(record)), out)
    assert out.schema_title == "google.VertexModel" and out.metadata["resourceName"].endswith("/emotion-demo@3")


def _wired_pipeline() -> object:
    """A stand-in for the wiring on main: register → emit_vertex_model, all inside an ExitHandler."""

    @dsl.component(base_image=IMAGE, install_kfp_package=False)
    def register(registry_record: Output[Artifact]):
        with open(registry_record.path, "w") as handle:
            handle.write("{}")

    emit = dsl.component(lineage_components.emit_vertex_model, base_image=IMAGE, install_kfp_package=False)
    notice = dsl.component(lineage_components.run_notice, base_image=IMAGE, install_kfp_package=False)

    @dsl.pipeline(name="emotion-pipeline")
    def pipeline(hook_url: str = "", notify_success: bool = False):
        exit_task = notice(hook_url=hook_url, notify_success=notify_success)
        with dsl.ExitHandler(exit_task, name="run"):
            registered = register()
            emit(registry_record=registered.outputs["registry_record"])

    return pipeline


def test_the_wiring_compiles_with_google_vertex_model_and_an_exit_task(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(_wired_pipeline(), str(path))
    spec = yaml.safe_load(path.read_text())
    outputs = spec["components"]["comp-emit-vertex-model"]["outputDefinitions"]["artifacts"]
    assert outputs["vertex_model"]["artifactType"]["schemaTitle"] == "google.VertexModel"
    exit_task = spec["root"]["dag"]["tasks"]["run-notice"]
    assert exit_task["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert exit_task["inputs"]["parameters"]["status"]["taskFinalStatus"]["producerTask"] == "exit-handler-1"
    assert mutable_images([spec]) == []


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/notice"
    server.shutdown()
    server.server_close()


def test_run_notice_records_the_status_and_posts_failures(tmp_path: Path, hook: str) -> None:
    job = "projects/1/locations/l/pipelineJobs/j"
    status = SimpleNamespace(
        state="FAILED",
        pipeline_job_resource_name=job,
        pipeline_task_name="train-automl",
        error_code=9,
        error_message="exit code 137",
    )
    out = dsl.Artifact(name="notice", uri="", metadata={})
    out.path = str(tmp_path / "notice")  # what the executor sets
    lineage_components.run_notice(status, hook, False, out)
    assert json.loads(Path(out.path).read_text())["failed"] is True
    (sent,) = _Hook.received
    assert sent["text"] == "emotion-pipeline FAILED: projects/1/locations/l/pipelineJobs/j (exit code 137)"
    succeeded = status_record({"state": "SUCCEEDED"})
    assert post_notice(hook, succeeded) == "skipped: the run SUCCEEDED" and len(_Hook.received) == 1
    assert post_notice(hook, succeeded, only_failures=False) == "sent (204)"
    assert post_notice("http://127.0.0.1:9/x", status_record(status), timeout=2).startswith("not sent:")
