"""Blame where it belongs, on real runs: the harness's own stop, its own faults and its own
guards never count against the target; a target that dies is a crash, said as such."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.cli.helpers import (
    assert_clean,
    attempts_in,
    harness_cmd,
    meta_of,
    run_dirs,
    started,
    summary_of,
    wait_for,
)
from tests.conftest import ROOT, run_cli, scaled

STEADY = """\
name: steady
target:
  embedded: {{max_connections: 2000}}
load:
  users: {users}
  spawn_rate: 50
  duration: {duration}
  mix: {{valid: 3, empty: 1}}
  session: {{hold: {hold}, messages: 1, wait: [0.05, 0.1]}}
gates:
  - {{name: valid get a session, metric: success_rate, token_kind: valid, op: ">=",
      threshold: 0.99}}
"""


def steady(tmp_path: Path, *, users: int = 8, duration: float = 60, hold: float = 0.3) -> Path:
    path = tmp_path / "steady.yaml"
    path.write_text(STEADY.format(users=users, duration=duration, hold=hold))
    return path


def finding_ids(summary: dict[str, object]) -> set[str]:
    return {f["id"] for f in summary["findings"]}  # type: ignore[attr-defined,index]


def test_ctrl_c_to_the_process_group_stops_the_run_and_blames_nothing(tmp_path: Path) -> None:
    """A terminal's Ctrl-C goes to the whole foreground process group: the harness stops the
    run; the embedded target, in a session of its own, never sees it."""
    out = tmp_path / "out"
    log = tmp_path / "log.txt"
    with started(harness_cmd("run", str(steady(tmp_path)), "--out", str(out)), log,
                 new_session=True) as proc:  # fmt: skip
        wait_for(lambda: attempts_in(out) >= 30, 40, "attempts to be recorded")
        target_pid = meta_of(run_dirs(out)[0])["target_pid"]
        assert os.getsid(target_pid) != os.getsid(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=scaled(30))
    output = log.read_text(errors="replace")
    assert code == 130, output[-3000:]
    assert_clean(output)
    (run_dir,) = run_dirs(out)
    summary = summary_of(run_dir)
    assert summary["total"]["verdicts"]["valid_refused"] == 0
    assert summary["total"]["verdicts"]["abrupt"] == 0
    assert summary["total"]["outcomes"].get("closed_normal", 0) == 0  # no 1001 from the target
    assert not finding_ids(summary) & {"valid-refused-without-chaos", "target-died"}


def test_a_killed_run_is_reported_as_cut_short_never_as_a_pass(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with started(harness_cmd("run", str(steady(tmp_path)), "--out", str(out), "-q"),
                 tmp_path / "log.txt") as proc:  # fmt: skip
        wait_for(lambda: attempts_in(out) >= 30, 40, "attempts to be recorded")
        proc.kill()  # SIGKILL: nothing of the harness runs after it
        proc.wait(10)
    (run_dir,) = run_dirs(out)
    assert meta_of(run_dir)["ended_at"] is None
    report = run_cli("report", str(run_dir))
    assert report.code == 130, report.stdout + report.stderr
    assert "CUT SHORT" in report.stdout
    assert "INTERRUPTED: run stopped early by a kill: the run has no end recorded" in report.stderr
    assert "not built yet" not in (run_dir / "index.html").read_text()


def test_a_target_that_dies_mid_run_is_a_crash_not_a_capacity_problem(tmp_path: Path) -> None:
    out = tmp_path / "out"
    log = tmp_path / "log.txt"
    with started(harness_cmd("run", str(steady(tmp_path, duration=8)), "--out", str(out)),
                 log) as proc:  # fmt: skip
        wait_for(lambda: attempts_in(out) >= 20, 40, "attempts to be recorded")
        target_pid = meta_of(run_dirs(out)[0])["target_pid"]
        os.kill(target_pid, signal.SIGKILL)
        code = proc.wait(timeout=scaled(40))
    output = log.read_text(errors="replace")
    assert code == 1, output[-3000:]
    assert_clean(output)
    assert f"target: PID {target_pid} died (killed by SIGKILL)" in output
    assert "FAIL: the target died at " in output
    (run_dir,) = run_dirs(out)
    meta = meta_of(run_dir)
    assert meta["target_exit"]["pid"] == target_pid
    assert meta["target_exit"]["how"] == "killed by SIGKILL"
    summary = summary_of(run_dir)
    assert summary["target_died"]["how"] == "killed by SIGKILL"
    ids = finding_ids(summary)
    assert "target-died" in ids
    assert not ids & {"valid-refused-without-chaos", "abrupt-under-pressure"}  # not capacity
    assert summary["total"]["outcomes"].get("refused", 0) > 0  # what clients saw after it


def test_partial_emfile_in_the_generator_is_not_counted_against_the_target(
    tmp_path: Path,
) -> None:
    """A soft RLIMIT_NOFILE lowered on the running harness: its own socket() calls fail
    with EMFILE for a while. Those attempts are the generator's faults: left out of the
    success rate (the gate passes), reported apart, and the run is not blamed."""
    out = tmp_path / "out"
    log = tmp_path / "log.txt"
    scenario = steady(tmp_path, users=20, duration=10, hold=0.4)
    with started(harness_cmd("run", str(scenario), "--out", str(out)), log) as proc:
        wait_for(lambda: attempts_in(out) >= 60, 40, "the load to settle")
        soft, hard = resource.prlimit(proc.pid, resource.RLIMIT_NOFILE)
        in_use = len(os.listdir(f"/proc/{proc.pid}/fd"))
        resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (max(16, in_use - 6), hard))
        time.sleep(2.5)
        resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (soft, hard))  # soft: raised back
        code = proc.wait(timeout=scaled(40))
    output = log.read_text(errors="replace")
    (run_dir,) = run_dirs(out)
    summary = summary_of(run_dir)
    faults = summary["total"]["verdicts"]["generator_fault"]
    assert faults > 0, output[-2000:]
    assert 0 < summary["generator_fault_share"] < 0.5
    valid = summary["token_kinds"]["valid"]
    assert valid["success_rate"] == 1.0  # counted = attempts - excluded - generator faults
    assert (
        valid["counted"]
        == valid["attempts"]
        - valid["verdicts"]["generator_fault"]
        - (valid["verdicts"]["excluded"])
    )
    assert code == 0, output[-3000:]
    assert "failed inside the load generator" in output
    ids = finding_ids(summary)
    assert "generator-fault" in ids and "valid-refused-without-chaos" not in ids


def test_a_non_optional_fault_that_cannot_apply_fails_the_run(tmp_path: Path) -> None:
    path = tmp_path / "ballast.yaml"
    path.write_text(
        textwrap.dedent("""\
        name: ballast-too-big
        load: {users: 2, duration: 4, mix: {valid: 1}, session: {hold: 0.2, messages: 0}}
        chaos:
          - {fault: memory_ballast, at: 1, for: 2, mb: 1000000}
        """)
    )
    run = run_cli("run", str(path), out_dir=tmp_path / "out", timeout=60)
    assert run.code == 2, run.stdout + run.stderr
    assert "ERROR: the chaos plan did not run: memory_ballast#1 failed" in run.stderr
    assert "mark a window optional: true" in run.stderr
    (window,) = run.summary()["chaos_windows"]
    assert (window["status"], window["optional"]) == ("failed", False)


def test_chaos_is_refused_on_an_ancestor_named_by_pid_file(tmp_path: Path) -> None:
    """The pid file names the process that started the harness (here: this test): refused
    when the run starts, before any fault; nothing is stopped."""
    pid_file = tmp_path / "target.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    path = tmp_path / "ancestor.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: ancestor
        target: {{url: "ws://127.0.0.1:9/ws", pid_file: "{pid_file}"}}
        auth: {{secret: {{env: HARNESS_TEST_KEY}}}}
        load: {{users: 1, duration: 3, mix: {{valid: 1}}}}
        chaos:
          - {{fault: cpu_pause, at: 1, for: 1}}
        """)
    )
    run = run_cli("run", str(path), out_dir=tmp_path / "out", env={"HARNESS_TEST_KEY": "k" * 32})
    assert run.code == 2, run.stdout + run.stderr
    assert f"target.pid_file: PID {os.getpid()} is an ancestor of the harness" in run.stderr
    assert psutil.Process().status() != psutil.STATUS_STOPPED


