"""Ablation on emotion6: what each from-scratch idea buys, judged by cross-validation of the training rows only.

Protocol (issue 16): every idea is scored by stratified k-fold cross-validation (default 5 folds, seed 42) of
``train.txt`` cleaned as the pipeline's ``emotion6`` preset does (benchmarks/compare.py ``load_task``): mean ± std
over the folds, and the paired difference to the idea it changes (mean ± std of the per-fold differences). A
change is a **win** when its mean gain exceeds the fold-to-fold spread of that gain. Anything an idea tunes
(temperatures, prior weight, offsets, a meta-learner, the search's choices) is tuned inside each training fold.
``val.txt`` is scored once per idea (refit on all of ``train.txt``) and printed beside the CV figure; it is never
used to choose. The ``val.txt`` range printed for the final default is the CV mean ± 1.96 × the fold standard
deviation scaled from a fold's size to ``val.txt``'s (the sampling error of 1,996 rows).

Parts:
    1. single models: features and classifiers, one change at a time;
    2. combiners: the same members (L1 SVM, NB-SVM, L1 logistic regression, character SVM) combined by a
       majority vote, a calibrated soft vote with or without the prior correction, free per-class offsets, or a
       stacked meta-learner (on the search's 20 % validation split, or on out-of-fold scores);
    3. the whole search (``train_scratch_model``), the issue-4 default against the current one;
    4. (``--automl-features``) the dense views AutoML gets: chi² top-k columns against a TruncatedSVD.

Examples:
    python benchmarks/ablation.py --output ablation.json        # parts 1-3, about 15 min on 2 idle cores
    python benchmarks/ablation.py --quick                       # parts 1-2 only, 3 folds
    python benchmarks/ablation.py --only "NB-SVM|soft"          # the ideas whose name matches
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import SelectKBest, chi2
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from components.arms.scratch.cues import CueWindow
from components.arms.scratch.train import (
    DEFAULT_PARAMS,
    ScratchOptions,
    build_classifier,
    build_features,
    train_scratch_model,
)
from components.arms.scratch.voting import calibrate, decision_scores, mean_log_proba
from components.models.trained import vote

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))
from compare import load_task  # noqa: E402 - the pipeline's cleaning, shared with the other benchmark

L1 = {"penalty": "l1", "C": 1.0}
L1_CUE = {**L1, "cue_window": 8}
NBSVM_CUE = {"classifier": "nbsvm", "C": 0.3, "cue_window": 8}
#: The default search space of issue 4 (before cross-validation): the "old default" row.
ISSUE4_SPACE: list[dict[str, list[Any]]] = [
    {
        "classifier": ["linear_svc"],
        "penalty": ["l1"],
        "C": [0.7, 1.0, 1.5],
        "cue_window": [3, 6, 8],
        "cue_weight": [0.7, 1.0],
    },
    {"classifier": ["logistic_regression"], "penalty": ["l1"], "C": [5.0, 10.0], "cue_window": [4, 8]},
    {"classifier": ["linear_svc"], "penalty": ["l2"], "C": [0.25, 0.5, 1.0], "cue_window": [0, 8]},
    {"classifier": ["sgd"], "penalty": ["l2", "elasticnet"], "alpha": [1e-5, 3e-5, 1e-4], "cue_window": [0, 8]},
    {"classifier": ["complement_nb"], "alpha": [0.1, 0.3, 1.0], "cue_window": [0, 8]},
]


class Stem:
    """Text → its words stemmed by Snowball's English stemmer (after ``inner``, e.g. a :class:`CueWindow`)."""

    def __init__(self, inner: Callable[[str], str] | None = None) -> None:
        import snowballstemmer  # dev extra: only this ablation stems

        self.inner, self._stemmer, self._cache = inner, snowballstemmer.stemmer("english"), {}

    def __call__(self, text: str) -> str:
        words = (self.inner(text) if self.inner else text.lower()).split()
        return " ".join(self._cache.setdefault(w, self._stemmer.stemWord(w)) for w in words)


NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "nothing",
        "nobody",
        "none",
        "nor",
        "cannot",
        "dont",
        "didnt",
        "doesnt",
        "isnt",
        "wasnt",
        "arent",
        "werent",
        "cant",
        "couldnt",
        "wouldnt",
        "shouldnt",
        "wont",
        "havent",
        "hasnt",
        "hadnt",
        "aint",
        "without",
        "hardly",
        "barely",
    }
)


