"""Tests of the process faults (kill_target, restart_target) on real child processes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.chaos.base import ChaosContext, ChaosError, Fault
from harness.chaos.faults import kill_target, restart_target
from harness.chaos.faults.kill_target import KillTarget, running
from harness.chaos.faults.restart_target import RestartTarget
from harness.config.faults import KillTargetParams, RestartTargetParams
from tests.conftest import scaled

# A target that ignores SIGTERM; says "ready" once the handler is set.
STUBBORN = (
    "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\ntime.sleep(float(sys.argv[1]))\n"
)


class Targets:
    """Starts stand-in targets (``sleep``) and kills every one left at the end of the test."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.restarts = 0

    def start(self) -> int:
        proc = subprocess.Popen(["sleep", str(scaled(60))], text=True, start_new_session=True)
        self.procs.append(proc)
        return proc.pid

    def restart(self) -> int:
        self.restarts += 1
        return self.start()

    def start_stubborn(self) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-c", STUBBORN, str(scaled(60))],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        assert select.select([proc.stdout], [], [], scaled(10))[0], "stubborn target not ready"
        assert proc.stdout.readline().strip() == "ready"
        return proc.pid

    def cleanup(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=scaled(5))


@pytest.fixture
def targets() -> Iterator[Targets]:
    t = Targets()
    try:
        yield t
    finally:
        t.cleanup()


def make_ctx(
    pid: int | None, tmp_path: Path, restart: Callable[[], int] | None, changes: list[int]
) -> ChaosContext:
    return ChaosContext(
        target_pid=pid, run_dir=tmp_path, restart=restart, on_pid_change=changes.append
    )


# kill_target --------------------------------------------------------------------------------


def test_kill_target_kills_and_restarts_once_on_revert(targets: Targets, tmp_path: Path) -> None:
    old = targets.start()
    changes: list[int] = []
    ctx = make_ctx(old, tmp_path, targets.restart, changes)
    fault = KillTarget()
    fault.apply(ctx)
    assert kill_target.wait_gone(old, scaled(5))  # a zombie nobody reaped counts as down
    assert targets.restarts == 0
    fault.revert(ctx)
    assert targets.restarts == 1
    (new,) = changes
    assert new != old and running(new) and ctx.target_pid == new
    fault.revert(ctx)  # once per apply
    assert targets.restarts == 1 and changes == [new]


def test_kill_target_without_restart_leaves_target_down(targets: Targets, tmp_path: Path) -> None:
    old = targets.start()
    changes: list[int] = []
    ctx = make_ctx(old, tmp_path, None, changes)
    fault = KillTarget(KillTargetParams(signal="TERM"))
    fault.apply(ctx)
    assert kill_target.wait_gone(old, scaled(5))
    fault.revert(ctx)
    fault.revert(ctx)
    assert changes == [] and ctx.target_pid == old and not running(old)


def test_kill_target_does_not_restart_a_survivor(
    targets: Targets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kill_target, "EXIT_WAIT_S", scaled(0.5))
    old = targets.start_stubborn()
    changes: list[int] = []
    ctx = make_ctx(old, tmp_path, targets.restart, changes)
    fault = KillTarget(KillTargetParams(signal="TERM"))
    fault.apply(ctx)
    fault.revert(ctx)
    assert running(old) and targets.restarts == 0 and changes == []


def test_kill_target_leaves_a_target_restarted_meanwhile(targets: Targets, tmp_path: Path) -> None:
    old = targets.start()
    changes: list[int] = []
    ctx = make_ctx(old, tmp_path, targets.restart, changes)
    fault = KillTarget()
    fault.apply(ctx)
    ctx.target_pid = targets.start()  # e.g. the driver restarted it
    fault.revert(ctx)
    assert targets.restarts == 0 and changes == []


# restart_target -----------------------------------------------------------------------------


def test_restart_target_replaces_the_process(targets: Targets, tmp_path: Path) -> None:
    old = targets.start()
    changes: list[int] = []
    ctx = make_ctx(old, tmp_path, targets.restart, changes)
    fault = RestartTarget(RestartTargetParams(down_ms=300))
    t0 = time.monotonic()
    fault.apply(ctx)
    took = time.monotonic() - t0
    (new,) = changes
    assert not running(old) and running(new) and ctx.target_pid == new
    assert took >= 0.3
    fault.revert(ctx)  # the target runs: nothing to do
    fault.revert(ctx)
    assert targets.restarts == 1 and changes == [new]


def test_restart_target_escalates_to_sigkill(
    targets: Targets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restart_target, "EXIT_TIMEOUT_S", scaled(0.3))
    old = targets.start_stubborn()
    changes: list[int] = []
    ctx = make_ctx(old, tmp_path, targets.restart, changes)
    RestartTarget().apply(ctx)  # TERM is ignored, KILL is not
    assert not running(old) and len(changes) == 1 and running(changes[0])


def test_restart_target_revert_restarts_a_target_that_is_down(
    targets: Targets, tmp_path: Path
) -> None:
    changes: list[int] = []
    ctx = make_ctx(targets.start(), tmp_path, targets.restart, changes)
    fault = RestartTarget(RestartTargetParams(signal="KILL"))
    fault.apply(ctx)
    down = changes[0]
    os.kill(down, signal.SIGKILL)
    assert kill_target.wait_gone(down, scaled(5))
    fault.revert(ctx)
    assert len(changes) == 2 and running(changes[1]) and ctx.target_pid == changes[1]


def test_restart_target_needs_restart(targets: Targets, tmp_path: Path) -> None:
    pid = targets.start()
    ctx = make_ctx(pid, tmp_path, None, [])
    fault = RestartTarget()
    with pytest.raises(ChaosError, match=r"needs the embedded target or target\.restart_command"):
        fault.apply(ctx)
    fault.revert(ctx)
    assert running(pid)


# Refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault_cls", [KillTarget, RestartTarget], ids=lambda c: c.name)
@pytest.mark.parametrize("who", ["pid1", "self", "protected", "none"])
def test_process_faults_refuse_forbidden_targets(
    fault_cls: type[Fault], who: str, targets: Targets, tmp_path: Path
) -> None:
    guarded = targets.start()
    pid = {"pid1": 1, "self": os.getpid(), "protected": guarded, "none": None}[who]
    changes: list[int] = []
    ctx = ChaosContext(
        target_pid=pid,
        run_dir=tmp_path,
        restart=targets.restart,
        on_pid_change=changes.append,
        protected_pids=frozenset({guarded}),
    )
    fault = fault_cls()
    with pytest.raises(ChaosError):
        fault.apply(ctx)
    fault.revert(ctx)
    assert running(guarded) and targets.restarts == 0 and changes == []
