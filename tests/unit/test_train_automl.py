"""Unit tests of components.steps.train_automl: candidates in killable processes, the hard budget, the leaderboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from components.runtime.processes import run_with_timeout
from components.steps.train_automl import (
    AutomlOptions,
    DecodedClassifier,
    LeaderboardRow,
    render_leaderboard,
    train_automl_model,
)
from components.steps.vectorise import VectoriseOptions, fit_vectorisers

WORDS = {"joy": ["happy", "glad", "cheerful"], "sadness": ["sad", "gloomy", "lonely"], "fear": ["scared", "afraid"]}


def make_data(rows: int = 180) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(0)
    labels = [list(WORDS)[i % 3] for i in range(rows)]
    texts = [f"today i feel {rng.choice(WORDS[label])} at {rng.choice(['home', 'work', 'school'])}" for label in labels]
    return texts, labels


class SlowClassifier(ClassifierMixin, BaseEstimator):
    """A deliberately slow candidate: sleeps in ``fit`` (to test that an over-budget candidate is killed).

    ``pid_file``, when given, receives the pid of the process running ``fit`` (a forked candidate process).
    """

    def __init__(self, seconds: float = 600.0, pid_file: str = "") -> None:
        self.seconds = seconds
        self.pid_file = pid_file

    def fit(self, X, y):  # PyCaret passes X= and y= by name
        if self.pid_file:
            Path(self.pid_file).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(self.seconds)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for init to reap it has ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int, seconds: float = 30.0) -> bool:
    """Waits for a SIGKILLed process to end (the kill is asynchronous); no timing is asserted."""
    deadline = time.monotonic() + seconds
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _gone(pid)


def _sleep_in_a_process_group(folder: Path) -> None:
    """A candidate that starts a worker, records both pids, sleeps 120 s and would then leave a marker."""
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    (folder / "pids").write_text(f"{os.getpid()} {worker.pid}", encoding="utf-8")
    time.sleep(120)
    (folder / "finished").write_text("not killed", encoding="utf-8")


def test_run_with_timeout_returns_the_result():
    status, result, _ = run_with_timeout(lambda: {"answer": 42, "pid": os.getpid()}, timeout=30)
    assert status == "ok"
    assert result["answer"] == 42
    assert result["pid"] != os.getpid()  # it really ran in another process


def test_run_with_timeout_kills_a_candidate_and_its_workers_at_its_timeout(tmp_path: Path):
    status, result, _ = run_with_timeout(lambda: _sleep_in_a_process_group(tmp_path), timeout=2.0)
    assert status == "timeout"
    assert result is None
    candidate, worker = map(int, (tmp_path / "pids").read_text(encoding="utf-8").split())
    # run_with_timeout joins the candidate: had it been waited for instead of killed, it would have finished.
    assert not (tmp_path / "finished").exists()
    assert not psutil.pid_exists(candidate)  # killed and reaped
    assert _wait_gone(worker), "the candidate's worker (same process group) must be killed too"


def test_run_with_timeout_reports_errors():
    def fail() -> None:
        raise RuntimeError("broken candidate")

    status, result, _ = run_with_timeout(fail, timeout=30)
    assert status.startswith("error: RuntimeError: broken candidate")
    assert result is None


def test_decoded_classifier_maps_codes_to_labels():
    features, codes = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 1, 0, 1])
    model = DecodedClassifier(LogisticRegression().fit(features, codes), ["joy", "sadness"])
    assert list(model.predict(np.array([[0.0], [3.0]]))) == ["joy", "sadness"]


def test_leaderboard_rows_are_json_friendly():
    row = LeaderboardRow(model_id="nb", model="Naive Bayes", accuracy=0.5, macro_f1=0.4, status="ok")
    assert json.loads(json.dumps(row.to_dict()))["macro_f1"] == 0.4


@pytest.fixture(scope="module")
def small_features():
    texts, labels = make_data()
    fitted = fit_vectorisers(texts, labels, options=VectoriseOptions(dense_features=20))
    return texts, labels, fitted


def test_train_automl_model_ranks_candidates_and_predicts_texts(small_features):
    _, labels, fitted = small_features
    trained, board = train_automl_model(
        fitted.train_dense,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(models=["nb", "ridge"], budget_minutes=2, folds=2),
    )
    assert list(board["model_id"]) == ["setup", "nb", "ridge"]
    assert set(board["status"]) == {"ok"}
    assert set(board.columns) >= {"model_id", "model", "accuracy", "macro_f1", "fit_seconds", "status"}
    assert board["macro_f1"][1:].between(0, 1).all()
    assert trained.params["finalised"] is True
    assert trained.params["best_model_id"] in {"nb", "ridge"}
    assert set(trained.model.predict(["today i feel happy at home", "i feel scared"])) <= set(labels)
    assert "hard budget 2 min" in render_leaderboard(board, 2)


def test_setup_is_the_first_leaderboard_row_with_its_time_and_no_scores(small_features):
    """PyCaret's import and setup spend the budget: the leaderboard shows their time; they are never the best."""
    _, labels, fitted = small_features
    lines: list[str] = []
    trained, board = train_automl_model(
        fitted.train_dense,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(models=["nb"], budget_minutes=2, folds=2),
        progress=lines.append,
    )
    setup = board.to_dict(orient="records")[0]
    assert (setup["model_id"], setup["model"], setup["status"]) == ("setup", "PyCaret import + setup", "ok")
    assert 0 < setup["fit_seconds"] <= trained.fit_seconds
    assert board.loc[0, ["accuracy", "macro_f1", "cv_accuracy", "timeout_seconds"]].isna().all()
    assert board["fit_seconds"].sum() <= trained.fit_seconds  # setup + candidate + finalise: all within the call
    assert trained.params["best_model_id"] == "nb"
    assert lines[0].startswith("setup done:")
    # Through JSON (the automl_leaderboard artifact) the missing scores are nulls; in Markdown a dash, never nan.
    assert json.loads(board.to_json(orient="records"))[0]["accuracy"] is None
    markdown = render_leaderboard(board, 2)
    assert "nan" not in markdown
    assert [c.strip() for c in markdown.splitlines()[6].split("|")[1:-1]] == [
        "setup", "PyCaret import + setup", "–", "–", "–", f"{setup['fit_seconds']:.4f}", "–", "ok"
    ]  # fmt: skip


