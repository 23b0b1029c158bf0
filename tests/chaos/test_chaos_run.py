"""Chaos end to end: real runs with fault windows, and a SIGKILLed run that must leak nothing."""

from __future__ import annotations

import glob
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from harness.config.scenario import EmbeddedTarget
from harness.target.process import start_target
from tests.conftest import ROOT, run_cli, scaled

WINDOW = """\
name: window
target:
  embedded: {}
load:
  users: 6
  spawn_rate: 20
  duration: 9
  mix: {valid: 1}
  session: {hold: 0.2, messages: 1, wait: [0.05, 0.15]}
  timeouts: {connect: 2, handshake: 2}
chaos:
  - {fault: cut_handshake, at: 3, for: 3}
gates:
  - {name: attempts made, metric: attempts, op: ">", threshold: 0}
"""


def test_a_fault_shows_only_inside_its_window_and_recovers(tmp_path: Path) -> None:
    scenario = tmp_path / "window.yaml"
    scenario.write_text(WINDOW)
    run = run_cli("run", str(scenario), out_dir=tmp_path / "out", timeout=90)
    assert run.code == 0, run.stdout + run.stderr
    assert "chaos: applied cut_handshake#1" in run.stdout
    assert "chaos: reverted cut_handshake#1" in run.stdout
    records = [r for r in run.attempts() if r["verdict"] != "excluded"]
    meta = json.loads((run.run_dir / "meta.json").read_text())
    t0 = meta["started_at"]
    events = [json.loads(x) for x in (run.run_dir / "chaos.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["applying", "applied", "reverted"]
    applied, _, reverted = (e["t"] - t0 for e in events)
    assert 2.9 < applied < 3.5 and 5.9 < reverted < 6.6
    # Labels come from the driver's timeline, read every 0.2 s, and an attempt that starts
    # just before the revert may finish after it: leave 0.5 s at each edge out.
    edge = 0.5

    def rel(r: dict[str, object]) -> float:
        return float(r["t_start"]) - t0  # type: ignore[arg-type]

    inside = [r for r in records if applied + edge < rel(r) < reverted - edge]
    before = [r for r in records if rel(r) < applied - edge]
    after = [r for r in records if rel(r) > reverted + edge]
    assert all(r["chaos"] == ["cut_handshake#1"] for r in inside)
    assert all(not r["chaos"] for r in before + after)
    assert inside and before and after
    assert Counter(r["outcome"] for r in inside) == {"abnormal_handshake": len(inside)}
    assert all(r["outcome"] == "accepted" for r in before)
    # recovery: everything that started after the window was accepted again
    assert all(r["outcome"] == "accepted" for r in after), Counter(r["outcome"] for r in after)


KILLED = """\
name: killed-mid-fault
target:
  url: {url}
  pid: {pid}
auth:
  secret: {{env: HARNESS_TEST_SECRET}}
load:
  users: 4
  spawn_rate: 10
  duration: 60
  mix: {{valid: 1}}
  session: {{hold: 0.3, messages: 0, wait: [0.1, 0.2]}}
  timeouts: {{connect: 2, handshake: 2}}
chaos:
  - {{fault: cpu_pause, at: 1, percent: 10, period_ms: 500}}
  - {{fault: fd_limit, at: 1, headroom: 50}}
  - {{fault: memory_rlimit, at: 1, headroom_mb: 512}}
  - {{fault: cpu_quota, at: 1, percent: 30, optional: true}}
  - {{fault: latency, at: 1, ms: 20}}
  - {{fault: reject, at: 1, optional: true}}
gates:
  - {{metric: attempts, op: ">=", threshold: 0}}
"""


def _harness_cgroups() -> list[str]:
    return glob.glob("/sys/fs/cgroup/*/harness-*") + glob.glob("/sys/fs/cgroup/*/*/*/harness-*")


def _nft_tables() -> str:
    try:
        out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return ""
    return out.stdout


def test_sigkill_mid_fault_leaves_nothing_behind(tmp_path: Path) -> None:
    secret = "k" * 40
    target = start_target(EmbeddedTarget(), secret=secret, log_path=tmp_path / "target.log")
    try:
        proc = psutil.Process(target.pid)
        nofile = resource.prlimit(target.pid, resource.RLIMIT_NOFILE)
        as_limit = resource.prlimit(target.pid, resource.RLIMIT_AS)
        cgroups_before = Path(f"/proc/{target.pid}/cgroup").read_text()
        scenario = tmp_path / "killed.yaml"
        scenario.write_text(KILLED.format(url=target.url, pid=target.pid))
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness",
                "run",
                str(scenario),
                "--out",
                str(tmp_path / "out"),
                "-q",
            ],
            cwd=ROOT,
            env={**os.environ, "HARNESS_TEST_SECRET": secret},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + scaled(40)
            applied: set[str] = set()
            wanted = {"cpu_pause", "fd_limit", "memory_rlimit", "latency"}
            while time.monotonic() < deadline and not wanted <= applied:
                time.sleep(0.2)
                for f in (tmp_path / "out").glob("*/chaos.jsonl"):
                    for line in f.read_text().splitlines():
                        ev = json.loads(line)
                        if ev["event"] == "applied":
                            applied.add(ev["fault"])
            assert wanted <= applied, applied
            ready = json.loads(next((tmp_path / "out").glob("*/chaos-ready.json")).read_text())
            driver_pid, proxy_port = ready["pid"], ready["proxy_port"]
            assert resource.prlimit(target.pid, resource.RLIMIT_NOFILE)[0] != nofile[0]
            os.kill(run.pid, signal.SIGKILL)
            run.wait(5)
            # within 2 s everything is back
            psutil.Process(driver_pid).wait(scaled(2))
        finally:
            if run.poll() is None:
                run.kill()
        assert proc.status() != psutil.STATUS_STOPPED
        assert resource.prlimit(target.pid, resource.RLIMIT_NOFILE) == nofile
        assert resource.prlimit(target.pid, resource.RLIMIT_AS) == as_limit
        assert Path(f"/proc/{target.pid}/cgroup").read_text() == cgroups_before
        assert _harness_cgroups() == []
        assert "harness_" not in _nft_tables()
        with pytest.raises(OSError):  # the proxy is gone
            socket.create_connection(("127.0.0.1", proxy_port), timeout=1).close()
        # and the target still serves
        from harness.config.scenario import Auth
        from harness.load.client import SessionPlan, open_attempt
        from harness.load.request import Request
        from harness.protocol.outcomes import Outcome, classify
        from harness.protocol.tokens import mint

        token = mint("valid", Auth(), secret)
        res = open_attempt(Request(url=target.url, token=token), SessionPlan(hold=0.1, messages=0))
        assert classify(res.observation) is Outcome.ACCEPTED
    finally:
        target.stop()


def test_unsupported_fault_is_refused_before_the_run(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        textwrap.dedent(
            """\
            name: needs-pid
            target: {url: "ws://127.0.0.1:9/ws"}
            auth: {secret: {env: HARNESS_TEST_SECRET}}
            load: {duration: 5, mix: {valid: 1}}
            chaos:
              - {fault: cpu_pause, at: 1, for: 1}
            """
        )
    )
    run = run_cli(
        "run", str(scenario), out_dir=tmp_path / "out", env={"HARNESS_TEST_SECRET": "x" * 32}
    )
    assert run.code == 2
    assert "chaos[0].fault: cpu_pause cannot run: needs the target's process" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
