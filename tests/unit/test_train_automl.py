"""Unit tests of components.arms.automl.train: PyCaret's default list cheapest first, candidates in killable
processes, tuning with the budget left, the hard budget, the leaderboard and its verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from components.arms.automl import train as automl
from components.arms.automl.features import densify_rows
from components.arms.automl.train import (
    MODEL_COSTS,
    REFERENCE,
    AutomlOptions,
    AutomlSession,
    CostModel,
    DecodedClassifier,
    LeaderboardRow,
    budget_verdict,
    render_leaderboard,
    train_automl_model,
)
from components.arms.automl.vectorise import VectoriseOptions, fit_vectorisers
from components.checks.errors import ParameterError
from components.models.sizing import BudgetTooSmallError
from components.runtime.processes import run_with_timeout

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
        fitted.train_features,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(models=["nb", "ridge"], budget_minutes=2, folds=2, tune_iterations=0),
    )
    assert list(board["stage"]) == ["setup", "candidate", "candidate", "finalise"]
    assert set(board["model_id"][1:3]) == {"nb", "ridge"}  # only these: the list narrowed to two ids
    assert set(board["status"]) == {"ok"}
    assert set(board.columns) >= {"model_id", "model", "accuracy", "macro_f1", "fit_seconds", "status", "note"}
    assert board["macro_f1"][1:3].between(0, 1).all()
    assert trained.params["finalised"] is True
    assert trained.params["best_model_id"] in {"nb", "ridge"}
    assert board.loc[3, "model"] == f"finalize_model({trained.params['best_model_id']}) on all training rows"
    assert set(trained.model.predict(["today i feel happy at home", "i feel scared"])) <= set(labels)
    assert "hard budget 2 min" in render_leaderboard(board, 2)


def test_setup_is_the_first_leaderboard_row_with_its_time_and_no_scores(small_features):
    """PyCaret's import and setup spend the budget: the leaderboard shows their time; they are never the best."""
    _, labels, fitted = small_features
    lines: list[str] = []
    trained, board = train_automl_model(
        fitted.train_features,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(models=["nb"], budget_minutes=2, folds=2, tune_iterations=0),
        progress=lines.append,
    )
    setup = board.to_dict(orient="records")[0]
    assert (setup["model_id"], setup["model"], setup["status"]) == ("setup", "PyCaret import + setup", "ok")
    assert 0 < setup["fit_seconds"] <= trained.fit_seconds
    assert board.loc[0, ["accuracy", "macro_f1", "cv_accuracy", "timeout_seconds"]].isna().all()
    assert board["fit_seconds"].sum() <= trained.fit_seconds  # setup + candidate + finalise: all within the call
    assert board.loc[2, "stage"] == "finalise" and board.loc[2, "fit_seconds"] == trained.params["finalise_seconds"]
    assert trained.params["best_model_id"] == "nb"
    assert lines[0].startswith("setup done:")
    # Through JSON (the automl_leaderboard artifact) the missing scores are nulls; in Markdown a dash, never nan.
    assert json.loads(board.to_json(orient="records"))[0]["accuracy"] is None
    markdown = render_leaderboard(board, 2)
    assert "nan" not in markdown
    line = next(line for line in markdown.splitlines() if line.startswith("| setup"))
    assert [c.strip() for c in line.split("|")[1:-1]] == [
        "setup",
        "PyCaret import + setup",
        "setup",
        "–",
        "–",
        "–",
        f"{setup['fit_seconds']:.4f}",
        "–",
        "–",
        "ok",
        "",
    ]


