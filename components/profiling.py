"""Resource profiling of one pipeline step: wall time, CPU time and peak memory of the process tree.

PyCaret and joblib start worker processes, so the parent's ``ru_maxrss`` alone under-counts memory.
:class:`StepProfiler` samples the resident set size (RSS) of the current process and all its
descendants with psutil in a background thread; the peak is the largest *sum* seen in one sample.
Its error: a peak shorter than the sampling interval can be missed, so the figure is a lower bound
(the parent's own ``ru_maxrss`` is folded in as a floor). CPU time is read exactly from the OS:
user + system of this process, of its reaped children, and of live descendants at the last sample.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024
DEFAULT_INTERVAL_SECONDS = 0.05


@dataclass
class StepProfile:
    """What one step cost.

    Attributes:
        step: Step name (``ingest`` … ``evaluate``).
        wall_seconds: Elapsed time.
        cpu_seconds: User + system CPU time of the process tree.
        peak_memory_mb: Largest summed RSS of the process tree seen by the sampler.
        mean_cpu_percent: CPU time over wall time, in percent of one core.
        peak_cpu_percent: Largest CPU utilisation between two samples, percent of one core.
        read_mb: Bytes read by the process (storage layer), where the OS reports it.
        written_mb: Bytes written by the process, where the OS reports it.
        sample_interval_seconds: The sampler's period (the error bound of the peak figures).
        samples: Number of samples taken.
        cpu_count: Logical CPUs of the machine, so figures can be compared across machines.
        extra: Step-specific facts (rows, model size, …).
    """

    step: str
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    mean_cpu_percent: float = 0.0
    peak_cpu_percent: float = 0.0
    read_mb: float = 0.0
    written_mb: float = 0.0
    sample_interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    samples: int = 0
    cpu_count: int = field(default_factory=lambda: os.cpu_count() or 1)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def _tree_rss_and_cpu(root: psutil.Process) -> tuple[int, dict[int, float]]:
    rss = 0
    cpu: dict[int, float] = {}
    for proc in _tree(root):
        try:
            with proc.oneshot():
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu[proc.pid] = times.user + times.system
        except psutil.Error:  # a worker may exit between listing and reading
            continue
    return rss, cpu


class StepProfiler:
    """Context manager measuring the current process tree while its block runs.

    Example:
        >>> with StepProfiler("clean") as profiler:
        ...     do_work()
        >>> profiler.profile.peak_memory_mb
    """

    def __init__(self, step: str, interval_seconds: float = DEFAULT_INTERVAL_SECONDS) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
        self.profile = StepProfile(step=step, sample_interval_seconds=interval_seconds)
        self._interval = interval_seconds
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak_rss = 0
        self._peak_cpu_percent = 0.0
        self._live_children_cpu: dict[int, float] = {}
        self._samples = 0

    def _sample(self) -> None:
        last_time = time.perf_counter()
        last_total: float | None = None
        while True:
            rss, cpu = _tree_rss_and_cpu(self._process)
            now = time.perf_counter()
            self._peak_rss = max(self._peak_rss, rss)
            self._live_children_cpu = {pid: t for pid, t in cpu.items() if pid != self._process.pid}
            total = sum(cpu.values())
            if last_total is not None and now > last_time:
                # Reaped children drop out of the sum; clamp so the rate never goes negative.
                rate = max(0.0, total - last_total) / (now - last_time) * 100
                self._peak_cpu_percent = max(self._peak_cpu_percent, rate)
            last_total, last_time = total, now
            self._samples += 1
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> StepProfiler:
        self._start_wall = time.perf_counter()
        self._start_cpu = self._own_and_reaped_cpu()
        self._start_io = self._io_bytes()
        self._thread = threading.Thread(target=self._sample, name="step-profiler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        wall = time.perf_counter() - self._start_wall
        cpu = self._own_and_reaped_cpu() - self._start_cpu + sum(self._live_children_cpu.values())
        # ru_maxrss (KiB on Linux) is the parent's exact peak: a floor for the sampled tree peak.
        own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        read, written = (after - before for after, before in zip(self._io_bytes(), self._start_io, strict=True))
        p = self.profile
        p.wall_seconds = round(wall, 4)
        p.cpu_seconds = round(cpu, 4)
        p.peak_memory_mb = round(max(self._peak_rss, own_peak) / MB, 2)
        p.mean_cpu_percent = round(100 * cpu / wall, 1) if wall > 0 else 0.0
        p.peak_cpu_percent = round(max(self._peak_cpu_percent, p.mean_cpu_percent), 1)
        p.read_mb = round(read / MB, 3)
        p.written_mb = round(written / MB, 3)
        p.samples = self._samples

    def _own_and_reaped_cpu(self) -> float:
        times = self._process.cpu_times()
        return times.user + times.system + times.children_user + times.children_system

    def _io_bytes(self) -> tuple[int, int]:
        try:
            io = self._process.io_counters()
        except (psutil.Error, AttributeError):  # not available on every OS / container
            return 0, 0
        return io.read_bytes, io.write_bytes


def write_profile(profile: StepProfile, path: str | os.PathLike[str]) -> None:
    """Writes a step profile as JSON (the ``step_profile`` artifact of every component)."""
    Path(path).write_text(json.dumps(profile.to_dict(), indent=2), encoding="utf-8")


def read_profile(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a step profile written by :func:`write_profile`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextlib.contextmanager
def profiled_step(step: str, path: str | os.PathLike[str]) -> Iterator[StepProfile]:
    """Profiles a component's body and writes its ``step_profile`` artifact only if the body succeeds.

    Example:
        >>> with profiled_step("clean", step_profile.path) as profile:
        ...     profile.extra["rows"] = 10
    """
    profiler = StepProfiler(step)
    with profiler:
        yield profiler.profile
    write_profile(profiler.profile, path)
