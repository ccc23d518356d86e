"""The reliability catalogue of issue 18 through the real CLI: each case's exit status, time to fail and message.

Every case runs ``emotion-pipeline`` as a separate process in a temporary folder (its input files made there; the
GoEmotions-style TSV from rows of ``../shared/data/dair_ai_emotion`` when present, never copied into the repo) and
prints one Markdown row: case, exit status, wall seconds, the message's last line (abridged). Cases that run the
whole pipeline (the formats) take about a minute each; ``--quick`` skips them.

Examples:
    python benchmarks/reliability.py --quick     # refusals only, about 2 minutes
    python benchmarks/reliability.py             # and the formats, end to end
"""

from __future__ import annotations

import argparse
import gzip
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
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
        path.write_text("".join(f"{t}\t{IDS[y]}{',27' if i % 10 == 0 else ''}\tee{i}\n"
                                for i, (t, y) in enumerate(rows)), encoding="utf-8")  # fmt: skip
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
    files["nul.csv"].write_text("text,label\n" + "".join(f"{t.replace('e', chr(0), 1)},{y}\n" for t, y in train),
                                encoding="utf-8")  # fmt: skip
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
    threading.Thread(target=lambda: [server.accept() for _ in iter(int, 1)], daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/train.csv"


def cases(files: dict[str, Path], url: str, quick: bool | None) -> list[tuple[str, list[str]]]:
    f = {name: str(path) for name, path in files.items()}
    refusals = [
        ("1 http server never answers (timeout 5 s, 1 retry)",
         ["--train", url, "--set", "network_timeout_seconds=5", "--set", "network_retries=1"]),
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
    ]  # fmt: skip
    if quick:
        return refusals
    if quick is None:  # --formats: the whole-pipeline cases only
        refusals = []
    formats = [
        ("5 labels differing in case (warned, run completes)", ["--train", f["case.csv"], *FAST,
                                                                "--set", "unseen_test_labels=drop"]),
        ("11 HTML in texts (escaped, run completes)", ["--train", f["html.csv"], "--test", f["test.csv"], *FAST]),
        ("GoEmotions-style TSV, --multi-label first", ["--train", f["goemotions_train.tsv"], "--test",
                                                       f["goemotions_val.tsv"], "--multi-label", "first", *FAST,
                                                       "--set", "unseen_test_labels=drop"]),
        ("GoEmotions-style TSV, --multi-label explode", ["--train", f["goemotions_train.tsv"], "--test",
                                                         f["goemotions_val.tsv"], "--multi-label", "explode", *FAST,
                                                         "--set", "unseen_test_labels=drop",
                                                         "--set", "conflict_policy=keep"]),
        ("Parquet", ["--train", f["train.parquet"], "--test", f["test.csv"], *FAST]),
        ("JSON Lines", ["--train", f["train.jsonl"], "--test", f["test.csv"], *FAST]),
        ("gzip CSV", ["--train", f["train.csv.gz"], "--test", f["test.csv"], *FAST]),
        ("zstd TSV", ["--train", f["train.tsv.zst"], "--test", f["test.csv"], *FAST]),
    ]  # fmt: skip
    return refusals + formats


def issue27_cases(files: dict[str, Path], folder: Path) -> list[tuple[str, list[str]]]:
    """Issue 27's refusals: full command lines (sub-command first), each expected to fail fast in one line."""
    test = str(files["test.csv"])
    model = ["--model", "emotion-demo@champion"]
    return [
        ("27.1 predict --output equal to --input",
         ["predict", "--registry", str(folder / "reg"), *model, "--input", test, "--output", test]),
        ("27.4 a second run into a busy --output", ["run", "--output", str(folder / "busy")]),
        ("27.6 run, registry connection refused", ["run", "--registry", "http://127.0.0.1:1"]),
        ("27.7 predict, password in an unreachable registry",
         ["predict", "--registry", "http://user:PW@127.0.0.1:1", *model, "--input", test, "--output",
          str(folder / "p.csv")]),
        ("27.14 run, postgresql:// registry without its driver", ["run", "--registry", "postgresql://u:PW@h/db"]),
        ("27.15 serve --port 70000", ["serve", *model, "--port", "70000"]),
    ]  # fmt: skip


def run_command(argv: list[str]) -> tuple[int, float, str]:
    """One CLI command line: exit status, wall seconds, the last line of stderr (``done`` on success)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli.main", *argv], capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return done.returncode, time.perf_counter() - started, lines[-1] if done.returncode and lines else "done"


def run(case: list[str], folder: Path, index: int) -> tuple[int, float, str, Path]:
    output = folder / f"out{index}"
    args = case if "--output" in case else ["--output", str(output), *case]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli.main", "run", *args], capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    message = lines[-1] if done.returncode else "done"
    return done.returncode, time.perf_counter() - started, message, output


def data_note(output: Path) -> str:
    summary = output / "summary.json"
    if not summary.is_file():
        return ""
    data = json.loads(summary.read_text(encoding="utf-8"))["data"]
    notes = [f"multi_label {v['policy']}: {v['rows_before']}→{v['rows_after']} rows" for v in
             data.get("multi_label", {}).values()]  # fmt: skip
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="refusals only (no whole-pipeline run)")
    parser.add_argument("--formats", action="store_true", help="the whole-pipeline cases only")
    parser.add_argument("--issue27", action="store_true", help="issue 27's refusals only (seconds)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"real data not found at {SHARED}")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files, url = make_files(folder), silent_server()
        print("| case | exit | seconds | message (last line, abridged) |\n|---|---:|---:|---|")
        holder = _hold_output(folder / "busy")
        try:
            for name, argv in issue27_cases(files, folder):
                status, seconds, message = run_command(argv)
                message = message.replace(tmp, "TMP").replace("|", "\\|")
                print(f"| {name} | {status} | {seconds:.1f} | {message[:400]} |", flush=True)
        finally:
            holder.kill()
            holder.wait()
        if args.issue27:
            return
        for index, (name, case) in enumerate(cases(files, url, None if args.formats else args.quick)):
            status, seconds, message, output = run(case, folder, index)
            message = message.replace(tmp, "TMP").replace("|", "\\|")
            note = data_note(output)
            print(f"| {name} | {status} | {seconds:.1f} | {message[:400]}{' — ' + note if note else ''} |", flush=True)


if __name__ == "__main__":
    main()