@pytest.mark.slow
def test_a_candidate_over_its_timeout_is_killed_and_the_budget_holds(small_features, tmp_path: Path):
    _, labels, fitted = small_features
    budget_minutes = 1.0  # PyCaret's import and setup spend it too: on a busy machine 30 s once left nb no time
    pid_file = tmp_path / "slow.pid"
    trained, board = train_automl_model(
        fitted.train_features,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(
            models=["nb", SlowClassifier(pid_file=str(pid_file)), "ridge", SlowClassifier(seconds=1.0)],
            budget_minutes=budget_minutes,
            folds=2,
            tune_iterations=0,
        ),
    )
    rows = board.to_dict(orient="records")
    # PyCaret ids by their estimates first; estimator objects, of unknown cost, after them in the order given.
    assert [row["model_id"] for row in rows][3:] == ["SlowClassifier", "SlowClassifier_4", "finalise"]
    by_id = {row["model_id"]: row for row in rows}
    assert by_id["nb"]["status"] == by_id["ridge"]["status"] == "ok"
    assert by_id["SlowClassifier"]["status"] == "timeout"  # reported, not dropped
    assert by_id["SlowClassifier_4"]["status"] == "skipped"  # no budget left after the slow one
    assert by_id["SlowClassifier_4"]["note"] == "no budget left"
    assert trained.params["best_model_id"] in {"nb", "ridge"}
    assert trained.params["ended"] == "out of time"
    assert (trained.params["candidates_killed"], trained.params["candidates_skipped"]) == (1, 1)
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
            fitted.train_features, labels, fitted.dense_vectoriser, options=AutomlOptions(models=["nb", "nope"])
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": []}, "'default' or at least one"),
        ({"budget_minutes": 0}, "budget_minutes"),
        ({"sort": "f1"}, "sort"),
    ],
)
def test_bad_arguments_are_named(small_features, kwargs, message):
    _, labels, fitted = small_features
    with pytest.raises(ValueError, match=message):
        train_automl_model(fitted.train_features, labels, fitted.dense_vectoriser, options=AutomlOptions(**kwargs))


def test_tune_model_runs_within_the_budget_and_is_on_the_leaderboard(small_features):
    _, labels, fitted = small_features
    trained, board = train_automl_model(
        fitted.train_features,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(models=["ridge", "nb"], budget_minutes=2, folds=2, tune_iterations=2),
    )
    rows = board.to_dict(orient="records")
    tuned = [row for row in rows if row["stage"] == "tune"]
    assert sorted(row["model_id"] for row in tuned) == ["nb_tuned", "ridge_tuned"]  # both: the budget allowed
    assert all(row["status"] == "ok" and 0 <= row["macro_f1"] <= 1 for row in tuned)
    assert tuned[0]["note"] == "tune_model: 2 iterations, optimize F1"
    best = max(
        (row for row in rows if row["status"] == "ok" and row["stage"] in ("candidate", "tune")),
        key=lambda r: r["macro_f1"],
    )
    assert trained.params["best_model_id"] == best["model_id"]  # tuned and untuned rows compete alike
    assert (trained.params["tuning_runs"], trained.params["tuning_finished"]) == (2, 2)
    assert trained.params["ended"] == "out of candidates"


def test_importing_pycaret_after_quiet_pycaret_logs_leaves_no_logs_file(tmp_path):
    code = (
        "from components.arms.automl.train import quiet_pycaret_logs; quiet_pycaret_logs(); "
        "import pycaret.classification"
    )
    environment = {k: v for k, v in os.environ.items() if k != "PYCARET_CUSTOM_LOGGING_PATH"}
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=environment, check=True, capture_output=True)
    assert not (tmp_path / "logs.log").exists()


def _pycaret_compare_models_list(fitted, labels) -> list[str]:
    """What PyCaret's own compare_models() would try by default (turbo=True, nothing included or excluded)."""
    from pycaret.classification import ClassificationExperiment

    data = densify_rows(fitted.train_features)
    data["label"] = labels
    experiment = ClassificationExperiment()
    experiment.setup(
        data=data,
        target="label",
        session_id=0,
        fold=2,
        preprocess=False,
        system_log=False,
        memory=False,
        verbose=False,
        html=False,
        n_jobs=1,
    )
    return [model_id for model_id, container in experiment._all_models.items() if container.is_turbo]


