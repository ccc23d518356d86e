"""The step profiler against known workloads: memory of child processes, CPU of workers, I/O, failures."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from components.runtime import profiler as profiling
from components.runtime.profiler import StepProfiler, caller_parameters, environment_info, profiled_step

MB = 1024 * 1024
# A child that touches every page of N MB (so they are resident), then holds them for a while.
ALLOCATE = "import sys, time; b = bytearray({mb} * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep({hold})"
# A child that burns S seconds of its own CPU time.
BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass"
# A child that writes N MB to a file and fsyncs it (so the bytes reach write_bytes), then says so on stdout.
WRITE = (
    "import os, sys, time\nwith open({path!r}, 'wb') as f:\n"
    "    f.write(os.urandom({mb} * 1024 * 1024)); f.flush(); os.fsync(f.fileno())\n"
    "print('written', flush=True); time.sleep({hold})"
)
# Slack of comparisons between /proc CPU figures (10 ms ticks, a few readings) and exact wait4/getrusage ones.
TICKS = 0.05
HAS_IO = hasattr(psutil.Process(), "io_counters")


def _python(code: str) -> list[str]:
    return [sys.executable, "-I", "-c", code]


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _wait_cpu(process: subprocess.Popen) -> float:
    """Reaps ``process`` with wait4: its exact CPU, including its reaped children's."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def _profile_in_fresh_process(block: str, interval_seconds: float) -> dict:
    """Profiles ``block`` in a new interpreter: its getrusage records start at zero, whatever ran before."""
    code = (
        "import json, subprocess, sys\n"
        "from components.runtime.profiler import StepProfiler\n"
        f"with StepProfiler('fresh', interval_seconds={interval_seconds}) as profiler:\n"
        f"    {block}\n"
        "print(json.dumps(profiler.profile.to_dict()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_child_allocating_200_mb_is_seen_as_at_least_200_mb():
    child = ALLOCATE.format(mb=200, hold=1.0)
    profile = _profile_in_fresh_process(f"subprocess.run([sys.executable, '-I', '-c', {child!r}], check=True)", 0.05)
    assert profile["peak_memory_sampled_mb"] >= 200, "the sampler itself must see the child's 200 MB"
    assert profile["peak_memory_mb"] >= 200
    assert profile["max_processes"] >= 2


def test_spike_shorter_than_the_interval_is_caught_by_the_rusage_floor():
    # One sample every 5 s: the child's 200 MB come and go between two samples.
    child = ALLOCATE.format(mb=200, hold=0)
    profile = _profile_in_fresh_process(f"subprocess.run([sys.executable, '-I', '-c', {child!r}], check=True)", 5.0)
    assert profile["peak_memory_mb"] >= 200
    assert profile["peak_memory_sampled_mb"] < 200  # what sampling alone would have reported


def test_memory_freed_before_the_step_is_not_its_peak():
    block = bytearray(300 * MB)
    block[::4096] = b"x" * len(block[::4096])
    del block  # the process's ru_maxrss stays >= 300 MB, but not because of the step below
    with StepProfiler("after") as profiler:
        sum(range(1000))
    rss_now = psutil.Process().memory_info().rss / MB
    assert profiler.profile.peak_memory_mb < rss_now + 250


def test_cpu_of_concurrent_workers_is_counted_once():
    own = _own_cpu()
    with StepProfiler("workers") as profiler:
        workers = [subprocess.Popen(_python(BURN.format(seconds=0.5))) for _ in range(2)]
        workers_cpu = sum(_wait_cpu(worker) for worker in workers)  # exact, from the kernel
    own = _own_cpu() - own  # this process's CPU over the whole block, the profiler's work included
    profile = profiler.profile
    assert workers_cpu >= 1.0  # two workers, 0.5 s each
    # The tree's CPU is the workers' plus at most this process's own; counting a worker both live (sampled)
    # and reaped would add its 0.5 s again, whatever the load.
    assert workers_cpu - TICKS <= profile.cpu_seconds <= workers_cpu + own + TICKS
    assert profile.cpu_seconds == pytest.approx(profile.cpu_user_seconds + profile.cpu_system_seconds, abs=1e-3)
    assert profile.max_processes >= 3
    assert profile.mean_cpu_percent == pytest.approx(100 * profile.cpu_seconds / profile.wall_seconds, abs=0.2)
    assert profile.peak_cpu_percent >= profile.mean_cpu_percent


def test_cpu_of_grandchildren_is_counted():
    grandchild = BURN.format(seconds=0.5)
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-I', '-c', {grandchild!r}], check=True)"
    own = _own_cpu()
    with StepProfiler("nested") as profiler:
        tree_cpu = _wait_cpu(subprocess.Popen(_python(child)))  # the child's and its reaped grandchild's
    own = _own_cpu() - own
    assert tree_cpu >= 0.5  # the grandchild's burn is in it
    assert tree_cpu - TICKS <= profiler.profile.cpu_seconds <= tree_cpu + own + TICKS
    assert profiler.profile.max_processes >= 2


def test_cpu_of_the_step_excludes_the_sampler():
    import time

    own = _own_cpu()
    with StepProfiler("idle", interval_seconds=0.01) as profiler:
        time.sleep(0.5)  # the step does nothing; the sampler reads the tree 100 times a second
    own = _own_cpu() - own
    profile = profiler.profile
    assert profile.profiler_cpu_seconds > TICKS, "the sampler must cost more than the slack, or this proves nothing"
    assert profile.cpu_seconds <= own + TICKS  # the tree's CPU is this process's alone: the sampler's is out


@pytest.mark.skipif(not HAS_IO, reason="this OS reports no per-process I/O")
def test_bytes_written_by_a_reaped_child_are_counted_once(tmp_path: Path):
    # Reaping moves the child's bytes into this process's counters: adding the child's own too would give 40.
    with StepProfiler("io") as profiler:
        subprocess.run(_python(WRITE.format(path=str(tmp_path / "out.bin"), mb=20, hold=0.3)), check=True)
    assert 20 <= profiler.profile.written_mb < 25


@pytest.mark.skipif(not HAS_IO, reason="this OS reports no per-process I/O")
def test_bytes_written_by_a_child_alive_at_the_end_are_counted_once(tmp_path: Path):
    code = WRITE.format(path=str(tmp_path / "out.bin"), mb=20, hold=600)
    with StepProfiler("io") as profiler:
        child = subprocess.Popen(_python(code), stdout=subprocess.PIPE)
        assert child.stdout.readline() == b"written\n"
    child.kill()  # reaped only after the block: its bytes are its own at the end reading
    child.wait()
    child.stdout.close()
    assert 20 <= profiler.profile.written_mb < 25


@pytest.mark.skipif(not HAS_IO, reason="this OS reports no per-process I/O")
def test_bytes_a_worker_wrote_before_the_step_are_not_the_steps(tmp_path: Path):
    child = subprocess.Popen(
        _python(WRITE.format(path=str(tmp_path / "out.bin"), mb=20, hold=0)), stdout=subprocess.PIPE
    )
    assert child.stdout.readline() == b"written\n"
    with StepProfiler("io") as profiler:
        child.wait()  # reaped inside the block: its 20 MB land in this process's counters now
    child.stdout.close()
    assert profiler.profile.written_mb < 5


def test_sampler_is_not_stalled_by_a_step_holding_the_gil():
    import time

    others = len(psutil.Process().children(recursive=True))  # left by earlier tests in this process, if any
    with StepProfiler("gil") as profiler:
        began = time.perf_counter()
        sum(range(60_000_000))  # one call into C that keeps the GIL for about a second
        held = time.perf_counter() - began
    profile = profiler.profile
    # A sampler thread could not run during the call: its samples would straddle it, a gap >= the call. The
    # sampler process samples during it (load slows the call as much as the sampler).
    assert profile.max_sample_gap_seconds < held
    assert profile.samples > 2  # more than the start and end readings
    assert profile.max_processes == 1 + others, "the sampler process is not part of the step"
    assert profile.sampler_error == ""


def test_a_failing_sampler_does_not_fail_the_step(monkeypatch: pytest.MonkeyPatch):
    def broken(interval: float, window: float) -> subprocess.Popen[bytes]:
        code = "import sys; sys.exit('sampler broke')"
        pipe = subprocess.PIPE
        return subprocess.Popen([sys.executable, "-c", code], stdin=pipe, stdout=pipe, stderr=pipe)

    monkeypatch.setattr(profiling, "_start_sampler", broken)
    with StepProfiler("broken") as profiler:
        subprocess.run(_python(BURN.format(seconds=0.3)), check=True)
    profile = profiler.profile
    assert profile.sampler_error == "sampler exited with 1: sampler broke"
    assert profile.cpu_seconds >= 0.3  # CPU still comes from the OS
    assert profile.samples == 2  # the start and end readings


def test_a_sampler_that_cannot_start_does_not_fail_the_step(monkeypatch: pytest.MonkeyPatch):
    def unavailable(interval: float, window: float) -> subprocess.Popen[bytes]:
        raise OSError("no processes left")

    monkeypatch.setattr(profiling, "_start_sampler", unavailable)
    with StepProfiler("no sampler") as profiler:
        subprocess.run(_python("pass"), check=True)
    assert profiler.profile.sampler_error == "sampler did not start: no processes left"
    assert profiler.profile.wall_seconds > 0


def test_sampler_at_a_tiny_interval_samples_until_told_to_stop(monkeypatch, capsys):
    # The sampler's loop with its wait replaced: stdin says "stop" at the 10th wait, whatever the machine's load.
    waits: list[float] = []

    def select(readers: list, writers: list, errors: list, timeout: float) -> tuple[list, list, list]:
        waits.append(timeout)
        return (readers if len(waits) == 10 else []), [], []

    monkeypatch.setattr(profiling, "select", type("FakeSelect", (), {"select": staticmethod(select)}))
    root = subprocess.Popen(_python("import time; time.sleep(600)"))  # the sampled tree (not this process: the
    try:  # sampler leaves its own process out)
        profiling._sampler_main([str(root.pid), "0.000001", "0.5"])
        rss = psutil.Process(root.pid).memory_info().rss
    finally:
        root.kill()
        root.wait()
    result = json.loads(capsys.readouterr().out)
    assert result["error"] == ""
    assert result["samples"] == 10  # one reading per wait, and none after "stop"
    assert all(timeout >= 0 for timeout in waits)  # a late sampler waits 0 s, never a negative time
    assert result["peak_rss"] >= rss * 0.5


def test_interval_must_be_positive_and_window_not_shorter():
    with pytest.raises(ValueError, match="interval_seconds"):
        StepProfiler("x", interval_seconds=0)
    with pytest.raises(ValueError, match="cpu_window_seconds"):
        StepProfiler("x", interval_seconds=1.0, cpu_window_seconds=0.5)
    assert StepProfiler("x", interval_seconds=2.0).profile.cpu_window_seconds == 2.0


def _component(train_uris: list, step_profile: object, seed: int = 42, *, target: str = "", **options: object):
    with profiled_step("component", step_profile) as profile:
        profile.extra["rows"] = 3
    return profile


def test_profiled_step_writes_profile_with_caller_parameters_and_environment(tmp_path: Path):
    path = tmp_path / "step_profile"
    profile = _component(["a.txt"], str(path), 7, target="t", verbose=True, handle=object())
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["step"] == "component"
    assert written["extra"] == {"rows": 3}
    assert written["parameters"] == {
        "train_uris": ["a.txt"],
        "step_profile": str(path),
        "seed": 7,
        "target": "t",
        "verbose": True,
    }
    assert written["environment"]["cpu_count"] == os.cpu_count()
    assert written["environment"]["packages"]["psutil"] == psutil.__version__
    assert profile.sample_interval_seconds == profiling.DEFAULT_INTERVAL_SECONDS


def test_profiled_step_takes_explicit_parameters(tmp_path: Path):
    with profiled_step("x", tmp_path / "p", parameters={"c": 0.5}) as profile:
        pass
    assert profile.parameters == {"c": 0.5}


def test_profiled_step_writes_nothing_when_the_body_fails(tmp_path: Path):
    path = tmp_path / "step_profile"
    with pytest.raises(ValueError, match="bad input"), profiled_step("x", path):
        raise ValueError("bad input")
    assert not path.exists()


def test_caller_parameters_skips_objects():
    def wrapper(a: int, artifact: object, names: list, mapping: dict, *rest: int):
        return caller_parameters(sys._getframe())

    assert wrapper(1, object(), ["x", 2], {"k": [1.5]}, 9) == {"a": 1, "names": ["x", 2], "mapping": {"k": [1.5]}}


def test_environment_info_names_machine_and_versions():
    info = environment_info(("psutil", "no-such-package-xyz"))
    assert info["packages"] == {"psutil": psutil.__version__, "no-such-package-xyz": None}
    assert info["memory_total_mb"] > 0
    assert 1 <= info["cpus_usable"] <= info["cpu_count"]


# --- the container peak: the memory cgroup's high-water mark -------------------------------------------------


def _cgroup(root: Path, version: int, pids: list[int], peak: int) -> Path:
    """A fake /sys/fs/cgroup of one version holding ``pids`` with a high-water mark of ``peak`` bytes."""
    folder = root if version == 2 else root / "memory"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in pids))
    peak_file = folder / ("memory.peak" if version == 2 else "memory.max_usage_in_bytes")
    peak_file.write_text(f"{peak}\n")
    return peak_file