def negation_scope(text: str, scope: int = 3) -> str:
    """Marks the ``scope`` words after a negation ("i didnt feel happy" → "i didnt neg_feel neg_happy")."""
    out, left = [], 0
    for word in text.lower().split():
        out.append(f"neg_{word}" if left > 0 and word not in NEGATIONS else word)
        left = scope if word in NEGATIONS else left - 1
    return " ".join(out)


INTENSIFIERS = frozenset(
    {
        "so",
        "very",
        "really",
        "a",
        "bit",
        "little",
        "kind",
        "of",
        "pretty",
        "quite",
        "more",
        "less",
        "too",
        "extremely",
        "incredibly",
        "rather",
        "somewhat",
        "that",
        "like",
        "as",
        "if",
        "i",
        "im",
        "was",
        "is",
        "am",
        "be",
        "been",
        "the",
        "it",
        "this",
        "just",
        "also",
        "totally",
        "completely",
        "super",
        "slightly",
        "even",
        "still",
        "all",
        "most",
        "much",
        "such",
        "sort",
        "terribly",
        "truly",
        "deeply",
        "utterly",
        "fairly",
        "absolutely",
        "and",
        "not",
    }
)


def cue_head(text: str) -> str:
    """The first word after each feeling verb that is not an intensifier ("i feel so very tired" → "tired")."""
    window = CueWindow(8)
    heads = [[w for w in m.group(1).split() if w not in INTENSIFIERS] for m in window._pattern.finditer(text.lower())]
    return " ".join(words[0] for words in heads if words)


def _model(change: dict[str, Any], extra: dict[str, TfidfVectorizer] | None = None, stem: bool = False) -> Pipeline:
    """A candidate of the search (``DEFAULT_PARAMS`` + ``change``), with extra feature blocks or stemming."""
    params = {**DEFAULT_PARAMS, **change}
    features = build_features(params)
    if stem:
        for name, block in features.transformer_list:
            block.set_params(preprocessor=Stem(block.preprocessor if name == "cue" else None))
    for name, block in (extra or {}).items():
        features.transformer_list.append((name, block))
    return Pipeline([("features", features), ("classifier", build_classifier(params, 42))])


def _block(preprocessor: Callable[[str], str]) -> TfidfVectorizer:
    return TfidfVectorizer(preprocessor=preprocessor, ngram_range=(1, 2), sublinear_tf=True)


#: Part 1, one change per row: (name, the row it changes, the model).
SINGLE: list[tuple[str, str | None, Callable[[], Any]]] = [
    ("anchor: word 1-2 TF-IDF + LinearSVC L2 C=0.5 balanced", None, lambda: _model({"sublinear_tf": False})),
    ("+ sublinear tf", "anchor", lambda: _model({})),
    ("+ char_wb 2-5 n-grams (union)", "+ sublinear tf", lambda: _model({"char_ngram_max": 5, "min_df": 2})),
    ("swap: ComplementNB alpha=0.3", "+ sublinear tf", lambda: _model({"classifier": "complement_nb", "alpha": 0.3})),
    ("swap: SGD modified Huber", "+ sublinear tf", lambda: _model({"classifier": "sgd", "alpha": 3e-5})),
    (
        "swap: LogisticRegression L1 C=10",
        "+ sublinear tf",
        lambda: _model({"classifier": "logistic_regression", "penalty": "l1", "C": 10.0}),
    ),
    ("swap: LinearSVC L1 C=1", "+ sublinear tf", lambda: _model(L1)),
    ("L1 + cue window 8", "swap: LinearSVC L1", lambda: _model(L1_CUE)),
    ("L1 + cue 8 + char_wb 2-5", "L1 + cue window 8", lambda: _model({**L1_CUE, "char_ngram_max": 5, "min_df": 2})),
    ("L1 + cue 8, stemmed (Snowball)", "L1 + cue window 8", lambda: _model(L1_CUE, stem=True)),
    ("L1 + cue 8 + a stemmed word block", "L1 + cue window 8", lambda: _model(L1_CUE, {"stem": _block(Stem())})),
    (
        "L1 + cue 8 + negation scope (3 words)",
        "L1 + cue window 8",
        lambda: _model(L1_CUE, {"negation": _block(negation_scope)}),
    ),
    (
        "L1 + cue 8 + cue head (first content word)",
        "L1 + cue window 8",
        lambda: _model(L1_CUE, {"head": TfidfVectorizer(preprocessor=cue_head, sublinear_tf=True)}),
    ),
    ("swap: NB-SVM C=0.3 (+ cue 8)", "L1 + cue window 8", lambda: _model(NBSVM_CUE)),
    ("NB-SVM C=1 (+ cue 8)", "L1 + cue window 8", lambda: _model({**NBSVM_CUE, "C": 1.0})),
]

