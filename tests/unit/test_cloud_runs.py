"""Operating cloud runs from the laptop (issue #26): runs list/get/cancel, submit --wait's task lines, report of a
cloud run, project/region resolution, immutable images, and the one-line failures.

Against fakes bound to the real SDK signatures: ``unittest.mock.create_autospec`` of ``aiplatform.PipelineJob``
and ``kfp.Client`` (a call the SDK would refuse fails here), returning the SDKs' real data types
(``aiplatform_v1.PipelineJob`` protos, ``kfp_server_api`` models). Cloud Storage is fsspec's in-memory
filesystem (the API gcsfs implements). The failures of item 5 run for real: a local HTTP server that is not KFP,
a closed port, and no credentials. KFP's REST API itself: tests/unit/test_kfp_api_mock.py (Prism).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import fsspec
import kfp
import pytest
from google.cloud import aiplatform
from google.cloud.aiplatform_v1.types import Artifact, PipelineJobDetail, PipelineState, PipelineTaskDetail
from google.cloud.aiplatform_v1.types import PipelineJob as GcaPipelineJob
from kfp_server_api.models import (
    GoogleRpcStatus,
    V2beta1ListRunsResponse,
    V2beta1PipelineTaskDetail,
    V2beta1Run,
    V2beta1RunDetails,
)

from pipelines import cloud, gcloud_config, images, preflight, runs
from pipelines.cli.main import main
from pipelines.cloud import Target

VERTEX = Target(kind="vertex", project="acme-ml", region="europe-west4", pipeline_root="gs://acme/root")
KFP = Target(kind="kfp", kfp_host="http://localhost:8080")
JOB = "projects/123/locations/europe-west4/pipelineJobs/emotion-pipeline-20260105060000"
T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
REPORT_RUN = Path(__file__).resolve().parents[1] / "data" / "report_run"


def _one_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"emotion-pipeline {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- Vertex AI fakes: autospec of the real class, real protos ------------------------------------------------


def _task(task_id: int, name: str, state: str, minutes: int, error: str = "", outputs: Any = None) -> Any:
    return PipelineTaskDetail(
        task_id=task_id,
        parent_task_id=1,
        task_name=name,
        state=PipelineTaskDetail.State[state],
        start_time=T0 + timedelta(minutes=task_id),
        end_time=T0 + timedelta(minutes=task_id + minutes),
        error={"message": error} if error else None,
        outputs=outputs or {},
    )


def _gca_job(state: str = "FAILED", tasks: list[Any] | None = None) -> GcaPipelineJob:
    root = PipelineTaskDetail(task_id=1, task_name="emotion-pipeline", state=PipelineTaskDetail.State.RUNNING)
    tasks = (
        tasks
        if tasks is not None
        else [
            _task(2, "ingest", "SUCCEEDED", 1),
            _task(3, "train-automl", "FAILED", 4, error="exit code 137: out of memory"),
            _task(4, "evaluate", "CANCELLED", 0),
        ]
    )
    return GcaPipelineJob(
        name=JOB,
        display_name="emotion-weekly",
        state=PipelineState[f"PIPELINE_STATE_{state}"],
        start_time=T0,
        end_time=T0 + timedelta(minutes=9),
        error={"message": "The DAG failed because some tasks failed."},
        job_detail=PipelineJobDetail(task_details=[root, *tasks]),
    )


def _vertex_cls(resource: GcaPipelineJob) -> Any:
    """``create_autospec(aiplatform.PipelineJob)``: ``get``/``list``/``cancel`` checked against the real signatures."""
    cls = mock.create_autospec(aiplatform.PipelineJob)
    job = mock.create_autospec(aiplatform.PipelineJob, instance=True)
    job.gca_resource = resource
    cls.get.return_value = job
    cls.list.return_value = [job]
    return cls


def test_vertex_get_reads_state_times_tasks_and_the_failing_tasks_error() -> None:
    cls = _vertex_cls(_gca_job())
    run = runs.get_run("emotion-pipeline-20260105060000", VERTEX, pipeline_job_cls=cls)
    cls.get.assert_called_once_with(
        resource_name="projects/acme-ml/locations/europe-west4/pipelineJobs/emotion-pipeline-20260105060000",
        project="acme-ml",
        location="europe-west4",
    )
    assert (run.state, run.start, run.end) == ("FAILED", T0, T0 + timedelta(minutes=9))
    assert [(t.name, t.state, t.seconds) for t in run.tasks] == [
        ("ingest", "SUCCEEDED", 60.0),
        ("train-automl", "FAILED", 240.0),
        ("evaluate", "CANCELLED", 0.0),
    ]  # the pipeline's own DAG (no parent) is not a step
    text = runs.format_run(run)
    assert "failed task: train-automl: exit code 137: out of memory" in text
    assert ["train-automl", "FAILED", "2026-01-05", "06:03:00", "4m00s"] in [line.split() for line in text.splitlines()]
    assert "console.cloud.google.com" in run.link


def test_vertex_list_and_cancel_use_the_real_signatures() -> None:
    cls = _vertex_cls(_gca_job("RUNNING"))
    listed = runs.list_runs(VERTEX, limit=5, pipeline_job_cls=cls)
    cls.list.assert_called_once_with(
        order_by="create_time desc", enable_simple_view=True, project="acme-ml", location="europe-west4"
    )
    assert [r.state for r in listed] == ["RUNNING"]
    assert "emotion-pipeline-20260105060000" in runs.format_run_list(listed)
    assert runs.cancel_run(JOB, VERTEX, pipeline_job_cls=cls) == JOB
    cls.get.return_value.cancel.assert_called_once_with()
    with pytest.raises(cloud.CloudError, match="expected a Vertex AI job id"):
        runs.get_run("Not An Id!", VERTEX, pipeline_job_cls=cls)


def test_cli_runs_get_prints_tasks_and_exits_1_for_a_failed_run(monkeypatch, capsys) -> None:
    monkeypatch.setattr(aiplatform, "PipelineJob", _vertex_cls(_gca_job()))
    monkeypatch.setattr(preflight, "check_google_credentials", lambda *a, **k: None)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme-ml")
    monkeypatch.setenv("GOOGLE_CLOUD_REGION", "europe-west4")
    assert main(["runs", "get", "--env", "vertex", "emotion-pipeline-20260105060000"]) == 1
    out = capsys.readouterr().out
    assert "state:  FAILED" in out and "failed task: train-automl" in out
    assert main(["runs", "cancel", "--env", "vertex", "emotion-pipeline-20260105060000"]) == 0
    assert "cancel requested: projects/acme-ml/locations/europe-west4/pipelineJobs/" in capsys.readouterr().out


# --- KFP fakes: autospec of kfp.Client, kfp_server_api models ------------------------------------------------


def _kfp_run(state: str, tasks: list[tuple[str, str]]) -> V2beta1Run:
    details = [
        V2beta1PipelineTaskDetail(
            display_name=name,
            state=task_state,
            start_time=T0,
            end_time=T0 + timedelta(seconds=30),
            error=GoogleRpcStatus(message="exit code 1") if task_state == "FAILED" else None,
        )
        for name, task_state in tasks
    ]
    return V2beta1Run(
        run_id="run-42",
        display_name="emotion",
        state=state,
        created_at=T0,
        run_details=V2beta1RunDetails(task_details=details),
    )


def test_kfp_get_list_cancel_with_an_autospec_client() -> None:
    client = mock.create_autospec(kfp.Client, instance=True)
    client.get_run.return_value = _kfp_run("FAILED", [("ingest", "SUCCEEDED"), ("evaluate", "FAILED")])
    client.list_runs.return_value = V2beta1ListRunsResponse(runs=[client.get_run.return_value])
    run = runs.get_run("run-42", KFP, client=client)
    client.get_run.assert_called_once_with(run_id="run-42")
    assert run.failing_task.name == "evaluate" and run.link.endswith("/#/runs/details/run-42")
    assert [r.id for r in runs.list_runs(KFP, limit=3, client=client)] == ["run-42"]
    client.list_runs.assert_called_once_with(page_size=3, sort_by="created_at desc")
    runs.cancel_run("run-42", KFP, client=client)
    client.terminate_run.assert_called_once_with(run_id="run-42")


def test_wait_reports_each_task_change_with_the_failing_tasks_error() -> None:
    client = mock.create_autospec(kfp.Client, instance=True)
    client.get_run.side_effect = [
        _kfp_run("RUNNING", [("ingest", "RUNNING")]),
        _kfp_run("RUNNING", [("ingest", "SUCCEEDED"), ("train-automl", "RUNNING")]),
        _kfp_run("FAILED", [("ingest", "SUCCEEDED"), ("train-automl", "FAILED")]),
    ]
    lines: list[str] = []
    outcome = cloud.wait_for_run("run-42", KFP, report=lines.append, client=client, sleep=lambda s: None)
    assert outcome.state == "FAILED"
    assert [line.strip() for line in lines if "task" in line] == [
        "task ingest RUNNING",
        "task ingest SUCCEEDED after 0m30s",
        "task train-automl RUNNING",
        "task train-automl FAILED after 0m30s: exit code 1",
    ]


# --- report of a cloud run ----------------------------------------------------------------------------------


@pytest.fixture
def memory_run() -> Iterator[str]:
    """A finished run's folder as Vertex AI lays it out (``<task>_<execution id>/<artifact>``), in memory."""
    fs = fsspec.filesystem("memory")
    root = "/bucket/root/123/emotion-pipeline-20260105060000"
    for number, path in enumerate(sorted(p for p in REPORT_RUN.rglob("*") if p.is_file() and p.parent != REPORT_RUN)):
        fs.pipe(f"{root}/{path.parent.name}_{1000 + number}/{path.name}", path.read_bytes())
    yield f"memory://{root}"
    fs.rm("/bucket", recursive=True)


