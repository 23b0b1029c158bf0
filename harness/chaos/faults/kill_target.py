"""Kill the target process with SIGKILL (default) or SIGTERM; bring it back on revert if possible.

Revert restarts the target when the harness can (``ctx.restart``: the embedded target, or an
external one with ``target.restart_command``), then sets ``ctx.target_pid`` and calls
``ctx.on_pid_change`` with the new PID. Without ``ctx.restart`` revert does nothing and the
target stays down for the rest of the run (what clients see from a dead service is the data).
Revert restarts at most once per apply, and only if the target is really down: a SIGTERM the
target ignored, or a restart someone else already did, is left alone.

:func:`running`, :func:`wait_gone` and :func:`restart` are shared with ``restart_target``.
"""

from __future__ import annotations

import os
import signal
import time

import psutil

from harness.chaos.base import ChaosContext, ChaosError, Fault, register
from harness.config.faults import KILL_TARGET, KillTargetParams
from harness.errors import HarnessError

SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM}
EXIT_WAIT_S = 5.0  # how long revert waits for the signalled target to exit (s)


def running(pid: int) -> bool:
    """The process exists and is not a zombie (a killed child nobody reaped yet is down)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` (s) for ``pid`` to stop :func:`running`; True when it did."""
    deadline = time.monotonic() + timeout_s
    while running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def restart(ctx: ChaosContext, fault: str) -> int:
    """Start the target again with ``ctx.restart`` and report its new PID; returns it."""
    if ctx.restart is None:
        raise ChaosError(f"{fault}: the target cannot be restarted")
    try:
        pid = ctx.restart()
    except HarnessError:
        raise
    except Exception as e:
        raise ChaosError(f"{fault}: restarting the target failed: {e}") from e
    ctx.target_pid = pid
    if ctx.on_pid_change is not None:
        ctx.on_pid_change(pid)
    return pid


@register
class KillTarget(Fault):
    """Send the target ``signal``; restart it on revert when restartable."""

    spec = KILL_TARGET

    def __init__(self, params: KillTargetParams | None = None) -> None:
        super().__init__(params)
        self._killed: int | None = None  # the PID this apply signalled, until revert

    def apply(self, ctx: ChaosContext) -> None:
        pid = ctx.require_pid(self.name)
        try:
            os.kill(pid, SIGNALS[self.params.signal])
        except ProcessLookupError:
            raise ChaosError(f"{self.name}: target PID {pid} is already gone") from None
        self._killed = pid

    def revert(self, ctx: ChaosContext) -> None:
        killed, self._killed = self._killed, None
        if killed is None or ctx.restart is None:
            return  # not applied, reverted already, or not restartable: the target stays down
        if not wait_gone(killed, EXIT_WAIT_S):
            return  # it survived the signal: nothing to bring back
        current = ctx.target_pid
        if current is not None and current != killed and running(current):
            return  # someone restarted it already
        restart(ctx, self.name)
