"""CPU contention: busy-loop hog processes on the CPUs the target may run on.

Each hog is ``python -c <busy loop>`` pinned with ``sched_setaffinity`` to the target's CPUs, at
niceness ``nice``: with as many hogs as CPUs, a busy target gets about half of what it had. Hogs
are bounded: each exits after :data:`MAX_LIFETIME_S`, when the harness process dies
(``PR_SET_PDEATHSIG`` = SIGKILL, set in the child before exec) and when its parent PID changes.
Note: the kernel ties PDEATHSIG to the *thread* that started the hog, so call ``apply`` from a
thread that outlives the fault window (the driver's main thread). Revert SIGKILLs and reaps each
hog by PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

from harness.chaos.base import ChaosContext, ChaosError, Fault, register
from harness.children import die_with_parent
from harness.config.faults import CPU_CONTENTION, CpuContentionParams

MAX_LIFETIME_S = 3600.0  # a hog exits by itself after this (s)

_HOG = """
import os, sys, time
parent, end = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while os.getppid() == parent and time.monotonic() < end:
    for _ in range(200_000):
        pass
"""


def _preexec(cpus: set[int], nice: int) -> Callable[[], None]:
    die = die_with_parent(signal.SIGKILL)  # libc loaded before fork: the child only calls

    def run() -> None:
        die()
        os.sched_setaffinity(0, cpus)
        os.setpriority(os.PRIO_PROCESS, 0, nice)

    return run


@register
class CpuContention(Fault):
    """Run ``hogs`` busy loops on the target's CPUs."""

    spec = CPU_CONTENTION

    def __init__(self, params: CpuContentionParams | None = None) -> None:
        super().__init__(params)
        self._hogs: list[subprocess.Popen[bytes]] = []

    @classmethod
    def unsupported(cls) -> str | None:
        if not sys.platform.startswith("linux"):
            return f"needs Linux (sched_setaffinity, prctl), not {sys.platform}"
        return None

    @property
    def hog_pids(self) -> list[int]:
        """The PIDs of the running hogs (empty when reverted)."""
        return [h.pid for h in self._hogs]

    def apply(self, ctx: ChaosContext) -> None:
        pid = ctx.require_pid(self.name)
        self.revert(ctx)
        p: CpuContentionParams = self.params
        try:
            cpus = os.sched_getaffinity(pid)
        except OSError as e:
            raise ChaosError(f"{self.name}: cannot read the CPUs of PID {pid}: {e}") from None
        cmd = [sys.executable, "-c", _HOG, str(os.getpid()), str(MAX_LIFETIME_S)]
        preexec = _preexec(cpus, p.nice)
        for _ in range(p.hogs or len(cpus)):
            try:
                hog = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=preexec,
                )
            except (OSError, subprocess.SubprocessError) as e:
                self.revert(ctx)
                raise ChaosError(f"{self.name}: cannot start a hog: {e}") from None
            self._hogs.append(hog)

    def revert(self, ctx: ChaosContext) -> None:
        hogs, self._hogs = self._hogs, []
        for hog in hogs:
            hog.kill()  # SIGKILL by PID; a no-op once it has been reaped
        stuck = []
        for hog in hogs:
            try:
                hog.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                stuck.append(hog.pid)
        if stuck:
            raise ChaosError(f"{self.name}: hogs {stuck} did not exit 5 s after SIGKILL")
