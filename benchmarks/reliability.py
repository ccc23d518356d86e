"""The reliability catalogue of issues 18 and 27 through the real CLI: each case's exit status, time and message.

Every case runs ``emotion-pipeline`` as a separate process in a temporary folder (its input files made there; the
GoEmotions-style TSV from rows of ``../shared/data/dair_ai_emotion`` when present, never copied into the repo) and
prints one Markdown row: case, exit status, wall seconds, whether the outcome is the expected one, the message's
last line (abridged). Issue 27's cases come first (a small model is registered for those that need one: predict,
serve, a copied or tampered registry); the whole-pipeline cases (the formats) take about a minute each
(``--quick`` skips them). The last line counts the cases; the exit status is 1 when any was not as expected.

Examples:
    python benchmarks/reliability.py --quick     # refusals only, about 4 minutes
    python benchmarks/reliability.py             # the whole catalogue, and the formats end to end
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import zstandard

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dair_ai_emotion"
IDS = {"anger": "2", "fear": "14", "joy": "17", "love": "18", "sadness": "25", "surprise": "26"}
FAST = ["--automl-models", "nb", "--automl-budget-minutes", "1", "--scratch-budget-seconds", "15"]


def real_rows(split: str, n: int) -> list[tuple[str, str]]:
    lines = (SHARED / f"{split}.txt").read_text(encoding="utf-8").splitlines()[:n]
    return [tuple(line.rsplit(";", 1)) for line in lines]  # type: ignore[misc]


def make_files(folder: Path) -> dict[str, Path]:
    """Every input file of the catalogue, in ``folder``."""
    train, val = real_rows("train", 1500), real_rows("val", 400)
    frame, test = pd.DataFrame(train, columns=["text", "label"]), pd.DataFrame(val, columns=["text", "label"])
    files = {"test.csv": folder / "test.csv"}
    test.to_csv(files["test.csv"], index=False)
    for split, rows in (("train", train), ("val", val)):
        path = folder / f"goemotions_{split}.tsv"
        path.write_text(
            "".join(f"{t}\t{IDS[y]}{',27' if i % 10 == 0 else ''}\tee{i}\n" for i, (t, y) in enumerate(rows)),
            encoding="utf-8",
        )
        files[path.name] = path
    files["train.parquet"] = folder / "train.parquet"
    frame.to_parquet(files["train.parquet"])
    files["train.jsonl"] = folder / "train.jsonl"
    frame.to_json(files["train.jsonl"], orient="records", lines=True)
    files["train.csv.gz"] = folder / "train.csv.gz"
    files["train.csv.gz"].write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    files["train.tsv.zst"] = folder / "train.tsv.zst"
    tsv = frame.to_csv(index=False, sep="\t").encode()
    files["train.tsv.zst"].write_bytes(zstandard.ZstdCompressor().compress(tsv))
    files["nul.csv"] = folder / "nul.csv"
    files["nul.csv"].write_text(
        "text,label\n" + "".join(f"{t.replace('e', chr(0), 1)},{y}\n" for t, y in train), encoding="utf-8"
    )
    files["case.csv"] = folder / "case.csv"
    spelt = (f"{t},{y.capitalize() if i % 3 else y}\n" for i, (t, y) in enumerate(train))
    files["case.csv"].write_text("text,label\n" + "".join(spelt), encoding="utf-8")
    files["utf16.csv"] = folder / "utf16.csv"
    files["utf16.csv"].write_bytes(frame.to_csv(index=False).encode("utf-16"))
    files["one_class.csv"] = folder / "one_class.csv"
    files["one_class.csv"].write_text("text,label\n" + "".join(f"text {i},joy\n" for i in range(30)), "utf-8")
    files["html.csv"] = folder / "html.csv"
    files["html.csv"].write_text("text,label\n" + "".join(f"<script>x</script> {t},{y}\n" for t, y in train), "utf-8")
    return files


def silent_server() -> str:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    threading.Thread(target=lambda: [server.accept() for _ in range(500)], daemon=True).start()  # ends with the process
    return f"http://127.0.0.1:{server.getsockname()[1]}/train.csv"


def cases(files: dict[str, Path], url: str, quick: bool | None) -> list[tuple[str, list[str], int | None]]:
    """Issue 18's cases: name, ``run`` arguments, the exit status expected (None: a refusal, any non-zero)."""
    f = {name: str(path) for name, path in files.items()}
    refusals = [
        (
            "1 http server never answers (timeout 5 s, 1 retry)",
            ["--train", url, "--set", "network_timeout_seconds=5", "--set", "network_retries=1"],
        ),
        ("2 gs:// without credentials", ["--train", "gs://no-such-bucket-xyz/train.csv"]),
        ("4 NUL bytes (counted, run completes)", ["--train", f["nul.csv"], "--test", f["test.csv"], *FAST]),
        ("7 --scratch-budget-seconds nan", ["--scratch-budget-seconds", "nan"]),
        ("7 --automl-budget-minutes inf", ["--automl-budget-minutes", "inf"]),
        ("8 --output is a file", ["--output", f["test.csv"]]),
        ("9 UTF-16 file", ["--train", f["utf16.csv"]]),
        ("9 --test equal to --train", ["--train", f["test.csv"], "--test", f["test.csv"]]),
        ("10 --seed -1", ["--seed", "-1"]),
        ("10 unknown AutoML id", ["--automl-models", "ridge,xgb"]),
        ("10 unknown search-space key", ["--set", "scratch_search_space=[{gamma: [1]}]"]),
        ("10 unknown encoding", ["--encoding", "klingon"]),
        ("13 --label-map naming an unknown label", ["--label-map", "hapy=joy"]),
        ("multi-label TSV, default policy", ["--train", f["goemotions_train.tsv"]]),
        ("explode without conflict_policy=keep", ["--multi-label", "explode"]),
    ]
    if quick:
        return [(name, argv, 0 if "run completes" in name else None) for name, argv in refusals]
    if quick is None:  # --formats: the whole-pipeline cases only
        refusals = []
    formats = [
        (
            "5 labels differing in case (warned, run completes)",
            ["--train", f["case.csv"], *FAST, "--set", "unseen_test_labels=drop"],
        ),
        ("11 HTML in texts (escaped, run completes)", ["--train", f["html.csv"], "--test", f["test.csv"], *FAST]),
        (
            "GoEmotions-style TSV, --multi-label first",
            [
                "--train",
                f["goemotions_train.tsv"],
                "--test",
                f["goemotions_val.tsv"],
                "--multi-label",
                "first",
                *FAST,
                "--set",
                "unseen_test_labels=drop",
            ],
        ),
        (
            "GoEmotions-style TSV, --multi-label explode",
            [
                "--train",
                f["goemotions_train.tsv"],
                "--test",
                f["goemotions_val.tsv"],
                "--multi-label",
                "explode",
                *FAST,
                "--set",
                "unseen_test_labels=drop",
                "--set",
                "conflict_policy=keep",
            ],
        ),
        ("Parquet", ["--train", f["train.parquet"], "--test", f["test.csv"], *FAST]),
        ("JSON Lines", ["--train", f["train.jsonl"], "--test", f["test.csv"], *FAST]),
        ("gzip CSV", ["--train", f["train.csv.gz"], "--test", f["test.csv"], *FAST]),
        ("zstd TSV", ["--train", f["train.tsv.zst"], "--test", f["test.csv"], *FAST]),
    ]
    expected = [(name, argv, 0 if "run completes" in name else None) for name, argv in refusals]
    return expected + [(name, argv, 0) for name, argv in formats]


