"""Submit/schedule on Vertex AI and KFP with only the SDK's network boundary replaced.

Vertex AI: ``RecordingPipelineJob`` is the real ``aiplatform.PipelineJob`` (its constructor parses our compiled
template and checks the parameters, offline) with ``submit``/``create_schedule`` — the calls that reach the
service — recorded instead of sent. KFP: ``FakeKfpClient`` stands in for ``kfp.Client``, recording the exact
arguments. Nothing here reaches a real Vertex AI or KFP: none can be reached from the test machines.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from pipelines import cloud
from pipelines.cli import main
from pipelines.cloud import CloudError, RunRequest, Target

VERTEX = Target(
    kind="vertex",
    project="my-project",
    region="europe-west4",
    pipeline_root="gs://bucket/root",
    service_account="runner@my-project.iam.gserviceaccount.com",
    experiment="emotion-exp",
)
KFP = Target(kind="kfp", kfp_host="http://localhost:8080", experiment="emotion-exp")
JOB_NAME = "projects/123/locations/europe-west4/pipelineJobs/emotion-pipeline-20260101"
SCHEDULE_NAME = "projects/123/locations/europe-west4/schedules/987"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline compiled for Vertex AI, once for the module."""
    path = tmp_path_factory.mktemp("template") / "pipeline.yaml"
    assert main(["compile", "--env", "vertex", "--output", str(path)]) == 0
    return path


class RecordingJobs:
    """Stands in for the ``aiplatform.PipelineJob`` class: builds REAL PipelineJobs (anonymous credentials,
    offline) whose two network calls, ``submit`` and ``create_schedule``, are recorded instead of sent."""

    def __init__(self) -> None:
        from google.cloud import aiplatform

        self.real_cls = aiplatform.PipelineJob  # kept before a test puts this recorder in its place
        self.instances: list[Any] = []

    def __call__(self, **kwargs: Any) -> Any:
        from google.auth.credentials import AnonymousCredentials

        spec = yaml.safe_load(Path(kwargs["template_path"]).read_text(encoding="utf-8"))
        job = self.real_cls(**kwargs, credentials=AnonymousCredentials())
        job.init_kwargs = kwargs
        job.template_images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}

        def submit(**submit_kwargs: Any) -> None:
            job.submit_kwargs = submit_kwargs
            job._gca_resource.name = JOB_NAME

        def create_schedule(**schedule_kwargs: Any) -> Any:
            job.schedule_kwargs = schedule_kwargs
            return SimpleNamespace(resource_name=SCHEDULE_NAME)

        job.submit, job.create_schedule = submit, create_schedule
        self.instances.append(job)
        return job


@pytest.fixture
def recording_job_cls() -> RecordingJobs:
    return RecordingJobs()


class FakeKfpClient:
    """Records the calls of kfp.Client that the code makes, with their exact arguments."""

    def __init__(self, host: str = "") -> None:
        self.host = host
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def create_run_from_pipeline_package(self, **kwargs: Any) -> Any:
        self.calls.append(("create_run_from_pipeline_package", kwargs))
        assert Path(kwargs["pipeline_file"]).is_file()  # the template exists while the SDK reads it
        return SimpleNamespace(run_id="run-42")

    def create_experiment(self, **kwargs: Any) -> Any:
        self.calls.append(("create_experiment", kwargs))
        return SimpleNamespace(experiment_id="exp-7")

    def create_recurring_run(self, **kwargs: Any) -> Any:
        self.calls.append(("create_recurring_run", kwargs))
        return SimpleNamespace(recurring_run_id="rr-9")

    def list_recurring_runs(self, **kwargs: Any) -> Any:
        self.calls.append(("list_recurring_runs", kwargs))
        trigger = SimpleNamespace(cron_schedule=SimpleNamespace(cron="0 0 6 * * 1"))
        runs = [SimpleNamespace(recurring_run_id="rr-9", display_name="nightly", status="ENABLED", trigger=trigger)]
        return SimpleNamespace(recurring_runs=runs)

    def disable_recurring_run(self, recurring_run_id: str) -> dict:
        self.calls.append(("disable_recurring_run", {"recurring_run_id": recurring_run_id}))
        return {}

    def enable_recurring_run(self, recurring_run_id: str) -> dict:
        self.calls.append(("enable_recurring_run", {"recurring_run_id": recurring_run_id}))
        return {}

    def delete_recurring_run(self, recurring_run_id: str) -> dict:
        self.calls.append(("delete_recurring_run", {"recurring_run_id": recurring_run_id}))
        return {}


