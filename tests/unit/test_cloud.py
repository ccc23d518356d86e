"""Submit/schedule on Vertex AI and KFP with only the SDK's network boundary replaced.

Vertex AI: ``RecordingJobs`` builds the real ``aiplatform.PipelineJob`` (its constructor parses our compiled
template and checks the parameters, offline) with ``submit``/``create_schedule`` — the calls that reach the
service — recorded instead of sent. KFP: ``FakeKfpClient`` stands in for ``kfp.Client``, recording the exact
arguments. Every fake binds the arguments it receives to the REAL SDK signature (:func:`_bind`), so a renamed
or unknown keyword fails here as it would against the service. Nothing here reaches a real Vertex AI or KFP:
none can be reached from the test machines.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import kfp
import kfp.registry
import pytest
import yaml
from google.cloud import aiplatform

from pipelines import cloud, images
from pipelines.cli.main import main
from pipelines.cloud import CloudError, RunRequest, Target

# The real SDK classes, kept at import time (tests replace them with monkeypatch where the code looks them up).
REAL_PIPELINE_JOB = aiplatform.PipelineJob
REAL_SCHEDULE = aiplatform.PipelineJobSchedule
REAL_KFP_CLIENT = kfp.Client
REAL_REGISTRY_CLIENT = kfp.registry.RegistryClient

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
    assert (
        main(
            ["compile", "--env", "vertex", "--project", "my-project", "--region", "europe-west4", "--output", str(path)]
        )
        == 0
    )
    return path


@pytest.fixture(autouse=True)
def _coordinates_and_no_preflight(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI tests here send to fakes: the project and region come from the environment (vertex.yaml names
    none), and the preflights (credentials, KFP's health) are tested in test_cloud_runs.py against real servers."""
    from pipelines import preflight

    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    monkeypatch.setenv("GOOGLE_CLOUD_REGION", "europe-west4")
    monkeypatch.setattr(preflight, "check_kfp_host", lambda *args, **kwargs: {})
    monkeypatch.setattr(preflight, "check_google_credentials", lambda *args, **kwargs: None)