def register_demo(registry: Path, work: Path, test_csv: Path) -> str:
    """A small model (TF-IDF + logistic regression on the test rows) registered as ``emotion-demo@champion``."""
    import logging
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from components.io import atomic
    from components.registry.packaging import package_model
    from components.registry.store import open_registry
    from components.text.rules import TextNormaliser

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its notes about pickles and new tables: not the catalogue's
    warnings.filterwarnings("ignore")
    rows = pd.read_csv(test_csv)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300)).fit(rows["text"], rows["label"])
    atomic.dump_joblib(work / "model.joblib", model)
    package = package_model(
        work / "model.joblib",
        work / "package",
        text_rules=TextNormaliser(),
        metadata={"task": "demo", "labels": sorted(set(rows["label"]))},
    )
    store = open_registry(str(registry))
    version = store.register(
        "emotion-demo", package, str(package), tags={}, metrics={}, description="catalogue", image="", evaluation={}
    )
    store.set_champion("emotion-demo", version.version)
    return "emotion-demo@champion"


def registry_variants(registry: Path, folder: Path) -> dict[str, Path]:
    """Copies of the registry: whole, without its files, with a model file changed; and an empty mlflow.db."""
    out = {name: folder / name for name in ("copy", "copy_no_files", "tampered", "empty")}
    for name in ("copy", "copy_no_files", "tampered"):
        shutil.copytree(registry, out[name])
    shutil.rmtree(out["copy_no_files"] / "artifacts")
    changed = next(p for p in sorted((out["tampered"] / "artifacts").rglob("*")) if p.is_file() and p.suffix == ".pkl")
    changed.write_bytes(changed.read_bytes() + b"\n")
    out["empty"].mkdir()
    (out["empty"] / "mlflow.db").touch()
    return out


