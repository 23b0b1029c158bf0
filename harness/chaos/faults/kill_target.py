"""Kill the target process with SIGKILL (default) or SIGTERM; bring it back on revert if possible.

Revert restarts the target when the harness can (``ctx.restart``: the embedded target, or an
external one with ``target.restart_command``), then sets ``ctx.target_pid`` and calls
``ctx.on_pid_change`` with the new PID. Without ``ctx.restart`` revert does nothing and the
target stays down for the rest of the run (what clients see from a dead service is the data).
Revert restarts at most once per apply, and only if the target is really down: a SIGTERM the
target ignored, or a restart someone else already did, is left alone.

The target is its process tree (the embedded target with ``processes > 1`` is a parent and
its server processes): SIGKILL goes to every process of it at once (a crash of the whole
service), SIGTERM to the parent alone, which stops its children as it stops itself. Revert
waits until every process of the tree is gone before it starts the target again (the new
one binds the same port).

:func:`running`, :func:`wait_gone`, :func:`kill_tree` and :func:`restart` are shared with
``restart_target``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence

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


def wait_gone(pids: int | Sequence[int], timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` (s) until no process of ``pids`` is :func:`running`; True when
    none is."""
    deadline = time.monotonic() + timeout_s
    for pid in [pids] if isinstance(pids, int) else pids:
        while running(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
    return True


def kill_tree(pids: Sequence[int], sig: int) -> bool:
    """Send ``sig`` to the target tree ``pids`` (parent first): SIGKILL to every process,
    another signal to the parent alone. False when the parent was already gone."""
    targets = pids if sig == signal.SIGKILL else pids[:1]
    sent = True
    for i, pid in enumerate(targets):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            sent = sent and i > 0  # a child may have died with its parent meanwhile
    return sent


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
        self._killed: list[int] = []  # the tree this apply signalled (parent first), until revert

    def apply(self, ctx: ChaosContext) -> None:
        pids = ctx.require_tree(self.name)
        if not kill_tree(pids, SIGNALS[self.params.signal]):
            raise ChaosError(f"{self.name}: target PID {pids[0]} is already gone")
        self._killed = pids

    def revert(self, ctx: ChaosContext) -> None:
        tree, self._killed = self._killed, []
        if not tree or ctx.restart is None:
            return  # not applied, reverted already, or not restartable: the target stays down
        killed = tree[0]
        if not wait_gone(tree, EXIT_WAIT_S):
            return  # it survived the signal: nothing to bring back
        current = ctx.target_pid
        if current is not None and current != killed and running(current):
            return  # someone restarted it already
        restart(ctx, self.name)
