"""Benchmark: in-process prediction speed of a model, scikit-learn's path against its compiled form.

For a registered version (``--registry``/``--model``) or a from-scratch model trained on the fly (``--train``, a
``text;label`` file or a CSV with ``text`` and ``label`` columns; the shipped demo data by default), times what a
served request runs (:meth:`EmotionModel.predict_texts`: text rules, then labels and scores) three ways:

* ``sklearn, 2 passes``: as before the compiled form, ``predict`` then ``predict_proba`` (a vote scores every
  member twice);
* ``sklearn``: :func:`~components.models.scoring.predict_with_scores` on the fitted model (one pass);
* ``compiled``: on its compiled form (:mod:`components.models.compiled`), what ``predict_texts`` uses.

Per path: one text per call (p50/p99 µs), batches of ``--batch`` texts (texts/s), and 1 and ``--threads`` threads
each calling with one text at a time for ``--seconds`` (total texts/s: it must not fall as threads are added).
Checks first that the compiled form gives the same labels (and scores to 1e-9) on every text timed.

Examples:
    python benchmarks/predict_speed.py --registry /work/runs/demo-reg --model emotion-demo@champion
    python benchmarks/predict_speed.py --train ../shared/data/dair_ai_emotion/train.txt \\
        --texts ../shared/data/dair_ai_emotion/val.txt
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "pipelines" / "data" / "demo_emotions.csv"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", default="", help="registry folder or URI (else a model is trained on the fly)")
    parser.add_argument("--model", default="emotion-demo@champion", help="NAME@ALIAS or NAME/VERSION")
    parser.add_argument("--joblib", default="", help="a fitted model file (a training step's) instead of a registry")
    parser.add_argument("--train", default=str(DEMO), help="training data when no --registry (text;label or CSV)")
    parser.add_argument("--budget-seconds", type=float, default=60.0, help="search budget of the on-the-fly model")
    parser.add_argument("--texts", default="", help="texts to time (text;label or CSV; default: the --train data)")
    parser.add_argument("--batch", type=int, default=1000, help="texts per batch call")
    parser.add_argument("--threads", type=int, default=8, help="threads of the concurrent measurement")
    parser.add_argument("--seconds", type=float, default=5.0, help="most seconds per measurement")
    parser.add_argument("--calls", type=int, default=2000, help="most one-text calls per latency measurement")
    return parser


def read_texts(path: str) -> tuple[list[str], list[str]]:
    """Texts and labels of a ``text;label`` file or a CSV with ``text`` and ``label`` columns."""
    import pandas as pd

    if path.endswith(".csv"):
        frame = pd.read_csv(path)
        return frame["text"].astype(str).tolist(), frame["label"].astype(str).tolist()
    rows = [line.rsplit(";", 1) for line in Path(path).read_text(encoding="utf-8").splitlines() if ";" in line]
    return [text for text, _ in rows], [label for _, label in rows]


def load_model(args: argparse.Namespace) -> tuple[Any, str]:
    """The :class:`EmotionModel` to time and a line saying what it is."""
    if args.registry:
        from components.registry.store import ModelRef, load_version, open_registry

        model, version, _ = load_version(open_registry(args.registry, read_only=True), ModelRef.parse(args.model))
        return model, f"{args.model} (version {version.version}, {args.registry})"
    from components.arms.scratch.train import ScratchOptions, train_scratch_model
    from components.models.compiled import compile_model
    from components.registry.packaging import EmotionModel
    from components.text.rules import TextNormaliser

    model = EmotionModel()
    if args.joblib:
        import joblib

        model.model, described = joblib.load(args.joblib), f"{args.joblib} (default text rules)"
    else:
        texts, labels = read_texts(args.train)
        trained = train_scratch_model(texts, labels, options=ScratchOptions(budget_seconds=args.budget_seconds))
        model.model = trained.model
        members = " + ".join(trained.params["ensemble_members"])
        described = f"from scratch on {len(texts)} rows of {args.train}: {members}"
    model.normaliser, model.compiled = TextNormaliser(), compile_model(model.model)
    return model, described


def paths(model: Any) -> dict[str, Callable[[list[str]], Any]]:
    """Each path as ``texts → predictions`` (text rules included)."""
    from components.models.scoring import predict_with_scores

    def two_passes(texts: list[str]) -> Any:
        clean = [model.normaliser(text) for text in texts]
        return model.model.predict(clean), model.model.predict_proba(clean)

    def plain(texts: list[str]) -> Any:
        return predict_with_scores(model.model, [model.normaliser(text) for text in texts])

    found = {"sklearn, 2 passes": two_passes, "sklearn": plain}
    if getattr(model, "compiled", None) is not None:
        found["compiled"] = model.predict_texts
    return found


def check_same(model: Any, texts: list[str]) -> str:
    """Refuses a compiled form whose labels differ from scikit-learn's; returns the largest score difference."""
    from components.models.scoring import predict_with_scores

    if getattr(model, "compiled", None) is None:
        return "no compiled form: the plain path serves this model"
    clean = [model.normaliser(text) for text in texts]
    plain, compiled = predict_with_scores(model.model, clean), model.predict_texts(texts)
    if plain.labels != compiled.labels:
        raise SystemExit("the compiled form predicts other labels: do not use it")
    return f"same labels on {len(texts)} texts, scores within {np.abs(plain.scores - compiled.scores).max():.1e}"


