"""Two registered versions behind one server: which one answers a request, the challenger's shadow predictions
off the response path, and the JSON Lines log of both (issue 25).

Modes (:class:`Routing`):

* ``single``: the champion answers every request; nothing is logged.
* ``canary``: each request is answered by the challenger with probability ``percent`` / 100, drawn per request
  from ``random.Random(seed)`` (the same seed gives the same sequence of draws; with several uvicorn workers each
  worker draws its own sequence from the same seed); the side that answered is logged when a log is given.
* ``shadow``: the champion answers every request; the challenger predicts the same texts after the answer is sent,
  in one background process fed by a bounded queue (:class:`ShadowQueue`), so its time is never added to an
  answer. When the queue is full the shadow prediction is dropped and counted (the health route reports it), never
  waited for.

The log (:class:`PredictionLog`) has one JSON record per instance (the schema: :func:`log_records`), written per
request in one ``write`` to a file opened for appending, so the records of several workers' requests do not
interleave. Texts are logged as their SHA-256 unless ``log_texts`` is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import queue
import random
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MODES = ("single", "canary", "shadow")
#: The canary's draws when no --seed is given (a fixed default: the same run, the same split).
DEFAULT_SEED = 25
#: Requests waiting for the challenger in shadow mode (or for the log in canary mode); more are dropped, counted.
SHADOW_QUEUE_SIZE = 1024
#: A request of at most this many instances is predicted on the event loop itself when the version's recent such
#: requests took under INLINE_MS (a sub-millisecond predict is cheaper there than a hop to the thread pool and
#: back); others in the thread pool, where a slower predict lets the loop read the next requests meanwhile
#: (benchmarks/serve.py measures both: ``server`` and ``server-pool``).
INLINE_INSTANCES = 16
INLINE_MS = 1.0
#: The shadow process's niceness (19, the lowest priority): on a busy machine it yields the CPU to the server's
#: answers; when it falls behind its queue fills and drops, counted (the health route's ``background.dropped``).
SHADOW_NICENESS = 19
#: How often an idle shadow process checks that its server still runs (it ends when the server was killed).
ORPHAN_CHECK_SECONDS = 2.0
#: Longest wait, when the server stops, for the queued shadow predictions and log records to be written.
DRAIN_SECONDS = 30.0
LOG = logging.getLogger("emotion-pipeline.serve")


@dataclass(frozen=True)
class ServedVersion:
    """A loaded registered version: the reference as given (``NAME@ALIAS`` or ``NAME/VERSION``), what it resolved
    to, and the model (``predict_texts``, optionally ``explain_texts``)."""

    ref: str
    name: str
    version: str
    model: Any = field(repr=False, compare=False)

    def describe(self) -> dict[str, str]:
        """``{"ref": …, "version": …}`` for the health route and the log."""
        return {"ref": self.ref, "version": self.version}


@dataclass(frozen=True)
class Routing:
    """How requests are shared between the champion and a challenger.

    Attributes:
        mode: One of :data:`MODES`.
        percent: ``canary``: the share of requests the challenger answers, 0 to 100.
        seed: ``canary``: the seed of the per-request draws.
        log_texts: Log each instance's text beside its hash.
    """

    mode: str = "single"
    percent: float = 0.0
    seed: int = DEFAULT_SEED
    log_texts: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if not 0 <= self.percent <= 100:
            raise ValueError(f"canary percent {self.percent:g}: expected 0 to 100")


class PredictionLog:
    """JSON Lines appended to a file, one ``write`` per request (flushed: the OS has it when ``write`` returns)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Appends ``records``, one line each, in one write."""
        data = memoryview("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
        with self._lock:
            while data:  # a regular file takes it whole; a pipe may not
                data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


@dataclass(frozen=True)
class AnsweredRequest:
    """What the response path hands to the background: the request, who answered and with what."""

    request_id: str
    time: str
    texts: list[str]
    answered_by: str
    rows: list[dict[str, Any]]


def utc_now() -> str:
    """The current time, ISO-8601 UTC with microseconds (``2026-12-06T15:04:05.123456+00:00``)."""
    return datetime.now(UTC).isoformat()


def _side(served: ServedVersion, row: Mapping[str, Any] | None, error: str = "") -> dict[str, Any]:
    if error:
        return {**served.describe(), "error": error}
    assert row is not None
    return {**served.describe(), "label": row["label"], "scores": row["scores"]}


def log_records(
    answered: AnsweredRequest,
    mode: str,
    champion: ServedVersion,
    challenger: ServedVersion,
    challenger_rows: Sequence[Mapping[str, Any]] | None = None,
    challenger_error: str = "",
    log_texts: bool = False,
) -> list[dict[str, Any]]:
    """The log's records of one request, one per instance::

        {"time", "request_id", "instance", "mode", "model", "text_sha256", ["text"], "answered_by",
         "champion": {"ref", "version", "label", "scores"} | null,
         "challenger": {"ref", "version", "label", "scores"} | {"ref", "version", "error"} | null}

    In shadow mode both sides are there (the challenger's from ``challenger_rows``, or its ``challenger_error``);
    in canary mode only the side that answered.
    """
    records = []
    for i, text in enumerate(answered.texts):
        record: dict[str, Any] = {
            "time": answered.time,
            "request_id": answered.request_id,
            "instance": i,
            "mode": mode,
            "model": champion.name,
            "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }
        if log_texts:
            record["text"] = text
        record["answered_by"] = answered.answered_by
        by_champion = answered.answered_by == "champion"
        record["champion"] = _side(champion, answered.rows[i]) if by_champion else None
        if mode == "shadow":
            row = challenger_rows[i] if challenger_rows is not None else None
            record["challenger"] = _side(challenger, row, challenger_error)
        else:
            record["challenger"] = None if by_champion else _side(challenger, answered.rows[i])
        records.append(record)
    return records


def one_line(err: BaseException) -> str:
    """``Type: message`` on one line, at most 300 characters."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}"[:300] if text else type(err).__name__


class ShadowQueue:
    """A background process working through a bounded queue of jobs; a job offered to a full queue is dropped and
    counted, never waited for.

    The process is forked from the server when the queue is made, so it holds the models already loaded (the
    challenger among them) and the open log: the challenger's predictions run on another core and never hold the
    server's GIL (a thread did: its predictions slowed the champion's answers), at the lowest CPU priority
    (:data:`SHADOW_NICENESS`). Only the job (texts and the answered rows) crosses over, pickled by the queue's
    feeder thread.
    """

    def __init__(self, work: Callable[[AnsweredRequest], None], size: int = SHADOW_QUEUE_SIZE) -> None:
        context = multiprocessing.get_context("fork")
        self._jobs = context.Queue(maxsize=size)
        self._lock = threading.Lock()
        self.counts = {"queued": 0, "dropped": 0}
        self._finished = {key: context.Value("q", 0) for key in ("done", "failed")}
        self._process = context.Process(
            target=_work_through, args=(self._jobs, work, self._finished), name="emotion-pipeline-shadow", daemon=True
        )
        self._process.start()

    def offer(self, job: AnsweredRequest) -> bool:
        """Queues ``job``; False (and counted as dropped) when the queue is full."""
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self._count("dropped")
            return False
        self._count("queued")
        return True

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def close(self, timeout: float = DRAIN_SECONDS) -> None:
        """Lets the queued jobs finish (at most ``timeout`` seconds), then stops the process."""
        if self._process.is_alive():
            with contextlib.suppress(queue.Full):
                self._jobs.put(None, timeout=timeout)
            self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout)
        self._jobs.close()

    def snapshot(self) -> dict[str, int]:
        """How many jobs were queued, dropped, done, failed, and how many wait."""
        with self._lock:
            counts = dict(self.counts)
        finished = {key: value.value for key, value in self._finished.items()}
        return {**counts, **finished, "waiting": max(0, counts["queued"] - sum(finished.values()))}


