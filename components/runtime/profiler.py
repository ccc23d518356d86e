"""Resource profiling of one pipeline step: wall time, CPU time, peak memory and I/O of the whole process tree.

PyCaret and joblib start worker processes, so the parent's ``ru_maxrss`` alone under-counts memory.
:class:`StepProfiler` samples the current process and all its descendants with psutil from a small sampler
*process* every ``interval_seconds`` (:data:`DEFAULT_INTERVAL_SECONDS`): not a thread, because a thread needs
Python's GIL, which the step holds during long calls into C code (a liblinear fit held it for 0.7 s in a real
run), so a thread falls behind exactly when the step is busiest. The sampler's own process is left out of
every figure. The longest gap between two samples actually achieved is recorded (``max_sample_gap_seconds``).
How each figure is obtained, and its error, is in :data:`MEASURES` and :data:`METHOD` (the report prints them):

- wall time: ``time.perf_counter`` around the block (exact).
- CPU time (user + system): exact OS accounting, not sampled. At start and end the profiler adds up, over the
  live process tree, each process's own user and system time plus that of its reaped children (a worker's
  time moves to its parent's ``children_*`` counters when it is reaped, so nothing is lost or counted twice);
  the step's CPU is the difference, minus the sampler process's exact CPU (``profiler_cpu_seconds``, from
  ``wait4``).
  Descendants orphaned to init before the end are lost (not the case for joblib/loky or PyCaret workers), except
  the workers :mod:`components.runtime.processes` kills with a candidate's process group: their CPU time is read
  just before the kill and added (``killed_cpu_seconds``).
- peak memory: the largest *sum* of resident set sizes (RSS) of the tree seen in one sample. A peak shorter
  than the interval can fall between samples (an under-count); two exact ``getrusage`` high-water marks
  are folded in as floors: this process's ``ru_maxrss`` when it rose during the block, and that of reaped
  children plus this process's smallest sampled RSS (the children's mark is a maximum over the process's
  life, so it helps only in a fresh process, as every component's is). Pages shared by several processes (libraries,
  copy-on-write after ``fork``) count once per process, as in ``top`` (an over-count for forked workers). The
  proportional set size (PSS) would share them out, but reading it walks every page table: 75-120 ms per
  sample for 4 processes of 1.4-1.5 GB PSS in all, against 4-5 ms for RSS: too slow for the interval.
- container peak memory (only when the step runs alone in its memory cgroup, as in a container): the
  kernel's high-water mark of the memory charged to the cgroup, read at the end of the block from
  ``/sys/fs/cgroup`` (v2 ``memory.peak``, v1 ``memory/memory.max_usage_in_bytes``). Exact and never sampled:
  every page counts once, the pages forked workers share with their parent too, and the page cache of files
  the container was the first to read or write counts as well; pages already cached when it started (such as
  the libraries of an image that an earlier step loaded) are charged to whoever loaded them and are left out.
  It covers the container's life up to the end of the block (the step's start and imports too). Recorded
  beside the RSS sum, which stays ``peak_memory_mb`` under every runner.
- CPU utilisation: mean = CPU time / wall time; peak = the highest rate over any window of
  ``cpu_window_seconds`` between samples (the OS counts CPU in 10 ms ticks, so shorter windows are noise).
  Both in percent of one core: 200 % is two cores busy.
- bytes read and written: exact OS counters, taken like CPU time. Linux's ``/proc/<pid>/io`` (through
  psutil) ``read_bytes``/``write_bytes`` of a process include those of the children it has reaped, so the
  profiler sums them over the live tree at start and at end and takes the difference (a worker reaped during
  the block is in its parent's figure, a worker still alive at the end in its own: each byte counts once),
  minus the sampler's own (from ``wait4``). Descendants orphaned to init before the end are lost. Files served
  from the page cache read as 0 bytes; a write counts when it dirties the page cache, not when it reaches disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import select
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import psutil

from components.io import atomic
from components.runtime.processes import die_with_parent, end_with_parent, killed_cpu_seconds

MB = 1024 * 1024
DEFAULT_INTERVAL_SECONDS = 0.05
DEFAULT_CPU_WINDOW_SECONDS = 0.5
SAMPLER_TIMEOUT_SECONDS = 30.0  # a sampler that does not answer "stop" in this time is killed
# Versions recorded with every step so figures can be compared across images and machines.
PACKAGES = (
    "emotion-pipeline",
    "kfp",
    "scikit-learn",
    "pycaret",
    "torch",
    "transformers",
    "numpy",
    "pandas",
    "scipy",
    "pyarrow",
    "joblib",
    "psutil",
    "matplotlib",
    "jinja2",
)
# ru_maxrss is in KiB on Linux and in bytes on macOS.
_RU_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024

# (figure, how it is obtained, its error) for the report; {interval} and {window} are filled in.
MEASURES = (
    ("wall time", "time.perf_counter around the step's body", "exact"),
    (
        "CPU time (user + system)",
        "OS accounting of the step's process and every worker it starts (live or reaped), end minus start, "
        "minus the sampler process's own CPU",
        "exact (10 ms ticks); workers orphaned to init before the end are lost, except those killed with a "
        "candidate's process group (read just before the kill)",
    ),
    (
        "peak memory",
        "largest summed RSS of the process tree in one sample, floored by the exact getrusage high-water marks",
        "a spike shorter than {interval:g} s can fall between samples (under-count); pages shared by several "
        "processes, such as a forked worker's copy-on-write pages, count once per process (over-count)",
    ),
    (
        "container peak memory",
        "high-water mark of the memory charged to the step's cgroup (cgroup v2 memory.peak, v1 "
        "memory.max_usage_in_bytes), read in the container; recorded only when the step runs alone in its cgroup",
        "exact, each page once (forked workers' shared pages once), page cache the container loaded included; "
        "pages cached before it started (libraries an earlier step loaded) are not charged to it; covers the "
        "container's start and imports too",
    ),
    ("mean CPU %", "CPU time / wall time, percent of one core", "exact"),
    ("peak CPU %", "highest tree CPU rate over a {window:g} s window between samples", "± one 10 ms tick per window"),
    (
        "samples, longest gap",
        "a separate sampler process reads the tree every {interval:g} s (not a thread: the step's GIL would stall it)",
        "on a busy machine the sampler can fall behind: the longest gap achieved is reported per step",
    ),
    (
        "read / written MB",
        "storage-layer read_bytes / write_bytes (Linux /proc/<pid>/io, which include reaped children's) summed "
        "over the live tree, end minus start, minus the sampler process's own",
        "exact; workers orphaned to init before the end are lost; page-cache hits read as 0",
    ),
)

METHOD = (
    "Each step is measured in its own process by a psutil sampler process that reads the whole process tree "
    "(the step and every worker it starts) every {interval:g} s. Wall time is exact. CPU time (user + system) "
    "is exact OS accounting of the tree, including reaped workers, minus the sampler's own CPU. Peak memory is "
    "the largest summed RSS of the tree in one sample, floored by the exact getrusage high-water marks; a spike "
    "shorter than {interval:g} s can be missed (an under-count), and pages shared between processes count once "
    "per process (an over-count where workers are forked: their copy-on-write pages are the parent's). Peak CPU "
    "is the highest rate over a {window:g} s window. Bytes read/written are exact storage-layer counters of the "
    "tree, taken like CPU time (page-cache hits read as 0). A step that runs in a container also records its "
    "container peak: the high-water mark of the memory charged to its cgroup, every page once (the pages forked "
    "workers share with their parent too), with the page cache the container loaded but not pages cached before "
    "it started. Timings depend on the machine and on its load."
)


@dataclass
class StepProfile:
    """What one step cost.

    Attributes:
        step: Step name (``ingest`` … ``evaluate``).
        wall_seconds: Elapsed time.
        cpu_seconds: User + system CPU time of the process tree, without the profiler's own.
        cpu_user_seconds: The user part of ``cpu_seconds``.
        cpu_system_seconds: The system part of ``cpu_seconds``.
        peak_memory_mb: Peak summed RSS of the process tree (sampled, floored by ``getrusage``).
        peak_memory_sampled_mb: The largest summed RSS seen by the sampler alone.
        peak_memory_cgroup_mb: High-water mark of the memory charged to the step's cgroup when the step runs
            alone in it (a container), None elsewhere: each page once, page cache the container loaded included.
        peak_memory_cgroup_source: The cgroup file ``peak_memory_cgroup_mb`` was read from.
        mean_cpu_percent: CPU time over wall time, in percent of one core.
        peak_cpu_percent: Highest CPU rate over ``cpu_window_seconds``, percent of one core.
        read_mb: Bytes the tree read from the storage layer (page-cache hits excluded), where the OS reports it.
        written_mb: Bytes the tree wrote to the storage layer, where the OS reports it.
        max_processes: Most processes seen in the tree at once (1 = no workers).
        sample_interval_seconds: The sampler's period: the error bound of the sampled peak figures.
        cpu_window_seconds: Window of the peak CPU rate.
        samples: Number of samples taken.
        max_sample_gap_seconds: Longest time between two samples actually achieved (the sampler's start, and
            a busy machine, make it longer than the interval).
        profiler_cpu_seconds: CPU time the sampler process used (already left out of ``cpu_seconds``).
        killed_cpu_seconds: CPU time of workers killed with a candidate's process group, which no process of the
            tree reaps (read just before the kill; already in ``cpu_seconds``).
        started_at: Start, seconds since the Unix epoch (for timelines).
        ended_at: End, seconds since the Unix epoch.
        cpu_count: Logical CPUs of the machine, so figures can be compared across machines.
        environment: Machine and package versions (:func:`environment_info`).
        parameters: The step's parameters (see :func:`profiled_step`).
        sampler_error: Why the sampler stopped early, if it did (figures then come from fewer samples).
        extra: Step-specific facts (rows, model size, …).
    """

    step: str
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    cpu_user_seconds: float = 0.0
    cpu_system_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    peak_memory_sampled_mb: float = 0.0
    peak_memory_cgroup_mb: float | None = None
    peak_memory_cgroup_source: str = ""
    mean_cpu_percent: float = 0.0
    peak_cpu_percent: float = 0.0
    read_mb: float = 0.0
    written_mb: float = 0.0
    max_processes: int = 1
    sample_interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    cpu_window_seconds: float = DEFAULT_CPU_WINDOW_SECONDS
    samples: int = 0
    max_sample_gap_seconds: float = 0.0
    profiler_cpu_seconds: float = 0.0
    killed_cpu_seconds: float = 0.0
    started_at: float = 0.0
    ended_at: float = 0.0
    cpu_count: int = field(default_factory=lambda: os.cpu_count() or 1)
    environment: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    sampler_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Tree:
    """One reading of the process tree."""

    rss: int = 0
    root_rss: int = 0
    user: float = 0.0  # own + reaped children's, summed over live processes
    system: float = 0.0
    read_bytes: int = 0  # own + reaped children's, summed over live processes (only when read with io=True)
    written_bytes: int = 0
    processes: int = 0


def _read_tree(root: psutil.Process, exclude: int | None = None, io: bool = False) -> _Tree:
    """Memory, CPU and (with ``io``) I/O of ``root`` and its descendants, without the process ``exclude``.

    Like CPU time, a process's I/O counters include those of the children it has reaped, so a sum over the
    live tree counts every byte of the tree once; two sums (start, end) give the block's I/O.
    """
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        processes = [root]
    tree = _Tree()
    for proc in processes:
        if proc.pid == exclude:
            continue
        counters = None
        try:
            with proc.oneshot():
                rss = proc.memory_info().rss
                times = proc.cpu_times()
                if io:
                    with contextlib.suppress(psutil.Error, AttributeError):  # not on every OS / container
                        counters = proc.io_counters()
        except psutil.Error:  # a worker may exit between listing and reading
            continue
        if counters is not None:
            tree.read_bytes += counters.read_bytes
            tree.written_bytes += counters.write_bytes
        tree.rss += rss
        tree.root_rss = rss if proc.pid == root.pid else tree.root_rss
        tree.user += times.user + times.children_user
        tree.system += times.system + times.children_system
        tree.processes += 1
    return tree


class _Samples:
    """What the readings of a process tree add up to: peak memory, peak CPU rate, process count, gaps."""

    def __init__(self, cpu_window_seconds: float) -> None:
        self.peak_rss = 0
        self.min_root_rss = 0
        self.peak_cpu_rate = 0.0  # CPU seconds per second
        self.max_processes = 1
        self.samples = 0
        self.first_at: float | None = None  # time.monotonic(): one clock for every process on the machine
        self.last_at: float | None = None
        self.max_gap = 0.0
        self._window_seconds = cpu_window_seconds
        self._window: deque[tuple[float, float]] = deque()

    def add(self, tree: _Tree, now: float, rate: bool = True) -> None:
        self.peak_rss = max(self.peak_rss, tree.rss)
        if tree.root_rss:
            self.min_root_rss = min(self.min_root_rss or tree.root_rss, tree.root_rss)
        self.max_processes = max(self.max_processes, tree.processes)
        self.samples += 1
        if self.last_at is not None:
            self.max_gap = max(self.max_gap, now - self.last_at)
        self.first_at = self.first_at if self.first_at is not None else now
        self.last_at = now
        if not rate:
            return
        # Peak CPU: rate since the newest reading at least one window old.
        self._window.append((now, tree.user + tree.system))
        while len(self._window) > 1 and now - self._window[1][0] >= self._window_seconds:
            self._window.popleft()
        then, cpu_then = self._window[0]
        if now - then >= self._window_seconds:
            self.peak_cpu_rate = max(self.peak_cpu_rate, (tree.user + tree.system - cpu_then) / (now - then))

    def to_dict(self) -> dict[str, Any]:
        fields = (
            "peak_rss",
            "min_root_rss",
            "peak_cpu_rate",
            "max_processes",
            "samples",
            "first_at",
            "last_at",
            "max_gap",
        )
        return {name: getattr(self, name) for name in fields}

    def merge(self, other: Mapping[str, Any]) -> None:
        """Folds in the sampler process's results (its readings are newer than this object's so far)."""
        self.peak_rss = max(self.peak_rss, other["peak_rss"])
        if other["min_root_rss"]:
            self.min_root_rss = min(self.min_root_rss or other["min_root_rss"], other["min_root_rss"])
        self.peak_cpu_rate = max(self.peak_cpu_rate, other["peak_cpu_rate"])
        self.max_processes = max(self.max_processes, other["max_processes"])
        self.samples += other["samples"]
        self.max_gap = max(self.max_gap, other["max_gap"])


def _sampler_main(argv: list[str] | None = None) -> None:
    """The sampler process: reads the tree of ``ROOT_PID`` every ``INTERVAL`` s until a line (or EOF) on stdin.

    Run as ``python -c "from components.runtime.profiler import _sampler_main; _sampler_main()" ROOT_PID INTERVAL
    WINDOW``; prints its results as one JSON line. A separate process, not a thread: a thread needs the GIL,
    which the step holds during long calls into C code (a liblinear fit, for one), so it would fall behind.
    """
    root_pid, interval, window = (argv or sys.argv[1:])[:3]
    root, me = psutil.Process(int(root_pid)), os.getpid()
    samples = _Samples(float(window))
    error = ""
    next_at = time.monotonic()
    try:
        while True:
            samples.add(_read_tree(root, exclude=me), time.monotonic())
            next_at = max(next_at + float(interval), time.monotonic())
            ready, _, _ = select.select([sys.stdin], [], [], max(0.0, next_at - time.monotonic()))
            if ready:  # "stop", or EOF because the step process ended
                break
    except Exception as err:  # keep what was sampled so far, and say why sampling stopped
        error = f"{type(err).__name__}: {err}"
    print(json.dumps({**samples.to_dict(), "error": error}), flush=True)


@dataclass
class _SamplerUsage:
    """What the sampler process itself used, from ``wait4`` (left out of the step's figures)."""

    user: float = 0.0
    system: float = 0.0
    maxrss: int = 0
    read_bytes: int = 0
    written_bytes: int = 0


CGROUP_ROOT = Path("/sys/fs/cgroup")
# (high-water mark file, the cgroup's process list) of the memory controller: cgroup v2, then v1.
_CGROUP_PEAK_FILES = (("memory.peak", "cgroup.procs"), ("memory/memory.max_usage_in_bytes", "memory/cgroup.procs"))


def own_memory_cgroup(root: Path = CGROUP_ROOT, process: psutil.Process | None = None) -> Path | None:
    """The high-water mark file of the memory cgroup this step has to itself (a container), else None.

    The file at ``root`` is this process's own cgroup only where the cgroup is mounted there for it, as in a
    container; elsewhere it can be the machine's or a session's, shared with other programs. So it is used only
    when every process of the cgroup is this process, one of its ancestors (the container's entry point, KFP's
    launcher) or one of its descendants (the sampler, workers).

    Args:
        root: Where the cgroup file systems are mounted.
        process: The step's process (this one by default).
    """
    process = process or psutil.Process()
    for peak_name, procs_name in _CGROUP_PEAK_FILES:
        peak, procs = root / peak_name, root / procs_name
        try:
            pids = {int(pid) for pid in procs.read_text(encoding="utf-8").split()}
            int(peak.read_text(encoding="utf-8").split()[0])
        except (OSError, ValueError, IndexError):
            continue
        try:
            related = {process.pid, *(p.pid for p in process.parents()), *(p.pid for p in process.children(True))}
        except psutil.Error:
            return None
        return peak if pids and pids <= related else None
    return None


def _maxrss(who: int) -> int:
    return resource.getrusage(who).ru_maxrss * _RU_MAXRSS_BYTES


class StepProfiler:
    """Context manager measuring the current process tree while its block runs (see the module docstring).

    A sampler process (:func:`_sampler_main`) reads the tree every ``interval_seconds`` while the block runs;
    this process reads it once before and once after, and takes CPU time and the floors from the OS.

    Example:
        >>> with StepProfiler("clean") as profiler:
        ...     do_work()
        >>> profiler.profile.peak_memory_mb
    """

    def __init__(
        self,
        step: str,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        cpu_window_seconds: float | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
        if cpu_window_seconds is None:
            cpu_window_seconds = max(DEFAULT_CPU_WINDOW_SECONDS, interval_seconds)
        if cpu_window_seconds < interval_seconds:
            raise ValueError(f"cpu_window_seconds ({cpu_window_seconds}) must be >= interval ({interval_seconds})")
        self.profile = StepProfile(
            step=step, sample_interval_seconds=interval_seconds, cpu_window_seconds=cpu_window_seconds
        )
        self._process = psutil.Process()
        self._samples = _Samples(cpu_window_seconds)
        self._sampler: subprocess.Popen[bytes] | None = None
        self._cgroup_peak: Path | None = None

    def __enter__(self) -> StepProfiler:
        self.profile.started_at = time.time()
        try:  # first, so that starting it is not counted as the step's time
            self._sampler = _start_sampler(self.profile.sample_interval_seconds, self.profile.cpu_window_seconds)
        except OSError as err:  # measure without it: exact CPU, rusage floors, start/end readings
            self.profile.sampler_error = f"sampler did not start: {err}"
        self._start_maxrss = (_maxrss(resource.RUSAGE_SELF), _maxrss(resource.RUSAGE_CHILDREN))
        self._start_tree = _read_tree(self._process, exclude=self._sampler.pid if self._sampler else None, io=True)
        self._samples.add(self._start_tree, time.monotonic())
        self._start_killed = killed_cpu_seconds()
        self._cgroup_peak = own_memory_cgroup(CGROUP_ROOT, self._process)  # the sampler is a child by now
        self._start_wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._start_wall
        sampler = self._stop_sampler()
        end = _read_tree(self._process, io=True)
        self._samples.add(end, time.monotonic(), rate=False)  # its CPU and I/O include the reaped sampler's
        p, samples = self.profile, self._samples
        p.ended_at = time.time()
        # The sampler is reaped now: its CPU and I/O sit in this process's counters; take them out.
        start = self._start_tree
        # Workers killed with a candidate's group died orphaned: no process of the tree reaped them.
        killed = [now - before for now, before in zip(killed_cpu_seconds(), self._start_killed, strict=True)]
        user = max(0.0, end.user - start.user - sampler.user) + killed[0]
        system = max(0.0, end.system - start.system - sampler.system) + killed[1]
        cpu = user + system
        p.killed_cpu_seconds = round(sum(killed), 4)
        p.wall_seconds = round(wall, 4)
        p.cpu_seconds = round(cpu, 4)
        p.cpu_user_seconds = round(user, 4)
        p.cpu_system_seconds = round(system, 4)
        p.profiler_cpu_seconds = round(sampler.user + sampler.system, 4)
        p.peak_memory_sampled_mb = round(samples.peak_rss / MB, 2)
        p.peak_memory_mb = round(self._peak_with_floors(sampler.maxrss) / MB, 2)
        if self._cgroup_peak is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                peak = int(self._cgroup_peak.read_text(encoding="utf-8").split()[0])
                p.peak_memory_cgroup_mb = round(peak / MB, 2)
                p.peak_memory_cgroup_source = str(self._cgroup_peak)
        p.mean_cpu_percent = round(100 * cpu / wall, 1) if wall > 0 else 0.0
        p.peak_cpu_percent = round(max(100 * samples.peak_cpu_rate, p.mean_cpu_percent), 1)
        # Reaped workers' bytes are in their parents' counters, live ones' in their own: each counted once.
        read = end.read_bytes - start.read_bytes - sampler.read_bytes
        written = end.written_bytes - start.written_bytes - sampler.written_bytes
        p.read_mb = round(max(0, read) / MB, 3)
        p.written_mb = round(max(0, written) / MB, 3)
        p.max_processes = samples.max_processes
        p.samples = samples.samples
        p.max_sample_gap_seconds = round(samples.max_gap, 3)

    def _stop_sampler(self) -> _SamplerUsage:
        """Stops and reaps the sampler, merges its readings; returns what the sampler itself used (wait4)."""
        sampler, self._sampler = self._sampler, None
        if sampler is None:
            return _SamplerUsage()
        try:
            sampler.stdin.write(b"stop\n")
            sampler.stdin.close()
        except OSError:  # it already exited; its output says why
            pass
        ready, _, _ = select.select([sampler.stdout], [], [], SAMPLER_TIMEOUT_SECONDS)
        if not ready:
            sampler.kill()
        output = sampler.stdout.read() if ready else b""
        errors = sampler.stderr.read()
        _, status, usage = os.wait4(sampler.pid, 0)  # reaps it and tells its exact CPU and peak memory
        sampler.returncode = os.waitstatus_to_exitcode(status)
        sampler.stdout.close()
        sampler.stderr.close()
        try:
            result = json.loads(output)
        except ValueError:
            last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            self.profile.sampler_error = f"sampler exited with {sampler.returncode}: {last[0]}"
        else:
            if result.get("error"):
                self.profile.sampler_error = f"sampler stopped early: {result['error']}"
            # Its first and last readings leave gaps after this process's start reading and before its end one.
            self._samples.max_gap = max(self._samples.max_gap, result["first_at"] - (self._samples.last_at or 0))
            self._samples.merge(result)
            self._samples.last_at = result["last_at"]
        # Linux fills ru_inblock / ru_oublock from the same counters as /proc/<pid>/io, in 512-byte units.
        return _SamplerUsage(
            usage.ru_utime,
            usage.ru_stime,
            usage.ru_maxrss * _RU_MAXRSS_BYTES,
            usage.ru_inblock * 512,
            usage.ru_oublock * 512,
        )

    def _peak_with_floors(self, sampler_maxrss: int) -> int:
        """The sampled peak, or an exact getrusage high-water mark reached during the block if larger."""
        peak = self._samples.peak_rss
        own, children = _maxrss(resource.RUSAGE_SELF), _maxrss(resource.RUSAGE_CHILDREN)
        if own > self._start_maxrss[0]:  # this process set a new high-water mark inside the block
            peak = max(peak, own)
        # A reaped child peaked higher than any before (and than the sampler, also a child): a worker of this step.
        if children > max(self._start_maxrss[1], sampler_maxrss):
            peak = max(peak, children + self._samples.min_root_rss)
        return peak


def _start_sampler(interval: float, window: float) -> subprocess.Popen[bytes]:
    """Starts :func:`_sampler_main` on this process (this package's folder is appended to its path)."""
    package_root = str(Path(__file__).resolve().parent.parent)
    code = (
        f"import sys; sys.path.append({package_root!r})\n"
        "from components.runtime.profiler import _sampler_main; _sampler_main()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(os.getpid()), str(interval), str(window)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )


def environment_info(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
    """The machine and software a step ran on, so figures can be compared across machines.

    Returns:
        Python and OS versions, CPU model and counts (all, usable by this process, cgroup quota), memory
        (machine total and cgroup limit) and the versions of ``packages`` (None when not installed).
    """
    memory_limit = _memory_limit_bytes()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        "cpu_quota": _cpu_quota(),
        "memory_total_mb": round(psutil.virtual_memory().total / MB),
        "memory_limit_mb": round(memory_limit / MB) if memory_limit else None,
        "packages": {name: _version(name) for name in packages},
    }


def step_memory_mb() -> float:
    """Memory this step may use, in MB: its container's limit (cgroup v2 ``memory.max``, v1
    ``memory.limit_in_bytes``) when one is set, else the machine's total memory."""
    limit, total = _memory_limit_bytes(), psutil.virtual_memory().total
    return min(limit or total, total) / MB


def _memory_limit_bytes() -> int | None:
    """The container's memory limit (cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes``); None when unlimited
    (v2 says ``max``, v1 a number near 2⁶³) or unreadable."""
    limit = _cgroup_value("memory.max", "memory/memory.limit_in_bytes")
    return limit if limit and limit < 2**60 else None


def _version(name: str) -> str | None:
    import importlib.metadata  # here, not at the top: the sampler process imports this module and needs neither

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cgroup_value(v2: str, v1: str) -> int | None:
    """A numeric cgroup setting (v2 file, else v1 file), None when unlimited or unreadable."""
    for name in (v2, v1):
        with contextlib.suppress(OSError, ValueError):
            return int(Path("/sys/fs/cgroup", name).read_text(encoding="utf-8").split()[0])
    return None


def _cpu_quota() -> float | None:
    """CPUs the container may use (cgroup CFS quota / period), None when unlimited or unknown."""
    with contextlib.suppress(OSError, ValueError, ZeroDivisionError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="utf-8").split()
        return None if quota == "max" else round(int(quota) / int(period), 2)
    quota = _cgroup_value("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_quota_us")
    period = _cgroup_value("cpu/cpu.cfs_period_us", "cpu/cpu.cfs_period_us")
    return round(quota / period, 2) if quota and quota > 0 and period else None


def write_profile(profile: StepProfile, path: str | os.PathLike[str]) -> None:
    """Writes a step profile as JSON (the ``step_profile`` artifact of every component)."""
    atomic.write_json(path, profile.to_dict())


def read_profile(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a step profile written by :func:`write_profile`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def caller_parameters(frame: FrameType) -> dict[str, Any]:
    """The JSON-valued arguments of the function running in ``frame`` (artifacts and other objects skipped)."""
    import inspect

    arguments = inspect.getargvalues(frame)
    names = [*arguments.args, *([arguments.keywords] if arguments.keywords else [])]
    values = {name: arguments.locals[name] for name in names if name in arguments.locals}
    if arguments.keywords:
        values.update(values.pop(arguments.keywords))
    return {name: value for name, value in values.items() if _is_json_value(value)}


def _is_json_value(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_value(v) for k, v in value.items())
    return False


class MetricsLogger(Protocol):
    """What :func:`profiled_step` logs the step's figures to: KFP's ``Metrics`` artifact has this method."""

    def log_metric(self, metric: str, value: float) -> None: ...


#: The figures of a step's profile logged to its ``step_metrics`` (the step's Metrics in the pipeline UIs).
METRIC_KEYS = ("wall_seconds", "cpu_seconds", "peak_memory_mb", "mean_cpu_percent", "max_processes")


def profiled_step(
    step: str,
    path: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    metrics: MetricsLogger | None = None,
) -> contextlib.AbstractContextManager[StepProfile]:
    """Profiles a component's body and writes its ``step_profile`` artifact only if the body succeeds.

    Args:
        step: Step name.
        path: Where to write the profile JSON (the ``step_profile`` artifact's path).
        parameters: The step's parameters, recorded for the report. By default the JSON-valued arguments
            of the function calling ``profiled_step`` (a component wrapper's parameters; artifacts skipped).
        metrics: Also logs :data:`METRIC_KEYS` of the profile there (a KFP ``Metrics`` output, so the
            step's own time and memory show on the step in Vertex AI and KFP, not only as pipeline totals).

    Returns:
        A context manager yielding the :class:`StepProfile` being measured.

    Example:
        >>> with profiled_step("clean", step_profile.path, metrics=step_metrics) as profile:
        ...     profile.extra["rows"] = 10
    """
    if parameters is None:
        caller = sys._getframe(1)
        parameters = caller_parameters(caller)
        del caller  # no reference cycle through the frame
    return _profiled_step(step, path, dict(parameters), metrics)


@contextlib.contextmanager
def _profiled_step(
    step: str, path: str | os.PathLike[str], parameters: dict[str, Any], metrics: MetricsLogger | None = None
) -> Iterator[StepProfile]:
    profiler = StepProfiler(step)
    profiler.profile.parameters = parameters
    profiler.profile.environment = environment_info()
    orphaned = end_with_parent()  # the step and its workers end when the command that started it is killed
    try:
        with profiler:
            yield profiler.profile
    finally:
        orphaned.set()
    write_profile(profiler.profile, path)
    if metrics is not None:
        log_profile_metrics(profiler.profile, metrics)


def log_profile_metrics(profile: StepProfile, metrics: MetricsLogger) -> None:
    """Logs a step's wall and CPU seconds, peak memory, mean CPU % and processes (:data:`METRIC_KEYS`)."""
    from components.runtime.outputs import log_metrics

    log_metrics(metrics, {key: float(getattr(profile, key)) for key in METRIC_KEYS})
