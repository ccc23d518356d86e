"""Unit tests of components.arms.scratch.train: candidate sampling, the budgeted search, the refit and its report."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import psutil
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, f1_score

from components.arms.scratch import train as train_scratch
from components.arms.scratch.train import (
    CLASSIFIERS,
    DEFAULT_PARAMS,
    DEFAULT_SEARCH_SPACE,
    ScratchOptions,
    build_classifier,
    build_features,
    render_search_report,
    sample_candidates,
    train_scratch_model,
)
from components.arms.scratch.voting import CalibratedVote
from components.models.sizing import SAFETY, BudgetTooSmallError, FitCost

WORDS = {
    "joy": ["happy", "glad", "cheerful", "delighted"],
    "sadness": ["sad", "gloomy", "miserable", "lonely"],
    "anger": ["angry", "furious", "annoyed", "bitter"],
}
FILLER = ["today", "at", "work", "with", "my", "friends", "after", "the", "long", "week", "and", "rain"]


def make_texts(rows: int = 240, seed: int = 0) -> tuple[list[str], list[str]]:
    """Small emotion-like texts: a label word after "i feel" in random filler (10 % flipped labels)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(rows):
        label = list(WORDS)[i % len(WORDS)]
        filler = rng.sample(FILLER, 6)
        texts.append(" ".join([*filler[:3], "i feel", rng.choice(WORDS[label]), *filler[3:]]))
        labels.append(label if rng.random() > 0.1 else rng.choice(list(WORDS)))
    return texts, labels


SMALL_SPACE = [
    {"classifier": ["linear_svc"], "penalty": ["l1", "l2"], "C": [0.5, 1.0], "cue_window": [0, 3]},
    {"classifier": ["complement_nb"], "alpha": [0.3, 1.0]},
]


def test_sample_candidates_is_seeded_distinct_and_round_robin():
    first = sample_candidates(SMALL_SPACE, 5, seed=3)
    assert first == sample_candidates(SMALL_SPACE, 5, seed=3)
    assert len(first) == 5
    assert len({tuple(sorted(map(str, c.items()))) for c in first}) == 5
    assert [c["classifier"] for c in first[:2]] == ["linear_svc", "complement_nb"]
    assert all(set(c) == set(DEFAULT_PARAMS) for c in first)


def test_sample_candidates_stops_when_the_space_is_exhausted():
    space = {"classifier": ["complement_nb"], "alpha": [0.1, 1.0]}
    assert len(sample_candidates(space, 10, seed=0)) == 2


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"classifier": ["linear_svc"], "gamma": [1]}, "unknown parameters"),
        ({"classifier": "linear_svc"}, "non-empty list"),
        ({"classifier": ["xgboost"]}, "unknown classifier"),
        ([], "at least one entry"),
    ],
)
def test_sample_candidates_rejects_bad_spaces(space, message):
    with pytest.raises(ValueError, match=message):
        sample_candidates(space, 3, seed=0)


@pytest.mark.parametrize("classifier", CLASSIFIERS)
def test_every_classifier_fits_on_the_features(classifier):
    texts, labels = make_texts(90)
    params = {**DEFAULT_PARAMS, "classifier": classifier, "cue_window": 3, "char_ngram_max": 3}
    features = build_features(params).fit_transform(texts)
    model = build_classifier(params, seed=0).fit(features, labels)
    assert set(model.predict(features)) <= set(labels)


def test_search_refits_a_text_model_and_records_its_choice():
    texts, labels = make_texts(240)
    trained = train_scratch_model(
        texts, labels, options=ScratchOptions(search_space=SMALL_SPACE, budget_seconds=120, max_candidates=6, seed=1)
    )
    predicted = trained.model.predict(["i feel happy at work", "i feel furious today", "i feel so lonely"])
    assert list(predicted) == ["joy", "anger", "sadness"]
    assert len(trained.candidates) == 6
    assert all(row["status"] == "ok" for row in trained.candidates)
    assert trained.scores["validation_rows"] == 48  # 20 % of 240, carved from the training rows
    assert trained.scores["candidates_tried"] == 6
    best = max(row["macro_f1"] for row in trained.candidates)
    assert trained.scores["best_single_validation_macro_f1"] == best
    assert trained.params["classifier"] in CLASSIFIERS
    assert "Chosen:" in render_search_report(trained)


def test_search_is_reproducible_with_the_same_seed():
    texts, labels = make_texts(150, seed=4)
    probe = make_texts(60, seed=9)[0]
    runs = [
        train_scratch_model(
            texts,
            labels,
            options=ScratchOptions(search_space=SMALL_SPACE, budget_seconds=120, max_candidates=4, seed=7),
        )
        for _ in "ab"
    ]
    assert runs[0].params == runs[1].params
    assert list(runs[0].model.predict(probe)) == list(runs[1].model.predict(probe))