def test_by_default_every_model_of_pycarets_default_list_is_tried_cheapest_first(small_features):
    _, labels, fitted = small_features
    lines: list[str] = []
    trained, board = train_automl_model(
        fitted.train_features,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(budget_minutes=5, folds=2, tune_iterations=0),
        progress=lines.append,
    )
    candidates = board[board["stage"] == "candidate"]
    expected = _pycaret_compare_models_list(fitted, labels)
    assert {"lr", "knn", "nb", "dt", "svm", "ridge", "rf", "qda", "ada", "gbc", "lda", "et", "lightgbm"} <= set(
        expected
    )
    assert sorted(candidates["model_id"]) == sorted(expected)  # the whole list, each once, read from PyCaret
    assert trained.params["models"] == ["default"]
    assert trained.params["candidate_ids"] == list(candidates["model_id"])
    assert candidates["estimate_seconds"].notna().all()
    assert candidates["model_id"].iloc[0] == "dummy"  # cheapest first
    assert list(candidates["model_id"]).index("gbc") > list(candidates["model_id"]).index("ridge")
    assert set(candidates["status"]) <= {"ok", "timeout", "skipped"} and (candidates["status"] == "ok").sum() >= 10
    assert trained.params["candidates"] == len(expected)
    verdict = render_leaderboard(board, 5).splitlines()[2]
    assert verdict.startswith(f"**AutoML tried {len(expected) - trained.params['candidates_skipped']} of")


def test_default_is_expanded_with_ids_given_beside_it_each_once():
    catalogue = pd.DataFrame(
        {"Name": ["Logistic Regression", "SVM - Radial Kernel", "Ridge Classifier"], "Turbo": [True, False, True]},
        index=pd.Index(["lr", "rbfsvm", "ridge"], name="ID"),
    )
    assert automl.pycaret_default_models(catalogue) == ["lr", "ridge"]
    candidates = automl._candidates(["ridge", "default", "rbfsvm"], catalogue)
    assert [c.model_id for c in candidates] == ["ridge", "lr", "rbfsvm"]
    assert candidates[2].name == "SVM - Radial Kernel"
    with pytest.raises(ValueError, match=r"unknown PyCaret model ids \['nope'\]; known ids are 'default' and"):
        automl._candidates(["default", "nope"], catalogue)


def test_cost_estimates_scale_with_the_data_and_learn_from_measured_times():
    reference = CostModel(REFERENCE["rows"], REFERENCE["columns"], REFERENCE["classes"], REFERENCE["folds"])
    defaults = ["dummy", "nb", "ridge", "lda", "qda", "svm", "lr", "knn", "dt", "rf", "et", "ada", "lightgbm", "gbc"]
    estimates = {model_id: reference.estimate(model_id) for model_id in defaults}
    assert min(estimates, key=estimates.get) == "dummy" and max(estimates, key=estimates.get) == "gbc"
    assert estimates["lr"] == pytest.approx(automl.CANDIDATE_OVERHEAD_SECONDS + MODEL_COSTS["lr"].seconds)
    assert reference.estimate("SlowClassifier") is None  # not a PyCaret id: cost unknown
    bigger = CostModel(2 * REFERENCE["rows"], REFERENCE["columns"], REFERENCE["classes"], REFERENCE["folds"])
    assert bigger.base("knn") == pytest.approx(4 * reference.base("knn"))  # every row against every row
    assert bigger.base("lr") == pytest.approx(2 * reference.base("lr"))
    more_classes = CostModel(REFERENCE["rows"], REFERENCE["columns"], 2 * REFERENCE["classes"], REFERENCE["folds"])
    assert more_classes.base("svm") == pytest.approx(2 * reference.base("svm"))  # one-vs-rest
    assert more_classes.base("ridge") == pytest.approx(reference.base("ridge"))
    # lr ran three times slower than its reference: linear models are re-estimated 3×, and so is any kind
    # that has not run yet (the machine is slower); a kind's own measurements win over the others'.
    base = reference.base("lr")
    reference.learn(
        "lr", LeaderboardRow("lr", "lr", fit_seconds=automl.CANDIDATE_OVERHEAD_SECONDS + 3 * base, status="ok")
    )
    assert reference.factor("linear") == pytest.approx(3.0)
    assert reference.estimate("svm") == pytest.approx(automl.CANDIDATE_OVERHEAD_SECONDS + 3 * reference.base("svm"))
    assert reference.factor("trees") == pytest.approx(3.0)
    dt = reference.base("dt")
    reference.learn("dt", LeaderboardRow("dt", "dt", fit_seconds=automl.CANDIDATE_OVERHEAD_SECONDS + dt, status="ok"))
    assert reference.factor("trees") == pytest.approx(1.0)
    assert reference.factor("neighbours") == pytest.approx(3.0**0.5)  # the geometric mean of all
    # A baseline fits nothing: its time is every candidate's overhead.
    reference.learn("dummy", LeaderboardRow("dummy", "dummy", fit_seconds=4.0, status="ok"))
    assert reference.overhead == 4.0 and reference.estimate("dt") == pytest.approx(4.0 + dt)
    # A killed candidate counts with its time limit (a lower bound); a skipped one says nothing.
    reference.learn("rf", LeaderboardRow("rf", "rf", fit_seconds=0.0, status="skipped"))
    assert reference.factor("trees") == pytest.approx(1.0)