def _bind(real: Callable, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Binds a fake's arguments to the real SDK callable's signature: an unknown, renamed or missing argument
    fails the test (``TypeError`` from ``Signature.bind``), as it would fail against the real SDK.

    Returns:
        The arguments given, by parameter name (positional ones named too; no defaults, no ``self``/``cls``).
    """
    try:
        bound = inspect.signature(real).bind(*args, **kwargs)
    except TypeError as err:
        pytest.fail(f"{real.__qualname__}{inspect.signature(real)} called with {args} {kwargs}: {err}")
    return {name: value for name, value in bound.arguments.items() if name not in ("self", "cls")}


def test_bind_refuses_what_the_sdk_would_refuse() -> None:
    """The guard itself: a keyword the SDK does not have (here: experiment on create_schedule) fails."""
    assert _bind(REAL_PIPELINE_JOB.create_schedule, None, cron="0 6 * * 1", display_name="x", allow_queueing=True)
    with pytest.raises(pytest.fail.Exception, match="experiment"):
        _bind(REAL_PIPELINE_JOB.create_schedule, None, cron="0 6 * * 1", display_name="x", experiment="e")
    with pytest.raises(pytest.fail.Exception, match="job_nam"):
        _bind(REAL_KFP_CLIENT.create_recurring_run, None, experiment_id="e", job_nam="x")
    assert _bind(REAL_KFP_CLIENT.disable_recurring_run, None, "rr-9") == {"recurring_run_id": "rr-9"}


class RecordingJobs:
    """Stands in for the ``aiplatform.PipelineJob`` class: builds REAL PipelineJobs (anonymous credentials,
    offline) whose two network calls, ``submit`` and ``create_schedule``, are bound to their real signatures
    and recorded instead of sent.

    Args:
        real: False: do not build the real PipelineJob (for a template this machine cannot read, e.g. an
            Artifact Registry URL); the arguments are still bound to ``PipelineJob.__init__``.
    """

    def __init__(self, real: bool = True) -> None:
        self.real = real
        self.instances: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from google.auth.credentials import AnonymousCredentials

        init_kwargs = _bind(REAL_PIPELINE_JOB.__init__, None, *args, **kwargs)
        if self.real:
            job = REAL_PIPELINE_JOB(*args, **kwargs, credentials=AnonymousCredentials())
            spec = yaml.safe_load(_read_any(init_kwargs["template_path"]))
            job.template_images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
        else:
            job = SimpleNamespace(_gca_resource=SimpleNamespace(name=""))
        job.init_kwargs = init_kwargs

        def submit(*submit_args: Any, **submit_kwargs: Any) -> None:
            job.submit_kwargs = _bind(REAL_PIPELINE_JOB.submit, job, *submit_args, **submit_kwargs)
            job._gca_resource.name = JOB_NAME
            if not self.real:
                job.resource_name = JOB_NAME

        def create_schedule(*schedule_args: Any, **schedule_kwargs: Any) -> Any:
            job.schedule_kwargs = _bind(REAL_PIPELINE_JOB.create_schedule, job, *schedule_args, **schedule_kwargs)
            return SimpleNamespace(resource_name=SCHEDULE_NAME)

        job.submit, job.create_schedule = submit, create_schedule
        self.instances.append(job)
        return job


def _read_any(template: str) -> str:
    import fsspec

    with fsspec.open(template, "r", encoding="utf-8") as handle:
        return handle.read()


@pytest.fixture
def recording_job_cls() -> RecordingJobs:
    return RecordingJobs()


def _recurring_run(run_id: str, name: str, cron: str = "0 0 6 * * 1") -> Any:
    """A recurring run as kfp.Client returns it (the server's model, not a stand-in)."""
    from kfp_server_api.models import V2beta1CronSchedule, V2beta1RecurringRun, V2beta1Trigger

    trigger = V2beta1Trigger(cron_schedule=V2beta1CronSchedule(cron=cron))
    return V2beta1RecurringRun(recurring_run_id=run_id, display_name=name, status="ENABLED", trigger=trigger)


class FakeKfpClient:
    """Records the calls of kfp.Client that the code makes, with their exact arguments bound to the real
    ``kfp.Client`` methods' signatures.

    Args:
        host: As ``kfp.Client(host=...)`` got it.
        pages: The pages ``list_recurring_runs`` returns, in order (each a list of recurring runs).
    """

    def __init__(self, host: str = "", pages: list[list[Any]] | None = None) -> None:
        self.host = host
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.pages = pages if pages is not None else [[_recurring_run("rr-9", "nightly")]]

    def _record(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((method, _bind(getattr(REAL_KFP_CLIENT, method), self, *args, **kwargs)))

    def create_run_from_pipeline_package(self, *args: Any, **kwargs: Any) -> Any:
        self._record("create_run_from_pipeline_package", *args, **kwargs)
        assert Path(self.calls[-1][1]["pipeline_file"]).is_file()  # the template exists while the SDK reads it
        return SimpleNamespace(run_id="run-42")

    def create_experiment(self, *args: Any, **kwargs: Any) -> Any:
        self._record("create_experiment", *args, **kwargs)
        return SimpleNamespace(experiment_id="exp-7")

    def create_recurring_run(self, *args: Any, **kwargs: Any) -> Any:
        self._record("create_recurring_run", *args, **kwargs)
        return SimpleNamespace(recurring_run_id="rr-9")

    def list_recurring_runs(self, *args: Any, **kwargs: Any) -> Any:
        from kfp_server_api.models import V2beta1ListRecurringRunsResponse

        self._record("list_recurring_runs", *args, **kwargs)
        page = int(kwargs.get("page_token") or 0)
        last = page + 1 >= len(self.pages)
        return V2beta1ListRecurringRunsResponse(
            recurring_runs=self.pages[page] or None,
            total_size=sum(map(len, self.pages)),
            next_page_token=None if last else str(page + 1),
        )

    def disable_recurring_run(self, *args: Any, **kwargs: Any) -> dict:
        self._record("disable_recurring_run", *args, **kwargs)
        return {}

    def enable_recurring_run(self, *args: Any, **kwargs: Any) -> dict:
        self._record("enable_recurring_run", *args, **kwargs)
        return {}

    def delete_recurring_run(self, *args: Any, **kwargs: Any) -> dict:
        self._record("delete_recurring_run", *args, **kwargs)
        return {}


def _fake_client_factory(clients: list[FakeKfpClient], **fake_kwargs: Any) -> Callable[..., FakeKfpClient]:
    """Stands in for the ``kfp.Client`` class: binds the constructor's arguments to the real one."""

    def make(*args: Any, **kwargs: Any) -> FakeKfpClient:
        given = _bind(REAL_KFP_CLIENT.__init__, None, *args, **kwargs)
        clients.append(FakeKfpClient(given.get("host") or "", **fake_kwargs))
        return clients[-1]

    return make


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
        "enable_caching": None,  # keeps the compiled per-step caching (fingerprint and log_experiment off)
        "encryption_spec_key_name": None,
        "labels": {"app": "emotion-pipeline"},
        "project": "my-project",
        "location": "europe-west4",
        "failure_policy": None,
    }
    assert job.submit_kwargs == {
        "service_account": "runner@my-project.iam.gserviceaccount.com",
        "network": None,
        "experiment": "emotion-exp",  # the request has no experiment parameter: the SDK files the run
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
        "start_time": None,
        "end_time": None,
        "allow_queueing": False,
        "max_concurrent_run_count": 2,
        "max_run_count": 10,
        "service_account": "runner@my-project.iam.gserviceaccount.com",
        "network": None,
    }
    assert result.link.endswith("/pipelines/schedules/987?project=123")


def test_vertex_schedule_allows_queueing_and_a_time_zone(template: Path, recording_job_cls) -> None:
    cloud.create_schedule(
        _request(template),
        VERTEX,
        "TZ=Europe/Berlin 0 6 * * 1",
        allow_queueing=True,
        pipeline_job_cls=recording_job_cls,
    )
    kwargs = recording_job_cls.instances[-1].schedule_kwargs
    assert kwargs["allow_queueing"] is True and kwargs["cron"] == "TZ=Europe/Berlin 0 6 * * 1"


def test_kfp_refuses_queueing_and_time_zones(template: Path) -> None:
    client = FakeKfpClient()
    with pytest.raises(CloudError, match="allow_queueing"):
        cloud.create_schedule(_request(template), KFP, "0 6 * * 1", allow_queueing=True, client=client)
    with pytest.raises(CloudError, match="KFP recurring runs are UTC"):
        cloud.create_schedule(_request(template), KFP, "TZ=Europe/Berlin 0 6 * * 1", client=client)
    assert client.calls == []


def test_vertex_list_pause_resume_delete_call_the_schedule_api() -> None:
    calls: list[tuple[str, Any]] = []

    class FakeSchedule:
        def __init__(self, name: str) -> None:
            self.resource_name, self.display_name, self.cron = name, "weekly", "0 6 * * 1"
            self.state = SimpleNamespace(name="ACTIVE")

        @classmethod
        def list(cls, *args: Any, **kwargs: Any) -> list[FakeSchedule]:
            calls.append(("list", _bind(REAL_SCHEDULE.list, *args, **kwargs)))
            return [cls(SCHEDULE_NAME)]

        @classmethod
        def get(cls, *args: Any, **kwargs: Any) -> FakeSchedule:
            given = _bind(REAL_SCHEDULE.get, *args, **kwargs)
            schedule_id = given.pop("schedule_id")
            calls.append(("get", (schedule_id, given)))
            return cls(schedule_id)

        def pause(self, *args: Any, **kwargs: Any) -> None:
            _bind(REAL_SCHEDULE.pause, self, *args, **kwargs)
            calls.append(("pause", self.resource_name))

        def resume(self, *args: Any, **kwargs: Any) -> None:
            given = _bind(REAL_SCHEDULE.resume, self, *args, **kwargs)
            assert given == {"catch_up": False}, "a resumed schedule must not replay the runs missed while paused"
            calls.append(("resume", self.resource_name))

        def delete(self, *args: Any, **kwargs: Any) -> None:
            _bind(REAL_SCHEDULE.delete, self, *args, **kwargs)
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
                "run_name": "emotion-run app=emotion-pipeline",
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
            "job_name": "weekly app=emotion-pipeline",  # kfp.Client has no labels: kept in the name
            "start_time": None,
            "end_time": None,
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
    # KFP holds "0 0 6 * * 1" (seconds first); listed in the 5-field form the user gave:
    assert cloud.list_schedules(KFP, client=client) == [cloud.ScheduleInfo("rr-9", "nightly", "ENABLED", "0 6 * * 1")]
    for action, method in (("pause", "disable"), ("resume", "enable"), ("delete", "delete")):
        cloud.change_schedule(KFP, "rr-9", action, client=client)
        assert client.calls[-1] == (f"{method}_recurring_run", {"recurring_run_id": "rr-9"})
    with pytest.raises(CloudError, match="pause, resume or delete"):
        cloud.change_schedule(KFP, "rr-9", "stop", client=client)


def test_kfp_list_follows_every_page() -> None:
    pages = [
        [_recurring_run(f"rr-{i}", f"run-{i}") for i in range(100)],
        [_recurring_run(f"rr-{i}", f"run-{i}") for i in range(100, 200)],
        [_recurring_run("rr-200", "run-200", cron="30 0 6 * * 1")],
    ]
    client = FakeKfpClient(pages=pages)
    rows = cloud.list_schedules(KFP, client=client)
    assert [r.id for r in rows] == [f"rr-{i}" for i in range(201)]  # not only the first 100
    assert [kwargs.get("page_token") for _, kwargs in client.calls] == ["", "1", "2"]
    assert rows[-1].cron == "30 0 6 * * 1"  # second 30: no 5-field form, shown as KFP holds it
    assert cloud.list_schedules(KFP, client=FakeKfpClient(pages=[[]])) == []


# --- the command line, with the SDK classes replaced where the code looks them up -----------------------------


def test_cli_submit_to_kfp_compiles_and_prints_the_run_link(monkeypatch, capsys) -> None:
    clients: list[FakeKfpClient] = []
    monkeypatch.setattr(kfp, "Client", _fake_client_factory(clients))
    code = main(
        [
            "submit",
            "--env",
            "kind",
            "--kfp-host",
            "http://localhost:8080",
            "--name",
            "demo-run",
            "--automl-budget-minutes",
            "1",
            "--set",
            "seed=7",
        ]
    )
    assert code == 0
    (client,) = clients
    assert client.host == "http://localhost:8080"
    (name, kwargs), *_ = client.calls
    assert name == "create_run_from_pipeline_package"
    assert kwargs["arguments"] == {
        "train_uris": ["/opt/emotion-pipeline/data/demo_emotions.csv"],  # the demo data inside the image
        "test_uri": "",
        "test_size": 0.2,  # the demo preset's, as in a local run
        "task": "demo",
        "automl_budget_minutes": 1.0,
        "seed": 7,
    }
    assert (
        kwargs["run_name"] == "demo-run app=emotion-pipeline" and kwargs["experiment_name"] == "emotion-pipeline-runs"
    )
    out = capsys.readouterr().out
    assert "run: http://localhost:8080/#/runs/details/run-42" in out


def test_cli_schedule_on_vertex_prints_the_console_link(monkeypatch, capsys, recording_job_cls) -> None:
    monkeypatch.setattr(aiplatform, "PipelineJob", recording_job_cls)
    code = main(
        [
            "schedule",
            "create",
            "--env",
            "vertex",
            "--cron",
            "0 6 * * 1",
            "--max-runs",
            "4",
            "--train",
            "gs://bucket/train.csv",
            "--name",
            "weekly",
            "--label",
            "team=ml",
        ]
    )
    assert code == 0
    job = recording_job_cls.instances[-1]
    assert job.init_kwargs["labels"] == {"app": "emotion-pipeline", "team": "ml"}
    assert job.init_kwargs["parameter_values"] == {
        "train_uris": ["gs://bucket/train.csv"],
        "test_uri": "",
        "task": "custom",
        "registry_uri": "vertex://my-project/europe-west4",  # Vertex AI Model Registry unless --registry
        "experiment": "emotion-pipeline-runs",  # the schedule's runs log themselves in the experiment
    }
    assert job.schedule_kwargs["cron"] == "0 6 * * 1" and job.schedule_kwargs["max_run_count"] == 4
    tag = images.source_tag()  # compiled on the fly with vertex.yaml's images: by content tag, never :latest
    assert job.template_images == {
        f"europe-west4-docker.pkg.dev/my-project/emotion/emotion-pipeline:{tag}",
        f"europe-west4-docker.pkg.dev/my-project/emotion/emotion-pipeline-automl:{tag}",
    }
    assert not Path(job.init_kwargs["template_path"]).exists()  # the temporary template is cleaned up
    out, err = capsys.readouterr()
    assert "schedule: https://console.cloud.google.com/vertex-ai/locations/europe-west4/pipelines/schedules/987" in out
    assert "(cron '0 6 * * 1', UTC)" in out
    assert "warning" not in err  # create_schedule has no experiment argument, but the pipeline's parameter has it


def test_cli_schedule_on_vertex_passes_allow_queueing_and_time_zone(monkeypatch, capsys, recording_job_cls) -> None:
    monkeypatch.setattr(aiplatform, "PipelineJob", recording_job_cls)
    code = main(
        [
            "schedule",
            "create",
            "--env",
            "vertex",
            "--cron",
            "CRON_TZ=Europe/Berlin 0 6 * * 1",
            "--allow-queueing",
            "--max-concurrent",
            "2",
        ]
    )
    assert code == 0
    kwargs = recording_job_cls.instances[-1].schedule_kwargs
    assert (kwargs["cron"], kwargs["allow_queueing"], kwargs["max_concurrent_run_count"]) == (
        "CRON_TZ=Europe/Berlin 0 6 * * 1",
        True,
        2,
    )
    assert "(cron 'CRON_TZ=Europe/Berlin 0 6 * * 1')" in capsys.readouterr().out


def test_cli_schedule_kfp_list_and_pause(monkeypatch, capsys) -> None:
    clients: list[FakeKfpClient] = []
    monkeypatch.setattr(kfp, "Client", _fake_client_factory(clients))
    assert main(["schedule", "list", "--env", "kind"]) == 0
    out = capsys.readouterr().out
    assert "rr-9" in out and " 0 6 * * 1 " in out and "0 0 6 * * 1" not in out
    assert main(["schedule", "pause", "rr-9", "--env", "kind"]) == 0
    assert clients[-1].calls[-1] == ("disable_recurring_run", {"recurring_run_id": "rr-9"})
    assert [c.host for c in clients] == ["http://localhost:8080"] * 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["submit", "--env", "kind", "--train", "data/train.csv"], "not visible to the cluster"),
        (["submit", "--env", "kind", "--set", "colour=red"], "colour: the pipeline has no such parameter"),
        (["submit", "--env", "nowhere"], "nowhere.yaml: environment file not found"),
        (["submit", "--env", "vertex", "--project", ""], None),
        (["schedule", "create", "--env", "kind", "--cron", "0 0 6 * * 1"], "expected 5 fields"),
        (["schedule", "create", "--env", "kind", "--cron", "0 6 * * 1", "--max-runs", "3"], "max_run_count"),
        (["submit", "--env", "vertex", "--image-pull-policy", "IfNotPresent"], "platform spec"),
        (["submit", "--env", "kind", "--template", "nowhere.yaml"], "nowhere.yaml: compiled pipeline not found"),
        (["submit", "--env", "kind", "--template", "gs://b/pipeline.yaml"], "kfp.Client reads the template from"),
        (["schedule", "create", "--env", "kind", "--cron", "TZ=Europe/Berlin 0 6 * * 1"], "KFP recurring runs are UTC"),
        (["schedule", "create", "--env", "kind", "--cron", "0 6 * * 1", "--allow-queueing"], "allow_queueing"),
        (["schedule", "create", "--env", "vertex", "--cron", "TZ=Mars/Olympus 0 6 * * 1"], "is not a time zone"),
        (["schedule", "create", "--env", "vertex", "--cron", "0 18-6 * * *"], "the range runs backwards"),
    ],
)
def test_cli_errors_are_one_clear_line(argv: list[str], message: str | None, monkeypatch, capsys) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no SDK call expected")

    monkeypatch.setattr(kfp, "Client", refuse)
    monkeypatch.setattr(aiplatform, "PipelineJob", refuse)
    if message is None:  # vertex.yaml names a project: an empty flag keeps it, so this one gets to the SDK
        with pytest.raises(AssertionError, match="no SDK call expected"):
            main(argv)
        return
    assert main(argv) == 2  # a command line that cannot work: a usage error
    err = capsys.readouterr().err
    assert err.startswith(f"emotion-pipeline {argv[0]}: error: ") and message in err


