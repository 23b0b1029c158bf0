"""Restart the target: signal it, wait until it exits, stay down ``down_ms``, start it again.

Needs ``ctx.restart`` (the embedded target, or an external one with ``target.restart_command``).
A target that ignores SIGTERM for :data:`EXIT_TIMEOUT_S` gets SIGKILL. The target is its process
tree (see ``kill_target``): the restart waits until every process of it is gone. The new PID goes to
``ctx.target_pid`` and ``ctx.on_pid_change``. Revert has nothing to undo beyond making sure the
target runs: it restarts the target if it is down (e.g. apply failed half-way).
"""

from __future__ import annotations

import signal
import time

from harness.chaos.base import ChaosContext, ChaosError, Fault, register
from harness.chaos.faults.kill_target import SIGNALS, kill_tree, restart, running, wait_gone
from harness.config.faults import RESTART_TARGET, RestartTargetParams

EXIT_TIMEOUT_S = 10.0  # wait this long for the target to exit, then SIGKILL it (s)
KILL_TIMEOUT_S = 5.0  # wait this long after SIGKILL (s)


@register
class RestartTarget(Fault):
    """Stop the target with ``signal`` and start it again after ``down_ms``."""

    spec = RESTART_TARGET

    def __init__(self, params: RestartTargetParams | None = None) -> None:
        super().__init__(params)
        self._applied = False

    def apply(self, ctx: ChaosContext) -> None:
        if ctx.restart is None:
            raise ChaosError(f"{self.name} needs the embedded target or target.restart_command")
        tree = ctx.require_tree(self.name)
        p: RestartTargetParams = self.params
        self._applied = True
        kill_tree(tree, SIGNALS[p.signal])
        if not wait_gone(tree, EXIT_TIMEOUT_S):
            kill_tree(tree, signal.SIGKILL)
            if not wait_gone(tree, KILL_TIMEOUT_S):
                raise ChaosError(
                    f"{self.name}: PID {tree[0]} (or a child) did not exit, even after SIGKILL"
                )
        time.sleep(p.down_ms / 1000)
        restart(ctx, self.name)

    def revert(self, ctx: ChaosContext) -> None:
        if not self._applied:
            return
        self._applied = False
        pid = ctx.target_pid
        if ctx.restart is not None and (pid is None or not running(pid)):
            restart(ctx, self.name)
