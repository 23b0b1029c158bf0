"""One scenario run as a child ``harness run`` process, the unit every series is made of.

A series (a suite, a capacity search) runs each scenario in its own process: Locust's
runner, gevent's monkey-patching, the embedded target and the chaos driver all belong to
one run, and a run that goes wrong cannot leave state behind for the next one. The child
gets a fresh ``--out`` directory of its own, so its run directory is the one directory
that appears there.

Stopping: Ctrl-C at a terminal reaches the child too (same process group); it finishes
its run as interrupted, writes its report and exits 130. A SIGTERM sent to the series
(a CI job's cancel) is passed on to the child the same way. Either way the series sees
:attr:`ChildRun.interrupted` and stops after this run, writing what ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from harness.children import die_with_parent
from harness.errors import RunDirError
from harness.rundir.layout import INDEX, META, SUMMARY, read_json_object

#: The exit code of an interrupted run (:class:`harness.cli.exits.ExitCode`).
INTERRUPTED = 130
#: Seconds a child is given to finish its report once asked to stop, before SIGKILL.
STOP_GRACE_S = 60.0


@dataclass(frozen=True)
class ChildRun:
    """A finished child run.

    Attributes:
        exit_code: the child's exit code (0 pass, 1 gate failed, 2 could not run, 130
            interrupted; a negative number: killed by that signal).
        run_dir: its run directory; None when it made none (a bad scenario, a flag).
        summary: its ``summary.json``; None when it wrote none.
        seconds: wall time of the child.
        interrupted: the series was asked to stop (Ctrl-C, SIGTERM) during this run.
    """

    exit_code: int
    run_dir: Path | None
    summary: dict[str, Any] | None
    seconds: float
    interrupted: bool = False


def harness_command(*args: str) -> list[str]:
    """The command line of ``harness ARGS`` with this interpreter (no PATH lookup)."""
    return [sys.executable, "-m", "harness", *args]


def run_scenario(
    scenario: Path,
    out: Path,
    args: Sequence[str] = (),
    *,
    deadline_s: float | None = None,
    env: dict[str, str] | None = None,
) -> ChildRun:
    """Run ``harness run SCENARIO --out OUT ARGS`` and wait for it.

    ``out`` must not exist or be empty (the run directory is found there). Its output
    goes to this process's stdout and stderr. ``deadline_s``: seconds after which the
    child is stopped as interrupted (SIGTERM, then SIGKILL after :data:`STOP_GRACE_S`);
    a run stops by itself at its planned duration, this is a last guard.
    """
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise RunDirError(f"{out}: not empty; a child run needs a directory of its own")
    cmd = harness_command("run", str(scenario), "--out", str(out), *args)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, preexec_fn=die_with_parent())
    interrupted = False
    with _forward_sigterm(proc) as asked:
        try:
            code = _wait(proc, deadline_s, started)
        except KeyboardInterrupt:  # the child got the terminal's SIGINT too
            interrupted = True
            code = _wait(proc, STOP_GRACE_S, time.monotonic())
        interrupted = interrupted or asked()
    if code is None:  # past the deadline: stop it as interrupted
        interrupted = True
        proc.send_signal(signal.SIGTERM)
        code = _wait(proc, STOP_GRACE_S, time.monotonic())
    if code is None:
        proc.kill()
        code = proc.wait()
    run_dir = find_run_dir(out)
    summary = None
    if run_dir is not None and (run_dir / SUMMARY).is_file():
        try:
            summary = read_json_object(run_dir / SUMMARY)
        except RunDirError:
            summary = None
    seconds = time.monotonic() - started
    return ChildRun(code, run_dir, summary, seconds, interrupted or code == INTERRUPTED)


def failed_gates(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The gates a run's ``summary.json`` says failed, in order."""
    gates = (summary or {}).get("gates") or []
    return [g for g in gates if isinstance(g, dict) and g.get("passed") is False]


def failed_gate_names(summary: dict[str, Any] | None) -> list[str]:
    """Names of the gates a run's summary says failed."""
    return [str(g.get("name")) for g in failed_gates(summary)]


def report_paths(run_dir: Path | None, directory: Path) -> tuple[str | None, str | None]:
    """A child's run directory and its ``index.html`` relative to the series' ``directory``
    (None: no run directory, or no report in it)."""
    if run_dir is None:
        return None, None
    rel = run_dir.relative_to(directory).as_posix()
    return rel, (f"{rel}/{INDEX}" if (run_dir / INDEX).is_file() else None)


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """While a series runs, a SIGTERM between two child runs stops it as Ctrl-C does (during
    a child run, :func:`run_scenario` passes it on to the child instead)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def find_run_dir(out: Path) -> Path | None:
    """The run directory a child made in its own ``out`` (the one with ``meta.json``)."""
    if not out.is_dir():
        return None
    dirs = sorted(p for p in out.iterdir() if p.is_dir() and (p / META).is_file())
    return dirs[0] if len(dirs) == 1 else None


def _wait(proc: subprocess.Popen[bytes], timeout: float | None, since: float) -> int | None:
    """The child's exit code, or None when it still runs ``timeout`` s after ``since``."""
    while True:
        left = None if timeout is None else timeout - (time.monotonic() - since)
        if left is not None and left <= 0:
            return None
        try:
            return proc.wait(timeout=None if left is None else min(left, 1.0))
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def _forward_sigterm(proc: subprocess.Popen[bytes]) -> Iterator[Any]:
    """While the child runs, a SIGTERM to this process goes to the child (which ends its
    run as interrupted); yields a function that tells whether one came."""
    came: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        came.append(signum)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)

    try:
        previous = signal.signal(signal.SIGTERM, forward)
    except ValueError:  # not the main thread: nothing to forward
        yield lambda: False
        return
    try:
        yield lambda: bool(came)
    finally:
        signal.signal(signal.SIGTERM, previous)
