"""The last step: both models' parameters and metrics in Vertex AI Experiments, in a run named after the pipeline
job, on Vertex AI only. The SDK is replaced by recorders bound to the REAL ``google.cloud.aiplatform`` functions'
signatures (``tests/unit/test_cloud._bind``); nothing reaches Vertex AI (none can be reached from here)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists
from google.cloud import aiplatform

from components.steps.experiment import experiment_record, log_to_experiment, run_name, vertex_job
from tests.unit.test_cloud import _bind

VERTEX_ENV = {"CLOUD_ML_PROJECT_ID": "123456", "CLOUD_ML_REGION": "europe-west4"}
SUMMARY = {
    "task": "demo",
    "labels": ["joy", "sadness"],
    "rows": {"train": 768, "test": 192},
    "winner": "scratch",
    "winner_metric": "macro_f1",
    "models": {
        "scratch": {
            "accuracy": 0.67,
            "macro_f1": 0.66,
            "train_seconds": 2.0,
            "peak_memory_mb": 380.0,
            "training": {"classifier": "complement_nb", "C": 1.0, "sublinear_tf": True, "ngrams": [1, 2]},
        },
        "automl": {
            "accuracy": 0.54,
            "macro_f1": 0.54,
            "train_seconds": 43.0,
            "peak_memory_mb": 630.0,
            "latency_p50_ms": None,
            "training": {"best_model_id": "nb"},
        },
    },
    "steps": {"ingest": {"wall_seconds": 0.2}, "train_automl": {"wall_seconds": 43.0}},
    "headline": {"automl_vs_scratch_train_time": 21.5, "accuracy_delta": -0.13},
    "parameters": {"train_scratch": {"budget_seconds": 45.0, "workers": 2}, "train_automl": {"models": ["nb", "lr"]}},
}


class RecordingSdk:
    """Stands in for ``google.cloud.aiplatform``: each call bound to the real function's signature, recorded."""

    def __init__(self, exists: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.exists = exists

    def __getattr__(self, name: str) -> Any:
        real = getattr(aiplatform, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, _bind(real, *args, **kwargs)))
            if name == "start_run" and self.exists and not kwargs.get("resume"):
                raise AlreadyExists("Run emotion-pipeline-runs-job-1 already exists")
            return SimpleNamespace()

        return call


def test_a_vertex_job_is_logged_in_the_experiment_with_both_models() -> None:
    sdk = RecordingSdk()
    said = log_to_experiment(SUMMARY, "emotion-pipeline-runs", "emotion-pipeline-20261201120000", sdk, VERTEX_ENV)
    names = [name for name, _ in sdk.calls]
    assert names == ["init", "start_run", "log_params", "log_metrics", "end_run"]
    assert sdk.calls[0][1] == {
        "project": "123456",
        "location": "europe-west4",
        "experiment": "emotion-pipeline-runs",
        "experiment_tensorboard": False,  # no TensorBoard instance is created for it
    }
    assert sdk.calls[1][1] == {"run": "emotion-pipeline-20261201120000", "resume": False}
    params, metrics = sdk.calls[2][1]["params"], sdk.calls[3][1]["metrics"]
    assert params["winner"] == "scratch" and params["scratch_classifier"] == "complement_nb"
    assert params["scratch_sublinear_tf"] == "true" and params["scratch_ngrams"] == "[1, 2]"
    assert params["train_automl_models"] == '["nb", "lr"]' and params["pipeline_job"].startswith("emotion-pipeline")
    assert metrics["scratch_accuracy"] == 0.67 and metrics["automl_train_seconds"] == 43.0
    assert metrics["accuracy_delta"] == -0.13 and metrics["train_automl_wall_seconds"] == 43.0
    assert "automl_latency_p50_ms" not in metrics  # not measured: left out, not logged as null
    assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values())
    assert all(isinstance(v, int | float | str) for v in params.values())
    assert "logged run 'emotion-pipeline-20261201120000' in 'emotion-pipeline-runs'" in said


def test_a_retried_step_resumes_the_run_it_created() -> None:
    sdk = RecordingSdk(exists=True)
    log_to_experiment(SUMMARY, "exp", "job-1", sdk, VERTEX_ENV)
    starts = [kwargs for name, kwargs in sdk.calls if name == "start_run"]
    assert starts == [{"run": "job-1", "resume": False}, {"run": "job-1", "resume": True}]


@pytest.mark.parametrize(
    ("experiment", "job", "environ", "why"),
    [
        ("", "emotion-pipeline-1", VERTEX_ENV, "none given"),  # local runs, or no experiment configured
        ("exp", "emotion-pipeline-2026-12-01-10-00-00-123", {}, "does not run on Vertex AI"),  # kfp.local, KFP
        ("exp", "", VERTEX_ENV, "does not run on Vertex AI"),
    ],
)
def test_outside_vertex_nothing_is_logged_and_the_step_says_why(experiment, job, environ, why) -> None:
    sdk = RecordingSdk()
    assert why in log_to_experiment(SUMMARY, experiment, job, sdk, environ)
    assert sdk.calls == []


def test_a_full_resource_name_gives_project_and_region_itself() -> None:
    job = "projects/my-project/locations/us-central1/pipelineJobs/emotion-pipeline-1"
    assert vertex_job(job, {}) == ("my-project", "us-central1", "emotion-pipeline-1")


def test_run_names_are_valid_metadata_ids() -> None:
    assert run_name("Emotion_Pipeline 2026", "exp") == "emotion-pipeline-2026"
    long = run_name("x" * 200, "emotion-pipeline-runs")
    assert len("emotion-pipeline-runs-" + long) <= 128


def test_the_record_holds_numbers_as_metrics_and_everything_else_as_parameters() -> None:
    record = experiment_record(SUMMARY)
    assert "pipeline_job" not in record.params and record.params["labels"] == 2
    assert set(record.metrics) >= {"scratch_macro_f1", "automl_macro_f1", "automl_vs_scratch_train_time"}


def test_the_component_reads_the_summary_and_skips_locally(tmp_path, capsys) -> None:
    import json

    from components.arms import select_arms
    from components.kfp_components import build_components

    summary = tmp_path / "summary"
    summary.write_text(json.dumps(SUMMARY), encoding="utf-8")
    component = build_components(select_arms()).log_experiment
    component.python_func(summary=SimpleNamespace(path=str(summary)), experiment="exp", pipeline_job="local-run")
    assert "nothing logged" in capsys.readouterr().out
