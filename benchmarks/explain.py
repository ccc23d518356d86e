"""Benchmark: what explaining predictions costs, per fitted model, beside predicting the same texts.

Loads each given model file (an arm's ``model.joblib``: a run's ``predict-<arm>/arms/<arm>/model.joblib`` or its
bundle), takes ``--texts`` texts (``text;label`` lines, e.g. ``../shared/data/dair_ai_emotion/val.txt``; the demo
sentences by default) and prints, per model: how its predictions are explained (exact linear weights or
leave-one-word-out), milliseconds per text to predict and to explain (``--top`` words, one batch of ``--batch``
texts at a time, best of ``--rounds``), the seconds its top words per class take, and the first text's explanation.

Example:
    python benchmarks/explain.py runs/x/artifacts/*/predict-*/arms/*/model.joblib --texts 200
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from components.models.explain import ExplanationUnavailable, explain_texts, linear_parts, top_words_record

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "pipelines" / "data" / "demo_emotions.csv"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="fitted model files (joblib)")
    parser.add_argument("--input", default=str(DEMO), help="texts: the demo CSV, or text;label lines")
    parser.add_argument("--texts", type=int, default=200, help="texts explained")
    parser.add_argument("--batch", type=int, default=20, help="texts per call")
    parser.add_argument("--top", type=int, default=5, help="words per explanation")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (the best is shown)")
    return parser


def read_texts(path: str, count: int) -> list[str]:
    if path.endswith(".csv"):
        texts = pd.read_csv(path)["text"].astype(str).str.lower().tolist()
    else:
        texts = [line.split(";")[0] for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
    return texts[:count]


def best_ms_per_text(work: Any, texts: list[str], batch: int, rounds: int) -> float:
    """Best over rounds of the milliseconds per text of ``work`` over every batch of ``texts``."""
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        for start in range(0, len(texts), batch):
            work(texts[start : start + batch])
        best = min(best, time.perf_counter() - began)
    return 1000 * best / len(texts)


def measure(path: str, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    model = joblib.load(path)
    model.predict(texts[:2])  # warm (a transformer builds its network on the first call)
    method = "exact linear" if linear_parts(model, texts[:2]) is not None else "leave-one-word-out"
    row = {"model": Path(path).parent.name, "method": method}
    row["predict ms/text"] = best_ms_per_text(model.predict, texts, args.batch, args.rounds)
    try:
        explain = lambda batch: explain_texts(model, batch, args.top)  # noqa: E731
        row["explain ms/text"] = best_ms_per_text(explain, texts, args.batch, args.rounds)
        row["example"] = explain_texts(model, texts[:1], args.top)[0]
    except ExplanationUnavailable as err:
        row["explain ms/text"], row["example"] = float("nan"), f"unavailable: {err}"
    began = time.perf_counter()
    record = top_words_record(model)
    row["top words s"] = time.perf_counter() - began
    row["top words"] = "unavailable" if "unavailable" in record else f"{len(record['classes'])} classes"
    return row


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    texts = read_texts(args.input, args.texts)
    print(f"{len(texts)} texts, batches of {args.batch}, top {args.top}, best of {args.rounds} rounds\n")
    print("| model file | method | predict ms/text | explain ms/text | top words s | top words |")
    print("|---|---|---:|---:|---:|---|")
    examples = []
    for path in args.models:
        row = measure(path, texts, args)
        figures = f"{row['predict ms/text']:.2f} | {row['explain ms/text']:.2f} | {row['top words s']:.2f}"
        print(f"| {path} | {row['method']} | {figures} | {row['top words']} |")
        examples.append((path, row["example"]))
    print(f"\nfirst text: {texts[0]!r}")
    for path, example in examples:
        print(f"  {path}: {example}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
