"""Tests of the CPU faults (cpu_quota, cpu_pause, cpu_contention) on a real busy-loop child."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.chaos import cgroups
from harness.chaos.base import ChaosContext, ChaosError, Fault
from harness.chaos.faults.cpu_contention import CpuContention
from harness.chaos.faults.cpu_pause import CpuPause
from harness.chaos.faults.cpu_quota import CpuQuota
from harness.chaos.faults.kill_target import running
from harness.config.faults import CpuContentionParams, CpuPauseParams, CpuQuotaParams
from tests.conftest import ROOT, scaled

BUSY = "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\n" + (
    "while time.monotonic() < end:\n    pass\n"
)
MEASURE_S = 1.5  # each CPU share is measured over this long (s)
#: the busy child runs at this niceness when allowed (root), so that other load on the machine
#: barely dents its share and the fault's effect stands out
BUSY_NICE = -10


def cpu_share(pid: int, seconds: float = MEASURE_S) -> float:
    """CPU used by ``pid`` over ``seconds``, in % of one core."""
    proc = psutil.Process(pid)
    proc.cpu_percent(None)
    time.sleep(scaled(seconds))
    return proc.cpu_percent(None)


def status(pid: int) -> str:
    return str(psutil.Process(pid).status())


def busy_nice(pid: int) -> int:
    return psutil.Process(pid).nice()


@pytest.fixture
def busy() -> Iterator[int]:
    """A busy-loop child (at most 60 s, niceness BUSY_NICE if allowed); resumed, killed after."""
    proc = subprocess.Popen([sys.executable, "-c", BUSY, str(scaled(60))], start_new_session=True)
    try:
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, proc.pid, BUSY_NICE)
        yield proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait(timeout=scaled(5))


def ctx_for(pid: int | None, tmp_path: Path, **kw: object) -> ChaosContext:
    return ChaosContext(target_pid=pid, run_dir=tmp_path, **kw)  # type: ignore[arg-type]


def own_groups() -> set[Path]:
    """cpu cgroups created by this test process (harness-<our pid>-*), anywhere."""
    if cgroups.unsupported("cpu") is not None:
        return set()
    mount = cgroups.find_hierarchy("cpu").mount
    return set(mount.rglob(f"harness-{os.getpid()}-*"))


# cpu_quota ----------------------------------------------------------------------------------

needs_cpu_cgroup = pytest.mark.skipif(
    CpuQuota.unsupported() is not None, reason=f"cpu_quota: {CpuQuota.unsupported()}"
)


@needs_cpu_cgroup
def test_cpu_quota_throttles_and_reverts(busy: int, tmp_path: Path) -> None:
    ctx = ctx_for(busy, tmp_path)
    origin = cgroups.cgroup_of(busy, "cpu")
    before = cpu_share(busy)
    fault = CpuQuota(CpuQuotaParams(percent=20))
    try:
        fault.apply(ctx)
        group = cgroups.cgroup_of(busy, "cpu")
        assert group != origin and cgroups.GROUP_NAME.match(group.name)
        during = cpu_share(busy)
    finally:
        fault.revert(ctx)
    time.sleep(0.5)  # let the last throttled period pass before measuring again
    after = cpu_share(busy)
    print(f"cpu_quota 20 %: before {before:.0f} %, during {during:.0f} %, after {after:.0f} %")
    assert before >= 50
    assert during <= 45
    assert after >= 50
    assert cgroups.cgroup_of(busy, "cpu") == origin
    assert not group.exists()
    fault.revert(ctx)  # twice is fine


@needs_cpu_cgroup
def test_cpu_quota_revert_after_target_died(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", str(scaled(30))], start_new_session=True)
    fault = CpuQuota()
    try:
        fault.apply(ctx_for(proc.pid, tmp_path))
        group = cgroups.cgroup_of(proc.pid, "cpu")
    finally:
        proc.kill()
        proc.wait(timeout=scaled(5))
        fault.revert(ctx_for(proc.pid, tmp_path))
    assert not group.exists()
    fault.revert(ctx_for(None, tmp_path))


# cpu_pause ----------------------------------------------------------------------------------


def test_cpu_pause_duty_cycles_and_resumes(busy: int, tmp_path: Path) -> None:
    ctx = ctx_for(busy, tmp_path)
    fault = CpuPause(CpuPauseParams(percent=25, period_ms=200))
    try:
        fault.apply(ctx)
        during = cpu_share(busy)
    finally:
        fault.revert(ctx)
    assert status(busy) != psutil.STATUS_STOPPED
    after = cpu_share(busy)
    print(f"cpu_pause 25 %: during {during:.0f} %, after {after:.0f} %")
    assert during <= 60
    assert after >= 50
    fault.revert(ctx)
    assert status(busy) != psutil.STATUS_STOPPED


def wait_status(pid: int, want: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + scaled(timeout_s)
    while time.monotonic() < deadline:
        if status(pid) == want:
            return True
        time.sleep(0.01)
    return False


def test_cpu_pause_revert_mid_pause_resumes(busy: int, tmp_path: Path) -> None:
    ctx = ctx_for(busy, tmp_path)
    fault = CpuPause(CpuPauseParams(percent=10, period_ms=2000))  # stopped 1.8 s per cycle
    try:
        fault.apply(ctx)
        assert wait_status(busy, psutil.STATUS_STOPPED, 1.0)
    finally:
        fault.revert(ctx)
    assert status(busy) != psutil.STATUS_STOPPED
    time.sleep(0.3)  # no late SIGSTOP from the cycling thread
    assert status(busy) != psutil.STATUS_STOPPED
    fault.revert(ctx)


# A stand-in for the chaos driver: applies one fault, prints hog PIDs (or "applied"), waits.
HELPER = """
import importlib, json, sys, time
from pathlib import Path
from harness.chaos.base import REGISTRY, ChaosContext
name, pid, params = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
importlib.import_module(f"harness.chaos.faults.{name}")
fault = REGISTRY[name](REGISTRY[name].Params(**params))
fault.apply(ChaosContext(target_pid=pid, run_dir=Path(".")))
print(" ".join(map(str, getattr(fault, "hog_pids", []))) or "applied", flush=True)
time.sleep(60)
"""


@contextlib.contextmanager
def helper_applying(name: str, pid: int, **params: object) -> Iterator[tuple[int, str]]:
    """Run HELPER in a child process; yields (its PID, its first line); SIGKILLs it after."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HELPER, name, str(pid), json.dumps(params)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], scaled(15))
        assert ready, "helper did not apply the fault in time"
        yield proc.pid, proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait(timeout=scaled(5))


