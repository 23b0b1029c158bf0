"""CPU starvation without cgroups: SIGSTOP/SIGCONT duty cycling of the target process.

The target is its process tree (parent first, as found at apply): every process of it is
stopped and continued together, since a stopped parent does not stop its children.

Each ``period_ms`` the target runs for ``percent`` of the period and is stopped for the rest,
by a daemon thread of the harness. Stopping is coarse (the whole process, sockets included:
timers and heartbeats stall too), unlike a CFS quota which slices finely; prefer ``cpu_quota``
where cgroups work. The target is never left stopped: ``revert`` ends the thread (which can send
no SIGSTOP afterwards) and then sends SIGCONT last, and a small guardian process sends SIGCONT
if the harness process dies without reverting (it polls its parent every 50 ms). Both stop on
their own after :data:`MAX_LIFETIME_S`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

from harness.chaos.base import ChaosContext, ChaosError, Fault, register
from harness.config.faults import CPU_PAUSE, CpuPauseParams

MAX_LIFETIME_S = 3600.0  # the cycling thread and the guardian stop by themselves after this (s)

_GUARDIAN = """
import os, signal, sys, time
targets = [int(p) for p in sys.argv[1].split(",")]
parent, end = int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    while os.getppid() == parent and time.monotonic() < end:
        time.sleep(0.05)
finally:
    for target in targets:
        try:
            os.kill(target, signal.SIGCONT)
        except OSError:
            pass
"""


@register
class CpuPause(Fault):
    """Let the target run ``percent`` of each ``period_ms``; SIGSTOP it for the rest."""

    spec = CPU_PAUSE

    def __init__(self, params: CpuPauseParams | None = None) -> None:
        super().__init__(params)
        self._lock = threading.Lock()  # held around "not stopping yet? then SIGSTOP"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guardian: subprocess.Popen[bytes] | None = None
        self._pids: list[int] = []  # the target's tree, parent first

    def apply(self, ctx: ChaosContext) -> None:
        pids = ctx.require_tree(self.name)
        self.revert(ctx)
        p: CpuPauseParams = self.params
        run_s = p.period_ms / 1000 * p.percent / 100
        stop_s = p.period_ms / 1000 - run_s
        self._pids, self._stop = pids, threading.Event()
        args = [",".join(map(str, pids)), str(os.getpid()), str(MAX_LIFETIME_S + 10)]
        try:
            self._guardian = subprocess.Popen(
                [sys.executable, "-c", _GUARDIAN, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError as e:
            raise ChaosError(f"{self.name}: cannot start the SIGCONT guardian: {e}") from None
        self._thread = threading.Thread(
            target=self._cycle, args=(pids, run_s, stop_s), name=self.name, daemon=True
        )
        self._thread.start()

    def _cycle(self, pids: list[int], run_s: float, stop_s: float) -> None:
        deadline = time.monotonic() + MAX_LIFETIME_S
        try:
            while time.monotonic() < deadline:
                with self._lock:
                    if self._stop.is_set():
                        return
                    _signal_tree(pids, signal.SIGSTOP)
                self._stop.wait(stop_s)
                _signal_tree(pids, signal.SIGCONT)
                if self._stop.wait(run_s):
                    return
        except OSError:
            return  # the target is gone
        finally:
            _cont(pids)

    def revert(self, ctx: ChaosContext) -> None:
        with self._lock:
            self._stop.set()  # from here on the thread sends no SIGSTOP
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._guardian is not None:
            self._guardian.terminate()
            try:
                self._guardian.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._guardian.kill()
                self._guardian.wait(timeout=5.0)
            self._guardian = None
        if self._pids:
            _cont(self._pids)  # always last: never leave the target stopped
            self._pids = []


def _signal_tree(pids: list[int], sig: int) -> None:
    """``sig`` to every process of the tree; OSError when its parent (the first) is gone."""
    os.kill(pids[0], sig)
    for pid in pids[1:]:
        with contextlib.suppress(OSError):  # a child that ended: the parent notices
            os.kill(pid, sig)


def _cont(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):  # gone already
            os.kill(pid, signal.SIGCONT)
