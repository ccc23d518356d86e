"""Benchmark: ``emotion-pipeline serve`` against a bare FastAPI app serving the same registered version, on loopback.

Modes, each its own server process on 127.0.0.1 (a free port), measured one after the other in the same run:

* ``trivial``: a raw ASGI app answering a fixed JSON body: what the client side alone can do (its ceiling).
* ``bare``: FastAPI with one route, ``predict_texts`` of the same registered version (loaded the same way,
  ``load_version``) then JSON, on uvicorn with its defaults: the floor for a server of this model.
* ``server``: ``emotion-pipeline serve`` (small requests of a fast model predicted on the event loop).
* ``server-pool``: the same with ``--inline-ms 0`` (every predict through the thread pool).
* ``server+shadow``: ``serve --shadow REF --shadow-log FILE`` (only with ``--shadow``).
* ``server-2-workers``: ``serve --workers 2`` (only when named in ``--modes``).

All servers run at once; each gets a warm-up, then each client count is measured in ``--rounds`` rounds of one
burst per mode in turn (so a shared machine's changing load weighs on every mode alike), in all at most
``--requests`` requests or ``--seconds`` seconds per mode and client count, one text per request from the shipped
demo sentences; with 1 client, each request goes to the next mode's server in turn. The clients are threads with
kept-alive ``http.client`` connections, spread over up to ``--client-processes`` processes so the client is not what
saturates (the ``trivial`` rows say how far it goes). Prints a table (p50/p99 latency in ms, client side, successful
requests only; requests/s) and the server's overhead over the bare app at p50 with 1 client, and the shadow's
addition to the server's p50. Only loopback is ever a target.

Example:
    python benchmarks/serve.py --registry /work/runs/demo-reg --model emotion-demo@champion --shadow emotion-demo/2
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "pipelines" / "data" / "demo_emotions.csv"
HOST = "127.0.0.1"
MODES = ("trivial", "bare", "server", "server-pool", "server+shadow", "server-2-workers")
#: The modes measured unless --modes says otherwise.
DEFAULT_MODES = MODES[:-1]
WARMUP_REQUESTS = 50
JSON = {"content-type": "application/json"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", default="emotion-pipeline-registry", help="registry folder or URI")
    parser.add_argument("--model", default="emotion-demo@champion", help="NAME@ALIAS or NAME/VERSION")
    parser.add_argument("--shadow", default="", metavar="REF", help="a challenger: adds the server+shadow mode")
    parser.add_argument(
        "--modes",
        default=",".join(DEFAULT_MODES),
        help=f"comma-separated, of {', '.join(MODES)} (server+shadow: --shadow)",
    )
    parser.add_argument("--concurrency", default="1,8", help="comma-separated client counts")
    parser.add_argument("--requests", type=int, default=2000, help="most requests per mode and client count")
    parser.add_argument("--seconds", type=float, default=15.0, help="most seconds per mode and client count")
    parser.add_argument("--rounds", type=int, default=5, help="bursts per mode and client count, modes in turn")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one request may take")
    parser.add_argument("--client-processes", type=int, default=4, help="most client processes")
    parser.add_argument("--startup-seconds", type=float, default=180.0, help="most seconds to wait for a server")
    parser.add_argument("--role", default="", help=argparse.SUPPRESS)  # internal: run the trivial or bare server
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _wait_healthy(server: subprocess.Popen, port: int, startup_seconds: float) -> subprocess.Popen:
    deadline = time.monotonic() + startup_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}): {server.stderr.read()[-2000:]}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=1)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.25)
    server.kill()
    raise RuntimeError(f"the server did not answer on {HOST}:{port} within {startup_seconds} s")


def start_server(registry: str, model: str, port: int, startup_seconds: float, extra: list[str] | None = None):
    """``emotion-pipeline serve`` on 127.0.0.1:port (with ``extra`` options), returned once its health route answers."""
    command = [sys.executable, "-m", "pipelines.cli.main", "serve", "--registry", registry, "--model", model]
    command += ["--host", HOST, "--port", str(port), *(extra or [])]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return _wait_healthy(server, port, startup_seconds)


def start_reference(role: str, registry: str, model: str, port: int, startup_seconds: float) -> subprocess.Popen:
    """This script as the ``trivial`` or ``bare`` server on 127.0.0.1:port."""
    command = [sys.executable, __file__, "--role", role, "--registry", registry, "--model", model, "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return _wait_healthy(server, port, startup_seconds)


def trivial_app() -> Any:
    """A raw ASGI app: every request read, then answered with a fixed JSON body."""
    body = json.dumps({"predictions": [{"label": "joy", "scores": {"joy": 1.0}}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def bare_app(registry: str, model: str) -> Any:
    """FastAPI, one route: the registered version's ``predict_texts``, then JSON (no checks, limits or routing)."""
    from fastapi import FastAPI, Request

    from components.registry.store import ModelRef, load_version, open_registry

    loaded, _, _ = load_version(open_registry(registry, read_only=True), ModelRef.parse(model))
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.post("/predict")  # no `from __future__ import annotations` here: FastAPI reads Request at definition
    async def predict(request: Request) -> dict:
        texts = [i["text"] if isinstance(i, dict) else i for i in (await request.json())["instances"]]
        return {"predictions": loaded.predict_texts(texts).rows()}

    return app