def _request(template: Path, **changes: Any) -> RunRequest:
    values = {
        "template_path": str(template),
        "display_name": "emotion-run",
        "parameters": {"train_uris": ["gs://bucket/train.csv"], "task": "demo", "automl_budget_minutes": 1.0},
        "labels": {"app": "emotion-pipeline"},
    }
    return RunRequest(**{**values, **changes})


# --- Vertex AI -------------------------------------------------------------------------------------------


def test_vertex_submit_passes_exact_arguments_and_returns_the_console_link(template: Path, recording_job_cls) -> None:
    result = cloud.submit(_request(template), VERTEX, pipeline_job_cls=recording_job_cls)
    job = recording_job_cls.instances[-1]
    assert job.init_kwargs == {
        "display_name": "emotion-run",
        "template_path": str(template),
        "pipeline_root": "gs://bucket/root",
        "parameter_values": {"train_uris": ["gs://bucket/train.csv"], "task": "demo", "automl_budget_minutes": 1.0},
        "enable_caching": None,  # keeps the compiled per-step caching (ingest off)
        "labels": {"app": "emotion-pipeline"},
        "project": "my-project",
        "location": "europe-west4",
    }
    assert job.submit_kwargs == {
        "service_account": "runner@my-project.iam.gserviceaccount.com",
        "experiment": "emotion-exp",
    }
    # The real constructor read the template and the parameters:
    assert job._gca_resource.runtime_config.gcs_output_directory == "gs://bucket/root"
    assert set(job._gca_resource.runtime_config.parameter_values) == {"train_uris", "task", "automl_budget_minutes"}
    assert result.id == JOB_NAME
    assert result.link == (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/pipelines/runs/"
        "emotion-pipeline-20260101?project=123"
    )


def test_vertex_rejects_a_parameter_the_pipeline_does_not_declare(template: Path, recording_job_cls) -> None:
    with pytest.raises(ValueError, match="bogus"):
        cloud.submit(_request(template, parameters={"bogus": 1}), VERTEX, pipeline_job_cls=recording_job_cls)


def test_vertex_schedule_passes_the_five_field_cron(template: Path, recording_job_cls) -> None:
    result = cloud.create_schedule(
        _request(template, display_name="weekly"), VERTEX, "0 6 * * 1", 2, 10, pipeline_job_cls=recording_job_cls
    )
    job = recording_job_cls.instances[-1]
    assert job.schedule_kwargs == {
        "cron": "0 6 * * 1",
        "display_name": "weekly",
        "max_concurrent_run_count": 2,
        "max_run_count": 10,
        "service_account": "runner@my-project.iam.gserviceaccount.com",
    }
    assert result.link.endswith("/pipelines/schedules/987?project=123")