#: Part 2's members: what the default search's classifiers are, plus character n-grams.
MEMBERS: dict[str, Callable[[], Any]] = {
    "svm": lambda: _model(L1_CUE),
    "nbsvm": lambda: _model(NBSVM_CUE),
    "lr": lambda: _model({"classifier": "logistic_regression", "penalty": "l1", "C": 10.0, "cue_window": 8}),
    "char": lambda: _model({"char_ngram_max": 5, "min_df": 2, "cue_window": 8}),
}
#: Part 2's rows: (name, the row it changes, members, combiner).
COMBINED: list[tuple[str, str | None, tuple[str, ...], str]] = [
    ("L1 SVM alone (part 2's reference)", None, ("svm",), "argmax"),
    ("L1 SVM + calibrated prior correction", "L1 SVM alone", ("svm",), "soft+prior"),
    ("NB-SVM + calibrated prior correction", "L1 SVM alone", ("nbsvm",), "soft+prior"),
    ("majority vote: SVM, NB-SVM, LR", "L1 SVM alone", ("svm", "nbsvm", "lr"), "majority"),
    ("soft vote: SVM + NB-SVM (calibrated, no prior)", "L1 SVM alone", ("svm", "nbsvm"), "soft"),
    ("soft vote: SVM + NB-SVM + prior weight (default)", "L1 SVM alone", ("svm", "nbsvm"), "soft+prior"),
    ("soft vote: SVM + NB-SVM + 6 free class offsets", "L1 SVM alone", ("svm", "nbsvm"), "soft+offsets"),
    (
        "soft vote + prior weight: SVM, NB-SVM, LR",
        "soft vote: SVM + NB-SVM + prior",
        ("svm", "nbsvm", "lr"),
        "soft+prior",
    ),
    (
        "soft vote + prior weight: SVM, NB-SVM, char SVM",
        "soft vote: SVM + NB-SVM + prior",
        ("svm", "nbsvm", "char"),
        "soft+prior",
    ),
    (
        "stacked LR on the 20 % split: SVM, NB-SVM, char SVM",
        "soft vote: SVM + NB-SVM + prior",
        ("svm", "nbsvm", "char"),
        "stack",
    ),
    (
        "stacked LR on 3-fold OOF scores: SVM, NB-SVM, char SVM",
        "soft vote: SVM + NB-SVM + prior",
        ("svm", "nbsvm", "char"),
        "stack-oof",
    ),
    (
        "soft vote + prior weight on 3-fold OOF: SVM + NB-SVM",
        "soft vote: SVM + NB-SVM + prior",
        ("svm", "nbsvm"),
        "soft+prior-oof",
    ),
]


def search_rows(quick: bool) -> list[tuple[str, str | None, ScratchOptions]]:
    """Part 3: the whole search with a budget large enough for every candidate (CV judges accuracy, not time)."""
    if quick:
        return []
    return [
        (
            "search, issue-4 default: 12 candidates, majority vote of the best 3",
            None,
            ScratchOptions(search_space=ISSUE4_SPACE, budget_seconds=3600, vote="majority", members="top"),
        ),
        (
            "search, default space, majority vote of the best 3",
            "search, issue-4 default",
            ScratchOptions(budget_seconds=3600, vote="majority", members="top"),
        ),
        (
            "search, default: soft vote of the best of each classifier",
            "search, issue-4 default",
            ScratchOptions(budget_seconds=3600),
        ),
    ]


# Splits and data, set once in the parent; forked workers read them.
SPLITS: list[tuple[list[str], list[str], list[str], list[str]]] = []


def make_splits(
    texts: list[str], labels: list[str], val_texts: list[str], val_labels: list[str], folds: int, seed: int
) -> None:
    """The k training folds, then all training rows → ``val.txt`` (the last split)."""
    SPLITS.clear()
    for fit, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, labels):
        SPLITS.append(
            ([texts[i] for i in fit], [labels[i] for i in fit], [texts[i] for i in test], [labels[i] for i in test])
        )
    SPLITS.append((texts, labels, val_texts, val_labels))