def test_no_budget_at_all_is_a_clear_error():
    texts, labels = make_texts(120)
    with pytest.raises(TimeoutError, match="no candidate finished within budget_seconds"):
        train_scratch_model(
            texts,
            labels,
            options=ScratchOptions(search_space=SMALL_SPACE, budget_seconds=1e-6, max_candidates=4, seed=0),
        )


class SlowClassifier(ClassifierMixin, BaseEstimator):
    """A deliberately slow candidate: records the pid of the process fitting it, sleeps 120 s, then would leave a
    marker next to the pid file."""

    def __init__(self, pid_file: str = "") -> None:
        self.pid_file = pid_file

    def fit(self, features, labels):
        Path(self.pid_file).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(120)
        Path(self.pid_file).with_suffix(".finished").write_text("not killed", encoding="utf-8")
        return self


def test_a_candidate_over_its_time_limit_is_killed_and_reported(monkeypatch, tmp_path: Path):
    real = train_scratch.build_classifier
    pid_file = tmp_path / "slow.pid"
    monkeypatch.setattr(
        train_scratch,
        "build_classifier",
        lambda params, seed=42: (
            SlowClassifier(str(pid_file)) if params["classifier"] == "ridge" else real(params, seed)
        ),
    )
    texts, labels = make_texts(120)
    space = [{"classifier": ["complement_nb"]}, {"classifier": ["ridge"]}]
    trained = train_scratch_model(
        texts, labels, options=ScratchOptions(search_space=space, budget_seconds=8, max_candidates=2, seed=0)
    )
    assert [row["status"] for row in trained.candidates] == ["ok", "timeout"]
    assert trained.params["classifier"] == "complement_nb"
    # Killed, not waited for: the search joins the candidate's process, which had it slept out its 120 s
    # would have left the marker; the process itself is gone.
    assert not pid_file.with_suffix(".finished").exists()
    assert not psutil.pid_exists(int(pid_file.read_text(encoding="utf-8")))


def test_ensemble_size_one_with_a_majority_vote_gives_a_single_pipeline():
    texts, labels = make_texts(120)
    options = ScratchOptions(search_space=SMALL_SPACE, max_candidates=3, ensemble_size=1, seed=0, vote="majority")
    trained = train_scratch_model(texts, labels, options=options)
    assert [name for name, _ in trained.model.steps] == ["features", "classifier"]
    assert len(trained.params["ensemble_members"]) == 1
    assert trained.params["vote"] == "none"


def test_ensemble_size_one_with_a_soft_vote_is_calibrated_too():
    """A single member keeps its temperature and prior correction (they help NB-SVM alone on emotion6)."""
    texts, labels = make_texts(120)
    options = ScratchOptions(search_space=SMALL_SPACE, max_candidates=3, ensemble_size=1, seed=0)
    trained = train_scratch_model(texts, labels, options=options)
    vote = trained.model.named_steps["vote"]
    assert isinstance(vote, CalibratedVote) and len(vote.members) == 1
    assert len(trained.params["temperatures"]) == 1


