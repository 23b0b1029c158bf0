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

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from harness.chaos.base import ChaosContext, ChaosError, Fault, param, register

MAX_LIFETIME_S = 3600.0  # a hog exits by itself after this (s)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_HOG = """
import os, sys, time
parent, end = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while os.getppid() == parent and time.monotonic() < end:
    for _ in range(200_000):
        pass
"""


@dataclass(frozen=True)
class CpuContentionParams:
    hogs: int = param(0, low=0, high=16, doc="busy processes; 0 = one per CPU of the target")
    nice: int = param(0, low=-20, high=19, doc="niceness of the hogs (higher = yields more)")


def _preexec(cpus: set[int], nice: int) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls

    def run() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.sched_setaffinity(0, cpus)
        os.setpriority(os.PRIO_PROCESS, 0, nice)

    return run


@register
class CpuContention(Fault):
    """Run ``hogs`` busy loops on the target's CPUs."""

    name = "cpu_contention"
    kind = "cpu"
    Params = CpuContentionParams
    summary = "busy-loop hog processes pinned to the target's CPUs"

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
