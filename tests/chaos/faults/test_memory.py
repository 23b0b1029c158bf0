"""Memory faults against real child processes: soft rlimits, a memory cgroup, a ballast."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.chaos import load_faults
from harness.chaos.base import ChaosContext, ChaosError
from harness.chaos.faults.memory_ballast import MemoryBallast, mem_available_mb
from harness.chaos.faults.memory_cgroup import MemoryCgroup, memory_cgroup_of
from harness.chaos.faults.memory_rlimit import RESOURCES, MemoryRlimit
from harness.children import die_with_parent
from harness.config.faults import MemoryBallastParams, MemoryCgroupParams, MemoryRlimitParams
from tests.conftest import scaled

MIB = 1024 * 1024  # bytes

#: A child that, for each line N on stdin, allocates and touches N MiB, frees it, and
#: answers "ok" or "MemoryError" on stdout.
ALLOCATOR = """
import sys
for line in sys.stdin:
    n = int(line) << 20
    try:
        b = bytearray(n)
        b[::4096] = b"\\x01" * len(range(0, n, 4096))
        del b
        print("ok", flush=True)
    except MemoryError:
        print("MemoryError", flush=True)
"""


class Allocator:
    """The allocator child; :meth:`ask` sends a size in MiB and waits for the answer."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ALLOCATOR],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent(),
            start_new_session=True,  # a target is never in the harness's session
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ask(self, mb: int, timeout: float) -> str | None:
        """The child's answer to allocating ``mb`` MiB; None if none within ``timeout`` s."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{mb}\n")
        self.proc.stdin.flush()
        return self.answer(timeout)

    def answer(self, timeout: float) -> str | None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], scaled(timeout))
        return self.proc.stdout.readline().strip() if ready else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(scaled(10))
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def allocator() -> Iterator[Allocator]:
    child = Allocator()
    try:
        assert child.ask(1, timeout=10) == "ok"  # started and answering
        yield child
    finally:
        child.stop()


def ctx_for(pid: int | None, tmp_path: Path) -> ChaosContext:
    return ChaosContext(target_pid=pid, run_dir=tmp_path)


def test_faults_are_registered() -> None:
    faults = load_faults()
    for name in ("memory_rlimit", "memory_cgroup", "memory_ballast"):
        assert faults[name].kind == "memory"
        assert faults[name].summary
    assert faults["memory_ballast"].needs_pid is False


# --- memory_rlimit ----------------------------------------------------------------------


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_rlimit_allocation_fails_then_recovers(
    allocator: Allocator, tmp_path: Path, resource: str
) -> None:
    res = RESOURCES[resource]
    proc = psutil.Process(allocator.pid)
    before = proc.rlimit(res)
    fault = MemoryRlimit(MemoryRlimitParams(headroom_mb=64, resource=resource))
    ctx = ctx_for(allocator.pid, tmp_path)
    try:
        fault.apply(ctx)
        soft, hard = proc.rlimit(res)
        assert hard == before[1]
        assert soft != before[0]
        assert allocator.ask(16, timeout=10) == "ok"  # within the headroom
        assert allocator.ask(256, timeout=10) == "MemoryError"  # beyond it
        assert allocator.proc.poll() is None  # survived
    finally:
        fault.revert(ctx)
    assert proc.rlimit(res) == before
    assert allocator.ask(256, timeout=10) == "ok"
    fault.revert(ctx)  # twice is fine
    assert proc.rlimit(res) == before


def test_rlimit_soft_is_usage_plus_headroom(allocator: Allocator, tmp_path: Path) -> None:
    proc = psutil.Process(allocator.pid)
    fault = MemoryRlimit(MemoryRlimitParams(headroom_mb=100, resource="as"))
    ctx = ctx_for(allocator.pid, tmp_path)
    try:
        vms = proc.memory_info().vms
        fault.apply(ctx)
        soft, _ = proc.rlimit(psutil.RLIMIT_AS)
        assert abs(soft - (vms + 100 * MIB)) < 8 * MIB
    finally:
        fault.revert(ctx)


# --- memory_cgroup ----------------------------------------------------------------------

CGROUP_SKIP = MemoryCgroup.unsupported()


@pytest.mark.skipif(CGROUP_SKIP is not None, reason=f"memory cgroup: {CGROUP_SKIP}")
def test_cgroup_kill_mode_oom_kills(allocator: Allocator, tmp_path: Path) -> None:
    _, original = memory_cgroup_of(allocator.pid)
    fault = MemoryCgroup(MemoryCgroupParams(limit_mb=64, mode="kill"))
    ctx = ctx_for(allocator.pid, tmp_path)
    try:
        fault.apply(ctx)
        group = memory_cgroup_of(allocator.pid)[1]
        assert group.parent == original
        allocator.ask(256, timeout=0)
        code = allocator.proc.wait(scaled(15))
        assert code == -9  # the kernel's OOM killer
    finally:
        fault.revert(ctx)
    assert not group.exists()
    fault.revert(ctx)


@pytest.mark.skipif(CGROUP_SKIP is not None, reason=f"memory cgroup: {CGROUP_SKIP}")
def test_cgroup_stall_mode_stalls_until_revert(allocator: Allocator, tmp_path: Path) -> None:
    _, original = memory_cgroup_of(allocator.pid)
    fault = MemoryCgroup(MemoryCgroupParams(limit_mb=64, mode="stall"))
    ctx = ctx_for(allocator.pid, tmp_path)
    try:
        fault.apply(ctx)
        version, group = memory_cgroup_of(allocator.pid)
        assert group.parent == original
        assert allocator.ask(256, timeout=2) is None  # stuck at the limit, not killed
        assert allocator.proc.poll() is None
        if version == "v1":
            assert "under_oom 1" in (group / "memory.oom_control").read_text()
    finally:
        fault.revert(ctx)
    assert allocator.answer(timeout=15) == "ok"  # resumed and finished
    assert memory_cgroup_of(allocator.pid)[1] == original
    assert not group.exists()
    assert allocator.ask(256, timeout=10) == "ok"
    fault.revert(ctx)


# --- memory_ballast ---------------------------------------------------------------------


def _pcp_mb() -> float:
    """Free pages parked in the kernel's per-CPU lists, in MiB: not in MemFree/MemAvailable.

    Newer kernels auto-tune these lists to hundreds of MiB, so pages a process frees (or
    takes) there hide from MemAvailable; without this, a 512 MiB ballast showed as ~250 MiB.
    """
    pages = 0
    with open("/proc/zoneinfo", encoding="ascii") as f:
        for line in f:
            words = line.split()
            if words[:1] == ["count:"]:
                pages += int(words[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MIB


def _median_available(samples: int = 3) -> float:
    """MemAvailable plus per-CPU free pages, in MiB: the median of a few readings."""
    values = []
    for _ in range(samples):
        values.append(mem_available_mb() + _pcp_mb())
        time.sleep(0.05)
    return sorted(values)[samples // 2]


def test_ballast_takes_memory_and_is_killed_on_revert(tmp_path: Path) -> None:
    mb = 512
    fault = MemoryBallast(MemoryBallastParams(mb=mb, margin_mb=1024))
    ctx = ctx_for(None, tmp_path)
    before = _median_available()
    try:
        fault.apply(ctx)
        assert fault.proc is not None
        pid = fault.proc.pid
        rss_mb = psutil.Process(pid).memory_info().rss / MIB
        during = _median_available()
        assert rss_mb >= 0.95 * mb, f"ballast resident {rss_mb:.0f} MiB"
    finally:
        fault.revert(ctx)
    assert not psutil.pid_exists(pid)
    after = _median_available()
    # MemAvailable is host-wide and other processes come and go: the drop at apply or the
    # rise at revert (rarely both disturbed at once) must be about ``mb``.
    drop, rise = before - during, after - during
    ok = [0.5 * mb <= change <= 2.5 * mb for change in (drop, rise)]
    assert any(ok), f"MemAvailable fell {drop:.0f} MiB at apply, rose {rise:.0f} MiB at revert"
    fault.revert(ctx)


def test_ballast_refuses_to_eat_the_margin(tmp_path: Path) -> None:
    fault = MemoryBallast(MemoryBallastParams(mb=int(mem_available_mb()) + 1024, margin_mb=0))
    with pytest.raises(ChaosError, match="refusing"):
        fault.apply(ctx_for(None, tmp_path))
    assert fault.proc is None
    fault.revert(ctx_for(None, tmp_path))


def test_ballast_ends_after_its_lifetime(tmp_path: Path) -> None:
    fault = MemoryBallast(MemoryBallastParams(mb=16, margin_mb=0, lifetime=1))
    ctx = ctx_for(None, tmp_path)
    try:
        fault.apply(ctx)
        assert fault.proc is not None
        fault.proc.wait(scaled(10))  # exits by itself
        assert fault.proc.returncode == 0
    finally:
        fault.revert(ctx)


def test_ballast_dies_with_its_parent(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from harness.chaos.base import ChaosContext\n"
        "from harness.chaos.faults.memory_ballast import MemoryBallast\n"
        "from harness.config.faults import MemoryBallastParams\n"
        "f = MemoryBallast(MemoryBallastParams(mb=16, margin_mb=0, lifetime=120))\n"
        "f.apply(ChaosContext(target_pid=None, run_dir=Path('.')))\n"
        "print(f.proc.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        preexec_fn=die_with_parent(),
    )
    try:
        assert parent.stdout is not None
        ready, _, _ = select.select([parent.stdout], [], [], scaled(20))
        assert ready, "the parent never reported its ballast"
        ballast = int(parent.stdout.readline())
        assert psutil.pid_exists(ballast)
        parent.kill()
        parent.wait(scaled(10))
        deadline = time.monotonic() + scaled(5)
        while _running(ballast) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(ballast), "the ballast outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- rules every fault keeps ------------------------------------------------------------

PID_FAULTS = [
    MemoryRlimit(MemoryRlimitParams()),
    MemoryCgroup(MemoryCgroupParams(limit_mb=64)),
]


@pytest.mark.parametrize("fault", [*PID_FAULTS, MemoryBallast()], ids=lambda f: f.name)
def test_revert_without_apply_is_fine(fault: MemoryRlimit, tmp_path: Path) -> None:
    fault.revert(ctx_for(os.getpid(), tmp_path))
    fault.revert(ctx_for(os.getpid(), tmp_path))


@pytest.mark.parametrize("fault", PID_FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("pid", [1, os.getpid()], ids=["pid1", "own"])
def test_refuses_pid_1_and_own_pid(fault: MemoryRlimit, pid: int, tmp_path: Path) -> None:
    before = psutil.Process(pid).rlimit(psutil.RLIMIT_AS)
    with pytest.raises(ChaosError, match="refusing"):
        fault.apply(ctx_for(pid, tmp_path))
    fault.revert(ctx_for(pid, tmp_path))
    assert psutil.Process(pid).rlimit(psutil.RLIMIT_AS) == before
