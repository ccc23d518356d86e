"""Ablation on emotion6: what each from-scratch idea buys, and what the AutoML feature view keeps.

Part 1 (from scratch): each row adds or swaps one idea, scored on a validation split carved from ``train.txt``
(20 %, stratified, seed 42: what the search sees) and, after refitting on all of ``train.txt``, on ``val.txt``.
Part 2 (AutoML features): the same two dense learners on the chi² top-k TF-IDF columns (what ``vectorise`` gives
AutoML) and on a TruncatedSVD reduction (what the seeds' study gave PyCaret), with the reduction's cost.

Example:
    python benchmarks/ablation.py --output ablation.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import SelectKBest, chi2
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from components.steps.train_scratch import (
    DEFAULT_PARAMS,
    ScratchOptions,
    build_classifier,
    build_features,
    train_scratch_model,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dair_ai_emotion"

#: One idea per row: (name, candidate parameters over DEFAULT_PARAMS).
IDEAS: list[tuple[str, dict[str, Any]]] = [
    ("anchor: word 1-2 TF-IDF + LinearSVC L2 C=0.5 balanced", {"sublinear_tf": False}),
    ("+ sublinear tf", {}),
    ("+ char_wb 2-5 n-grams (union)", {"char_ngram_max": 5, "min_df": 2}),
    ("swap: ComplementNB alpha=0.3", {"classifier": "complement_nb", "alpha": 0.3}),
    ("swap: SGD modified Huber", {"classifier": "sgd", "alpha": 3e-5}),
    ("swap: LogisticRegression L1 C=10", {"classifier": "logistic_regression", "penalty": "l1", "C": 10.0}),
    ("swap: LinearSVC L1 C=1", {"penalty": "l1", "C": 1.0}),
    ("LinearSVC L1 C=1 + cue window 8", {"penalty": "l1", "C": 1.0, "cue_window": 8}),
    ("LinearSVC L1 C=1 + cue 8 + char_wb 2-5", {"penalty": "l1", "C": 1.0, "cue_window": 8, "char_ngram_max": 5}),
]


def _load(path: Path) -> tuple[list[str], list[str]]:
    rows = [line.rsplit(";", 1) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [t for t, _ in rows], [label for _, label in rows]


def _scores(truth: list[str], predicted: Any) -> tuple[float, float]:
    return round(accuracy_score(truth, predicted), 4), round(f1_score(truth, predicted, average="macro"), 4)


def _make(params: dict[str, Any], seed: int) -> Pipeline:
    return Pipeline([("features", build_features(params)), ("classifier", build_classifier(params, seed))])


def scratch_ideas(texts, labels, val_texts, val_labels, seed: int) -> list[dict[str, Any]]:
    fit_t, hold_t, fit_y, hold_y = train_test_split(texts, labels, test_size=0.2, stratify=labels, random_state=seed)
    rows = []
    for name, change in IDEAS:
        params = {**DEFAULT_PARAMS, **change}
        inner = _scores(hold_y, _make(params, seed).fit(fit_t, fit_y).predict(hold_t))
        began = time.process_time()
        model = _make(params, seed).fit(texts, labels)
        cpu = time.process_time() - began
        rows.append({"idea": name, "inner": inner, "val": _scores(val_labels, model.predict(val_texts)), "cpu": cpu})
        print(f"{name:62s} inner {inner} val.txt {rows[-1]['val']} fit CPU {cpu:.1f}s", flush=True)
    for ensemble in (1, 3):
        began = time.process_time()
        options = ScratchOptions(budget_seconds=3600, ensemble_size=ensemble, seed=seed)
        trained = train_scratch_model(texts, labels, options=options)
        cpu = time.process_time() - began
        inner = (trained.scores["validation_accuracy"], trained.scores["validation_macro_f1"])
        name = f"default search, 12 candidates, {'vote of best 3' if ensemble > 1 else 'best single'}"
        rows.append({"idea": name, "inner": inner, "val": _scores(val_labels, trained.model.predict(val_texts)),
                     "cpu": cpu, "chosen": trained.params["ensemble_members"]})  # fmt: skip
        print(f"{name:62s} inner {inner} val.txt {rows[-1]['val']} search+refit CPU {cpu:.1f}s", flush=True)
    return rows


def automl_features(texts, labels, val_texts, val_labels, k: int, svd: int, seed: int) -> list[dict[str, Any]]:
    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    train_x, val_x = tfidf.fit_transform(texts), tfidf.transform(val_texts)
    rows = []
    for view in (f"chi2 top-{k}", f"TruncatedSVD {svd}"):
        began = time.process_time()
        reducer = SelectKBest(chi2, k=k) if view.startswith("chi2") else TruncatedSVD(svd, random_state=seed)
        dense_train = reducer.fit_transform(train_x, labels)
        dense_train = dense_train.toarray() if hasattr(dense_train, "toarray") else dense_train
        reduce_cpu = time.process_time() - began
        dense_val = reducer.transform(val_x)
        dense_val = dense_val.toarray() if hasattr(dense_val, "toarray") else dense_val
        for learner in (RidgeClassifier(), LinearSVC(dual="auto", random_state=seed)):
            began = time.process_time()
            learner.fit(dense_train, labels)
            fit_cpu = time.process_time() - began
            acc, mf1 = _scores(val_labels, learner.predict(dense_val))
            rows.append({"view": view, "learner": type(learner).__name__, "accuracy": acc, "macro_f1": mf1,
                         "reduce_cpu": reduce_cpu, "fit_cpu": fit_cpu})  # fmt: skip
            print(f"{view:18s} {type(learner).__name__:16s} val.txt acc {acc} macro-F1 {mf1} "
                  f"reduce CPU {reduce_cpu:.1f}s fit CPU {fit_cpu:.1f}s", flush=True)  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--dense-features", type=int, default=2000)
    parser.add_argument("--svd-components", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if not (args.data_dir / "train.txt").is_file():
        raise SystemExit(f"ablation.py: {args.data_dir / 'train.txt'} not found")
    texts, labels = _load(args.data_dir / "train.txt")
    val_texts, val_labels = _load(args.data_dir / "val.txt")
    result = {
        "scratch": scratch_ideas(texts, labels, val_texts, val_labels, args.seed),
        "automl_features": automl_features(
            texts, labels, val_texts, val_labels, args.dense_features, args.svd_components, args.seed
        ),
    }
    if args.output:
        args.output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
