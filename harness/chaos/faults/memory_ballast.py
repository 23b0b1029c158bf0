"""Host-wide memory pressure: a ballast process that holds ``mb`` MiB of touched memory.

The ballast is a separate Python process (not the target), so it needs no target PID.
It allocates a bytearray, writes one byte in every page so the memory is really resident,
reports ready, then sleeps. It is bounded three ways: revert SIGKILLs it by PID; it gets
SIGKILL when the thread that started it dies (``PR_SET_PDEATHSIG``, Linux; start it from a
thread that lives as long as the fault); and it exits by itself after ``lifetime`` seconds
or when its parent changes. Apply refuses when less than ``margin_mb`` would stay available.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

from harness.chaos.base import ChaosContext, ChaosError, Fault, register
from harness.children import die_with_parent
from harness.config.faults import MEMORY_BALLAST, MemoryBallastParams

MIB = 1024 * 1024  # bytes
READY_BASE_S = 10.0  # seconds allowed for the ballast to start, plus READY_PER_GIB_S per GiB
READY_PER_GIB_S = 5.0
REAP_S = 10.0  # seconds to reap the ballast after SIGKILL
#: allocate argv[1] MiB, touch every page, say so; sleep <= argv[2] s while the parent lives
BALLAST_CODE = """
import os, sys, time
n, life, parent = int(sys.argv[1]) << 20, float(sys.argv[2]), int(sys.argv[3])
b = bytearray(n)
b[::4096] = b"\\x01" * len(range(0, n, 4096))
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdout.close()
end = time.monotonic() + life
while time.monotonic() < end and os.getppid() == parent:
    time.sleep(min(1.0, max(0.0, end - time.monotonic())))
"""


def mem_available_mb() -> float:
    """MemAvailable from /proc/meminfo, in MiB."""
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
    raise ChaosError("memory_ballast: no MemAvailable in /proc/meminfo")


@register
class MemoryBallast(Fault):
    """A bounded process holding ``mb`` MiB of resident memory."""

    spec = MEMORY_BALLAST

    def __init__(self, params: MemoryBallastParams | None = None) -> None:
        super().__init__(params)
        self.proc: subprocess.Popen[bytes] | None = None

    def apply(self, ctx: ChaosContext) -> None:
        self.revert(ctx)
        p: MemoryBallastParams = self.params
        avail = mem_available_mb()
        if avail - p.mb < p.margin_mb:
            raise ChaosError(
                f"{self.name}: refusing {p.mb} MiB: MemAvailable is {avail:.0f} MiB, "
                f"and {p.margin_mb} MiB must remain"
            )
        argv = [sys.executable, "-c", BALLAST_CODE, str(p.mb), str(p.lifetime), str(os.getpid())]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            preexec_fn=die_with_parent(signal.SIGKILL),
        )
        assert self.proc.stdout is not None
        wait_s = READY_BASE_S + READY_PER_GIB_S * p.mb / 1024
        ready, _, _ = select.select([self.proc.stdout], [], [], wait_s)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            code = self.proc.poll()
            self.revert(ctx)
            why = f"exited with status {code}" if code is not None else f"not ready in {wait_s} s"
            raise ChaosError(f"{self.name}: the {p.mb} MiB ballast {why}")

    def revert(self, ctx: ChaosContext) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()  # by PID; the Popen object is ours, so this PID cannot be reused yet
        try:
            proc.wait(REAP_S)
        except subprocess.TimeoutExpired:
            self.proc = proc  # a later revert tries again
            raise ChaosError(f"{self.name}: ballast PID {proc.pid} survived SIGKILL") from None
        if proc.stdout is not None:
            proc.stdout.close()