def test_the_soft_vote_takes_the_best_of_each_classifier_and_pickles(tmp_path: Path):
    texts, labels = make_texts(240, seed=2)
    space = [*SMALL_SPACE, {"classifier": ["nbsvm"], "C": [0.3, 1.0], "cue_window": [0, 3]}]
    options = ScratchOptions(search_space=space, budget_seconds=300, max_candidates=9, ensemble_size=3, seed=1)
    trained = train_scratch_model(texts, labels, options=options)
    by_number = {row["candidate"]: row for row in trained.candidates}
    members = [by_number[n] for n in trained.params["ensemble"]]
    kinds = [row["params"]["classifier"] for row in members]
    assert sorted(kinds) == ["complement_nb", "linear_svc", "nbsvm"]  # one of each, not the three best
    for row in members:  # each member is the best of its classifier
        same = [r for r in trained.candidates if r["params"]["classifier"] == row["params"]["classifier"]]
        assert row["macro_f1"] == max(r["macro_f1"] for r in same)
    assert trained.params["vote"] == "soft" and 0 <= trained.params["prior_weight"] <= 1
    assert "(soft vote)" in render_search_report(trained)
    probe = make_texts(60, seed=9)[0]
    joblib.dump(trained.model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    assert loaded.predict(probe).tolist() == trained.model.predict(probe).tolist()
    assert np.allclose(loaded.predict_proba(probe).sum(axis=1), 1.0)


def test_members_top_takes_the_best_candidates_whatever_their_classifier():
    texts, labels = make_texts(240, seed=2)
    options = ScratchOptions(search_space=SMALL_SPACE, max_candidates=6, ensemble_size=2, seed=1, members="top")
    trained = train_scratch_model(texts, labels, options=options)
    ranked = sorted(
        (row for row in trained.candidates if row["status"] == "ok"), key=lambda r: (-r["macro_f1"], r["candidate"])
    )
    assert trained.params["ensemble"] == [row["candidate"] for row in ranked[:2]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": ["joy"] * 4}, "two classes"),
        ({"labels": ["joy", "sadness"]}, "differ in length"),
        ({"metric": "recall"}, "metric"),
        ({"budget_seconds": 0}, "budget_seconds"),
        ({"vote": "stacked"}, "vote"),
        ({"members": "all"}, "members"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"texts": ["a b", "c d", "e f", "g h"], "labels": ["joy", "sadness", "joy", "sadness"]}
    data = {key: kwargs.pop(key) for key in list(kwargs) if key in arguments}
    with pytest.raises(ValueError, match=message):
        train_scratch_model(**{**arguments, **data}, options=ScratchOptions(**kwargs))


def test_default_space_is_valid():
    candidates = sample_candidates(DEFAULT_SEARCH_SPACE, ScratchOptions().max_candidates, seed=42)
    assert len(candidates) == ScratchOptions().max_candidates
    assert {c["classifier"] for c in candidates} == {"linear_svc", "nbsvm"}  # the soft vote's two members


@pytest.mark.slow
def test_default_search_reaches_the_emotion6_targets(shared_data: Path):
    """Issue 16 targets on val.txt, train.txt cleaned as the emotion6 preset does (a budget large enough for
    every candidate: no timing in tests). The defaults were chosen by cross-validation of train.txt alone."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "compare.py"
    spec = importlib.util.spec_from_file_location("compare_benchmark", path)
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    train, test = compare.load_task("emotion6", shared_data, 42)
    trained = train_scratch_model(train["text"], train["label"], options=ScratchOptions(budget_seconds=3600))
    predicted = trained.model.predict(test["text"].tolist())
    assert accuracy_score(test["label"], predicted) >= 0.92
    assert f1_score(test["label"], predicted, average="macro") >= 0.89


def test_the_search_keeps_back_the_refit_of_the_whole_vote(monkeypatch):
    """On a fake clock every candidate takes 10 s (or its limit): with a vote of 3 and 80 s, the search keeps back
    the refit of the best three so far (10 s scaled to all rows), so all three are refitted.
    Keeping back only the best one's refit, as before, spent the budget on candidates and refitted one."""
    now = [0.0]
    timeouts: list[float] = []

    class TenSecondRun:  # the real fit, in this process; the fake clock moves when the run is finished
        def __init__(self, work, timeout):
            timeouts.append(timeout)
            self.started, self.deadline = now[0], now[0] + timeout
            self.result, self.spent = work(), min(10.0, timeout)

        def finish(self):
            now[0] += self.spent
            return ("ok", self.result, self.spent) if self.spent == 10.0 else ("timeout", None, self.spent)

    monkeypatch.setattr(train_scratch, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    monkeypatch.setattr(train_scratch, "TimedRun", TenSecondRun)
    monkeypatch.setattr(train_scratch, "wait_any", list)
    texts, labels = make_texts()
    trained = train_scratch_model(
        texts,
        labels,
        options=ScratchOptions(
            search_space=SMALL_SPACE, budget_seconds=80, max_candidates=6, ensemble_size=3, workers=1, members="top"
        ),
    )
    refit = 10.0 / 0.8  # one candidate's refit on all rows: 12.5 s
    assert [row["status"] for row in trained.candidates] == ["ok", "ok", "ok", "ok", "timeout", "skipped"]
    assert timeouts == [80.0, 80 - 10 - refit, 80 - 20 - 2 * refit, 80 - 30 - 3 * refit, 80 - 40 - 3 * refit]
    assert len(trained.params["ensemble_members"]) == 3
    assert all(row["refit_seconds"] == 10.0 for row in trained.candidates if row["status"] == "ok")


def test_a_result_shortens_the_limit_of_candidates_still_running(monkeypatch):
    """Two workers: candidate 1 ends after 1 s, candidate 2 would take 30 s. Started with the whole 4 s budget,
    candidate 2 must be cut when candidate 1's result says its refit (about 1.25 s) has to be kept back."""
    lines: list[str] = []

    def fit(params, blocks, fit_texts, val_texts, fit_labels, seed):
        time.sleep(1.0 if params["C"] == 0.5 else 30.0)
        return np.tile(np.eye(len(set(fit_labels)))[0], (len(val_texts), 1)), {}, {}

    monkeypatch.setattr(train_scratch, "_fit_candidate", fit)
    texts, labels = make_texts()
    space = {"classifier": ["linear_svc"], "C": [0.5, 1.0]}
    trained = train_scratch_model(
        texts,
        labels,
        options=ScratchOptions(search_space=space, budget_seconds=4, max_candidates=2, ensemble_size=1, workers=2),
        progress=lines.append,
    )
    assert [row["status"] for row in trained.candidates] == ["ok", "timeout"]
    first, second = trained.candidates
    assert abs(first["limit_seconds"] - 4.0) < 0.1  # started with (nearly) the whole budget, and finished first
    # Cut to the budget less the first one's refit (its time scaled to all rows), from the 4 s it began with:
    assert abs(second["limit_seconds"] - (4.0 - first["refit_seconds"] / 0.8)) < 0.3, lines


def test_parallel_workers_score_every_candidate_as_one_worker_does():
    texts, labels = make_texts()
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    one, two = (
        train_scratch_model(
            texts,
            labels,
            options=ScratchOptions(search_space=SMALL_SPACE, budget_seconds=600, max_candidates=6, seed=3, workers=n),
        )
        for n in (1, 2)
    )
    scores = [
        [(row["candidate"], row["status"], row["accuracy"], row["macro_f1"]) for row in t.candidates]
        for t in (one, two)
    ]
    assert scores[0] == scores[1] and len(scores[0]) == 6
    assert one.params["ensemble_members"] == two.params["ensemble_members"]
    assert one.model.predict(texts[:50]).tolist() == two.model.predict(texts[:50]).tolist()
    left = {child.pid for child in psutil.Process().children(recursive=True)} - before
    assert not left, "the search and the parallel refit leave no worker behind"


def test_a_budget_too_small_for_the_data_is_refused_before_any_candidate(monkeypatch):
    monkeypatch.setattr(train_scratch, "PROBE_ROWS", 100)  # 400 rows are "large" for this test

    def never(*args, **kwargs):
        raise AssertionError("no candidate may start")

    monkeypatch.setattr(train_scratch, "_fit_candidate", never)
    texts, labels = make_texts(400)
    with pytest.raises(BudgetTooSmallError, match=r"too little for 400 rows: from fits on 50 and 100 rows"):
        train_scratch_model(texts, labels, options=ScratchOptions(search_space=SMALL_SPACE, budget_seconds=0.01))


def test_a_search_sized_to_its_budget_runs_on_a_sample_and_refits_on_the_rows_planned(monkeypatch):
    monkeypatch.setattr(train_scratch, "PROBE_ROWS", 100)
    # 10 ms a row, linear: 600 rows would need 2 rounds × 480 + 600 = 1,560 rows × 12.5 ms = 19.5 s > 10 s.
    monkeypatch.setattr(train_scratch.FitCost, "from_probes", lambda *probes: FitCost(100, 1.25 / SAFETY, 1.0))
    lines: list[str] = []
    texts, labels = make_texts(600)
    options = ScratchOptions(search_space=SMALL_SPACE, budget_seconds=10, max_candidates=4, seed=0)
    trained = train_scratch_model(texts, labels, options=options, progress=lines.append)
    rows = trained.params["rows"]
    assert rows["sampled"] and rows["rows"] == 600
    # The refit gets 60 % of the 10 s less the probes' time, at 12.5 ms a row: at most 480 rows.
    assert 440 <= rows["refit_rows"] == trained.scores["refit_rows"] <= 480
    assert trained.scores["search_rows"] == rows["search_rows"] < rows["refit_rows"]
    assert trained.scores["validation_rows"] == round(0.2 * rows["search_rows"])
    assert any(line.startswith("rows: sampled: all 600 rows would need about 20s") for line in lines), lines
    assert any(line.startswith(f"refit on {rows['refit_rows']} of 600 rows") for line in lines), lines
    assert "Rows: sampled: all 600 rows" in render_search_report(trained)
    assert trained.model.predict(["i feel glad today"])[0] in set(labels)


def test_texts_without_any_cue_word_fall_back_on_the_word_block():
    """No training text says "feel": the cue block has no vocabulary; the default space still trains (the cue
    block gives no columns) instead of failing every candidate with "empty vocabulary"."""
    rng = random.Random(3)
    texts = [f"{rng.choice(WORDS[label])} {' '.join(rng.sample(FILLER, 5))}" for label in list(WORDS) * 40]
    labels = list(WORDS) * 40
    trained = train_scratch_model(texts, labels, options=ScratchOptions(max_candidates=4, seed=0))
    assert [row["status"] for row in trained.candidates] == ["ok"] * 4
    assert trained.model.predict(["furious at work", "i feel cheerful"]).tolist() == ["anger", "joy"]