@pytest.mark.parametrize("version", [1, 2])
def test_own_memory_cgroup_is_used_when_it_holds_this_step_alone(tmp_path: Path, version: int):
    me = psutil.Process()
    peak = _cgroup(tmp_path, version, [p.pid for p in me.parents()] + [me.pid], 100 * MB)
    assert profiling.own_memory_cgroup(tmp_path, me) == peak


@pytest.mark.parametrize("version", [1, 2])
def test_a_cgroup_shared_with_other_programs_is_not_the_steps(tmp_path: Path, version: int):
    # Two sibling processes: neither is the other's ancestor or descendant, as two programs of one machine.
    step, other = (subprocess.Popen(_python("import time; time.sleep(30)")) for _ in range(2))
    try:
        _cgroup(tmp_path, version, [step.pid, other.pid], 100 * MB)
        assert profiling.own_memory_cgroup(tmp_path, psutil.Process(step.pid)) is None
        _cgroup(tmp_path, version, [step.pid], 100 * MB)
        assert profiling.own_memory_cgroup(tmp_path, psutil.Process(step.pid)) is not None
    finally:
        for process in (step, other):
            process.kill()
            process.wait()
    assert profiling.own_memory_cgroup(tmp_path / "none") is None  # no cgroup files at all


def test_profile_records_the_container_peak_beside_the_rss_sum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    me = psutil.Process()
    _cgroup(tmp_path, 1, [p.pid for p in me.parents()] + [me.pid], 1000 * MB)
    monkeypatch.setattr(profiling, "CGROUP_ROOT", tmp_path)
    with StepProfiler("train") as profiler:
        subprocess.run(_python(ALLOCATE.format(mb=50, hold=0.3)), check=True)
    profile = profiler.profile
    assert profile.peak_memory_cgroup_mb == 1000.0  # read at the end of the block, not sampled
    assert profile.peak_memory_cgroup_source == str(tmp_path / "memory" / "memory.max_usage_in_bytes")
    assert profile.peak_memory_mb >= 50  # the RSS sum is still measured as before


def test_profile_has_no_container_peak_outside_a_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(profiling, "CGROUP_ROOT", tmp_path)  # no cgroup files: as on a machine without cgroups
    with StepProfiler("clean") as profiler:
        pass
    assert profiler.profile.peak_memory_cgroup_mb is None and profiler.profile.peak_memory_cgroup_source == ""