def test_a_candidate_whose_estimate_exceeds_the_time_left_is_skipped_with_the_reason(small_features, monkeypatch):
    _, labels, fitted = small_features
    monkeypatch.setitem(MODEL_COSTS, "lda", automl.ModelCost("linear", 1e9, rows=0, columns=0))
    trained, board = train_automl_model(
        fitted.train_features,
        labels,
        fitted.dense_vectoriser,
        options=AutomlOptions(models=["nb", "lda"], budget_minutes=1, folds=2, tune_iterations=0),
    )
    lda = board.set_index("model_id").loc["lda"]
    assert lda["status"] == "skipped" and lda["fit_seconds"] == 0.0
    assert lda["note"].startswith("estimated ") and lda["note"].endswith("s left")
    assert list(board["model_id"]) == ["setup", "nb", "lda", "finalise"]  # cheapest first
    assert trained.params["ended"] == "out of time"
    assert trained.params["candidates_skipped"] == 1


def _session(seconds_left: float, **options) -> AutomlSession:
    setup = LeaderboardRow("setup", "setup", stage="setup", status="ok")
    now = time.perf_counter()
    costs = CostModel(100, 10, 3, 3)
    return AutomlSession(AutomlOptions(**options), None, (), costs, None, None, now, now + seconds_left, setup)


def test_tuning_gets_as_many_iterations_as_the_time_left_allows():
    candidate = LeaderboardRow("lr", "lr", fit_seconds=9.0, status="ok", macro_f1=0.5, accuracy=0.5)
    rows = [candidate]
    # An iteration: 3 fits on 2/3 of the rows, i.e. 2/3 of the candidate's time less its overhead (1.5 s); then
    # the candidate's own time for refitting the best setting. Plenty of time: the iterations asked for.
    iterations, estimate = automl._tune_plan(_session(1000, tune_iterations=10), rows, candidate)
    assert iterations == 10 and estimate == pytest.approx(9 + 10 * (9 - 1.5) * 2 / 3)
    # Less time: fewer iterations, within it (after the time kept back to finalise the best).
    session = _session(40, tune_iterations=10)
    iterations, estimate = automl._tune_plan(session, rows, candidate)
    assert 2 <= iterations < 10 and estimate <= session.available(rows) + 0.5
    # Too little for the minimum: the minimum, whose estimate then exceeds the time left (so it is skipped).
    session = _session(10, tune_iterations=10)
    iterations, estimate = automl._tune_plan(session, rows, candidate)
    assert iterations == automl.MIN_TUNE_ITERATIONS and estimate > session.available(rows)


def test_the_time_kept_back_for_finalising_counts_the_overhead_of_a_process():
    """Finalising is one fit on all rows, in a forked process with PyCaret's bookkeeping, like a candidate's."""
    options = AutomlOptions()  # 3 folds, train_size 0.7
    assert automl._finalise_estimate(21.0, options, overhead=7.0) == pytest.approx(1 + 7 + 1.5 * 14 / 4 / 0.7)
    assert automl._finalise_estimate(3.0, options, overhead=7.0) == pytest.approx(1 + 3)  # all overhead