def test_vertex_list_pause_resume_delete_call_the_schedule_api() -> None:
    calls: list[tuple[str, Any]] = []

    class FakeSchedule:
        def __init__(self, name: str) -> None:
            self.resource_name, self.display_name, self.cron = name, "weekly", "0 6 * * 1"
            self.state = SimpleNamespace(name="ACTIVE")

        @classmethod
        def list(cls, **kwargs: Any) -> list[FakeSchedule]:
            calls.append(("list", kwargs))
            return [cls(SCHEDULE_NAME)]

        @classmethod
        def get(cls, schedule_id: str, **kwargs: Any) -> FakeSchedule:
            calls.append(("get", (schedule_id, kwargs)))
            return cls(schedule_id)

        def pause(self) -> None:
            calls.append(("pause", self.resource_name))

        def resume(self) -> None:
            calls.append(("resume", self.resource_name))

        def delete(self) -> None:
            calls.append(("delete", self.resource_name))

    rows = cloud.list_schedules(VERTEX, "week", schedule_cls=FakeSchedule)
    assert rows == [cloud.ScheduleInfo(SCHEDULE_NAME, "weekly", "ACTIVE", "0 6 * * 1")]
    assert calls[0] == ("list", {"project": "my-project", "location": "europe-west4"})
    assert cloud.list_schedules(VERTEX, "nightly", schedule_cls=FakeSchedule) == []
    for action in ("pause", "resume", "delete"):
        cloud.change_schedule(VERTEX, "987", action, schedule_cls=FakeSchedule)
        assert calls[-2] == ("get", ("987", {"project": "my-project", "location": "europe-west4"}))
        assert calls[-1] == (action, "987")


def test_vertex_refuses_a_template_with_a_kubernetes_platform_spec(tmp_path: Path, recording_job_cls) -> None:
    kind_template = tmp_path / "kind.yaml"
    assert main(["compile", "--env", "kind", "--output", str(kind_template)]) == 0
    with pytest.raises(CloudError, match="platform spec"):
        cloud.submit(_request(kind_template), VERTEX, pipeline_job_cls=recording_job_cls)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (Target(kind="vertex", region="r", pipeline_root="gs://b"), "--project"),
        (Target(kind="vertex", project="p", pipeline_root="gs://b"), "--region"),
        (Target(kind="vertex", project="p", region="r"), "--pipeline-root"),
        (Target(kind="vertex", project="p", region="r", pipeline_root="/local"), "gs://"),
        (Target(kind="kfp"), "--kfp-host"),
        (Target(kind="airflow"), "vertex or kfp"),
    ],
)
def test_incomplete_targets_name_the_missing_setting(template: Path, target: Target, message: str) -> None:
    with pytest.raises(CloudError, match=message):
        cloud.submit(_request(template), target, pipeline_job_cls=object, client=object())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"enable_caching": True}, "stale data"),
        ({"labels": {"Team": "ml"}}, "label Team=ml"),
        ({"labels": {"team": "ML Ops"}}, "label team=ML Ops"),
        ({"template_path": "missing.yaml"}, "missing.yaml: compiled pipeline not found"),
    ],
)
def test_bad_requests_are_refused_before_any_call(template: Path, changes: dict, message: str) -> None:
    client = FakeKfpClient()
    with pytest.raises(CloudError, match=message):
        cloud.submit(_request(template, **changes), KFP, client=client)
    assert client.calls == []


# --- KFP ------------------------------------------------------------------------------------------------------


def test_kfp_submit_passes_exact_arguments_and_returns_the_run_link(template: Path) -> None:
    client = FakeKfpClient()
    result = cloud.submit(_request(template, enable_caching=False), KFP, client=client)
    assert client.calls == [
        (
            "create_run_from_pipeline_package",
            {
                "pipeline_file": str(template),
                "arguments": {"train_uris": ["gs://bucket/train.csv"], "task": "demo", "automl_budget_minutes": 1.0},
                "run_name": "emotion-run",
                "experiment_name": "emotion-exp",
                "pipeline_root": None,
                "enable_caching": False,
                "service_account": None,
            },
        )
    ]
    assert result == cloud.Submitted("run-42", "http://localhost:8080/#/runs/details/run-42")


