"""The model commands: ``predict`` and ``serve`` (a real server on loopback, and the serving benchmark), the
registry defaults of ``run`` and ``submit``, and ``--pipeline batch-predict``."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from pathlib import Path

import httpx
import pandas as pd
import pytest
from lifecycle_models import demo_split, register_another, registered

from pipelines.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _vertex_coordinates(monkeypatch: pytest.MonkeyPatch) -> None:
    """vertex.yaml names no project (pipelines/gcloud_config.py): these submissions take it from the environment."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    monkeypatch.setenv("GOOGLE_CLOUD_REGION", "europe-west4")


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> str:
    return registered(tmp_path_factory.mktemp("cli"))[0]


def _benchmark():
    spec = importlib.util.spec_from_file_location("serve_benchmark", ROOT / "benchmarks" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its client processes receive its functions pickled, by module name
    spec.loader.exec_module(module)
    return module


def test_predict_writes_one_prediction_per_row_with_the_accuracy(registry: str, tmp_path: Path, capsys) -> None:
    _, test = demo_split()
    source = tmp_path / "val.txt"
    source.write_text("".join(f"{t};{lb}\n" for t, lb in zip(test["text"], test["label"], strict=True)))
    out = tmp_path / "predictions.csv"
    argv = ["predict", "--registry", registry, "--model", "emotion-demo@champion", "--input", str(source)]
    assert main([*argv, "--output", str(out), "--chunk-rows", "50"]) == 0
    printed = capsys.readouterr().out
    rows = pd.read_csv(out)
    assert len(rows) == len(test) and {"label", "true_label", "score_joy"} <= set(rows.columns)
    accuracy = (rows["label"] == rows["true_label"]).mean()
    assert f"accuracy: {accuracy:.4f}" in printed and "version 1" in printed


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["--model", "emotion-demo@champion", "--registry", "/nowhere/registry"], 2, "no registry there"),
        (["--model", "@champion"], 2, "expected NAME@ALIAS"),
        (["--model", "other@champion"], 1, "not in the registry"),
        (["--model", "emotion-demo/9"], 1, "not in the registry"),
    ],
)
def test_predict_refusals(registry: str, tmp_path: Path, capsys, argv, status, message) -> None:
    base = ["predict", "--registry", registry, "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "o.csv")]
    assert main([*base, *argv]) == status
    assert message in capsys.readouterr().err


def test_predict_explain_gives_each_row_the_words_behind_its_label(registry: str, tmp_path: Path, capsys) -> None:
    source = tmp_path / "in.txt"
    source.write_text("I feel SO happy today\nnobody listened and i am furious\n", encoding="utf-8")
    argv = ["predict", "--registry", registry, "--model", "emotion-demo@champion", "--input", str(source)]
    assert main([*argv, "--output", str(tmp_path / "p.jsonl"), "--explain", "--explain-top", "2"]) == 0
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(0 < len(r["explanation"]) <= 2 for r in records)
    assert records[0]["explanation"][0]["feature"] in ("i", "feel", "so", "happy", "today")  # normalised words
    for record in records:
        weights = [row["weight"] for row in record["explanation"]]
        assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
    assert main([*argv, "--output", str(tmp_path / "p.csv"), "--explain"]) == 0
    rows = pd.read_csv(tmp_path / "p.csv")
    assert all(0 < len(json.loads(cell)) <= 5 for cell in rows["explanation"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--explain-top", "3"], "--explain-top: give --explain too"), (["--explain", "--explain-top", "0"], ">= 1 word")],
)
def test_predict_explain_refusals(registry: str, tmp_path: Path, capsys, extra, message) -> None:
    argv = ["predict", "--registry", registry, "--model", "emotion-demo@champion", "--input", str(tmp_path / "in.txt")]
    assert main([*argv, "--output", str(tmp_path / "o.csv"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_predict_explain_of_a_model_that_cannot_be_explained_is_an_error(
    registry: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    from components.models.explain import ExplanationUnavailable
    from components.registry.packaging import EmotionModel

    def unavailable(self, texts, top=5):
        raise ExplanationUnavailable("TheModel gives no per-class scores")

    monkeypatch.setattr(EmotionModel, "explain_texts", unavailable)
    source = tmp_path / "in.txt"
    source.write_text("i am happy\n", encoding="utf-8")
    argv = ["predict", "--registry", registry, "--model", "emotion-demo@champion", "--input", str(source)]
    assert main([*argv, "--output", str(tmp_path / "o.csv"), "--explain"]) == 1
    err = capsys.readouterr().err
    assert "--explain: version 1 of emotion-demo cannot be explained: TheModel gives no per-class scores" in err
    assert not (tmp_path / "o.csv").exists()  # nothing half-written


def test_predict_a_missing_input_is_an_error(registry: str, tmp_path: Path, capsys) -> None:
    argv = ["predict", "--registry", registry, "--model", "emotion-demo@champion", "--input", str(tmp_path / "x.csv")]
    assert main([*argv, "--output", str(tmp_path / "o.jsonl")]) == 1
    assert "file not found" in capsys.readouterr().err


def test_serve_answers_on_loopback_and_the_benchmark_measures_it(registry: str, capsys) -> None:
    bench = _benchmark()
    port = bench.free_port()
    server = bench.start_server(registry, "emotion-demo@champion", port, startup_seconds=180)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health", timeout=10).json()["version"] == "1"
        answer = httpx.post(f"{base}/predict", json={"instances": [{"text": "i feel so happy"}]}, timeout=10)
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"]
        refused = httpx.post(f"{base}/predict", json={"instances": [{"text": ""}]}, timeout=10)
        assert refused.status_code == 400 and refused.json() == {"error": "instances[0].text is empty"}
    finally:
        server.terminate()
        server.wait(timeout=30)
    argv = ["--registry", registry, "--concurrency", "1,4", "--requests", "12", "--seconds", "20", "--rounds", "2"]
    assert bench.main([*argv, "--modes", "trivial,bare,server,server+shadow", "--shadow", "emotion-demo/1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    rows = [line for line in printed if line.startswith("| ") and not line.startswith("| mode")]
    expected = [f"| {mode} | {clients} | 12 | 0 |" for clients in (1, 4) for mode in ("trivial", "bare", "server")]
    assert [r.split(" |")[0] for r in rows] == [f"| {m}" for m in ["trivial", "bare", "server", "server+shadow"] * 2]
    assert all(any(r.startswith(e) for r in rows) for e in expected)
    assert printed[-2].startswith("server overhead over the bare app") and printed[-1].startswith("shadow's addition")


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("two")
    uri = registered(folder)[0]
    assert register_another(folder, uri) == "2"
    return uri


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--canary", "emotion-demo/2:10", "--shadow", "emotion-demo/2"], "--canary and --shadow exclude each other"),
        (["--canary", "emotion-demo/2:101"], "--canary emotion-demo/2:101: expected REF:PERCENT"),
        (["--canary", "emotion-demo/2"], "--canary emotion-demo/2: expected REF:PERCENT"),
        (["--canary", ":5"], "expected REF:PERCENT"),
        (["--shadow", "emotion-demo/2"], "--shadow needs --shadow-log FILE"),
        (["--shadow-log", "x.jsonl"], "--shadow-log and --log-texts need a challenger"),
        (["--log-texts"], "--shadow-log and --log-texts need a challenger"),
        (["--shadow", "emotion-demo/2", "--shadow-log", "/nowhere/x.jsonl"], "its folder does not exist"),
        (["--workers", "0"], "--workers 0: expected 1 or more"),
    ],
)
def test_serve_refuses_bad_challenger_options_in_one_line(tmp_path: Path, capsys, extra, message) -> None:
    argv = ["serve", "--registry", str(tmp_path), "--model", "emotion-demo@champion", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def _wait_for_lines(path: Path, count: int) -> list[dict]:
    """The log's records once it has ``count`` lines (a guard of 60 s, not a timing check)."""
    for _ in range(600):
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        threading.Event().wait(0.1)
    raise AssertionError(f"{path}: {len(lines)} lines, expected {count}")


def test_serve_shadow_logs_both_versions(two_versions: str, tmp_path: Path) -> None:
    bench = _benchmark()
    port, log = bench.free_port(), tmp_path / "shadow.jsonl"
    extra = ["--shadow", "emotion-demo/2", "--shadow-log", str(log)]
    server = bench.start_server(two_versions, "emotion-demo@champion", port, startup_seconds=180, extra=extra)
    try:
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(f"{base}/health", timeout=10).json()
        assert health["mode"] == "shadow" and health["challenger"] == {"ref": "emotion-demo/2", "version": "2"}
        answer = httpx.post(f"{base}/predict", json={"instances": ["i feel so happy", "i am scared"]}, timeout=10)
        assert answer.json()["modelVersionId"] == "1"
        assert [p["version"] for p in answer.json()["predictions"]] == ["1", "1"]
        first, second = _wait_for_lines(log, 2)
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert first["champion"]["version"] == "1" and first["challenger"]["version"] == "2" and "text" not in first
    assert second["request_id"] == answer.headers["x-request-id"] and second["instance"] == 1


def test_serve_canary_in_two_workers(two_versions: str, tmp_path: Path) -> None:
    bench = _benchmark()
    port, log = bench.free_port(), tmp_path / "canary.jsonl"
    extra = ["--canary", "emotion-demo/2:100", "--shadow-log", str(log), "--log-texts", "--workers", "2"]
    server = bench.start_server(two_versions, "emotion-demo@champion", port, startup_seconds=180, extra=extra)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            versions = {
                client.post("/predict", json={"instances": [f"text {i}"]}).json()["modelVersionId"] for i in range(20)
            }
        records = _wait_for_lines(log, 20)
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert versions == {"2"} and {r["answered_by"] for r in records} == {"challenger"}
    assert {r["champion"] is None for r in records} == {True} and sorted(r["text"] for r in records)[0] == "text 0"


def test_run_registers_beside_the_output_by_default(tmp_path: Path, monkeypatch) -> None:
    from pipelines.cli.local import default_registry

    monkeypatch.chdir(tmp_path)
    assert default_registry(Path("emotion-pipeline-output")) == tmp_path / "emotion-pipeline-registry"
    assert default_registry(tmp_path / "runs" / "a") == tmp_path / "runs" / "emotion-pipeline-registry"


def test_submit_on_vertex_registers_in_vertex_ai_by_default(capsys) -> None:
    assert main(["submit", "--env", "vertex", "--dry-run"]) == 0
    sent = json.loads(capsys.readouterr().out)["request"]["parameters"]
    assert sent["registry_uri"] == "vertex://my-project/europe-west4"
    assert main(["submit", "--env", "vertex", "--registry", "gs-less-mlflow", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["request"]["parameters"]["registry_uri"] == "gs-less-mlflow"


def test_submit_the_batch_pipeline(capsys) -> None:
    argv = ["submit", "--pipeline", "batch-predict", "--env", "vertex", "--dry-run", "--registry", "vertex://p/r"]
    sets = [
        "--set",
        "model=emotion-emotion6@champion",
        "--set",
        "input_uri=gs://b/in.csv",
        "--set",
        "output_uri=gs://b/out.jsonl",
        "--set",
        "chunk_rows=5000",
    ]
    assert main([*argv, *sets]) == 0
    sent = json.loads(capsys.readouterr().out)["request"]
    assert sent["display_name"].startswith("emotion-batch-predict-")
    expected = {
        "model": "emotion-emotion6@champion",
        "input_uri": "gs://b/in.csv",
        "output_uri": "gs://b/out.jsonl",
        "chunk_rows": 5000,
        "registry_uri": "vertex://p/r",
    }
    assert sent["parameters"] == expected
    assert main([*argv, "--set", "model=m@champion"]) == 2
    assert "batch-predict needs input_uri, output_uri" in capsys.readouterr().err
    assert main([*argv, *sets, "--set", "seed=3"]) == 2
    assert "no such parameter" in capsys.readouterr().err
    assert main([*argv, *sets, "--train", "gs://b/t.csv"]) == 2
    assert main([*argv[:-2], *sets[:-2], "--set", "chunk_rows=0"]) == 2


def test_schedule_the_batch_pipeline(capsys) -> None:
    argv = [
        "schedule",
        "create",
        "--pipeline",
        "batch-predict",
        "--env",
        "vertex",
        "--cron",
        "0 7 * * *",
        "--dry-run",
        "--registry",
        "vertex://p/r",
        "--set",
        "model=m@champion",
        "--set",
        "input_uri=gs://b/i.csv",
        "--set",
        "output_uri=gs://b/o.csv",
    ]
    assert main(argv) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["cron"] == "0 7 * * *" and shown["request"]["display_name"].startswith(
        "emotion-batch-predict-schedule"
    )
    assert shown["request"]["parameters"]["model"] == "m@champion"


def test_submit_and_schedule_the_monitoring_pipeline(capsys) -> None:
    argv = ["submit", "--pipeline", "monitor", "--env", "vertex", "--dry-run", "--registry", "vertex://p/r"]
    sets = [
        "--set",
        "model=emotion-emotion6@champion",
        "--set",
        "input_uri=gs://b/new.csv",
        "--set",
        "psi_threshold=0.25",
        "--set",
        "use_labels=false",
    ]
    assert main([*argv, *sets]) == 0
    sent = json.loads(capsys.readouterr().out)["request"]
    assert sent["display_name"].startswith("emotion-monitor-")
    expected = {
        "model": "emotion-emotion6@champion",
        "input_uri": "gs://b/new.csv",
        "psi_threshold": 0.25,
        "use_labels": False,
        "registry_uri": "vertex://p/r",
    }
    assert sent["parameters"] == expected
    assert main([*argv, "--set", "model=m@champion"]) == 2
    assert "monitor needs input_uri" in capsys.readouterr().err
    assert main([*argv, *sets, "--set", "chi2_alpha=2"]) == 2
    assert "chi2_alpha" in capsys.readouterr().err
    schedule = [
        "schedule",
        "create",
        "--pipeline",
        "monitor",
        "--env",
        "vertex",
        "--cron",
        "0 8 * * *",
        "--dry-run",
        "--registry",
        "vertex://p/r",
        *sets,
    ]
    assert main(schedule) == 0
    assert json.loads(capsys.readouterr().out)["request"]["display_name"].startswith("emotion-monitor-schedule")
