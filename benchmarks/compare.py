"""Benchmark: the from-scratch search and the AutoML run on both tasks, one table.

Tasks (data under ``../shared/data`` relative to the repository root, never copied into it):
    * ``emotion6``: dair_ai_emotion ``train.txt`` → ``val.txt`` (6 labels, official split);
    * ``emotion14``: ml_in_the_clouds ``emotions_train.csv`` + ``emotions_test.csv`` (14 labels), a stratified,
      seeded 80/20 split of their union.
Both are read and cleaned as the pipeline does for ``--task <name>`` (the presets in ``pipelines/config/tasks``).

Each training runs in a fresh process (so its peak memory is its own) under
:class:`components.runtime.profiler.StepProfiler` (wall seconds, CPU seconds of the process tree, peak RSS); the AutoML
figure includes fitting its dense features (the pipeline's ``vectorise`` step). Both models are then scored by
:func:`components.steps.evaluate.evaluate_models` on the same held-out rows.

Example:
    python benchmarks/compare.py --tasks emotion6,emotion14 --automl-budget-minutes 5 --output results.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
TASKS = ("emotion6", "emotion14")  # the shipped presets (pipelines/config/tasks/<name>.yaml)


def load_task(task: str, data_dir: Path, seed: int) -> tuple[Any, Any]:
    """The cleaned train and test frames of a task preset (the pipeline's ingest and clean logic and parameters)."""
    import dataclasses

    from components.steps.clean import CleaningOptions, clean_splits
    from components.steps.ingest import IngestOptions, ingest_sources
    from pipelines.tasks import load_task as load_preset

    preset = load_preset(task)
    missing = [p for p in [*preset.train, preset.test] if p and not (data_dir / p).is_file()]
    if missing:
        raise SystemExit(f"compare.py: data for {task} not found under {data_dir}: {missing}")
    test_uri = str(data_dir / preset.test) if preset.test else ""
    parameters = preset.parameters
    options = IngestOptions(test_size=parameters.get("test_size", IngestOptions.test_size), seed=seed)
    train, test = ingest_sources([str(data_dir / p) for p in preset.train], test_uri, options=options)
    fields = {f.name for f in dataclasses.fields(CleaningOptions)}
    cleaned = clean_splits(train, test, CleaningOptions(**{k: v for k, v in parameters.items() if k in fields}))
    return cleaned.train, cleaned.test


def _train(task: str, which: str, data_dir: str, model_path: str, options: dict[str, Any]) -> dict[str, Any]:
    """Trains one model in this (fresh) process and returns its cost and what training chose."""
    import joblib

    from components.runtime.profiler import StepProfiler
    from components.runtime.progress import Progress

    train, _ = load_task(task, Path(data_dir), options["seed"])
    texts, labels = train["text"].tolist(), train["label"].tolist()
    with StepProfiler(f"{task}/{which}") as profiler:
        if which == "scratch":
            from components.arms.scratch.train import ScratchOptions, train_scratch_model

            scratch = ScratchOptions(budget_seconds=options["scratch_budget_seconds"], seed=options["seed"])
            trained = train_scratch_model(texts, labels, options=scratch, progress=Progress(f"{task} scratch"))
            extra: dict[str, Any] = {}
        else:
            from components.arms.automl.train import AutomlOptions, train_automl_model
            from components.arms.automl.vectorise import fit_vectorisers

            fitted = fit_vectorisers(texts, labels)
            automl = AutomlOptions(
                models=options["automl_models"], budget_minutes=options["automl_budget_minutes"], seed=options["seed"]
            )
            trained, board = train_automl_model(
                fitted.train_features,
                labels,
                fitted.dense_vectoriser,
                options=automl,
                progress=Progress(f"{task} automl"),
            )
            extra = {"leaderboard": json.loads(board.to_json(orient="records"))}
        joblib.dump(trained.model, model_path)
    profile = profiler.profile
    return {
        "train_seconds": profile.wall_seconds,
        "train_cpu_seconds": profile.cpu_seconds,
        "peak_memory_mb": profile.peak_memory_mb,
        "fit_seconds": trained.fit_seconds,
        "params": trained.params,
        "scores": trained.scores,
        **extra,
    }


def run_task(task: str, data_dir: Path, options: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    """Trains both models of a task (one fresh process each, one after the other) and evaluates them."""
    import joblib

    from components.arms.automl.train import quiet_pycaret_logs
    from components.models.latency import LatencySettings
    from components.steps.evaluate import EvaluateOptions, evaluate_models

    quiet_pycaret_logs()
    trainings, paths = {}, {}
    for which in ("scratch", "automl"):
        paths[which] = str(workdir / f"{task}-{which}.joblib")
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            trainings[which] = pool.submit(_train, task, which, str(data_dir), paths[which], options).result()
    _, test = load_task(task, data_dir, options["seed"])
    result = evaluate_models(
        {which: joblib.load(path) for which, path in paths.items()},
        test["text"].tolist(),
        test["label"].tolist(),
        options=EvaluateOptions(seed=options["seed"]),
        latency=LatencySettings(),
        model_sizes={which: os.path.getsize(path) for which, path in paths.items()},
    )
    rows = []
    for which, scores in result["models"].items():
        rows.append({"task": task, "model": which, **trainings[which], **scores, "winner": result["winner"]})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The benchmark table (Markdown), then for each AutoML run what it was given and used (its verdict)."""
    lines = [
        "| task | model | accuracy | macro-F1 | train s | train CPU s | peak MB | model MB | p50 ms | winner |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['model']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['train_seconds']:.1f} | "
            f"{r['train_cpu_seconds']:.1f} | {r['peak_memory_mb']:.0f} | {r['model_size_mb']:.2f} | "
            f"{r['latency_p50_ms']:.2f} | {r['winner']} |"
        )
    verdicts = [f"- {r['task']} automl: {r['params']['verdict']}" for r in rows if "verdict" in r.get("params", {})]
    return "\n".join(lines + ([""] if verdicts else []) + verdicts)


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options; defaults from the steps' options dataclasses."""
    from components.arms.automl.train import AutomlOptions
    from components.arms.scratch.train import ScratchOptions
    from components.steps.ingest import IngestOptions

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="emotion6,emotion14", help=f"comma separated: {', '.join(TASKS)}")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--scratch-budget-seconds", type=float, default=ScratchOptions.budget_seconds)
    parser.add_argument("--automl-budget-minutes", type=float, default=AutomlOptions.budget_minutes)
    parser.add_argument(
        "--automl-models",
        default=",".join(AutomlOptions.models),
        help="'default' (PyCaret's default list, the pipeline's default) and/or PyCaret ids, comma separated",
    )
    parser.add_argument("--seed", type=int, default=IngestOptions.seed)
    parser.add_argument("--output", type=Path, default=None, help="also write every figure as JSON here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"--tasks: unknown {unknown}; known: {list(TASKS)}")
    options = {
        "scratch_budget_seconds": args.scratch_budget_seconds,
        "automl_budget_minutes": args.automl_budget_minutes,
        "automl_models": [m.strip() for m in args.automl_models.split(",") if m.strip()],
        "seed": args.seed,
    }
    began = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="emotion-benchmark-") as workdir:
        for task in tasks:
            rows += run_task(task, args.data_dir, options, Path(workdir))
    print(format_table(rows))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{os.cpu_count()} CPUs; load average at the end {load}; total {time.perf_counter() - began:.0f}s")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