def test_kfp_schedule_converts_cron_and_never_catches_up(template: Path) -> None:
    client = FakeKfpClient()
    result = cloud.create_schedule(_request(template, display_name="weekly"), KFP, "0 6 * * 1", 3, client=client)
    assert client.calls[0] == ("create_experiment", {"name": "emotion-exp"})
    assert client.calls[1] == (
        "create_recurring_run",
        {
            "experiment_id": "exp-7",
            "job_name": "weekly",
            "cron_expression": "0 0 6 * * 1",
            "max_concurrency": 3,
            "no_catchup": True,
            "params": {"train_uris": ["gs://bucket/train.csv"], "task": "demo", "automl_budget_minutes": 1.0},
            "pipeline_package_path": str(template),
            "pipeline_root": None,
            "enable_caching": None,
            "service_account": None,
        },
    )
    assert result.link == "http://localhost:8080/#/recurringrun/details/rr-9"


def test_kfp_has_no_run_count_limit(template: Path) -> None:
    with pytest.raises(CloudError, match="max_run_count"):
        cloud.create_schedule(_request(template), KFP, "0 6 * * 1", 1, 5, client=FakeKfpClient())


def test_kfp_list_pause_resume_delete(template: Path) -> None:
    client = FakeKfpClient()
    assert cloud.list_schedules(KFP, client=client) == [cloud.ScheduleInfo("rr-9", "nightly", "ENABLED", "0 0 6 * * 1")]
    for action, method in (("pause", "disable"), ("resume", "enable"), ("delete", "delete")):
        cloud.change_schedule(KFP, "rr-9", action, client=client)
        assert client.calls[-1] == (f"{method}_recurring_run", {"recurring_run_id": "rr-9"})
    with pytest.raises(CloudError, match="pause, resume or delete"):
        cloud.change_schedule(KFP, "rr-9", "stop", client=client)


# --- the command line, with the SDK classes replaced where the code looks them up -----------------------------


def test_cli_submit_to_kfp_compiles_and_prints_the_run_link(monkeypatch, capsys) -> None:
    import kfp

    clients: list[FakeKfpClient] = []

    def make_client(host: str) -> FakeKfpClient:
        clients.append(FakeKfpClient(host))
        return clients[-1]

    monkeypatch.setattr(kfp, "Client", make_client)
    code = main(["submit", "--env", "kind", "--kfp-host", "http://localhost:8080", "--name", "demo-run",
                 "--automl-budget-minutes", "1", "--param", "seed=7"])  # fmt: skip
    assert code == 0
    (client,) = clients
    assert client.host == "http://localhost:8080"
    (name, kwargs), *_ = client.calls
    assert name == "create_run_from_pipeline_package"
    assert kwargs["arguments"] == {
        "train_uris": ["/opt/emotion-pipeline/data/demo_emotions.csv"],  # the demo data inside the image
        "task": "demo",
        "automl_budget_minutes": 1.0,
        "seed": 7,
    }
    assert kwargs["run_name"] == "demo-run" and kwargs["experiment_name"] == "emotion-pipeline"
    out = capsys.readouterr().out
    assert "run: http://localhost:8080/#/runs/details/run-42" in out


def test_cli_schedule_on_vertex_prints_the_console_link(monkeypatch, capsys, recording_job_cls) -> None:
    from google.cloud import aiplatform

    monkeypatch.setattr(aiplatform, "PipelineJob", recording_job_cls)
    code = main(["schedule", "create", "--env", "vertex", "--cron", "0 6 * * 1", "--max-runs", "4",
                 "--train", "gs://bucket/train.csv", "--name", "weekly", "--label", "team=ml"])  # fmt: skip
    assert code == 0
    job = recording_job_cls.instances[-1]
    assert job.init_kwargs["labels"] == {"app": "emotion-pipeline", "team": "ml"}
    assert job.init_kwargs["parameter_values"] == {"train_uris": ["gs://bucket/train.csv"], "task": "custom"}
    assert job.schedule_kwargs["cron"] == "0 6 * * 1" and job.schedule_kwargs["max_run_count"] == 4
    assert job.template_images == {  # compiled on the fly with vertex.yaml's images
        "europe-west4-docker.pkg.dev/my-project/emotion/emotion-pipeline:latest",
        "europe-west4-docker.pkg.dev/my-project/emotion/emotion-pipeline-automl:latest",
    }
    assert not Path(job.init_kwargs["template_path"]).exists()  # the temporary template is cleaned up
    assert "schedule: https://console.cloud.google.com/vertex-ai/locations/europe-west4/pipelines/schedules/987" in (
        capsys.readouterr().out
    )


