"""fd_limit against the real reference target: new handshakes stall, then recover on revert."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from websockets.sync.client import ClientConnection, connect

from harness.chaos import load_faults
from harness.chaos.base import ChaosContext, ChaosError
from harness.chaos.faults.fd_limit import FdLimit
from harness.config.faults import FdLimitParams
from harness.config.scenario import Auth, EmbeddedTarget
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.protocol.outcomes import ABRUPT_OUTCOMES, Outcome, classify
from harness.protocol.tokens import mint
from harness.target.process import TargetProcess, start_target
from tests.conftest import scaled

SECRET = "fd-limit-secret-" + "0123456789abcdef" * 3
HEADROOM = 2  # descriptors
QUICK = SessionPlan(hold=0.2, messages=1, message_bytes=16, reply_timeout=2)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[TargetProcess]:
    # Without its capacity checks the target takes connections until accept() hits EMFILE;
    # the log takes its EMFILE tracebacks (a flood, by design not a pipe).
    opts = EmbeddedTarget(ping_interval=0, defects=("no-capacity-check",))
    with start_target(opts, secret=SECRET, log_path=tmp_path / "target.log") as t:
        yield t


@pytest.fixture
def careful_target(tmp_path: Path) -> Iterator[TargetProcess]:
    opts = EmbeddedTarget(ping_interval=0)
    with start_target(opts, secret=SECRET, log_path=tmp_path / "careful.log") as t:
        yield t


def token() -> str:
    tok = mint("valid", Auth(), SECRET)
    assert tok is not None
    return tok


def attempt(target: TargetProcess, timeout: float) -> Outcome:
    req = Request(
        url=target.url, token=token(), connect_timeout=scaled(timeout), handshake_timeout=timeout
    )
    return classify(open_attempt(req, QUICK).observation)


def hold(target: TargetProcess, timeout: float) -> ClientConnection:
    return connect(f"{target.url}?token={token()}", open_timeout=timeout, legacy=True)


def test_registered() -> None:
    cls = load_faults()["fd_limit"]
    assert cls.kind == "connections" and cls.needs_pid and cls.summary


def test_new_handshakes_stall_until_revert(target: TargetProcess, tmp_path: Path) -> None:
    proc = psutil.Process(target.pid)
    before = proc.rlimit(psutil.RLIMIT_NOFILE)
    held = [hold(target, scaled(5)) for _ in range(3)]  # before the fault: 3 open connections
    fault = FdLimit(FdLimitParams(headroom=HEADROOM))
    ctx = ChaosContext(target_pid=target.pid, run_dir=tmp_path)
    try:
        fault.apply(ctx)
        soft, hard = proc.rlimit(psutil.RLIMIT_NOFILE)
        assert hard == before[1]
        assert soft <= proc.num_fds() + HEADROOM
        # Fill the headroom with held connections; the next handshakes get no answer.
        accepted = 0
        outcome = Outcome.ACCEPTED
        for _ in range(HEADROOM + 3):
            try:
                held.append(hold(target, 2.0))
                accepted += 1
            except TimeoutError:
                outcome = attempt(target, 1.5)  # what a load client sees now
                break
        assert accepted <= HEADROOM
        assert outcome is not Outcome.ACCEPTED
        assert outcome in ABRUPT_OUTCOMES, outcome
        for ws in held:  # open connections still work
            ws.send("still here")
            assert ws.recv(timeout=scaled(5)) == "still here"
    finally:
        fault.revert(ctx)
        for ws in held:
            ws.close()
    assert proc.rlimit(psutil.RLIMIT_NOFILE) == before
    assert attempt(target, scaled(5)) is Outcome.ACCEPTED
    fault.revert(ctx)  # twice is fine
    assert proc.rlimit(psutil.RLIMIT_NOFILE) == before


def test_a_careful_target_refuses_gracefully_near_the_limit(
    careful_target: TargetProcess, tmp_path: Path
) -> None:
    """The healthy reference target answers 503 before it runs out of descriptors."""
    fault = FdLimit(FdLimitParams(headroom=8))
    ctx = ChaosContext(target_pid=careful_target.pid, run_dir=tmp_path)
    held: list[ClientConnection] = []
    try:
        fault.apply(ctx)
        outcome = Outcome.ACCEPTED
        for _ in range(12):
            outcome = attempt(careful_target, 2.0)
            if outcome is not Outcome.ACCEPTED:
                break
            held.append(hold(careful_target, 2.0))
        assert outcome is Outcome.REJECTED_CAPACITY, outcome
    finally:
        fault.revert(ctx)
        for ws in held:
            ws.close()
    assert attempt(careful_target, scaled(5)) is Outcome.ACCEPTED


def test_revert_without_apply(tmp_path: Path) -> None:
    fault = FdLimit()
    ctx = ChaosContext(target_pid=None, run_dir=tmp_path)
    fault.revert(ctx)
    fault.revert(ctx)


@pytest.mark.parametrize("pid", [1, os.getpid()], ids=["pid1", "own"])
def test_refuses_pid_1_and_own_pid(pid: int, tmp_path: Path) -> None:
    before = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
    fault = FdLimit(FdLimitParams(headroom=0))
    ctx = ChaosContext(target_pid=pid, run_dir=tmp_path)
    with pytest.raises(ChaosError, match="refusing"):
        fault.apply(ctx)
    fault.revert(ctx)
    assert psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE) == before