def test_cli_schedule_dry_run_shows_the_cron_kfp_would_get(monkeypatch, capsys) -> None:
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
    monkeypatch.setattr(kfp, "Client", lambda host: pytest.fail("dry run must not create a client"))
    assert main(["submit", "--env", "kind", "--dry-run", "--no-cache", "--train", "gs://b/t.csv"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["target"]["kind"] == "kfp" and printed["target"]["kfp_host"] == "http://localhost:8080"
    assert printed["request"]["enable_caching"] is False
    assert printed["request"]["parameters"] == {"train_uris": ["gs://b/t.csv"], "test_uri": "", "task": "custom"}


# --- service errors: one line, exit 1, no traceback ------------------------------------------------------------


def _one_clear_line(err: str, command: str) -> str:
    """The error line of stderr: exactly one, no traceback; other lines only notes and warnings."""
    lines = [line for line in err.strip().splitlines() if not line.startswith(("warning: ", "note: "))]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"emotion-pipeline {command}: error: "), err
    return lines[0]


def test_cli_vertex_without_credentials_is_one_clear_line(monkeypatch, capsys) -> None:
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(*args: Any, **kwargs: Any) -> Any:
        _bind(REAL_PIPELINE_JOB.__init__, None, *args, **kwargs)
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(aiplatform, "PipelineJob", no_credentials)
    assert main(["submit", "--env", "vertex", "--train", "gs://bucket/train.csv"]) == 1
    line = _one_clear_line(capsys.readouterr().err, "submit")
    assert "no Google Cloud credentials found" in line and "gcloud auth application-default login" in line


def test_cli_vertex_refusal_is_one_clear_line(monkeypatch, capsys, recording_job_cls) -> None:
    from google.api_core.exceptions import PermissionDenied

    def refuse(*args: Any, **kwargs: Any) -> Any:
        job = recording_job_cls(*args, **kwargs)

        def create_schedule(*schedule_args: Any, **schedule_kwargs: Any) -> Any:
            _bind(REAL_PIPELINE_JOB.create_schedule, job, *schedule_args, **schedule_kwargs)
            raise PermissionDenied(
                "Permission 'aiplatform.schedules.create' denied on resource\n(or it may not exist)."
            )

        job.create_schedule = create_schedule
        return job

    monkeypatch.setattr(aiplatform, "PipelineJob", refuse)
    assert main(["schedule", "create", "--env", "vertex", "--cron", "0 6 * * 1"]) == 1
    line = _one_clear_line(capsys.readouterr().err, "schedule")
    assert "Google Cloud refused the request: 403 Permission 'aiplatform.schedules.create' denied" in line


def test_cli_vertex_schedule_list_refusal_is_one_clear_line(monkeypatch, capsys) -> None:
    from google.api_core.exceptions import NotFound

    class Missing:
        @staticmethod
        def list(*args: Any, **kwargs: Any) -> list:
            _bind(REAL_SCHEDULE.list, *args, **kwargs)
            raise NotFound("Project my-project not found")

    monkeypatch.setattr(aiplatform, "PipelineJobSchedule", Missing)
    assert main(["schedule", "list", "--env", "vertex"]) == 1
    assert "Google Cloud refused the request: 404 Project my-project not found" in _one_clear_line(
        capsys.readouterr().err, "schedule"
    )


def test_cli_kfp_api_error_is_one_clear_line(monkeypatch, capsys) -> None:
    from kfp_server_api.exceptions import ApiException

    class Refusing(FakeKfpClient):
        def create_run_from_pipeline_package(self, *args: Any, **kwargs: Any) -> Any:
            self._record("create_run_from_pipeline_package", *args, **kwargs)
            error = ApiException(status=400, reason="Bad Request")
            error.body = b'{"error": "x", "code": 3, "message": "Invalid input error: the pipeline spec is invalid"}'
            raise error

    monkeypatch.setattr(kfp, "Client", lambda *args, **kwargs: Refusing())
    assert main(["submit", "--env", "kind"]) == 1
    line = _one_clear_line(capsys.readouterr().err, "submit")
    assert line.endswith(
        "KFP at http://localhost:8080 refused the request: 400 Bad Request: Invalid input error: "
        "the pipeline spec is invalid"
    )


def test_cli_kfp_unreachable_is_one_clear_line(capsys) -> None:
    """The REAL kfp.Client, pointed at a closed port on this machine: its health check fails at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening: connection refused
        assert main(["schedule", "list", "--env", "kind", "--kfp-host", host]) == 1
    line = _one_clear_line(capsys.readouterr().err, "schedule")
    assert f"KFP at {host} is not reachable" in line


# --- remote templates: gs:// (read through fsspec/gcsfs) and Artifact Registry URLs ----------------------------

AR_TEMPLATE = "https://europe-west4-kfp.pkg.dev/my-project/emotion-templates/emotion-pipeline/latest"


@pytest.fixture(scope="module")
def gcs_template(template: Path, gcs_emulator) -> Any:
    """The GCS emulator (the GCS JSON API on 127.0.0.1) holding the compiled template; yields its gs:// URI."""
    patch = pytest.MonkeyPatch()
    try:
        bucket = gcs_emulator.use(patch).create_bucket("templates")
        bucket.blob("emotion/pipeline.yaml").upload_from_filename(str(template))
        yield "gs://templates/emotion/pipeline.yaml"
    finally:
        patch.undo()
        gcs_emulator.release()


def test_cli_submits_a_gs_template_to_vertex(gcs_template: str, monkeypatch, capsys, recording_job_cls) -> None:
    monkeypatch.setattr(aiplatform, "PipelineJob", recording_job_cls)
    code = main(["submit", "--env", "vertex", "--template", gcs_template, "--train", "gs://b/t.csv", "--set", "seed=3"])
    assert code == 0, capsys.readouterr().err
    job = recording_job_cls.instances[-1]
    assert job.init_kwargs["template_path"] == gcs_template  # not folded to gs:/… by Path
    assert job.init_kwargs["parameter_values"] == {
        "train_uris": ["gs://b/t.csv"],
        "test_uri": "",
        "task": "custom",
        "seed": 3,
        "registry_uri": "vertex://my-project/europe-west4",
        "experiment": "emotion-pipeline-runs",
    }
    # The real PipelineJob read the same template from the emulator:
    assert job._gca_resource.runtime_config.parameter_values["seed"] == 3
    assert "submitted to Vertex AI: " + JOB_NAME in capsys.readouterr().out


def test_cli_checks_the_parameters_of_a_gs_template(gcs_template: str, monkeypatch, capsys) -> None:
    monkeypatch.setattr(aiplatform, "PipelineJob", lambda *a, **k: pytest.fail("refused before any SDK call"))
    assert main(["submit", "--env", "vertex", "--template", gcs_template, "--set", "colour=red"]) == 2
    assert "colour: the pipeline has no such parameter" in _one_clear_line(capsys.readouterr().err, "submit")
    missing = gcs_template.replace("pipeline.yaml", "missing.yaml")
    assert (
        main(["submit", "--env", "vertex", "--template", missing]) == 2
    )  # a usage error: the template named does not exist
    assert f"{missing}: compiled pipeline not found" in _one_clear_line(capsys.readouterr().err, "submit")


def test_cli_submits_an_artifact_registry_template_with_a_note(monkeypatch, capsys) -> None:
    jobs = RecordingJobs(real=False)  # the real constructor would fetch the URL
    monkeypatch.setattr(aiplatform, "PipelineJob", jobs)
    assert main(["submit", "--env", "vertex", "--template", AR_TEMPLATE, "--train", "gs://b/t.csv"]) == 0
    out, err = capsys.readouterr()
    assert jobs.instances[-1].init_kwargs["template_path"] == AR_TEMPLATE
    assert jobs.instances[-1].init_kwargs["parameter_values"] == {
        "train_uris": ["gs://b/t.csv"],
        "test_uri": "",
        "task": "custom",
        "registry_uri": "vertex://my-project/europe-west4",
        "experiment": "emotion-pipeline-runs",  # templates uploaded by this version declare it
    }
    assert "note: " + AR_TEMPLATE + ": Artifact Registry templates are read by Vertex AI" in err
    assert "checked by Vertex AI" in err and "submitted to Vertex AI" in out


def test_kfp_refuses_a_remote_template_before_any_call(template: Path) -> None:
    client = FakeKfpClient()
    for remote in ("gs://bucket/pipeline.yaml", AR_TEMPLATE):
        with pytest.raises(CloudError, match=r"kfp\.Client reads the template from this machine"):
            cloud.submit(_request(template, template_path=remote), KFP, client=client)
    assert client.calls == []


# --- enterprise options: network, CMEK, failure policy, schedule window ------------------------------------------

CMEK = "projects/my-project/locations/europe-west4/keyRings/ml/cryptoKeys/pipelines"
NETWORK = "projects/123/global/networks/ml-vpc"
ENTERPRISE = Target(
    kind="vertex",
    project="my-project",
    region="europe-west4",
    pipeline_root="gs://bucket/root",
    service_account="runner@my-project.iam.gserviceaccount.com",
    experiment="emotion-exp",
    network=NETWORK,
    encryption_spec_key_name=CMEK,
    failure_policy="fast",
)


def test_vertex_enterprise_options_reach_the_real_job_and_the_submit_call(template: Path, recording_job_cls) -> None:
    cloud.submit(_request(template), ENTERPRISE, pipeline_job_cls=recording_job_cls)
    job = recording_job_cls.instances[-1]
    assert (job.init_kwargs["encryption_spec_key_name"], job.init_kwargs["failure_policy"]) == (CMEK, "fast")
    assert job.submit_kwargs["network"] == NETWORK
    # The real PipelineJob put them in the request it would send:
    assert job._gca_resource.encryption_spec.kms_key_name == CMEK
    assert job._gca_resource.runtime_config.failure_policy.name == "PIPELINE_FAILURE_POLICY_FAIL_FAST"


def test_vertex_schedule_takes_a_window_and_the_network(template: Path, recording_job_cls) -> None:
    from google.cloud.aiplatform.compat.types import schedule as gca_schedule

    cloud.create_schedule(
        _request(template),
        ENTERPRISE,
        "0 6 * * 1",
        start_time="2027-01-04",
        end_time="2027-06-30T18:00+02:00",
        pipeline_job_cls=recording_job_cls,
    )
    kwargs = recording_job_cls.instances[-1].schedule_kwargs
    assert (kwargs["start_time"], kwargs["end_time"]) == ("2027-01-04T00:00:00Z", "2027-06-30T16:00:00Z")
    assert kwargs["network"] == NETWORK
    schedule = gca_schedule.Schedule()  # what PipelineJobSchedule._create does with them, offline
    schedule.start_time, schedule.end_time = kwargs["start_time"], kwargs["end_time"]
    assert schedule.start_time.isoformat() == "2027-01-04T00:00:00+00:00"


def test_kfp_schedule_takes_a_window(template: Path) -> None:
    client = FakeKfpClient()
    cloud.create_schedule(_request(template), KFP, "0 6 * * 1", start_time="2027-01-04T06:00:00Z", client=client)
    recurring = client.calls[1][1]
    assert (recurring["start_time"], recurring.get("end_time")) == ("2027-01-04T06:00:00Z", None)


@pytest.mark.parametrize(
    ("target", "window", "message"),
    [
        (ENTERPRISE, ("2027-06-30", "2027-01-04"), "is not after start_time"),
        (ENTERPRISE, ("next monday", None), "expected an ISO 8601 date or time"),
        (Target(kind="kfp", kfp_host="http://localhost:8080", network=NETWORK), (None, None), "network: a Vertex AI"),
        (Target(kind="kfp", kfp_host="http://x:1", failure_policy="fast"), (None, None), "failure_policy: a Vertex AI"),
        (
            Target(**{**ENTERPRISE.__dict__, "encryption_spec_key_name": CMEK.replace("europe-west4", "us-east1")}),
            (None, None),
            "the key is in 'us-east1' but the runs are in 'europe-west4'",
        ),
        (Target(**{**ENTERPRISE.__dict__, "experiment": "emotion-pipeline"}), (None, None), "is the pipeline's name"),
    ],
)
def test_enterprise_options_that_cannot_work_are_refused(template: Path, target, window, message: str) -> None:
    client = FakeKfpClient()
    with pytest.raises(CloudError, match=message):
        cloud.create_schedule(
            _request(template),
            target,
            "0 6 * * 1",
            start_time=window[0],
            end_time=window[1],
            client=client,
            pipeline_job_cls=lambda *a, **k: pytest.fail("refused before any SDK call"),
        )
    assert client.calls == []


def test_the_experiment_check_knows_the_pipelines_name() -> None:
    from pipelines.emotion_pipeline import PIPELINE_NAME

    assert cloud.PIPELINE_NAME == PIPELINE_NAME


def test_cli_enterprise_flags_and_env_keys(tmp_path: Path, monkeypatch, capsys, recording_job_cls) -> None:
    env = tmp_path / "corp.yaml"
    env.write_text(f"extends: vertex\nnetwork: {NETWORK}\nencryption_spec_key_name: {CMEK}\n", encoding="utf-8")
    monkeypatch.setattr(aiplatform, "PipelineJob", recording_job_cls)
    assert main(["submit", "--env", str(env), "--failure-policy", "fast", "--train", "gs://b/t.csv"]) == 0
    job = recording_job_cls.instances[-1]
    assert (job.init_kwargs["encryption_spec_key_name"], job.init_kwargs["failure_policy"]) == (CMEK, "fast")
    assert job.submit_kwargs["network"] == NETWORK
    # on KFP the environment's Vertex AI options are not sent; given as flags they are refused
    assert main(["submit", "--env", "kind", "--network", NETWORK, "--dry-run"]) == 2
    assert "network: a Vertex AI setting" in capsys.readouterr().err


# --- experiments ---------------------------------------------------------------------------------------------


def test_cli_vertex_runs_carry_the_experiment_as_a_parameter(monkeypatch, capsys, recording_job_cls) -> None:
    """Submitted and scheduled runs alike: the pipeline's last step logs them in the experiment."""
    monkeypatch.setattr(aiplatform, "PipelineJob", recording_job_cls)
    assert main(["submit", "--env", "vertex", "--train", "gs://b/t.csv"]) == 0
    job = recording_job_cls.instances[-1]
    assert job.init_kwargs["parameter_values"]["experiment"] == "emotion-pipeline-runs"  # default.yaml's
    assert job.submit_kwargs["experiment"] is None  # filed by the step, not twice
    assert main(["schedule", "create", "--env", "vertex", "--cron", "0 6 * * 1", "--experiment", "weekly"]) == 0
    assert recording_job_cls.instances[-1].init_kwargs["parameter_values"]["experiment"] == "weekly"
    assert "warning" not in capsys.readouterr().err  # scheduled runs now reach the experiment


def test_cli_an_older_template_without_the_parameter_keeps_the_sdks_experiment(
    template: Path, tmp_path: Path, monkeypatch, capsys, recording_job_cls
) -> None:
    spec = yaml.safe_load(template.read_text(encoding="utf-8"))
    del spec["root"]["inputDefinitions"]["parameters"]["experiment"]
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(spec), encoding="utf-8")
    monkeypatch.setattr(aiplatform, "PipelineJob", recording_job_cls)
    assert main(["submit", "--env", "vertex", "--template", str(old), "--train", "gs://b/t.csv"]) == 0
    job = recording_job_cls.instances[-1]
    assert "experiment" not in job.init_kwargs["parameter_values"]
    assert job.submit_kwargs["experiment"] == "emotion-pipeline-runs"
    assert main(["schedule", "create", "--env", "vertex", "--template", str(old), "--cron", "0 6 * * 1"]) == 0
    assert "has no 'experiment' parameter" in capsys.readouterr().err


