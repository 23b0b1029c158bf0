"""Tests of the typed run: reading a run directory, time zero, and the columns computed once."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.analysis.run import gates_from_scenario, load_run, make_run
from harness.config.scenario import Gate
from harness.errors import RunDirError
from tests.analysis.builders import (
    CPU,
    META,
    T0,
    attempt,
    chaos_event,
    event,
    meta,
    rec,
    run_of,
    standard_records,
    write_run,
)
from tests.conftest import ROOT


def test_attempts_carry_time_end_and_phase() -> None:
    rows = [
        {**rec("valid", "accepted", "ok", t=5.0, chaos=()), "connect_ms": 100.0,
         "handshake_ms": 400.0, "open_s": 2.0},
        rec("valid", "timeout_handshake", "abrupt", t=12.0, chaos=("cpu#1",)),
        rec("valid", "accepted", "ok", t=25.0),
        {**rec("valid", "accepted", "ok"), "t_start": None},
    ]  # fmt: skip
    run = run_of(rows, CPU)
    a = run.attempts
    assert a["t_s"].tolist()[:3] == [5.0, 12.0, 25.0] and math.isnan(a["t_s"].iloc[3])
    assert a["end_s"].iloc[0] == pytest.approx(7.5)  # 5 s + 0.1 + 0.4 + 2 s open
    assert a["end_s"].iloc[1] == 12.0  # no durations recorded: ends where it started
    assert a["phase"].tolist() == ["baseline", "during cpu#1", "after cpu#1", "baseline"]
    assert run.phase_names == ["baseline", "during cpu#1", "after cpu#1"]
    assert run.phases["during cpu#1"] == (10.0, 20.0)
    assert (run.started_at, run.duration_s, run.end_s) == (T0, 40.0, 40.0)


def test_windows_are_relative_and_keep_kind_and_disruptive() -> None:
    events = [
        event(10, "applied", "cpu#1", params={"percent": 20}, planned_for=10),
        event(20, "reverted", "cpu#1", planned_at=10, planned_for=10),
        event(30, "applied", "kill#2"),
        event(35, "failed", "net#3", error="nft: denied"),
    ]
    run = run_of([], events)
    cpu, kill, net = run.windows
    assert (cpu.label, cpu.applied_s, cpu.reverted_s, cpu.status) == (
        "cpu#1",
        10.0,
        20.0,
        "reverted",
    )
    assert (cpu.kind, cpu.disruptive, cpu.params) == ("cpu", False, {"percent": 20})
    assert (kill.status, kill.reverted_s, kill.disruptive) == ("active_at_end", None, True)
    assert (net.status, net.applied_s, net.error) == ("failed", None, "nft: denied")
    assert run.window("kill#2") is kill and run.window("nope") is None


def test_time_zero_without_a_recorded_start() -> None:
    """meta.started_at, else the start the chaos timeline implies, else the first attempt."""
    rows = [rec("valid", "accepted", "ok", t=t) for t in (3.0, 4.0)]
    no_start = meta(started_at=None)
    assert run_of(rows, CPU, no_start).started_at == T0  # 10 s applied, planned at 10 s
    assert run_of(rows, (), no_start).started_at == T0 + 3.0
    empty = run_of([], (), meta(started_at=None, ended_at=None))
    assert empty.started_at is None and empty.duration_s is None


def test_cut_short_run_lasts_to_its_last_attempt() -> None:
    rows = [rec("valid", "accepted", "ok", t=t) for t in (1.0, 33.0)]
    run = run_of(rows, [event(10, "applied", "cpu#1")], meta(ended_at=None, complete=False))
    assert run.duration_s == 33.0 and run.end_s == 33.0
    assert run.phases["during cpu#1"] == (10.0, 33.0)  # never reverted: to the end


def test_load_run_reads_the_directory_through_rundir(tmp_path: Path) -> None:
    gates = [{"name": "g", "metric": "ok", "op": ">=", "threshold": 1}]
    events = [chaos_event(10, "applied", "cpu_quota#1"), chaos_event(20, "reverted", "cpu_quota#1")]
    run_dir = write_run(tmp_path / "run", standard_records(), gates=gates, chaos=events,
                        chaos_tail='{"t": 17')  # fmt: skip
    run = load_run(run_dir)
    assert run.path == run_dir and run.meta.run_id == "run-42"
    assert len(run.attempts) == 51  # the torn last line was skipped
    assert len(run.samples) == 30 and run.samples["t_s"].iloc[0] == 0.0
    assert [w.label for w in run.windows] == ["cpu_quota#1"]
    assert run.gates == (Gate(name="g", metric="ok", op=">=", threshold=1.0),)
    assert run.planned_hold_s == 2.0
    override = load_run(run_dir, gates=[])
    assert override.gates == ()


def test_load_run_of_a_bare_directory(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not a run directory"):
        load_run(tmp_path / "nope")
    META.write(tmp_path)  # meta.json only: no attempts, samples, chaos or scenario
    run = load_run(tmp_path)
    assert run.attempts.empty and "phase" in run.attempts.columns
    assert run.samples.empty and run.windows == () and run.scenario == {}
    assert run.phase_names == ["baseline"]


def test_make_run_takes_records_or_dicts() -> None:
    records = [attempt(0, "valid", "accepted", "ok"), attempt(1, "empty", "rejected_auth", "ok")]
    a = make_run(records, META).attempts
    b = make_run([r.__dict__ for r in records], META).attempts
    pd.testing.assert_frame_equal(a, b)


def test_gates_from_scenario() -> None:
    scenario = {
        "gates": [
            {"name": "a", "metric": "success_rate", "op": ">=", "threshold": 0.99,
             "token_kind": "valid", "phase": "after cpu#1", "extra": 1},
            {"name": "r", "metric": "recovery_s", "op": "<=", "threshold": 5, "fault": "cpu#1"},
            {"name": "f", "metric": "findings", "op": "==", "threshold": 0, "severity": "high"},
        ]
    }  # fmt: skip
    a, r, f = gates_from_scenario(scenario)
    assert a == Gate(name="a", metric="success_rate", op=">=", threshold=0.99,
                     token_kind="valid", phase="after cpu#1")  # fmt: skip
    assert (r.fault, f.severity, f.threshold) == ("cpu#1", "high", 0.0)
    assert gates_from_scenario({}) == []
    with pytest.raises(RunDirError, match=r"gates\[0\]"):
        gates_from_scenario({"gates": [{"name": "x"}]})
    with pytest.raises(RunDirError, match="expected a list"):
        gates_from_scenario({"gates": {"a": 1}})


def test_meta_is_typed(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps({"run_id": "old", "started_at": T0}))
    run = load_run(tmp_path)  # an older meta.json: missing keys at their defaults
    assert run.meta.run_id == "old" and run.meta.complete is False


def test_importing_analysis_loads_no_matplotlib() -> None:
    """(pandas itself imports subprocess; import-linter checks harness's own imports of it.)"""
    code = (
        "import sys, harness.analysis, harness.analysis.gates, harness.analysis.summarize,"
        " harness.analysis.run, harness.analysis.compare_rows, harness.analysis.verdict;"
        " print(sorted(m for m in ('matplotlib', 'locust', 'gevent', 'websocket', 'websockets',"
        " 'psutil') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