def test_cpu_pause_target_resumes_when_the_harness_dies(busy: int) -> None:
    with helper_applying("cpu_pause", busy, percent=0, period_ms=5000) as (helper, line):
        assert line == "applied"
        assert wait_status(busy, psutil.STATUS_STOPPED, 2.0)
        os.kill(helper, signal.SIGKILL)  # no revert: the guardian must send SIGCONT
        assert wait_status(busy, psutil.STATUS_RUNNING, 2.0)


# cpu_contention -----------------------------------------------------------------------------


def test_cpu_contention_hogs_share_the_targets_cpu(busy: int, tmp_path: Path) -> None:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(busy, {cpu})
    ctx = ctx_for(busy, tmp_path)
    before = cpu_share(busy)
    # hogs=0: one per CPU of the target, so one here; as nice as the target, for a fair share
    fault = CpuContention(CpuContentionParams(nice=busy_nice(busy)))
    try:
        fault.apply(ctx)
        hogs = fault.hog_pids
        assert len(hogs) == 1
        assert all(running(h) and os.sched_getaffinity(h) == {cpu} for h in hogs)
        during = cpu_share(busy)
    finally:
        fault.revert(ctx)
    print(f"cpu_contention 1 hog on CPU {cpu}: before {before:.0f} %, during {during:.0f} %")
    assert not any(running(h) for h in hogs)
    assert fault.hog_pids == []
    assert during <= 0.75 * before
    fault.revert(ctx)


def test_cpu_contention_hogs_count_nice_and_revert(busy: int, tmp_path: Path) -> None:
    ctx = ctx_for(busy, tmp_path)
    fault = CpuContention(CpuContentionParams(hogs=3, nice=19))
    try:
        fault.apply(ctx)
        hogs = fault.hog_pids
        assert len(hogs) == 3
        assert all(psutil.Process(h).nice() == 19 for h in hogs)
        fault.apply(ctx)  # applying again replaces the hogs
        assert not any(running(h) for h in hogs)
        hogs = fault.hog_pids
    finally:
        fault.revert(ctx)
    assert not any(running(h) for h in hogs)


def test_cpu_contention_hogs_die_with_the_harness(busy: int) -> None:
    hogs: list[int] = []
    try:
        with helper_applying("cpu_contention", busy, hogs=2) as (helper, line):
            hogs = [int(h) for h in line.split()]
            assert len(hogs) == 2 and all(running(h) for h in hogs)
            os.kill(helper, signal.SIGKILL)  # no revert: PR_SET_PDEATHSIG must kill the hogs
            deadline = time.monotonic() + scaled(3)
            while any(running(h) for h in hogs) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not any(running(h) for h in hogs)
    finally:
        for h in hogs:  # only if the test failed: our own hogs, by PID
            if running(h):
                os.kill(h, signal.SIGKILL)


# Refusals -----------------------------------------------------------------------------------

CPU_FAULTS: list[type[Fault]] = [CpuQuota, CpuPause, CpuContention]


@pytest.mark.parametrize("fault_cls", CPU_FAULTS, ids=lambda c: c.name)
@pytest.mark.parametrize("who", ["pid1", "self", "protected", "none"])
def test_cpu_faults_refuse_forbidden_targets(
    fault_cls: type[Fault], who: str, busy: int, tmp_path: Path
) -> None:
    pid = {"pid1": 1, "self": os.getpid(), "protected": busy, "none": None}[who]
    ctx = ctx_for(pid, tmp_path, protected_pids=frozenset({busy}))
    children = {p.pid for p in psutil.Process().children()}
    groups = own_groups()
    fault = fault_cls()
    with pytest.raises(ChaosError):
        fault.apply(ctx)
    fault.revert(ctx)
    assert {p.pid for p in psutil.Process().children()} == children
    assert own_groups() == groups
    assert status(busy) != psutil.STATUS_STOPPED