def _work_through(jobs: Any, work: Callable[[AnsweredRequest], None], finished: Mapping[str, Any]) -> None:
    """The background process: each job until ``None``; a failure is logged and counted, the next job goes on."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then drains this queue
    os.nice(SHADOW_NICENESS)
    server = os.getppid()
    while True:
        try:
            job = jobs.get(timeout=ORPHAN_CHECK_SECONDS)
        except queue.Empty:
            if os.getppid() != server:  # the server was killed: nothing more will come
                return
            continue
        if job is None:
            return
        key = "done"
        try:
            work(job)
        except Exception:  # a log that cannot be written: counted and logged, the server goes on
            LOG.exception("shadow work failed for request %s", job.request_id)
            key = "failed"
        with finished[key].get_lock():
            finished[key].value += 1


class InlinePolicy:
    """Whether a request is predicted on the event loop: a small request (:data:`INLINE_INSTANCES` or fewer) of a
    version whose recent small requests took under ``limit_ms`` on average (exponentially weighted); 0 ms: never.

    Args:
        limit_ms: The average predict time below which small requests stay on the event loop.
        weight: The weight of the latest time in the average.
    """

    def __init__(self, limit_ms: float = INLINE_MS, weight: float = 0.1) -> None:
        self.limit_ms, self.weight = limit_ms, weight
        self._recent: dict[str, float] = {}

    def inline(self, side: str, instances: int) -> bool:
        """True: predict ``side``'s request of ``instances`` texts on the event loop."""
        return instances <= INLINE_INSTANCES and self._recent.get(side, 0.0) < self.limit_ms

    def record(self, side: str, instances: int, ms: float) -> None:
        """How long ``side``'s request of ``instances`` texts took (wherever it ran)."""
        if instances <= INLINE_INSTANCES:
            before = self._recent.get(side)
            self._recent[side] = ms if before is None else before + self.weight * (ms - before)


