"""Distributed runs end to end: real ``harness run --workers 2``, ``harness master`` and
``harness worker`` processes on loopback, Locust's own master/worker protocol between them.

What a user depends on: every attempt in the records exactly once, from every worker, in
one run directory with one report; a worker SIGKILLed mid-run named in the report with
what it took with it (and the run not passed as if nothing happened); the secret never on
a worker's command line; no worker process left behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, scaled

SECRET = "distributed-test-secret-0123456789abcdef"
QUICK = ["--users", "8", "--spawn-rate", "16", "--set", "load.session.hold=0.3"]


def harness(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def start(cmd: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DIST_SECRET": SECRET},
    )


def finish(proc: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"timed out:\n{out}\n{err}") from None
    return proc.returncode, out, err


def read_line(proc: subprocess.Popen[str], pattern: str, timeout: float = 30) -> re.Match[str]:
    """Read the process's stdout until a line matches ``pattern`` (the lines before are
    kept in ``proc.seen``)."""
    assert proc.stdout is not None
    seen: list[str] = getattr(proc, "seen", [])
    proc.seen = seen  # type: ignore[attr-defined]
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def run_dir(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def records(run: Path) -> list[dict[str, Any]]:
    lines = (run / "attempts.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def meta(run: Path) -> dict[str, Any]:
    return json.loads((run / "meta.json").read_text())  # type: ignore[no-any-return]


def assert_each_once(recs: list[dict[str, Any]]) -> None:
    keys = Counter((r["worker"], r["user"], r["attempt"]) for r in recs)
    twice = [k for k, n in keys.items() if n > 1]
    assert not twice, twice
    # every user's attempts are numbered 1..n without a gap: none lost on the way
    by_user: dict[tuple[str, int], list[int]] = {}
    for r in recs:
        by_user.setdefault((r["worker"], r["user"]), []).append(r["attempt"])
    for user, attempts in by_user.items():
        assert sorted(attempts) == list(range(1, len(attempts) + 1)), (user, sorted(attempts))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_workers_every_attempt_once_in_one_report(tmp_path: Path) -> None:
    proc = start(
        harness(
            "run", "scenarios/smoke.yaml", "--workers", "2", "--duration", "5", *QUICK,
            "--secret-env", "DIST_SECRET", "--out", str(tmp_path),
        )
    )  # fmt: skip
    pids = [int(p) for p in read_line(proc, r"PIDs (\d+), (\d+)").groups()]
    cmdlines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids]
    code, out, err = finish(proc)
    out = "".join(proc.seen) + out  # type: ignore[attr-defined]
    assert code == 0, out + err
    assert "PASS: all 6 gates passed" in out
    for cmdline in cmdlines:  # a worker's command line: the scenario, never the secret
        assert b"worker" in cmdline and b"scenarios/smoke.yaml" in cmdline
        assert SECRET.encode() not in cmdline
    assert SECRET not in out + err
    run = run_dir(tmp_path)
    recs = records(run)
    assert_each_once(recs)
    by_worker = Counter(r["worker"] for r in recs)
    assert set(by_worker) == {"w1", "w2"}, by_worker
    m = meta(run)
    assert m["attempts"] == len(recs)
    workers = {w["id"]: w for w in m["workers"]}
    for wid, n in by_worker.items():  # what each worker made reached the master, all of it
        assert workers[wid]["state"] == "flushed"
        assert workers[wid]["records"] == workers[wid]["made"] == n
    assert sorted(w["pid"] for w in m["workers"]) == sorted(pids)
    assert {r["run_id"] for r in recs} == {m["run_id"]}
    summary = json.loads((run / "summary.json").read_text())
    assert [w["id"] for w in summary["workers"]] == ["w1", "w2"]
    assert summary["total"]["attempts"] == len(recs)
    assert (run / "index.html").is_file()
    assert "Load from 2 workers" in out
    generator = m["generator"]  # the footprint summed over both workers' reports
    assert generator["processes"] == 2 and generator["rss_mb_idle"] > 0
    samples = [json.loads(line) for line in (run / "generator.jsonl").open()]
    assert samples and all(s["processes"] == 2 for s in samples)  # never a partial sum
    assert all(gone(pid) for pid in pids)  # the master stopped its workers


def test_a_worker_killed_mid_run_is_named_in_the_report(tmp_path: Path) -> None:
    proc = start(
        harness(
            "run", "scenarios/smoke.yaml", "--workers", "2", "--duration", "7", *QUICK,
            "--out", str(tmp_path),
        )
    )  # fmt: skip
    victim, other = (int(p) for p in read_line(proc, r"PIDs (\d+), (\d+)").groups())
    read_line(proc, r"\[\s+2s/7s\] users 8/8")  # the load is on, records flowing
    os.kill(victim, signal.SIGKILL)
    code, out, err = finish(proc)
    out = "".join(proc.seen) + out  # type: ignore[attr-defined]
    assert code == 2, out + err  # the load generator lost a worker: not a pass
    assert re.search(rf"worker w\d \(PID {victim}\) lost \(killed by SIGKILL\)", out), out
    assert "the load generator lost worker" in err
    run = run_dir(tmp_path)
    recs = records(run)
    assert_each_once(recs)
    workers = {w["pid"]: w for w in meta(run)["workers"]}
    lost, kept = workers[victim], workers[other]
    assert lost["state"] == "lost" and lost["lost_how"] == "killed by SIGKILL"
    assert lost["lost_at"] is not None and lost["lost_at_least"] is not None
    assert kept["state"] == "flushed"
    by_worker = Counter(r["worker"] for r in recs)
    assert by_worker[lost["id"]] == lost["records"] > 0  # what arrived before it died, kept
    assert by_worker[kept["id"]] == kept["records"] == kept["made"]
    assert lost["records"] <= lost["made"]
    page = (run / "index.html").read_text()
    assert f"load worker {lost['id']} (PID {victim}) was lost at" in page
    assert gone(other)


def test_master_and_worker_as_separate_commands(tmp_path: Path) -> None:
    port = free_port()
    master = start(
        harness(
            "master", "scenarios/smoke.yaml", "--expect-workers", "1", "--master-bind-port",
            str(port), "--duration", "4", *QUICK, "--out", str(tmp_path),
        )
    )  # fmt: skip
    read_line(master, r"waiting for 1 workers")
    worker = start(  # users, spawn rate and duration are the master's: not repeated here
        harness(
            "worker", "scenarios/smoke.yaml", "--master-host", "127.0.0.1", "--master-port",
            str(port), "--set", "load.session.hold=0.3",
        )
    )  # fmt: skip
    code, out, err = finish(master)
    wcode, wout, werr = finish(worker, timeout=30)
    assert code == 0, "".join(master.seen) + out + err  # type: ignore[attr-defined]
    assert wcode == 0, wout + werr
    assert re.search(r"run \S+: worker w1, target ws://127\.0\.0\.1:\d+/ws", wout), wout
    assert re.search(r"\d+ records sent", wout), wout
    run = run_dir(tmp_path)
    recs = records(run)
    assert recs and {r["worker"] for r in recs} == {"w1"}
    assert_each_once(recs)
    m = meta(run)
    assert m["route"] == "harness master"
    assert m["workers"][0]["records"] == len(recs) == m["attempts"]


def test_a_worker_with_another_scenario_refuses_the_run(tmp_path: Path) -> None:
    port = free_port()
    master = start(
        harness(
            "master", "scenarios/smoke.yaml", "--expect-workers", "1", "--master-bind-port",
            str(port), "--duration", "4", *QUICK, "--out", str(tmp_path),
        )
    )  # fmt: skip
    read_line(master, r"waiting for 1 workers")
    worker = start(  # its sessions hold longer: not the users the master's scenario asks for
        harness(
            "worker", "scenarios/smoke.yaml", "--master-host", "127.0.0.1", "--master-port",
            str(port), "--set", "load.session.hold=0.9",
        )
    )  # fmt: skip
    wcode, wout, werr = finish(worker, timeout=30)
    code, out, err = finish(master)
    assert wcode == 2, wout + werr
    assert "is not the master's" in wout
    out = "".join(master.seen) + out  # type: ignore[attr-defined]
    assert "worker w1: the scenario here" in out, out
    assert code == 2, out + err
    assert records(run_dir(tmp_path)) == []


def test_locusts_own_master_and_worker_flags(tmp_path: Path) -> None:
    port = free_port()
    locust = [sys.executable, "-m", "locust", "-f", "locustfile.py"]
    master = start(
        [
            *locust, "--master", "--headless", "--expect-workers", "1",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--scenario", "scenarios/smoke.yaml", "--set", "load.duration=4",
            "--set", "load.session.hold=0.1",  # many attempts: every token kind of the mix
            "-u", "12", "-r", "24", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    worker = start(
        [
            *locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
            "--scenario", "scenarios/smoke.yaml", "--set", "load.session.hold=0.1",
        ]
    )  # fmt: skip
    code, out, err = finish(master)
    wcode, wout, werr = finish(worker, timeout=30)
    assert code == 0, out + err
    assert wcode == 0, wout + werr
    sent = re.search(r"run \S+: (\d+) records sent", wout)
    assert sent, wout
    run = run_dir(tmp_path)
    recs = records(run)
    assert len(recs) == int(sent.group(1)) > 0
    assert_each_once(recs)
    assert meta(run)["route"] == "locust"
    assert (run / "index.html").is_file()


def test_a_worker_without_a_master_says_so_and_exits() -> None:
    worker = start(
        harness(
            "worker", "scenarios/smoke.yaml", "--master-host", "127.0.0.1", "--master-port",
            str(free_port()), "--connect-timeout", "4",
        )
    )  # fmt: skip
    code, out, err = finish(worker, timeout=40)
    assert code == 2, out + err
    assert "no master answered at 127.0.0.1:" in err and "--connect-timeout" in err
    assert "Traceback" not in err


def test_a_master_on_a_busy_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        master = start(
            harness(
                "master", "scenarios/smoke.yaml", "--master-bind-port", str(port),
                "--out", str(tmp_path),
            )
        )  # fmt: skip
        code, out, err = finish(master, timeout=30)
    assert code == 2, out + err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err


def test_workers_die_with_a_killed_master(tmp_path: Path) -> None:
    proc = start(
        harness(
            "run", "scenarios/smoke.yaml", "--workers", "2", "--duration", "30", *QUICK,
            "--out", str(tmp_path),
        )
    )  # fmt: skip
    pids = [int(p) for p in read_line(proc, r"PIDs (\d+), (\d+)").groups()]
    read_line(proc, r"target ws://")
    proc.kill()  # SIGKILL: no handler runs; the kernel tells the workers (PR_SET_PDEATHSIG)
    proc.communicate(timeout=scaled(10))
    deadline = time.monotonic() + scaled(10)
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(pid) for pid in pids), pids
