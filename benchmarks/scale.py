"""Benchmark: the whole pipeline at growing data sizes, default settings, one table per step.

For each size it makes that many *unique* training texts from ``dair_ai_emotion/train.txt`` (each the joined texts
of two training rows of the same label, drawn with a seeded generator; the shared data are read from
``../shared/data``, never copied into the repository), runs ``emotion-pipeline run --train <them> --test val.txt
--no-cache`` in a fresh process with default settings, and reads each step's wall seconds, CPU seconds and peak
memory from the run's ``summary.json``, with the rows each model was trained on. The last column of the table is
the growth exponent of the step's wall time from the previous size (``log(t₂/t₁) / log(n₂/n₁)``): 1 is linear.

Example (the sizes of issue 17; 1M rows take most of an hour on 2 cores):
    python benchmarks/scale.py --sizes 16000,64000,256000,1000000 --output /tmp/scale
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "dair_ai_emotion"
STEPS = ("ingest", "clean", "vectorise", "train_scratch", "train_automl", "evaluate")


def make_rows(source: Path, size: int, seed: int) -> list[tuple[str, str]]:
    """``size`` unique (text, label) rows, each two source texts of one label joined."""
    by_label: dict[str, list[str]] = {}
    for line in source.read_text(encoding="utf-8").splitlines():
        text, _, label = line.rpartition(";")
        by_label.setdefault(label, []).append(text)
    labels = sorted(by_label)
    weights = [len(by_label[label]) for label in labels]
    rng, seen, rows = random.Random(seed), set(), []
    while len(rows) < size:
        label = rng.choices(labels, weights)[0]
        text = " ".join(rng.sample(by_label[label], 2))
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
    return rows


def run_size(size: int, folder: Path, seed: int) -> dict[str, Any]:
    """Runs the pipeline on ``size`` made rows; returns the summary (or the failure) and the elapsed seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    train = folder / "train.txt"
    train.write_text("".join(f"{text};{label}\n" for text, label in make_rows(DATA / "train.txt", size, seed)))
    command = [
        sys.executable, "-m", "pipelines.cli.main", "run", "--train", str(train), "--test", str(DATA / "val.txt"),
        "--output", str(folder / "run"), "--registry", str(folder / "registry"), "--no-cache",
    ]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    summary_path = folder / "run" / "summary.json"
    if done.returncode != 0 or not summary_path.exists():
        return {"size": size, "elapsed": elapsed, "error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    return {"size": size, "elapsed": elapsed, "summary": json.loads(summary_path.read_text(encoding="utf-8"))}


def rows_used(summary: dict[str, Any]) -> dict[str, str]:
    """Rows each model was trained on, as ``search/refit`` for the from-scratch search."""
    scratch = summary["models"].get("scratch", {}).get("training", {})
    automl = summary["models"].get("automl", {}).get("training", {})

    def count(value: Any) -> str:  # KFP's metadata turns integers into floats
        return f"{int(value):,}" if isinstance(value, (int, float)) else "?"

    return {
        "train_scratch": f"search {count(scratch.get('search_rows'))}, refit {count(scratch.get('refit_rows'))}",
        "train_automl": count(automl.get("rows")),
    }


def print_table(results: list[dict[str, Any]]) -> None:
    """One row per size and step: wall, CPU, peak memory, rows used and the wall time's growth exponent."""
    print("| rows | step | wall s | CPU s | peak MB | rows used | growth |")
    print("|---:|---|---:|---:|---:|---|---:|")
    previous: dict[str, tuple[int, float]] = {}
    for result in results:
        if "error" in result:
            print(f"| {result['size']:,} | (run failed after {result['elapsed']:.0f} s: {result['error']}) | | | | | |")
            continue
        summary = result["summary"]
        used = rows_used(summary)
        for step in STEPS:
            figures = summary["steps"].get(step)
            if not figures:
                continue
            growth = ""
            if step in previous:
                rows0, wall0 = previous[step]
                growth = f"{math.log(figures['wall_seconds'] / wall0) / math.log(result['size'] / rows0):.2f}"
            previous[step] = (result["size"], figures["wall_seconds"])
            print(
                f"| {result['size']:,} | {step} | {figures['wall_seconds']:.1f} | {figures['cpu_seconds']:.1f} | "
                f"{figures['peak_memory_mb']:,.0f} | {used.get(step, '')} | {growth} |"
            )
        scratch, automl = summary["models"]["scratch"], summary["models"]["automl"]
        print(
            f"| {result['size']:,} | whole run | {result['elapsed']:.1f} | | | scratch {scratch['accuracy']:.4f} / "
            f"{scratch['macro_f1']:.4f}, AutoML {automl['accuracy']:.4f} / {automl['macro_f1']:.4f} on val.txt | |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="16000,64000,256000,1000000", help="training rows per run, comma-separated")
    parser.add_argument("--output", type=Path, required=True, help="folder for the made data and the runs")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if not (DATA / "train.txt").exists():
        parser.error(f"{DATA / 'train.txt'} not found: the shared data must be beside the repository")
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        results.append(run_size(size, args.output / str(size), args.seed))
        print(f"{size:,} rows: {results[-1]['elapsed']:.0f} s", file=sys.stderr, flush=True)
    print_table(results)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