class Deployment:
    """The champion, an optional challenger, how requests are routed between them, and the log.

    Args:
        champion: The version that answers (every request unless ``canary``).
        challenger: The other version (required by ``canary`` and ``shadow``).
        routing: The mode and its settings.
        log: Where the records go (required by ``shadow``; optional for ``canary``).
        queue_size: :class:`ShadowQueue`'s size.
    """

    def __init__(
        self,
        champion: ServedVersion,
        challenger: ServedVersion | None = None,
        routing: Routing | None = None,
        log: PredictionLog | None = None,
        queue_size: int = SHADOW_QUEUE_SIZE,
    ) -> None:
        self.champion, self.challenger, self.routing, self.log = champion, challenger, routing or Routing(), log
        if self.routing.mode != "single" and challenger is None:
            raise ValueError(f"{self.routing.mode} mode needs a challenger")
        if self.routing.mode == "shadow" and log is None:
            raise ValueError("shadow mode needs a log (nothing would be recorded)")
        self._draws = random.Random(self.routing.seed)
        needs_queue = self.routing.mode == "shadow" or (self.routing.mode == "canary" and log is not None)
        self.background = ShadowQueue(self._after, queue_size) if needs_queue else None

    def pick(self) -> tuple[str, ServedVersion]:
        """Who answers the next request: ``("champion", …)`` or ``("challenger", …)`` (one draw in canary mode)."""
        if self.routing.mode == "canary" and self._draws.random() * 100 < self.routing.percent:
            assert self.challenger is not None
            return "challenger", self.challenger
        return "champion", self.champion

    def answered(self, answered: AnsweredRequest) -> None:
        """Hands an answered request to the background (shadow prediction, log); returns at once."""
        if self.background is not None:
            self.background.offer(answered)

    def _after(self, answered: AnsweredRequest) -> None:
        """Background: the challenger's shadow prediction (shadow mode), then the request's records."""
        assert self.challenger is not None and self.log is not None
        rows, error = None, ""
        if self.routing.mode == "shadow":
            try:
                rows = self.challenger.model.predict_texts(answered.texts).rows()
            except Exception as err:  # recorded in the log: the champion's answer is not affected
                error = one_line(err)
        records = log_records(
            answered, self.routing.mode, self.champion, self.challenger, rows, error, self.routing.log_texts
        )
        self.log.write(records)

    def health(self) -> dict[str, Any]:
        """What the health route reports: the mode, both versions, the canary share, the background's counts."""
        report: dict[str, Any] = {
            "mode": self.routing.mode,
            "champion": self.champion.describe(),
            "challenger": self.challenger.describe() if self.challenger else None,
        }
        if self.routing.mode == "canary":
            report["canary_percent"] = self.routing.percent
        if self.background is not None:
            report["background"] = self.background.snapshot()
        if self.log is not None:
            report["log"] = str(self.log.path)
        return report

    def close(self, timeout: float = DRAIN_SECONDS) -> None:
        """Writes what is queued (at most ``timeout`` seconds), then closes the log."""
        if self.background is not None:
            self.background.close(timeout)
        if self.log is not None:
            self.log.close()
