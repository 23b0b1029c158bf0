"""One run engine, every route: ``harness run``, ``locust -f locustfile.py`` headless, and
Locust's web UI. Real processes, real Locust, the real embedded target, real signals."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import (
    assert_clean,
    attempts_in,
    free_port,
    locust_cmd,
    meta_of,
    post,
    run_dirs,
    run_proc,
    started,
    summary_of,
    up,
    wait_for,
)
from tests.conftest import scaled

QUICK = """\
name: quick
target:
  embedded: {{defects: {defects}}}
load:
  users: 6
  spawn_rate: 20
  duration: {duration}
  mix: {{valid: 2, empty: 1, expired: 1}}
  session: {{hold: 0.5, messages: 1, wait: [0.05, 0.2]}}
gates:
  - {{name: valid get a session, metric: success_rate, token_kind: valid, op: ">=",
      threshold: 0.95}}
  - {{name: no empty token accepted, metric: invalid_accepted, token_kind: empty, op: "==",
      threshold: 0}}
{chaos}"""

LATENCY = """\
chaos:
  - {fault: latency, at: 1.5, for: 2, ms: 40}
"""


def scenario(tmp_path: Path, *, duration: float = 5, defects: str = "[]", chaos: str = "") -> Path:
    path = tmp_path / "quick.yaml"
    path.write_text(QUICK.format(duration=duration, defects=defects, chaos=chaos))
    return path


# --- Locust headless ----------------------------------------------------------------------


def test_locust_headless_with_a_defect_exits_1_with_the_full_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = scenario(tmp_path, duration=4, defects="[accept-empty-token]")
    proc = run_proc(locust_cmd(path, out, "--headless"))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    assert "FAIL: 1 of 2 gates failed: 'no empty token accepted'" in output
    assert_clean(output)
    (run_dir,) = run_dirs(out)
    meta = meta_of(run_dir)
    assert meta["route"] == "locust" and meta["complete"] is True
    assert meta["stop_reason"] == "planned duration"
    assert meta["ended_at"] - meta["started_at"] < scaled(4 + 3)  # the plan ended the load
    summary = summary_of(run_dir)
    assert summary["token_kinds"]["empty"]["verdicts"]["invalid_accepted"] > 0
    assert (run_dir / "index.html").is_file() and (run_dir / "target.log").is_file()
    assert meta["attempts"] == (run_dir / "attempts.jsonl").read_text().count("\n")
    assert output.count("] users ") >= 1  # the same progress lines as harness run


def test_locust_headless_runs_the_chaos_timeline(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = scenario(tmp_path, duration=5, chaos=LATENCY)
    proc = run_proc(locust_cmd(path, out, "--headless"))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert_clean(output)
    (run_dir,) = run_dirs(out)
    events = [json.loads(line) for line in (run_dir / "chaos.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events if e.get("label") == "latency#1"] == [
        "applying", "applied", "reverted",
    ]  # fmt: skip
    summary = summary_of(run_dir)
    assert [w["label"] for w in summary["chaos_windows"]] == ["latency#1"]
    assert {"baseline", "during latency#1", "after latency#1"} <= set(summary["phases"])
    during = summary["phases"]["during latency#1"]["total"]["attempts"]
    assert during > 0
    records = [json.loads(line) for line in (run_dir / "attempts.jsonl").read_text().splitlines()]
    assert sum(1 for r in records if "latency#1" in r["chaos"]) > 0  # labelled live


def test_locust_run_time_shorter_than_the_plan_marks_the_run_incomplete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = scenario(tmp_path, duration=30)
    # no gates: the verdict is not what this test is about (3 s may hold no empty token)
    proc = run_proc(locust_cmd(path, out, "--headless", "-t", "3s", "--set", "gates=[]"))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert_clean(output)
    (run_dir,) = run_dirs(out)
    meta = meta_of(run_dir)
    assert meta["complete"] is False
    assert meta["stop_reason"].startswith("stopped by Locust before the planned duration")
    assert summary_of(run_dir)["complete"] is False
    assert "cut short" in (run_dir / "index.html").read_text()


def test_locust_bad_scenario_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = scenario(tmp_path)
    proc = run_proc(locust_cmd(path, tmp_path / "out", "--headless", "--set", "load.users=ten"))
    assert proc.returncode == 2
    expected = "--set load.users=ten: load.users: expected an integer in [1, 100000], got 'ten'"
    assert f"harness: error: {expected}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


# --- Signals ------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("route", ["harness run", "locust"])
def test_a_signal_mid_run_stops_users_first_and_reports_what_ran(
    tmp_path: Path, route: str, sig: signal.Signals
) -> None:
    out = tmp_path / "out"
    path = scenario(tmp_path, duration=60)
    if route == "harness run":
        cmd = [sys.executable, "-m", "harness", "run", str(path), "--out", str(out)]
    else:
        cmd = locust_cmd(path, out, "--headless")
    log = tmp_path / "log.txt"
    with started(cmd, log) as proc:
        wait_for(lambda: attempts_in(out) >= 20, 40, "attempts to be recorded")
        t_signal = time.monotonic()
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=scaled(30))
        stopped_in = time.monotonic() - t_signal
    output = log.read_text(errors="replace")
    assert code == 130, output[-3000:]
    assert_clean(output)
    assert "INTERRUPTED: " in output
    assert stopped_in < scaled(20), f"took {stopped_in:.1f} s to exit"  # users, then the report
    (run_dir,) = run_dirs(out)
    meta = meta_of(run_dir)
    assert meta["complete"] is False and meta["ended_at"] is not None
    assert meta["attempts"] == (run_dir / "attempts.jsonl").read_text().count("\n") >= 20
    assert (run_dir / "index.html").is_file()
    assert summary_of(run_dir)["total"]["attempts"] == meta["attempts"]


# --- The web UI ---------------------------------------------------------------------------


def test_web_ui_two_tests_are_two_runs_and_sigterm_mid_test_is_clean(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = scenario(tmp_path, duration=60)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = locust_cmd(path, out, "--web-host", "127.0.0.1", "--web-port", str(port))
    log = tmp_path / "log.txt"
    with started(cmd, log) as proc:
        wait_for(lambda: up(base + "/"), 30, "the web UI")
        for i in (1, 2):
            assert post(base + "/swarm", {"user_count": "4", "spawn_rate": "10"})["success"]
            wait_for(lambda i=i: len(run_dirs(out)) == i and attempts_in(out) >= 10, 40,
                     f"test {i} to record attempts")  # fmt: skip
            post(base + "/stop")  # answers once the run is finished and reported
            assert (run_dirs(out)[-1] / "index.html").is_file(), f"test {i} has no report"
        assert post(base + "/swarm", {"user_count": "4", "spawn_rate": "10"})["success"]
        wait_for(lambda: len(run_dirs(out)) == 3 and attempts_in(out) >= 10, 40, "test 3")
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=scaled(30))
    output = log.read_text(errors="replace")
    assert_clean(output)
    assert code == 130, output[-3000:]
    dirs = run_dirs(out)
    assert len(dirs) == 3
    for run_dir in dirs:
        meta = meta_of(run_dir)
        assert meta["route"] == "locust web ui"
        assert meta["complete"] is False and meta["ended_at"] is not None
        assert (run_dir / "index.html").is_file() and (run_dir / "target.log").is_file()
        assert summary_of(run_dir)["total"]["attempts"] == meta["attempts"] > 0
    assert meta_of(dirs[0])["stop_reason"].startswith("stopped by Locust")
    assert meta_of(dirs[2])["stop_reason"].startswith("shutdown")