def test_cli_report_of_a_run_folder_writes_report_and_summary(memory_run: str, tmp_path: Path, capsys) -> None:
    assert main(["report", memory_run, "--download-to", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (tmp_path / "run" / "evaluate" / "evaluation").is_file()  # the local run's layout
    assert '"models"' in (tmp_path / "run" / "summary.json").read_text(encoding="utf-8")
    assert "summary:" in capsys.readouterr().out


def test_cli_report_of_a_vertex_job_id_downloads_its_tasks_outputs(
    memory_run: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    fs = fsspec.filesystem("memory")
    by_task: dict[str, dict[str, Any]] = {}
    for path in fs.find(memory_run.removeprefix("memory://")):
        task, artifact = path.split("/")[-2].rsplit("_", 1)[0], path.split("/")[-1]
        by_task.setdefault(task, {})[artifact] = PipelineTaskDetail.ArtifactList(
            artifacts=[Artifact(uri=f"memory://{path}")]
        )
    tasks = [_task(2 + i, name, "SUCCEEDED", 1, outputs=outputs) for i, (name, outputs) in enumerate(by_task.items())]
    monkeypatch.setattr(aiplatform, "PipelineJob", _vertex_cls(_gca_job("SUCCEEDED", tasks)))
    monkeypatch.setattr(preflight, "check_google_credentials", lambda *a, **k: None)
    argv = ["report", "emotion-pipeline-20260105060000", "--project", "acme-ml", "--region", "europe-west4"]
    assert main([*argv, "--download-to", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "summary.json").is_file() and (tmp_path / "r" / "report.md").is_file()


def test_cli_report_of_an_unfinished_run_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(aiplatform, "PipelineJob", _vertex_cls(_gca_job()))
    monkeypatch.setattr(preflight, "check_google_credentials", lambda *a, **k: None)
    argv = ["report", JOB, "--project", "acme-ml", "--region", "europe-west4", "--download-to", str(tmp_path)]
    assert main(argv) == 1
    assert "not a finished run of emotion-pipeline" in _one_line(capsys.readouterr().err, "report")


# --- project and region ---------------------------------------------------------------------------------------


def _gcloud(tmp_path: Path, project: str, region: str) -> dict[str, str]:
    (tmp_path / "configurations").mkdir(parents=True)
    (tmp_path / "active_config").write_text("work\n")
    text = f"[core]\nproject = {project}\naccount = me@example.com\n\n[ai]\nregion = {region}\n"
    (tmp_path / "configurations" / "config_work").write_text(text)
    return {"CLOUDSDK_CONFIG": str(tmp_path)}


def test_project_and_region_order_flag_environment_file_gcloud(tmp_path: Path) -> None:
    environ = _gcloud(tmp_path, "from-gcloud", "us-east1")
    assert gcloud_config.resolve_project("", "", environ) == gcloud_config.Resolved(
        "from-gcloud", "gcloud config (core/project)"
    )
    assert gcloud_config.resolve_region("", "", environ).value == "us-east1"
    assert gcloud_config.resolve_project("", "from-file", environ).value == "from-file"
    environ["CLOUDSDK_CORE_PROJECT"] = "from-sdk-var"
    assert gcloud_config.resolve_project("", "from-file", environ).source == "CLOUDSDK_CORE_PROJECT"
    environ["GOOGLE_CLOUD_PROJECT"] = "from-env"
    assert gcloud_config.resolve_project("", "from-file", environ).value == "from-env"
    assert gcloud_config.resolve_project("from-flag", "from-file", environ).source == "--project"


def test_cli_dry_run_takes_the_project_from_the_environment(monkeypatch, capsys) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme-ml-prod")
    monkeypatch.setenv("GOOGLE_CLOUD_REGION", "us-central1")
    assert main(["submit", "--env", "vertex", "--train", "gs://b/t.csv", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"project": "acme-ml-prod"' in out and '"pipeline_root": "gs://acme-ml-prod-emotion-pipeline/' in out
    assert "my-project" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "{placeholder}"], "project 'my-project' (from environment file) is a placeholder"),
        (["--env", "vertex"], "needs the project; pass --project, set GOOGLE_CLOUD_PROJECT"),
        (
            ["--env", "vertex", "--project", "acme-ml", "--region", "x1", "--train", "/home/me/train.csv"],
            "train_uris /home/me/train.csv: a path on this machine",
        ),
    ],
)
def test_cli_refusals_before_submission(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    placeholder = tmp_path / "mine.yaml"
    placeholder.write_text("extends: vertex\nproject: my-project\nregion: europe-west4\n")
    argv = [a.format(placeholder=placeholder) for a in argv]
    assert main(["submit", *argv, "--dry-run"]) == 2
    assert message in _one_line(capsys.readouterr().err, "submit")


# --- immutable images ---------------------------------------------------------------------------------------


def test_is_immutable() -> None:
    assert images.is_immutable("europe-docker.pkg.dev/p/r/emotion:src-0123456789abcdef")
    assert images.is_immutable("host:5000/emotion:1.2.3") and images.is_immutable("e@sha256:" + "a" * 64)
    for moving in ("emotion", "emotion:latest", "emotion:dev", "host:5000/emotion", "e:{source_tag}"):
        assert not images.is_immutable(moving), moving


def test_compile_vertex_names_every_image_by_its_content_tag(tmp_path: Path) -> None:
    import yaml

    out = tmp_path / "p.yaml"
    assert (
        main(["compile", "--env", "vertex", "--project", "acme-ml", "--region", "us-central1", "--output", str(out)])
        == 0
    )
    found = images.template_images(list(yaml.safe_load_all(out.read_text())))
    assert found and all(i.endswith(":" + images.source_tag()) for i in found), found
    assert ":latest" not in out.read_text() and "us-central1-docker.pkg.dev/acme-ml/" in found[0]


def test_compile_refuses_a_moving_tag_in_one_line(tmp_path: Path, capsys) -> None:
    argv = ["compile", "--image", "r/emotion:1.0", "--step-image", "profile=r/emotion:latest"]
    assert main([*argv, "--output", str(tmp_path / "p.yaml")]) == 2
    assert "image 'r/emotion:latest' has no immutable tag" in _one_line(capsys.readouterr().err, "compile")
    assert not (tmp_path / "p.yaml").exists()


# --- one-line failures (item 5), for real: a server that is not KFP, a closed port, no credentials ------------


class _NotKfp(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>hello</html>" if self.path == "/" else b"not here"
        self.send_response(200 if self.path == "/apis/v2beta1/healthz" else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def not_kfp() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers, but not as KFP: its healthz is HTML."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotKfp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_kfp_host_that_is_not_kfp_is_one_line(not_kfp: str, capsys) -> None:
    assert main(["runs", "list", "--kfp-host", not_kfp]) == 2
    line = _one_line(capsys.readouterr().err, "runs")
    assert f"--kfp-host {not_kfp}: not KFP's API" in line and "port-forward svc/ml-pipeline-ui" in line


def test_submit_to_a_closed_port_is_one_line(capsys) -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotKfp) as server:
        port = server.server_address[1]  # bound, then closed: nothing listens there
    assert main(["submit", "--env", "kind", "--kfp-host", f"http://127.0.0.1:{port}"]) == 2
    assert "nothing answers" in _one_line(capsys.readouterr().err, "submit")


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--registry", "vertex://acme-ml/europe-west4", "--model", "emotion@champion"],
        ["runs", "list", "--env", "vertex", "--project", "acme-ml", "--region", "europe-west4"],
        [
            "submit",
            "--env",
            "vertex",
            "--template",
            "gs://acme/pipeline.yaml",
            "--dry-run",
            "--project",
            "acme-ml",
            "--region",
            "europe-west4",
        ],
    ],
)
def test_no_credentials_is_one_line(argv: list[str], monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # no metadata server: not on Google Cloud
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    assert main(argv) == 2
    line = _one_line(capsys.readouterr().err, argv[0])
    assert "no Google Cloud credentials" in line and "gcloud auth application-default login" in line