@pytest.mark.slow
def test_a_candidate_over_its_timeout_is_killed_and_the_budget_holds(small_features, tmp_path: Path):
    _, labels, fitted = small_features
    budget_minutes = 0.5
    pid_file = tmp_path / "slow.pid"
    trained, board = train_automl_model(
        fitted.train_dense,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(
            models=["nb", SlowClassifier(pid_file=str(pid_file)), "ridge"], budget_minutes=budget_minutes, folds=2
        ),
    )
    rows = board.to_dict(orient="records")
    by_id = {row["model_id"]: row for row in rows}
    assert by_id["nb"]["status"] == "ok"
    assert by_id["SlowClassifier"]["status"] == "timeout"  # reported, not dropped
    assert by_id["ridge"]["status"] == "skipped"  # no budget left after the slow one
    assert trained.params["best_model_id"] == "nb"
    # The slow candidate (sleeping 600 s in fit) was killed, not waited for.
    assert _wait_gone(int(pid_file.read_text(encoding="utf-8")))
    # The hard budget, from what the leaderboard recorded: each candidate finished within its own timeout or
    # was stopped at it, and every timeout fitted in what the budget had left after the candidates before it.
    setup, *rows = rows
    assert setup["model_id"] == "setup" and np.isnan(setup["timeout_seconds"])  # not killed, yet it spends the budget
    spent = setup["fit_seconds"]
    for row in rows:
        if row["status"] == "skipped":
            assert row["fit_seconds"] == 0.0
            continue
        assert 0 < row["timeout_seconds"] <= budget_minutes * 60 - spent + 0.1, row  # timeouts are rounded to 0.1
        if row["status"] == "ok":
            assert row["fit_seconds"] <= row["timeout_seconds"] + 1.0, row  # + killing and joining the process
        else:
            assert row["fit_seconds"] >= row["timeout_seconds"] - 0.1, row  # it ran until its limit
        spent += row["fit_seconds"]


def test_unknown_model_ids_are_named(small_features):
    _, labels, fitted = small_features
    with pytest.raises(ValueError, match="unknown PyCaret model ids"):
        train_automl_model(
            fitted.train_dense, labels, fitted.dense_vectoriser, options=AutomlOptions(models=["nb", "nope"])
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"models": []}, "at least one"), ({"budget_minutes": 0}, "budget_minutes"), ({"sort": "f1"}, "sort")],
)
def test_bad_arguments_are_named(small_features, kwargs, message):
    _, labels, fitted = small_features
    with pytest.raises(ValueError, match=message):
        train_automl_model(fitted.train_dense, labels, fitted.dense_vectoriser, options=AutomlOptions(**kwargs))


def test_tune_model_runs_within_the_budget_and_is_on_the_leaderboard(small_features):
    _, labels, fitted = small_features
    trained, board = train_automl_model(
        fitted.train_dense,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(models=["ridge"], budget_minutes=2, folds=2, tune_iterations=2),
    )
    assert list(board["model_id"]) == ["setup", "ridge", "ridge_tuned"]
    assert board.loc[2, "status"] == "ok"
    assert trained.params["best_model_id"] in {"ridge", "ridge_tuned"}


def test_importing_pycaret_after_quiet_pycaret_logs_leaves_no_logs_file(tmp_path):
    code = (
        "from components.steps.train_automl import quiet_pycaret_logs; quiet_pycaret_logs(); "
        "import pycaret.classification"
    )
    environment = {k: v for k, v in os.environ.items() if k != "PYCARET_CUSTOM_LOGGING_PATH"}
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=environment, check=True, capture_output=True)
    assert not (tmp_path / "logs.log").exists()