def test_cli_refuses_an_experiment_named_like_the_pipeline(monkeypatch, capsys) -> None:
    monkeypatch.setattr(aiplatform, "PipelineJob", lambda *a, **k: pytest.fail("refused before any SDK call"))
    assert main(["submit", "--env", "vertex", "--experiment", "emotion-pipeline"]) == 2
    assert "is the pipeline's name" in _one_clear_line(capsys.readouterr().err, "submit")


# --- KFP labels ------------------------------------------------------------------------------------------------


def test_cli_kfp_labels_go_into_the_run_name(monkeypatch, capsys) -> None:
    """kfp.Client has no labels: they are kept in the run's name, which the KFP UI shows and searches."""
    clients: list[FakeKfpClient] = []
    monkeypatch.setattr(kfp, "Client", _fake_client_factory(clients))
    assert main(["submit", "--env", "kind", "--name", "nightly", "--label", "team=ml"]) == 0
    assert clients[-1].calls[0][1]["run_name"] == "nightly app=emotion-pipeline team=ml"
    assert "note: KFP runs have no labels; they were added to the run name" in capsys.readouterr().err
    assert main(["schedule", "create", "--env", "kind", "--cron", "0 6 * * 1", "--name", "weekly"]) == 0
    assert clients[-1].calls[1][1]["job_name"] == "weekly app=emotion-pipeline"