def _scores(truth: Sequence[str], predicted: Sequence[str]) -> tuple[float, float]:
    return float(accuracy_score(truth, predicted)), float(f1_score(truth, predicted, average="macro"))


def _single_job(job: tuple[int, int]) -> tuple[float, float, float]:
    row, split = job
    fit_x, fit_y, test_x, test_y = SPLITS[split]
    began = time.process_time()
    model = SINGLE[row][2]().fit(fit_x, fit_y)
    cpu = time.process_time() - began
    return (*_scores(test_y, model.predict(test_x)), cpu)


def _member_job(job: tuple[str, int, bool]) -> dict[str, Any]:
    """One member on one split: scores on the 20 % validation split of its training rows (fitted on the other
    80 %, as the search does), on the test rows (refitted on all training rows) and, with ``oof``, 3-fold
    out-of-fold scores of its training rows."""
    name, split, oof = job
    fit_x, fit_y, test_x, _ = SPLITS[split]
    index = np.arange(len(fit_x))
    inner, hold = train_test_split(index, test_size=0.2, stratify=fit_y, random_state=42)
    model = MEMBERS[name]().fit([fit_x[i] for i in inner], [fit_y[i] for i in inner])
    result = {"hold": hold, "hold_scores": decision_scores(model, [fit_x[i] for i in hold])}
    began = time.process_time()
    model = MEMBERS[name]().fit(fit_x, fit_y)
    result.update(cpu=time.process_time() - began, test=decision_scores(model, test_x), classes=list(model.classes_))
    if oof:
        scores = np.zeros((len(fit_x), len(result["classes"])))
        for part, rest in StratifiedKFold(3, shuffle=True, random_state=42).split(fit_x, fit_y):
            model = MEMBERS[name]().fit([fit_x[i] for i in part], [fit_y[i] for i in part])
            scores[rest] = decision_scores(model, [fit_x[i] for i in rest])
        result["oof"] = scores
    return result