needs_unshare = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare (util-linux) for a private network namespace",
)


@needs_unshare
def test_a_target_outside_loopback_is_refused_unless_allowed(tmp_path: Path) -> None:
    """Inside a network namespace of its own (unshare -n: loopback only, down), so nothing
    can leave the machine whatever the harness does."""
    base = ["unshare", "-n", *harness_cmd("run", "scenarios/smoke.yaml", "--duration", "2",
            "--target-url", "ws://10.255.0.1:8080/ws", "--secret-env", "HARNESS_TEST_KEY",
            "--out", str(tmp_path / "out"))]  # fmt: skip
    env = {**os.environ, "HARNESS_TEST_KEY": "k" * 32}
    refused = subprocess.run(base, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=scaled(60), check=False)  # fmt: skip
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "host '10.255.0.1' is not loopback" in refused.stderr
    assert "--allow-host 10.255.0.1" in refused.stderr
    assert not (tmp_path / "out").exists()
    allowed = subprocess.run(
        [*base, "--allow-host", "10.255.0.1"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=scaled(60), check=False,
    )  # fmt: skip
    assert allowed.returncode == 1, allowed.stdout + allowed.stderr  # ran; could not connect
    (run_dir,) = run_dirs(tmp_path / "out")
    outcomes = summary_of(run_dir)["total"]["outcomes"]
    assert set(outcomes) <= {"connect_error", "refused", "timeout_connect", "interrupted"}