# --- submit --wait ---------------------------------------------------------------------------------------------


def _vertex_states(*names: str) -> list[Any]:
    from google.cloud.aiplatform_v1.types import PipelineState

    return [PipelineState[f"PIPELINE_STATE_{name}"] for name in names]


class WaitingJobs(RecordingJobs):
    """RecordingJobs whose ``get`` (bound to the real ``PipelineJob.get``) returns a job whose ``state`` — a
    property that reads the service in the real SDK — yields scripted states, one per read."""

    def __init__(self, states: list[Any], error: str = "") -> None:
        super().__init__()
        self.states, self.error, self.reads, self.get_kwargs = iter(states), error, 0, None

    def get(self, *args: Any, **kwargs: Any) -> Any:
        self.get_kwargs = _bind(REAL_PIPELINE_JOB.get, *args, **kwargs)
        jobs = self

        class Job:
            gca_resource = SimpleNamespace(error=SimpleNamespace(message=jobs.error))

            @property
            def state(self) -> Any:
                jobs.reads += 1
                return next(jobs.states)

        return Job()


def test_the_real_sdk_reads_state_through_properties() -> None:
    """What WaitingJobs mimics: PipelineJob.state and .gca_resource are properties (state re-reads the job)."""
    assert isinstance(inspect.getattr_static(REAL_PIPELINE_JOB, "state"), property)
    assert isinstance(inspect.getattr_static(REAL_PIPELINE_JOB, "gca_resource"), property)
    assert "_sync_gca_resource" in inspect.getsource(inspect.getattr_static(REAL_PIPELINE_JOB, "state").fget)