_OUTPUTS = itertools.count()  # predict's output files, one each


def issue27_cases(files: dict[str, Path], folder: Path, regs: dict[str, Path], url: str) -> list[tuple]:
    """Issue 27's command lines (sub-command first), each with the exit status expected."""
    test, header_only = str(files["test.csv"]), folder / "header_only.csv"
    header_only.write_text("text,label\n", encoding="utf-8")
    model = ["--model", "emotion-demo@champion"]

    def predict(registry: Path | str, source: Path | str = test) -> list[str]:
        return [
            "predict",
            "--registry",
            str(registry),
            *model,
            "--input",
            str(source),
            "--output",
            str(folder / f"p{next(_OUTPUTS)}.csv"),
        ]

    return [
        (
            "27.1 predict --output equal to --input",
            ["predict", "--registry", str(regs["registry"]), *model, "--input", test, "--output", test],
            2,
        ),
        ("27.2 predict, a header-only input", predict(regs["registry"], header_only), 1),
        ("27.4 a second run into a busy --output", ["run", "--output", str(folder / "busy")], 2),
        ("27.6 run, registry connection refused", ["run", "--registry", "http://127.0.0.1:1"], 1),
        ("27.7 predict, password in an unreachable registry", predict("http://user:PW@127.0.0.1:1"), 1),
        ("27.8 predict, a model file changed after registration", predict(regs["tampered"]), 1),
        (
            "27.12 run, http server never answers (default network settings)",
            ["run", "--output", str(folder / "dead"), "--train", url],
            1,
        ),
        ("27.14 predict from a copy of the registry (reads its own files)", predict(regs["copy"]), 0),
        ("27.14 predict from a copy of the registry without its files", predict(regs["copy_no_files"]), 1),
        ("27.14 predict on an empty mlflow.db (nothing written)", predict(regs["empty"]), 2),
        ("27.14 run, postgresql:// registry without its driver", ["run", "--registry", "postgresql://u:PW@h/db"], 1),
        ("27.15 serve --port 70000", ["serve", *model, "--port", "70000"], 2),
    ]


def full_disk_case(folder: Path) -> tuple[str, int, float, str, int]:
    """27.16: ``run`` into an 8 KiB tmpfs (skipped when this machine does not allow the mount)."""
    name, tiny = "27.16 run, --output on a full disk (8 KiB tmpfs)", folder / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(tiny)], capture_output=True, check=False
    )
    if mounted.returncode:
        return name, -1, 0.0, f"skipped: cannot mount a tmpfs ({mounted.stderr.decode().strip()[:100]})", -1
    try:
        status, seconds, message = run_command(
            ["run", "--output", str(tiny / "out"), "--registry", str(folder / "reg16"), *FAST]
        )
        marker = json.loads((tiny / "out" / "run.json").read_text(encoding="utf-8"))["status"]
        return name, status, seconds, f"{message} — run.json: {marker}", 1
    finally:
        subprocess.run(["umount", "-l", str(tiny)], check=False)


def ctrl_c_twice_case(folder: Path, url: str) -> tuple[str, int, float, str, int]:
    """27.16: two SIGINTs 0.2 s apart while a step waits on the network; the clean-up must finish and say so."""
    command = [
        sys.executable,
        "-m",
        "pipelines.cli.main",
        "run",
        "--output",
        str(folder / "ctrlc"),
        "--train",
        url,
        "--set",
        "network_timeout_seconds=300",
    ]
    cli = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marker_path = folder / "ctrlc" / "run.json"
    for _ in range(1200):  # up to 120 s, until a step runs (the fingerprint step then waits on the server)
        if marker_path.is_file() and psutil.Process(cli.pid).children(recursive=True):
            break
        time.sleep(0.1)
    time.sleep(1)
    started = time.perf_counter()
    cli.send_signal(signal.SIGINT)
    time.sleep(0.2)
    if cli.poll() is None:
        cli.send_signal(signal.SIGINT)
    _, err = cli.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    traceback = " (a traceback)" if "Traceback" in err else ""
    marker = json.loads(marker_path.read_text(encoding="utf-8"))["status"] if marker_path.is_file() else "none"
    return (
        "27.16 run, Ctrl-C twice within 0.5 s",
        cli.returncode,
        time.perf_counter() - started,
        f"{lines[-1] if lines else ''}{traceback} — run.json: {marker}",
        130,
    )


