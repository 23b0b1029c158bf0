"""The target's watchdog: notices when the target process dies during a run, and how.

A death while a process fault of the chaos plan (``kill_target``, ``restart_target``) is
on is the fault, not a crash; the watchdog follows the PID the chaos driver announces
after a restart. Any other death is recorded once (``meta.json``'s ``target_exit``) and the
report speaks of a crash, not of capacity (see :mod:`harness.analysis.rules_crash`).
"""

from __future__ import annotations

import signal
import subprocess
import time

import psutil

from harness.rundir.meta import TargetExit


def how_it_ended(returncode: int) -> str:
    """``"killed by SIGKILL"`` for a negative return code, ``"exited with status N"`` else."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class TargetWatch:
    """Watches the target's PID; :meth:`check` returns its death once, None otherwise.

    Args:
        pid: the target process.
        popen: the process when the harness started it (its exit status is then known).
    """

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.popen = popen
        self.death: TargetExit | None = None

    def follow(self, pid: int) -> None:
        """The chaos driver restarted the target as ``pid``: watch that one from now on."""
        if pid != self.pid:
            self.pid, self.popen = pid, None

    def _how(self) -> str | None:
        """How the watched process ended; None while it lives."""
        if self.popen is not None and self.popen.pid == self.pid:
            code = self.popen.poll()
            return None if code is None else how_it_ended(code)
        try:
            if psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE:
                return None
        except psutil.NoSuchProcess:
            pass
        except psutil.Error:
            return None  # not ours to look at: say nothing rather than guess
        return "gone (not a child of the harness: exit status unknown)"

    def check(self, *, expected: bool) -> TargetExit | None:
        """The target's death if it has just been seen dead; None while it lives, when a
        process fault is on (``expected``), or when its death was reported already."""
        if self.death is not None or expected:
            return None
        how = self._how()
        if how is None:
            return None
        self.death = TargetExit(at=time.time(), pid=self.pid, how=how)
        return self.death
