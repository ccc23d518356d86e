"""Benchmark: latency and throughput of ``emotion-pipeline serve`` on loopback, at 1, 8 and 32 concurrent clients.

Starts the server for a registered model on 127.0.0.1 (a free port), waits for its health route, then for each
concurrency level sends at most ``--requests`` requests or for at most ``--seconds`` seconds, whichever ends
first (every request has a ``--timeout``), one text per request from the shipped demo sentences, each client
reusing its connection. Prints p50/p99 latency (ms, client side, successful requests) and requests per second,
then stops the server. Only loopback is ever a target.

Example:
    python benchmarks/serve.py --registry emotion-pipeline-registry --model emotion-demo@champion
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "pipelines" / "data" / "demo_emotions.csv"
HOST = "127.0.0.1"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", default="emotion-pipeline-registry", help="registry folder or URI")
    parser.add_argument("--model", default="emotion-demo@champion", help="NAME@ALIAS or NAME/VERSION")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated client counts")
    parser.add_argument("--requests", type=int, default=400, help="most requests per level")
    parser.add_argument("--seconds", type=float, default=30.0, help="most seconds per level")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one request may take")
    parser.add_argument("--startup-seconds", type=float, default=180.0, help="most seconds to wait for the server")
    return parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(registry: str, model: str, port: int, startup_seconds: float) -> subprocess.Popen:
    """``emotion-pipeline serve`` on 127.0.0.1:port, returned once its health route answers."""
    import httpx

    command = [sys.executable, "-m", "pipelines.cli.main", "serve", "--registry", registry, "--model", model,
               "--host", HOST, "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + startup_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}): {server.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://{HOST}:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.25)
    server.kill()
    raise RuntimeError(f"the server did not answer on {HOST}:{port} within {startup_seconds} s")


def load_level(url: str, texts: list[str], clients: int, requests: int, seconds: float, timeout: float) -> dict:
    """One concurrency level: ``clients`` threads share a budget of ``requests`` requests and ``seconds``."""
    import httpx

    latencies: list[float] = []
    errors = [0]
    sent = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=timeout) as session:
            while time.monotonic() < deadline:
                with lock:
                    if sent[0] >= requests:
                        return
                    number = sent[0]
                    sent[0] += 1
                body = {"instances": [{"text": texts[number % len(texts)]}]}
                began = time.perf_counter()
                try:
                    ok = session.post(url, json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        errors[0] += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    ok = np.array(latencies) if latencies else np.array([float("nan")])
    return {"clients": clients, "requests": len(latencies) + errors[0], "errors": errors[0],
            "p50_ms": float(np.percentile(ok, 50)), "p99_ms": float(np.percentile(ok, 99)),
            "requests_per_second": len(latencies) / wall}  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| clients | requests | errors | p50 ms | p99 ms | requests/s |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['requests_per_second']:.0f} |" for r in rows]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    args = build_parser().parse_args(argv)
    texts = pd.read_csv(DEMO)["text"].astype(str).tolist()
    port = free_port()
    server = start_server(args.registry, args.model, port, args.startup_seconds)
    try:
        url = f"http://{HOST}:{port}/predict"
        rows = [load_level(url, texts, int(c), args.requests, args.seconds, args.timeout)
                for c in args.concurrency.split(",")]  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"emotion-pipeline serve {args.model} ({args.registry}), one text a request, loopback {HOST}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