def slow_header_case(registry: Path) -> tuple[str, int, float, str, int]:
    """27.9: ``serve``; a raw client on 127.0.0.1 sends half a request line: seconds until the server closes it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "pipelines.cli.main",
        "serve",
        "--registry",
        str(registry),
        "--model",
        "emotion-demo@champion",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):  # up to 120 s to load the model and listen
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET /hea")
            slow.settimeout(120)
            started = time.perf_counter()
            try:
                closed = slow.recv(1024) == b""
            except TimeoutError:
                closed = False
            seconds = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
    message = "server closed the connection (header deadline 30 s)" if closed else "still open after 120 s"
    return "27.9 serve, a client sends half a request line", 0 if closed else 1, seconds, message, 0


def run_command(argv: list[str]) -> tuple[int, float, str]:
    """One CLI command line: exit status, wall seconds, the last line of stderr (``done`` on success)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli.main", *argv], capture_output=True, text=True, timeout=900, check=False
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return done.returncode, time.perf_counter() - started, lines[-1] if done.returncode and lines else "done"


def run(case: list[str], folder: Path, index: int) -> tuple[int, float, str, Path]:
    output = folder / f"out{index}"
    args = case if "--output" in case else ["--output", str(output), *case]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli.main", "run", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    message = lines[-1] if done.returncode else "done"
    return done.returncode, time.perf_counter() - started, message, output


def data_note(output: Path) -> str:
    summary = output / "summary.json"
    if not summary.is_file():
        return ""
    data = json.loads(summary.read_text(encoding="utf-8"))["data"]
    notes = [
        f"multi_label {v['policy']}: {v['rows_before']}→{v['rows_after']} rows"
        for v in data.get("multi_label", {}).values()
    ]
    changed = data["train"].get("changed", {})
    if changed.get("control_characters"):
        notes.append(f"control_characters changed {changed['control_characters']}")
    if data.get("label_case_variants"):
        notes.append(f"label_case_variants {data['label_case_variants']}")
    notes.append(f"{len(data['labels'])} labels, {data['train']['rows_out']} train rows")
    return "; ".join(notes)


def _hold_output(folder: Path) -> subprocess.Popen:
    """A process holding ``folder``'s run lock (as a run in progress does), until killed."""
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom pipelines.run_lock import output_lock\n"
        "with output_lock(Path(sys.argv[1])):\n    print('locked', flush=True)\n    time.sleep(3600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def row(name: str, status: int, seconds: float, message: str, expected: int | None, tmp: str) -> bool:
    """Prints one case; True when its exit status is the expected one (any failure when ``expected`` is None)."""
    ok = status != 0 if expected is None else status == expected
    skipped = status == -1 and expected == -1
    message = message.replace(tmp, "TMP").replace("|", "\\|")
    shown = "skipped" if skipped else "yes" if ok else f"NO (expected {expected if expected is not None else '≠0'})"
    print(f"| {name} | {status} | {seconds:.1f} | {shown} | {message[:400]} |", flush=True)
    return ok or skipped


def issue27(files: dict[str, Path], folder: Path, url: str, tmp: str) -> list[bool]:
    """Issue 27's cases, one row each."""
    regs = {"registry": folder / "reg27"}
    (folder / "reg27_work").mkdir()
    register_demo(regs["registry"], folder / "reg27_work", files["test.csv"])
    regs |= registry_variants(regs["registry"], folder)
    results, holder = [], _hold_output(folder / "busy")
    try:
        for name, argv, expected in issue27_cases(files, folder, regs, url):
            results.append(row(name, *run_command(argv), expected, tmp))
    finally:
        holder.kill()
        holder.wait()
    for case in (slow_header_case(regs["registry"]), full_disk_case(folder), ctrl_c_twice_case(folder, url)):
        results.append(row(*case, tmp))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="refusals only (no whole-pipeline run)")
    parser.add_argument("--formats", action="store_true", help="the whole-pipeline cases only")
    parser.add_argument("--issue27", action="store_true", help="issue 27's cases only")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"real data not found at {SHARED}")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files, url = make_files(folder), silent_server()
        print("| case | exit | seconds | as expected | message (last line, abridged) |\n|---|---:|---:|---|---|")
        results = [] if args.formats else issue27(files, folder, url, tmp)
        if not args.issue27:
            for index, (name, case, expected) in enumerate(cases(files, url, None if args.formats else args.quick)):
                status, seconds, message, output = run(case, folder, index)
                note = data_note(output)
                results.append(row(name, status, seconds, message + (" — " + note if note else ""), expected, tmp))
        print(f"\n{sum(results)} of {len(results)} cases as expected")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
