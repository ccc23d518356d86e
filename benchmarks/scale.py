"""Benchmark: the whole pipeline at growing data sizes, default settings, one table per step.

For each size it makes that many *unique* training texts from ``dair_ai_emotion/train.txt`` (each the joined texts
of two training rows of the same label, drawn with a seeded generator; the shared data are read from
``../shared/data``, never copied into the repository), runs ``emotion-pipeline run --train <them> --test val.txt
--no-cache`` in a fresh process with default settings, and reads each step's wall seconds, CPU seconds and peak
memory from the run's ``summary.json``, with the rows each model was trained on. The last column of the table is
the growth exponent of the step's wall time from the previous size (``log(t₂/t₁) / log(n₂/n₁)``): 1 is linear.

``--report-only`` prints the table (and draws the chart) again from the runs' own files (their ``run.json`` and
``summary.json``) without running anything. ``--chart`` draws each step's wall time and peak memory
against rows on log-log axes (matplotlib, which PyCaret already installs).

Example (the sizes of issue 17; 1M rows take most of an hour on 2 cores):
    python benchmarks/scale.py --sizes 16000,64000,256000,1000000 --output /tmp/scale --chart docs/scale.png
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.rerender import RUN_MARKER

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
        sys.executable,
        "-m",
        "pipelines.cli.main",
        "run",
        "--train",
        str(train),
        "--test",
        str(DATA / "val.txt"),
        "--output",
        str(folder / "run"),
        "--registry",
        str(folder / "registry"),
        "--no-cache",
    ]
    (folder / "run" / RUN_MARKER).unlink(missing_ok=True)  # an earlier run's marker must not stand for this one
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if (folder / "run" / RUN_MARKER).exists():
        result = read_result(folder)
    else:  # refused before the run began
        result = {"size": size, "elapsed": time.perf_counter() - began, "folder": folder}
    if done.returncode != 0:
        result["error"] = (done.stderr or done.stdout).strip().splitlines()[-1:]
    return result


def read_result(folder: Path) -> dict[str, Any]:
    """A size's outcome from its run's own files: the run marker (status, start and end) and ``summary.json``."""
    marker = json.loads((folder / "run" / RUN_MARKER).read_text(encoding="utf-8"))
    elapsed = (datetime.fromisoformat(marker["ended"]) - datetime.fromisoformat(marker["started"])).total_seconds()
    result: dict[str, Any] = {"size": int(folder.name), "elapsed": elapsed, "folder": folder}
    if marker.get("status") == "finished":
        result["summary"] = json.loads((folder / "run" / "summary.json").read_text(encoding="utf-8"))
    else:
        result["error"] = [f"run {marker.get('status')}"]
    return result


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
    print("| rows | step | wall s | CPU s | peak MB | rows used | growth (wall) | growth (CPU) |")
    print("|---:|---|---:|---:|---:|---|---:|---:|")
    previous: dict[str, tuple[int, float, float]] = {}
    for result in results:
        if "error" in result:
            print(
                f"| {result['size']:,} | (run failed after {result['elapsed']:.0f} s: {result['error']}) | | | | | | |"
            )
            continue
        summary = result["summary"]
        used = rows_used(summary)
        for step in STEPS:
            figures = summary["steps"].get(step)
            if not figures:
                continue
            growth = ["", ""]
            if step in previous:
                rows0, wall0, cpu0 = previous[step]
                growth = [
                    f"{exponent(rows0, before, result['size'], after):.2f}"
                    for before, after in ((wall0, figures["wall_seconds"]), (cpu0, figures["cpu_seconds"]))
                ]
            previous[step] = (result["size"], figures["wall_seconds"], figures["cpu_seconds"])
            print(
                f"| {result['size']:,} | {step} | {figures['wall_seconds']:.1f} | {figures['cpu_seconds']:.1f} | "
                f"{figures['peak_memory_mb']:,.0f} | {used.get(step, '')} | {growth[0]} | {growth[1]} |"
            )
        scratch, automl = summary["models"]["scratch"], summary["models"]["automl"]
        print(
            f"| {result['size']:,} | whole run | {result['elapsed']:.1f} | | | scratch {scratch['accuracy']:.4f} / "
            f"{scratch['macro_f1']:.4f}, AutoML {automl['accuracy']:.4f} / {automl['macro_f1']:.4f} on val.txt | | |"
        )


def exponent(rows0: float, value0: float, rows1: float, value1: float) -> float:
    """Growth exponent k of ``value ∝ rows^k`` between two sizes (1: linear); 0 when a value is 0."""
    if min(value0, value1) <= 0:
        return 0.0
    return math.log(value1 / value0) / math.log(rows1 / rows0)


def check_targets(results: list[dict[str, Any]]) -> list[str]:
    """Issue 17's targets, each met or missed by how much, for the sizes that were run.

    The targets: from 200k rows, the whole run in at most 15 min and every step at most 8 GB (checked at each size
    of 200k to 256k rows); at 1M rows, 45 min and 12 GB; past 64k rows, no step's CPU time growing faster than
    rows^1.1 except the two training steps, which their budgets cap; the from-scratch model at 1M rows no worse on
    ``val.txt`` than at the largest size below it.
    """
    lines, finished = [], [r for r in results if "summary" in r]
    for result in results:
        size = result["size"]
        limits = (900.0, 8192.0) if 200_000 <= size <= 256_000 else (2700.0, 12288.0) if size == 1_000_000 else None
        if limits is None:
            continue
        if "error" in result:
            lines.append(f"{size:,} rows: MISSED, the run failed after {result['elapsed']:.0f} s")
            continue
        peak_step, peak = max(
            ((s, f["peak_memory_mb"]) for s, f in result["summary"]["steps"].items()), key=lambda x: x[1]
        )
        for what, value, limit, unit in (
            ("whole run", result["elapsed"], limits[0], "s"),
            (f"peak memory ({peak_step})", peak, limits[1], "MB"),
        ):
            verdict = "met" if value <= limit else f"MISSED by {value - limit:,.0f} {unit}"
            lines.append(f"{size:,} rows, {what}: {value:,.0f} {unit} against {limit:,.0f} {unit}: {verdict}")
    for before, after in itertools.pairwise(finished):
        if before["size"] < 64_000:
            continue
        for step in ("ingest", "clean", "vectorise", "evaluate"):
            cpu0, cpu1 = (r["summary"]["steps"][step]["cpu_seconds"] for r in (before, after))
            k = exponent(before["size"], cpu0, after["size"], cpu1)
            verdict = "met" if k <= 1.1 else f"MISSED by {k - 1.1:.2f}"
            lines.append(f"{step} CPU growth {before['size']:,} → {after['size']:,} rows: rows^{k:.2f}: {verdict}")
    largest = {r["size"]: r for r in finished}
    if 1_000_000 in largest and len(largest) > 1:
        below = max(size for size in largest if size < 1_000_000)
        for difference in scratch_difference(largest[1_000_000]["folder"], largest[below]["folder"]):
            change, (low, high) = difference.difference, difference.interval
            verdict = "met" if change >= 0 else f"MISSED by {-change:.4f}"
            if change < 0 <= high:
                verdict += " as a point estimate; no measurable difference (the interval holds 0)"
            lines.append(
                f"scratch val.txt {difference.metric} at 1,000,000 vs {below:,} rows: {change:+.4f} "
                f"[95 % paired bootstrap CI {low:+.4f}, {high:+.4f}]: {verdict}"
            )
    return lines


def scratch_difference(larger: Path, smaller: Path) -> list[Any]:
    """The from-scratch models of two runs on the same test rows: accuracy and macro-F1 differences (larger −
    smaller) with their paired bootstrap intervals (``components.stats.bootstrap.paired_difference``)."""
    import joblib
    import pandas as pd

    from components.stats.bootstrap import paired_difference

    def artifact(folder: Path, step: str, name: str) -> Path:
        return next((folder / "run" / "artifacts").glob(f"*/{step}/{name}"))

    test = pd.read_parquet(artifact(smaller, "clean", "clean_test"), columns=["text", "label"])
    truth, texts = test["label"].tolist(), test["text"].tolist()
    predicted = [list(joblib.load(artifact(f, "train-scratch", "model")).predict(texts)) for f in (larger, smaller)]
    return [paired_difference(truth, *predicted, metric=metric) for metric in ("accuracy", "macro_f1")]


def draw_chart(results: list[dict[str, Any]], path: Path) -> None:
    """Each step's wall seconds and peak memory against rows, log-log, with a rows¹ guide line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finished = [r for r in results if "summary" in r]
    figure, (wall, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    for step in STEPS:
        points = [(r["size"], r["summary"]["steps"][step]) for r in finished if step in r["summary"]["steps"]]
        sizes = [size for size, _ in points]
        wall.plot(sizes, [f["wall_seconds"] for _, f in points], marker="o", label=step)
        memory.plot(sizes, [f["peak_memory_mb"] / 1024 for _, f in points], marker="o", label=step)
    if finished:
        low, high = finished[0]["size"], finished[-1]["size"]
        wall.plot([low, high], [10, 10 * high / low], "k:", label="∝ rows")
    for axes, title in ((wall, "wall seconds"), (memory, "peak memory, GB")):
        axes.set(xscale="log", yscale="log", xlabel="training rows", title=title)
        axes.grid(True, which="both", alpha=0.3)
    wall.legend(fontsize=8)
    figure.suptitle("emotion-pipeline, default settings, one 2-core machine (benchmarks/scale.py)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="16000,64000,256000,1000000", help="training rows per run, comma-separated")
    parser.add_argument("--output", type=Path, required=True, help="folder for the made data and the runs")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chart", type=Path, help="also draw the chart (PNG) to this path")
    parser.add_argument("--report-only", action="store_true", help="print the table of the sizes already run")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.report_only:
        results = [read_result(args.output / str(size)) for size in sizes if (args.output / str(size)).is_dir()]
    elif not (DATA / "train.txt").exists():
        parser.error(f"{DATA / 'train.txt'} not found: the shared data must be beside the repository")
    else:
        results = []
        for size in sizes:
            results.append(run_size(size, args.output / str(size), args.seed))
            print(f"{size:,} rows: {results[-1]['elapsed']:.0f} s", file=sys.stderr, flush=True)
    results.sort(key=lambda result: result["size"])  # growth is from the next smaller size
    print_table(results)
    print("\nTargets of issue 17:")
    print("\n".join(f"- {line}" for line in check_targets(results)) or "- (no size with a target was run)")
    if args.chart:
        draw_chart(results, args.chart)
    return 0 if results and all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