def _clock() -> tuple[Callable[[], float], Callable[[float], None]]:
    now = [0.0]
    return (lambda: now[0]), (lambda seconds: now.__setitem__(0, now[0] + seconds))


def test_wait_reports_each_state_change_until_success() -> None:
    jobs = WaitingJobs(_vertex_states("PENDING", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"))
    lines: list[str] = []
    clock, sleep = _clock()
    outcome = cloud.wait_for_run(
        JOB_NAME, VERTEX, poll_seconds=20, report=lines.append, pipeline_job_cls=jobs, sleep=sleep, clock=clock
    )
    assert outcome == cloud.RunOutcome("SUCCEEDED", True, "")
    assert jobs.get_kwargs == {"resource_name": JOB_NAME, "project": "my-project", "location": "europe-west4"}
    assert [line.split() for line in lines] == [["0", "s", "PENDING"], ["20", "s", "RUNNING"], ["80", "s", "SUCCEEDED"]]


@pytest.mark.parametrize(
    ("state", "error"), [("FAILED", "The DAG failed because some tasks failed."), ("CANCELLED", "")]
)
def test_wait_ends_badly_with_the_services_error(state: str, error: str) -> None:
    jobs = WaitingJobs(_vertex_states("RUNNING", state), error=error)
    clock, sleep = _clock()
    outcome = cloud.wait_for_run(
        JOB_NAME, VERTEX, report=lambda _: None, pipeline_job_cls=jobs, sleep=sleep, clock=clock
    )
    assert (outcome.state, outcome.succeeded) == (state, False)
    assert outcome.message == (error or f"the run ended {state}")


def test_wait_stops_at_the_timeout_and_says_the_run_goes_on() -> None:
    jobs = WaitingJobs(_vertex_states(*["RUNNING"] * 100))
    clock, sleep = _clock()
    outcome = cloud.wait_for_run(
        JOB_NAME, VERTEX, 50, poll_seconds=20, report=lambda _: None, pipeline_job_cls=jobs, sleep=sleep, clock=clock
    )
    assert (outcome.state, outcome.succeeded) == ("RUNNING", False)
    assert outcome.message == "still RUNNING after 50 s; stopped waiting (the run goes on)"
    assert jobs.reads == 4  # at 0, 20, 40 and 50 s: the last read is at the timeout, not a poll later


class KfpRuns(FakeKfpClient):
    """FakeKfpClient whose get_run (bound to the real kfp.Client.get_run) returns the server's run model."""

    def __init__(self, states: list[str], error: str = "") -> None:
        super().__init__()
        self.states, self.error = iter(states), error

    def get_run(self, *args: Any, **kwargs: Any) -> Any:
        from kfp_server_api.models import GoogleRpcStatus, V2beta1Run

        self._record("get_run", *args, **kwargs)
        state = next(self.states)
        error = GoogleRpcStatus(message=self.error) if state == "FAILED" else None
        return V2beta1Run(run_id="run-42", state=state, error=error)


def test_wait_on_kfp_reads_the_runs_state() -> None:
    client = KfpRuns(["PENDING", "RUNNING", "FAILED"], error="task train-automl failed: exit code 1")
    clock, sleep = _clock()
    outcome = cloud.wait_for_run("run-42", KFP, report=lambda _: None, client=client, sleep=sleep, clock=clock)
    assert outcome == cloud.RunOutcome("FAILED", False, "task train-automl failed: exit code 1")
    assert client.calls == [("get_run", {"run_id": "run-42"})] * 3


def test_cli_submit_wait_exits_0_on_success(monkeypatch, capsys) -> None:
    jobs = WaitingJobs(_vertex_states("QUEUED", "RUNNING", "SUCCEEDED"))
    monkeypatch.setattr(aiplatform, "PipelineJob", jobs)
    monkeypatch.setattr(cloud, "POLL_SECONDS", 0)
    assert main(["submit", "--env", "vertex", "--train", "gs://b/t.csv", "--wait"]) == 0
    out = capsys.readouterr().out
    assert "submitted to Vertex AI: " + JOB_NAME in out and "QUEUED" in out and "run succeeded: https://" in out


def test_cli_submit_wait_exits_1_when_the_run_fails(monkeypatch, capsys) -> None:
    clients: list[KfpRuns] = []

    def make(*args: Any, **kwargs: Any) -> KfpRuns:
        _bind(REAL_KFP_CLIENT.__init__, None, *args, **kwargs)
        clients.append(KfpRuns(["RUNNING", "FAILED"], error="task evaluate failed"))
        return clients[-1]

    monkeypatch.setattr(kfp, "Client", make)
    monkeypatch.setattr(cloud, "POLL_SECONDS", 0)
    assert main(["submit", "--env", "kind", "--timeout", "600"]) == 1  # --timeout implies --wait
    line = _one_clear_line(capsys.readouterr().err, "submit")
    assert "run run-42 FAILED: task evaluate failed (http://localhost:8080/#/runs/details/run-42)" in line


def test_cli_notify_is_refused_with_the_reason(monkeypatch, capsys) -> None:
    monkeypatch.setattr(aiplatform, "PipelineJob", lambda *a, **k: pytest.fail("refused before any SDK call"))
    assert main(["submit", "--env", "vertex", "--notify", "ml-team@example.com"]) == 2
    line = _one_clear_line(capsys.readouterr().err, "submit")
    assert "google-cloud-pipeline-components" in line and "google-cloud-aiplatform<2" in line


# --- upload to Artifact Registry ----------------------------------------------------------------------------

REGISTRY = "https://europe-west4-kfp.pkg.dev/my-project/emotion-templates"


def test_upload_with_the_real_registry_client_only_http_replaced(template: Path, monkeypatch) -> None:
    """The real kfp.registry.RegistryClient builds the upload request; only requests.post is recorded."""
    import google.auth
    import requests
    from google.auth.credentials import AnonymousCredentials

    posted: list[dict[str, Any]] = []
    real_post = requests.post

    def post(*args: Any, **kwargs: Any) -> Any:
        given = _bind(real_post, *args, **kwargs)
        posted.append({**given, "content": kwargs["files"]["content"].read()})
        return SimpleNamespace(text="emotion-pipeline/sha256:0123abcd", raise_for_status=lambda: None)

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "my-project"))
    monkeypatch.setattr(requests, "post", post)
    uploaded = cloud.upload_template(str(template), REGISTRY, ["abc1234", "latest"])
    assert uploaded == cloud.Uploaded(
        "emotion-pipeline",
        "sha256:0123abcd",
        (f"{REGISTRY}/emotion-pipeline/abc1234", f"{REGISTRY}/emotion-pipeline/latest"),
    )
    (request,) = posted
    assert request["url"] == REGISTRY and request["data"] == {"tags": "abc1234,latest"}
    assert (
        request["kwargs"]["headers"] is None and type(request["kwargs"]["auth"]).__name__ == "ApiAuth"
    )  # bearer token
    assert request["content"] == template.read_bytes()
    assert cloud._ARTIFACT_REGISTRY.match(REGISTRY)  # and the template URLs are what submit --template accepts
    from pipelines.cli.cloud import _ARTIFACT_REGISTRY as SUBMIT_ACCEPTS

    assert all(SUBMIT_ACCEPTS.match(url) for url in uploaded.urls)


