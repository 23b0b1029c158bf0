"""The worker processes ``harness run --workers N`` starts on this machine.

Each is ``python -m harness worker SCENARIO --master-host 127.0.0.1 --master-port P`` with
the same scenario overrides as the master (so its scenario is the master's: the master
checks a digest), in a session of its own (Ctrl-C in the terminal reaches the master
only, which stops the workers through Locust), and asks the kernel for SIGTERM when the
master dies, even by SIGKILL (:func:`harness.children.die_with_parent`). They are stopped
by their PIDs on every exit path: Locust's ``quit`` first, then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import gevent

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from harness.children import die_with_parent
from harness.errors import HarnessError
from harness.load.watchdog import how_it_ended

#: Seconds the workers get to connect to the master.
CONNECT_TIMEOUT_S = 30.0
#: Seconds a worker gets to exit after the master quit, before SIGTERM (and again SIGKILL).
EXIT_GRACE_S = 5.0


def worker_command(scenario: str, port: int, overrides: Sequence[str]) -> list[str]:
    """The command line of one local worker."""
    return [
        sys.executable,
        "-m",
        "harness",
        "worker",
        scenario,
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(port),
        *overrides,
    ]


class WorkerProcesses:
    """N local worker processes (see the module docstring); a context manager that stops
    them on exit."""

    def __init__(self, command: Sequence[str], count: int) -> None:
        self.command = list(command)
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> WorkerProcesses:
        for _ in range(self.count):
            self.procs.append(
                subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,  # the master reports; errors go to stderr
                    start_new_session=True,
                    preexec_fn=die_with_parent(signal.SIGTERM),
                )
            )
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def exit_of(self, pid: int | None) -> str | None:
        """How worker ``pid`` ended (None: still running, or not one of these)."""
        for proc in self.procs:
            if proc.pid == pid:
                code = proc.poll()
                return None if code is None else how_it_ended(code)
        return None

    def wait_connected(
        self, connected: Callable[[], int], timeout: float = CONNECT_TIMEOUT_S
    ) -> None:
        """Wait until ``connected()`` (a count) reaches :attr:`count`.

        Raises:
            HarnessError: a worker exited first (its stderr says why), or the timeout passed.
        """
        deadline = time.monotonic() + timeout
        while connected() < self.count:
            for proc in self.procs:
                code = proc.poll()
                if code is not None:
                    raise HarnessError(
                        f"worker process {proc.pid} {how_it_ended(code)} before it connected"
                        " to the master (its error is above)"
                    )
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"only {connected()} of {self.count} workers connected to the master"
                    f" within {timeout:g} s"
                )
            gevent.sleep(0.1)

    def stop(self, grace: float = EXIT_GRACE_S) -> None:
        """Wait ``grace`` s for each to exit (after Locust's quit), then SIGTERM, then
        SIGKILL; by PID, idempotent."""
        deadline = time.monotonic() + grace
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = [p for p in self.procs if p.poll() is None]
            for proc in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)
            for proc in alive:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(grace)

    def __enter__(self) -> WorkerProcesses:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