def test_the_verdict_says_whether_automl_ran_out_of_time_or_of_candidates():
    rows = [
        {"model_id": "setup", "stage": "setup", "status": "ok", "fit_seconds": 8.0},
        {"model_id": "nb", "stage": "candidate", "status": "ok", "fit_seconds": 4.0},
        {"model_id": "et", "stage": "candidate", "status": "timeout", "fit_seconds": 200.0},
        {"model_id": "gbc", "stage": "candidate", "status": "skipped", "fit_seconds": 0.0},
        {"model_id": "qda", "stage": "candidate", "status": "error: LinAlgError", "fit_seconds": 2.0},
        {"model_id": "nb_tuned", "stage": "tune", "status": "ok", "fit_seconds": 30.0},
        {"model_id": "finalise", "stage": "finalise", "status": "ok", "fit_seconds": 1.0},
    ]
    verdict = budget_verdict(rows, 300.0, 290.0)
    assert verdict["ended"] == "out of time"
    assert (verdict["candidates"], verdict["candidates_finished"], verdict["candidates_killed"]) == (4, 1, 1)
    assert (verdict["candidates_skipped"], verdict["candidates_failed"]) == (1, 1)
    assert (verdict["tuning_runs"], verdict["tuning_finished"]) == (1, 1)
    assert verdict["budget_used_percent"] == pytest.approx(96.7)
    assert verdict["verdict"] == (
        "AutoML tried 3 of 4 candidates (1 finished, 1 killed at their time limit, 1 failed; 1 skipped for lack of "
        "budget) and finished 1 of 1 tuning runs; it used 290 s of its 300 s budget (97 %) and ran out of time."
    )
    done = budget_verdict([r for r in rows if r["status"] in ("ok",) or r["stage"] == "setup"], 300.0, 60.0)
    assert done["ended"] == "out of candidates" and done["budget_used_percent"] == 20.0
    board = pd.DataFrame(rows)
    assert "ran out of time" in render_leaderboard(board, 5)  # from the rows alone (e.g. re-read from JSON)


def test_the_html_report_shows_the_verdict_above_the_leaderboard():
    """The verdict reaches summary.json through the model's metadata (evaluate copies it under ``training``)."""
    from components.models.bundle import ArmResult
    from components.reporting.html import render_html
    from components.steps.profile import build_summary

    run = Path(__file__).resolve().parents[1] / "data" / "report_run"

    def load(name: str):
        return json.loads((run / name).read_text(encoding="utf-8"))

    evaluation = load("evaluate/evaluation")
    verdict = budget_verdict([{"stage": "candidate", "status": "ok"}], 300.0, 120.0)
    evaluation["models"]["automl"]["training"] = {"best_model_id": "svm", **verdict}
    steps = ("ingest", "clean", "vectorise", "train_scratch", "train_automl", "evaluate")
    profiles = {step: load(f"{step.replace('_', '-')}/step_profile") for step in steps}
    board = load("train-automl/automl_leaderboard")
    arms = [ArmResult("scratch", "from scratch"), ArmResult("automl", "AutoML", extras={"leaderboard": board})]
    summary = build_summary("emotion6", profiles, evaluation, load("clean/data_stats"), None, arms)
    assert summary["models"]["automl"]["training"]["budget_used_percent"] == 40.0
    html = render_html(summary, evaluation, summary["automl_leaderboard"])
    section = html[html.index('<section id="leaderboard">') :]
    assert section.index(verdict["verdict"]) < section.index("<table>")
    assert "ran out of candidates" in verdict["verdict"]


def _frame(rows: int, columns: int) -> tuple[pd.DataFrame, list[str]]:
    features = pd.DataFrame(np.zeros((rows, columns), dtype=np.float32), columns=[f"f{i}" for i in range(columns)])
    return features, [("joy", "anger", "fear")[i % 3] for i in range(rows)]


def test_rows_that_fit_the_budget_and_memory_are_all_kept():
    features, labels = _frame(900, 20)
    kept, kept_labels, why = automl.sample_for_budget(features, labels, AutomlOptions(budget_minutes=1))
    assert (len(kept), why) == (900, "") and kept_labels == labels


def test_a_setup_that_would_eat_the_budget_runs_on_a_stratified_sample():
    features, labels = _frame(3000, 2000)
    # 30 s budget: setup may take 7.5 s less the 6 s import: 1.5 s at 6.5e-7 s a cell = 2.3M cells = 1,153 rows.
    kept, kept_labels, why = automl.sample_for_budget(features, labels, AutomlOptions(budget_minutes=0.5))
    assert len(kept) == len(kept_labels) == 1153
    assert sorted(kept_labels.count(label) for label in ("joy", "anger", "fear")) == [384, 384, 385]
    assert why.startswith("sampled 1153 of 3000 rows (stratified) for time: setup may take 25% of the budget")
    features, labels = _frame(600, 20_000)  # 115 rows by time: the 500-row floor holds
    assert len(automl.sample_for_budget(features, labels, AutomlOptions(budget_minutes=0.5))[0]) == 500