def test_cli_schedule_kfp_list_and_pause(monkeypatch, capsys) -> None:
    import kfp

    client = FakeKfpClient()
    monkeypatch.setattr(kfp, "Client", lambda host: client)
    assert main(["schedule", "list", "--env", "kind"]) == 0
    assert "rr-9" in capsys.readouterr().out
    assert main(["schedule", "pause", "rr-9", "--env", "kind"]) == 0
    assert client.calls[-1] == ("disable_recurring_run", {"recurring_run_id": "rr-9"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["submit", "--env", "kind", "--train", "data/train.csv"], "not visible to the cluster"),
        (["submit", "--env", "kind", "--param", "colour=red"], "--param colour: the pipeline has no such parameter"),
        (["submit", "--env", "nowhere"], "nowhere.yaml: environment file not found"),
        (["submit", "--env", "vertex", "--project", ""], None),
        (["schedule", "create", "--env", "kind", "--cron", "0 0 6 * * 1"], "expected 5 fields"),
        (["schedule", "create", "--env", "kind", "--cron", "0 6 * * 1", "--max-runs", "3"], "max_run_count"),
        (["submit", "--env", "vertex", "--image-pull-policy", "IfNotPresent"], "platform spec"),
        (["submit", "--env", "kind", "--template", "nowhere.yaml"], "nowhere.yaml: compiled pipeline not found"),
    ],
)
def test_cli_errors_are_one_clear_line(argv: list[str], message: str | None, monkeypatch, capsys) -> None:
    import kfp
    from google.cloud import aiplatform

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no SDK call expected")

    monkeypatch.setattr(kfp, "Client", refuse)
    monkeypatch.setattr(aiplatform, "PipelineJob", refuse)
    if message is None:  # vertex.yaml names a project: an empty flag keeps it, so this one gets to the SDK
        with pytest.raises(AssertionError, match="no SDK call expected"):
            main(argv)
        return
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"emotion-pipeline {argv[0]}: error: ") and message in err


def test_cli_schedule_dry_run_shows_the_cron_kfp_would_get(monkeypatch, capsys) -> None:
    import json

    import kfp

    monkeypatch.setattr(kfp, "Client", lambda host: pytest.fail("dry run must not create a client"))
    assert main(["schedule", "create", "--env", "kind", "--cron", "0 * * * *", "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["cron"], printed["cron_sent"]) == ("0 * * * *", "0 0 * * * *")


def test_listing_vertex_schedules_needs_no_pipeline_root() -> None:
    class NoSchedules:
        @staticmethod
        def list(**kwargs: Any) -> list:
            return []

    target = Target(kind="vertex", project="p", region="r")
    assert cloud.list_schedules(target, schedule_cls=NoSchedules) == []


def test_cli_dry_run_prints_the_request_and_sends_nothing(monkeypatch, capsys) -> None:
    import json

    import kfp

    monkeypatch.setattr(kfp, "Client", lambda host: pytest.fail("dry run must not create a client"))
    assert main(["submit", "--env", "kind", "--dry-run", "--no-cache", "--train", "gs://b/t.csv"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["target"]["kind"] == "kfp" and printed["target"]["kfp_host"] == "http://localhost:8080"
    assert printed["request"]["enable_caching"] is False
    assert printed["request"]["parameters"] == {"train_uris": ["gs://b/t.csv"], "task": "custom"}