def run_reference(role: str, registry: str, model: str, port: int) -> int:
    import uvicorn

    app = trivial_app() if role == "trivial" else bare_app(registry, model)
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)
    return 0


def _client_process(port: int, bodies: list[bytes], clients: int, requests: int, seconds: float, timeout: float):
    """``clients`` threads, each with one kept-alive connection, sharing ``requests`` and ``seconds``."""
    latencies: list[float] = []
    counts = {"sent": 0, "errors": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
        while time.monotonic() < deadline:
            with lock:
                if counts["sent"] >= requests:
                    return
                number = counts["sent"]
                counts["sent"] += 1
            began = time.perf_counter()
            try:
                connection.request(
                    "POST", "/predict", bodies[number % len(bodies)], {"content-type": "application/json"}
                )
                answer = connection.getresponse()
                ok = answer.status == 200 and bool(answer.read())
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    counts["errors"] += 1
        connection.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, counts["errors"], time.perf_counter() - began


def load_level(
    port: int, bodies: list[bytes], clients: int, requests: int, seconds: float, timeout: float, processes: int
) -> tuple[list[float], int, float]:
    """One burst at one client count, the clients spread over up to ``processes`` processes (whole clients each).

    Returns:
        The successful requests' latencies (ms), the failed requests, the wall time (s).
    """
    processes = max(1, min(processes, clients))
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    budgets = [requests * share // clients + (i == 0) * (requests % clients) for i, share in enumerate(shares)]
    with ProcessPoolExecutor(processes) as pool:
        runs = list(
            pool.map(
                _client_process,
                [port] * processes,
                [bodies] * processes,
                shares,
                budgets,
                [seconds] * processes,
                [timeout] * processes,
            )
        )
    return [x for run in runs for x in run[0]], sum(run[1] for run in runs), max(run[2] for run in runs)


def row(mode: str, clients: int, latencies: list[float], errors: int, wall: float) -> dict[str, Any]:
    ok = np.array(latencies) if latencies else np.array([float("nan")])
    return {
        "mode": mode,
        "clients": clients,
        "requests": len(latencies) + errors,
        "errors": errors,
        "p50_ms": float(np.percentile(ok, 50)),
        "p99_ms": float(np.percentile(ok, 99)),
        "requests_per_second": len(latencies) / wall if wall else 0.0,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| mode | clients | requests | errors | p50 ms | p99 ms | requests/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['mode']} | {r['clients']} | {r['requests']} | {r['errors']} | {r['p50_ms']:.2f} | "
        f"{r['p99_ms']:.2f} | {r['requests_per_second']:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def start_mode(mode: str, args: argparse.Namespace, port: int, log: Path) -> subprocess.Popen:
    if mode in ("trivial", "bare"):
        return start_reference(mode, args.registry, args.model, port, args.startup_seconds)
    extra = {
        "server": [],
        "server-pool": ["--inline-ms", "0"],
        "server+shadow": ["--shadow", args.shadow, "--shadow-log", str(log)],
        "server-2-workers": ["--workers", "2"],
    }[mode]
    return start_server(args.registry, args.model, port, args.startup_seconds, extra)


def interleaved(ports: dict[str, int], bodies: list[bytes], requests: int, seconds: float, timeout: float):
    """One client sending each request to the next mode's server in turn: every mode's latencies are taken under
    the same load of the (shared) machine, request by request.

    Returns:
        Per mode: the successful requests' latencies (ms), the failed requests, the wall time (s) of its requests.
    """
    connections = {mode: http.client.HTTPConnection(HOST, port, timeout=timeout) for mode, port in ports.items()}
    latencies: dict[str, list[float]] = {mode: [] for mode in ports}
    errors = dict.fromkeys(ports, 0)
    walls = dict.fromkeys(ports, 0.0)
    deadline = time.monotonic() + seconds * len(ports)
    for number in range(requests * len(ports)):
        if time.monotonic() > deadline:
            break
        mode = list(ports)[number % len(ports)]
        began = time.perf_counter()
        try:
            connections[mode].request("POST", "/predict", bodies[number % len(bodies)], JSON)
            answer = connections[mode].getresponse()
            ok = answer.status == 200 and bool(answer.read())
        except (OSError, http.client.HTTPException):
            ok = False
            connections[mode].close()
        elapsed = time.perf_counter() - began
        walls[mode] += elapsed
        if ok:
            latencies[mode].append(elapsed * 1000)
        else:
            errors[mode] += 1
    for connection in connections.values():
        connection.close()
    return {mode: (latencies[mode], errors[mode], walls[mode]) for mode in ports}


def measure(modes: list[str], args: argparse.Namespace, bodies: list[bytes], log: Path) -> list[dict[str, Any]]:
    """Every mode's server started and warmed up; 1 client: requests to each mode in turn (:func:`interleaved`);
    more clients: ``--rounds`` rounds of one burst per mode in turn (a shared machine's load then weighs on every
    mode alike); then the servers stopped."""
    ports: dict[str, int] = {}
    servers = []
    try:
        for mode in modes:
            ports[mode] = free_port()
            servers.append(start_mode(mode, args, ports[mode], log))
            load_level(ports[mode], bodies, 1, WARMUP_REQUESTS, args.seconds, args.timeout, 1)
        rows = []
        for clients in (int(c) for c in args.concurrency.split(",")):
            if clients == 1:
                runs = interleaved(ports, bodies, args.requests, args.seconds, args.timeout)
                rows += [row(mode, clients, *runs[mode]) for mode in modes]
                continue
            runs = {mode: ([], 0, 0.0) for mode in modes}
            burst, seconds = max(1, args.requests // args.rounds), args.seconds / args.rounds
            for _ in range(args.rounds):
                for mode in modes:
                    got = load_level(ports[mode], bodies, clients, burst, seconds, args.timeout, args.client_processes)
                    runs[mode] = (runs[mode][0] + got[0], runs[mode][1] + got[1], runs[mode][2] + got[2])
            rows += [row(mode, clients, *runs[mode]) for mode in modes]
        return rows
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """The server's overhead over the bare app at p50 (1 client) and the shadow's addition to the server's p50."""
    one = {r["mode"]: r for r in rows if r["clients"] == 1}
    lines = []
    if "bare" in one and "server" in one:
        overhead = one["server"]["p50_ms"] - one["bare"]["p50_ms"]
        lines.append(f"server overhead over the bare app, p50 at 1 client: {overhead:+.2f} ms (target <= 2 ms)")
    if "server" in one and "server+shadow" in one:
        added = one["server+shadow"]["p50_ms"] / one["server"]["p50_ms"] - 1
        lines.append(f"shadow's addition to the server's p50 at 1 client: {added:+.1%} (target <= 10 %)")
    return lines


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    args = build_parser().parse_args(argv)
    if args.role:
        return run_reference(args.role, args.registry, args.model, args.port)
    modes = [m for m in args.modes.split(",") if m in MODES and (m != "server+shadow" or args.shadow)]
    texts = pd.read_csv(DEMO)["text"].astype(str).tolist()
    bodies = [json.dumps({"instances": [{"text": t}]}).encode() for t in texts]
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as folder:
        rows = measure(modes, args, bodies, Path(folder) / "shadow.jsonl")
    print(
        f"emotion-pipeline serve {args.model} ({args.registry}), one text a request, loopback {HOST}, "
        f"{os.cpu_count()} CPUs, clients in up to {args.client_processes} processes"
    )
    print(table(rows))
    for line in summary(rows):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