def test_features_too_large_for_the_memory_cap_are_sampled_for_memory():
    features, labels = _frame(5000, 10)  # 1 MiB / (20 × 4 bytes × 10 columns) = 1,310 rows
    kept, _, why = automl.sample_for_budget(features, labels, AutomlOptions(budget_minutes=60, memory_limit_mb=1))
    assert len(kept) == 1310
    assert why.startswith("sampled 1310 of 5000 rows (stratified) for memory")
    assert "PyCaret's copies may take 1 MB, about 1310 rows" in why


def test_the_memory_cap_is_the_default_or_three_quarters_of_a_smaller_step():
    assert automl.memory_cap_mb(24_000) == automl.AUTOML_MEMORY_MB == AutomlOptions().memory_limit_mb
    assert automl.memory_cap_mb(4096) == 3072  # a container limited to 4 GiB (kfp-local's train_automl)
    with pytest.raises(ParameterError, match="memory_limit_mb"):
        AutomlOptions(memory_limit_mb=0)


def test_step_memory_is_the_containers_limit_else_the_machines(monkeypatch):
    from components.runtime import profiler

    total = psutil.virtual_memory().total / 2**20
    monkeypatch.setattr(profiler, "_cgroup_value", lambda v2, v1: 4 * 2**30)
    assert profiler.step_memory_mb() == 4096
    monkeypatch.setattr(profiler, "_cgroup_value", lambda v2, v1: 2**63 - 1)  # cgroup v1's "no limit"
    assert profiler.step_memory_mb() == pytest.approx(total)
    monkeypatch.setattr(profiler, "_cgroup_value", lambda v2, v1: None)  # v2's "max", or no cgroup files
    assert profiler.step_memory_mb() == pytest.approx(total)


def test_sparse_features_are_sampled_as_the_dense_table_and_only_kept_rows_are_densified():
    options = AutomlOptions(budget_minutes=60, memory_limit_mb=1)  # 1,310 rows of 10 columns, as above
    dense, labels = _frame(5000, 10)
    dense.iloc[:, :] = np.arange(50_000, dtype=np.float32).reshape(5000, 10)
    matrix = sparse.csr_matrix(dense.to_numpy())
    kept, kept_labels, why = automl.sample_for_budget(matrix, labels, options)
    assert isinstance(kept, pd.DataFrame) and kept.shape == (1310, 10) and kept.dtypes.unique().tolist() == [np.float32]
    rows = (kept["f0000"].to_numpy() // 10).astype(int)  # each row's first value names the row it came from
    np.testing.assert_array_equal(kept.to_numpy(), dense.to_numpy()[rows])
    assert kept_labels == [labels[i] for i in rows] and why.startswith("sampled 1310 of 5000 rows")
    kept_all, _, why_all = automl.sample_for_budget(matrix[:900], labels[:900], options)
    assert kept_all.shape == (900, 10) and why_all == ""


def test_a_budget_that_cannot_fit_setup_and_a_candidate_is_refused_before_pycaret_is_imported(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pycaret(name, *args, **kwargs):
        assert not name.startswith("pycaret"), "refused after importing PyCaret"
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pycaret)
    features, labels = _frame(3000, 20_000)
    # 0.25 min = 15 s: the import (6 s) and the setup of 500 rows × 20,000 columns (6.5 s) take 12.5 s > 7.5 s
    with pytest.raises(BudgetTooSmallError, match=r"budget_minutes=0.25 .* about 12.5s, .* at least 0.42 minutes"):
        train_automl_model(features, labels, None, options=AutomlOptions(budget_minutes=0.25))
    kept, _, _ = automl.sample_for_budget(features, labels, AutomlOptions(budget_minutes=0.42))
    assert len(kept) == 500  # the budget the message names is enough


def test_a_budget_below_the_import_alone_is_refused_when_the_options_are_made():
    with pytest.raises(ParameterError, match=r"budget_minutes must be >= 0.2, got 0.1"):
        AutomlOptions(budget_minutes=0.1)