def _offsets(log_proba: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Free per-class offsets for macro-F1 by coordinate ascent (grid −1…1, two sweeps)."""
    offsets, best = np.zeros(log_proba.shape[1]), -1.0
    for _ in range(2):
        for column in range(len(offsets)):
            for value in np.arange(-1.0, 1.001, 0.05):
                trial = offsets.copy()
                trial[column] = value
                result = f1_score(truth, (log_proba + trial).argmax(axis=1), average="macro")
                if result > best + 1e-9:
                    best, offsets = result, trial
    return offsets


def combine(kind: str, members: list[dict[str, Any]], truth: np.ndarray) -> np.ndarray:
    """Test predictions (class indices) of one combiner; ``truth``: the training rows' class indices."""
    tuned_on = "oof" if kind.endswith("oof") else "hold_scores"
    rows = slice(None) if tuned_on == "oof" else members[0]["hold"]
    tune, test, target = [m[tuned_on] for m in members], [m["test"] for m in members], truth[rows]
    if kind == "argmax":
        return test[0].argmax(axis=1)
    if kind == "majority":
        return np.asarray(vote([list(t.argmax(axis=1)) for t in test]))
    if kind.startswith("stack"):
        scale = [(t.mean(), t.std()) for t in tune]
        meta = LogisticRegression(C=1.0, max_iter=2000)
        meta.fit(np.hstack([(t - m) / s for t, (m, s) in zip(tune, scale, strict=True)]), target)
        return meta.predict(np.hstack([(t - m) / s for t, (m, s) in zip(test, scale, strict=True)]))
    temperatures, _, offsets = calibrate(tune, target, "macro_f1")
    if kind == "soft":
        offsets = np.zeros_like(offsets)
    elif kind == "soft+offsets":
        offsets = _offsets(mean_log_proba(tune, temperatures), target)
    return (mean_log_proba(test, temperatures) + offsets).argmax(axis=1)


def _row(name: str, ref: str | None, results: list[tuple[float, ...]], seconds: float) -> dict[str, Any]:
    """One idea: per-fold accuracy and macro-F1 (the last split is ``val.txt``) and the fit's seconds."""
    folds = results[:-1]
    return {
        "idea": name,
        "ref": ref,
        "folds_accuracy": [r[0] for r in folds],
        "folds_macro_f1": [r[1] for r in folds],
        "val": list(results[-1][:2]),
        "seconds": seconds,
    }


def single_models(pattern: re.Pattern[str], jobs: int) -> list[dict[str, Any]]:
    """Part 1: every single-model row on every split, ``jobs`` fits at a time."""
    rows = [i for i, (name, _, _) in enumerate(SINGLE) if pattern.search(name)]
    work = [(row, split) for row in rows for split in range(len(SPLITS))]
    done: dict[tuple[int, int], tuple[float, float, float]] = {}
    out: list[dict[str, Any]] = []
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for job, result in zip(work, pool.imap(_single_job, work), strict=True):
            done[job] = result
            row, split = job
            if split == len(SPLITS) - 1:  # the row's last split: print it as soon as it is known
                folds = [done[(row, s)] for s in range(len(SPLITS))]
                out.append(_row(SINGLE[row][0], SINGLE[row][1], folds, result[2]))
                print(f"  {out[-1]['idea']}: {summarise(out[-1], out)['line']}", flush=True)
    return out


def combiners(pattern: re.Pattern[str], jobs: int) -> list[dict[str, Any]]:
    """Part 2: each member fitted once per split, then every combiner row from the members' scores."""
    rows = [row for row in COMBINED if pattern.search(row[0])]
    names = sorted({m for row in rows for m in row[2]})
    oof = {m for row in rows if row[3].endswith("oof") for m in row[2]}
    work = [(name, split, name in oof) for name in names for split in range(len(SPLITS))]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        results = pool.map(_member_job, work, chunksize=1)
    done = {(name, split): result for (name, split, _), result in zip(work, results, strict=True)}
    out = []
    for name, ref, members, kind in rows:
        results = []
        for split, (_, fit_y, _, test_y) in enumerate(SPLITS):
            classes = np.asarray(done[(members[0], split)]["classes"])
            predicted = combine(kind, [done[(m, split)] for m in members], np.searchsorted(classes, fit_y))
            results.append(_scores(test_y, classes[predicted]))
        out.append(_row(name, ref, results, sum(done[(m, len(SPLITS) - 1)]["cpu"] for m in members)))
        print(f"  {name}: {summarise(out[-1], out)['line']}", flush=True)
    return out


def searches(pattern: re.Pattern[str], quick: bool) -> list[dict[str, Any]]:
    """Part 3: ``train_scratch_model`` on every split (one at a time: the search runs its own workers)."""
    out = []
    for name, ref, options in search_rows(quick):
        if not pattern.search(name):
            continue
        results, seconds, chosen = [], 0.0, []
        for fit_x, fit_y, test_x, test_y in SPLITS:
            began = time.perf_counter()
            trained = train_scratch_model(fit_x, fit_y, options=options)
            seconds = time.perf_counter() - began
            results.append(_scores(test_y, trained.model.predict(test_x)))
            chosen = trained.params["ensemble_members"]
        out.append({**_row(name, ref, results, seconds), "chosen": chosen})
        print(f"  {name}: {summarise(out[-1], out)['line']}", flush=True)
    return out


def summarise(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over folds, the paired gain over the row it changes, and whether that gain is a win."""
    acc, mf1 = np.array(row["folds_accuracy"]), np.array(row["folds_macro_f1"])
    ref = next((r for r in rows if row["ref"] and r["idea"].startswith(row["ref"])), None)
    stats = {"cv_accuracy": [acc.mean(), acc.std(ddof=1)], "cv_macro_f1": [mf1.mean(), mf1.std(ddof=1)]}
    text = f"{acc.mean():.4f} ± {acc.std(ddof=1):.4f} | {mf1.mean():.4f} ± {mf1.std(ddof=1):.4f} | "
    if ref is not None:
        gains = [np.array(row[k]) - np.array(ref[k]) for k in ("folds_accuracy", "folds_macro_f1")]
        stats["gain"] = [[g.mean(), g.std(ddof=1)] for g in gains]
        text += " / ".join(f"{g.mean() * 100:+.2f} ± {g.std(ddof=1) * 100:.2f}" for g in gains)
        # A win: the mean gain in macro-F1 (the search's metric) exceeds the fold-to-fold spread of that gain.
        stats["win"] = bool(gains[1].mean() > gains[1].std(ddof=1))
        text += " | **win** | " if stats["win"] else " | – | "
    else:
        text += "(reference) | | " if not row["ref"] else "(its reference did not run) | | "
    text += f"{row['val'][0]:.4f} / {row['val'][1]:.4f} | {row['seconds']:.1f} |"
    return {**stats, "line": text}


def val_range(row: dict[str, Any], fold_rows: int, val_rows: int) -> list[list[float]]:
    """What the CV figure predicts for ``val.txt``: mean ± 1.96 × fold std × √(fold rows / val rows)."""
    out = []
    for key in ("folds_accuracy", "folds_macro_f1"):
        values = np.array(row[key])
        half = 1.96 * values.std(ddof=1) * math.sqrt(fold_rows / val_rows)
        out.append([round(values.mean() - half, 4), round(values.mean() + half, 4)])
    return out


def automl_features(k: int, svd: int, seed: int) -> list[dict[str, Any]]:
    """Part 4: two linear learners on the chi² top-``k`` columns and on a TruncatedSVD of the word TF-IDF."""
    rows = []
    for view in (f"chi2 top-{k}", f"TruncatedSVD {svd}"):
        for learner in (RidgeClassifier, LinearSVC):
            results, seconds = [], 0.0
            for fit_x, fit_y, test_x, test_y in SPLITS:
                began = time.process_time()
                reducer = SelectKBest(chi2, k=k) if view.startswith("chi2") else TruncatedSVD(svd, random_state=seed)
                model = Pipeline(
                    [
                        ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                        ("reduce", reducer),
                        ("learner", learner()),
                    ]
                )
                if learner is LinearSVC:
                    model.set_params(learner__dual="auto", learner__random_state=seed)
                model.fit(fit_x, fit_y)
                seconds = time.process_time() - began
                results.append(_scores(test_y, model.predict(test_x)))
            rows.append(_row(f"{view} + {learner.__name__}", None, results, seconds))
            print(f"  {rows[-1]['idea']}: {summarise(rows[-1], rows)['line']}", flush=True)
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA, help="the shared data root (default ../shared/data)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42, help="seed of the folds and of the cleaning's splits")
    parser.add_argument("--jobs", type=int, default=2, help="fits at a time in parts 1 and 2")
    parser.add_argument("--quick", action="store_true", help="3 folds, no whole-search rows (part 3)")
    parser.add_argument("--only", default="", help="only the ideas whose name matches this regular expression")
    parser.add_argument("--automl-features", action="store_true", help="also part 4 (AutoML's dense views)")
    parser.add_argument("--dense-features", type=int, default=2000)
    parser.add_argument("--svd-components", type=int, default=300)
    parser.add_argument("--output", type=Path, default=None, help="write every row as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    began = time.perf_counter()
    train, test = load_task("emotion6", args.data_dir, args.seed)
    folds = 3 if args.quick else args.folds
    make_splits(
        train["text"].tolist(), train["label"].tolist(), test["text"].tolist(), test["label"].tolist(), folds, args.seed
    )
    pattern = re.compile(args.only, re.IGNORECASE)
    print(
        f"emotion6: {len(train)} training rows in {folds} stratified folds (seed {args.seed}); val.txt "
        f"{len(test)} rows, scored once per idea",
        flush=True,
    )
    parts = {"single": single_models(pattern, args.jobs), "combiners": combiners(pattern, args.jobs)}
    parts["search"] = searches(pattern, args.quick)
    if args.automl_features:
        parts["automl_features"] = automl_features(args.dense_features, args.svd_components, args.seed)
    header = (
        "| idea | CV accuracy | CV macro-F1 | gain acc / macro-F1 (points, paired) | win | val.txt acc / "
        "macro-F1 | fit s |\n|---|---|---|---|---|---|---:|"
    )
    for part, rows in parts.items():
        print(f"\n{part} ({folds}-fold CV of train.txt; val.txt once)\n{header}")
        for row in rows:
            row.update(summarise(row, rows))
            print(f"| {row['idea']} | {row.pop('line')}")
    fold_rows = len(train) // folds
    for row in parts["search"]:
        row["val_range"] = val_range(row, fold_rows, len(test))
        print(
            f"{row['idea']}: CV predicts val.txt accuracy in {row['val_range'][0]}, macro-F1 in "
            f"{row['val_range'][1]}; measured {row['val'][0]:.4f} / {row['val'][1]:.4f}"
        )
    print(f"\n{multiprocessing.cpu_count()} CPUs; {time.perf_counter() - began:.0f} s in all")
    if args.output:
        args.output.write_text(json.dumps(parts, indent=2, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