def latency(predict: Callable[[list[str]], Any], texts: list[str], calls: int, seconds: float) -> tuple[float, float]:
    """p50 and p99 µs of one-text calls."""
    timings, deadline = [], time.monotonic() + seconds
    for index in range(calls):
        began = time.perf_counter()
        predict([texts[index % len(texts)]])
        timings.append((time.perf_counter() - began) * 1e6)
        if time.monotonic() > deadline:
            break
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 99))


def batch_rate(predict: Callable[[list[str]], Any], texts: list[str], size: int, seconds: float) -> float:
    """Texts per second in calls of ``size`` texts."""
    batch = (texts * (size // max(len(texts), 1) + 1))[:size]
    done, began = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - began < seconds:
        predict(batch)
        done += len(batch)
    return done / (time.perf_counter() - began)


def threaded_rate(predict: Callable[[list[str]], Any], texts: list[str], threads: int, seconds: float) -> float:
    """Texts per second of ``threads`` threads each calling with one text at a time."""
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def work(number: int) -> None:
        index = number
        while time.perf_counter() < deadline:
            predict([texts[index % len(texts)]])
            counts[number] += 1
            index += threads

    began = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - began)


def measure(name: str, predict: Callable[[list[str]], Any], texts: list[str], args: argparse.Namespace) -> dict:
    p50, p99 = latency(predict, texts, args.calls, args.seconds)
    return {
        "path": name,
        "p50": p50,
        "p99": p99,
        "batch": batch_rate(predict, texts, args.batch, args.seconds),
        "one_thread": threaded_rate(predict, texts, 1, args.seconds),
        "threads": threaded_rate(predict, texts, args.threads, args.seconds),
    }


def table(rows: list[dict[str, Any]], batch: int, threads: int) -> str:
    lines = [
        f"| path | 1 text p50 µs | 1 text p99 µs | batch {batch} texts/s | 1 thread texts/s | "
        f"{threads} threads texts/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['path']} | {r['p50']:.0f} | {r['p99']:.0f} | {r['batch']:.0f} | {r['one_thread']:.0f} | "
        f"{r['threads']:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    model, described = load_model(args)
    texts = read_texts(args.texts or (str(DEMO) if args.registry or args.joblib else args.train))[0]
    print(f"model: {described}")
    print(f"check: {check_same(model, texts)}")
    rows = [measure(name, predict, texts, args) for name, predict in paths(model).items()]
    print(table(rows, args.batch, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