class FakeRegistry:
    """Stands in for kfp.registry.RegistryClient: constructor and upload_pipeline bound to the real signatures."""

    instances: ClassVar[list[FakeRegistry]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.init_kwargs = _bind(REAL_REGISTRY_CLIENT.__init__, None, *args, **kwargs)
        self.uploads: list[dict[str, Any]] = []
        FakeRegistry.instances.append(self)

    def upload_pipeline(self, *args: Any, **kwargs: Any) -> tuple[str, str]:
        given = _bind(REAL_REGISTRY_CLIENT.upload_pipeline, self, *args, **kwargs)
        assert yaml.safe_load(Path(given["file_name"]).read_text())["pipelineInfo"]["name"] == "emotion-pipeline"
        self.uploads.append(given)
        return "emotion-pipeline", "sha256:feed"


def test_cli_upload_compiles_and_tags(tmp_path: Path, monkeypatch, capsys) -> None:
    import kfp.registry

    monkeypatch.setattr(kfp.registry, "RegistryClient", FakeRegistry)
    env = tmp_path / "vertex-ar.yaml"
    env.write_text(f"extends: vertex\ntemplate_registry: {REGISTRY}\n", encoding="utf-8")
    assert main(["upload", "--env", str(env), "--tag", "abc1234", "--tag", "latest"]) == 0
    registry = FakeRegistry.instances[-1]
    assert registry.init_kwargs == {"host": REGISTRY}
    assert registry.uploads[-1]["tags"] == ["abc1234", "latest"]
    out = capsys.readouterr().out
    assert f"template: {REGISTRY}/emotion-pipeline/abc1234" in out and "version sha256:feed" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["upload", "--env", "vertex"], "no registry: set template_registry"),
        (["upload", "--env", "kind", "--registry", REGISTRY], "platform spec"),  # two YAML documents
        (["upload", "--registry", "gs://bucket/templates"], "expected https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY"),
        (["upload", "--registry", REGISTRY, "--tag", "v 1"], "tags ['v 1']"),
    ],
)
def test_cli_upload_refusals_are_usage_errors(argv: list[str], message: str, monkeypatch, capsys) -> None:
    import kfp.registry

    monkeypatch.setattr(kfp.registry, "RegistryClient", lambda *a, **k: pytest.fail("refused before any upload"))
    assert main(argv) == 2
    assert message in _one_clear_line(capsys.readouterr().err, "upload")


def test_cli_upload_refusal_by_the_registry_is_one_line(template: Path, monkeypatch, capsys) -> None:
    import kfp.registry
    import requests

    class Forbidden(FakeRegistry):
        def upload_pipeline(self, *args: Any, **kwargs: Any) -> tuple[str, str]:
            raise requests.HTTPError("403 Client Error: Forbidden for url: " + REGISTRY)

    monkeypatch.setattr(kfp.registry, "RegistryClient", Forbidden)
    assert main(["upload", "--template", str(template), "--registry", REGISTRY]) == 1
    assert "Artifact Registry refused the request: 403" in _one_clear_line(capsys.readouterr().err, "upload")
