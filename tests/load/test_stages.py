"""Load shapes on Locust's LoadTestShape, in real runs against the embedded target: stages of
users (records labelled by stage, the users following the stages, the report's stages),
an arrival rate (about the planned attempts), SIGTERM mid-stage (an interrupted run with its
report); and the parts without a run: the shape's ticks, the arrival schedule, the gauge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, run_cli, scaled

STAGES = (
    "load.stages=[{duration: 2.5, users: 2, spawn_rate: 10},"
    " {duration: 3, users: 6, spawn_rate: 20, name: peak},"
    " {duration: 2.5, users: 1, spawn_rate: 20}]"
)


def test_records_carry_their_stage_and_the_users_follow_the_stages(tmp_path: Path) -> None:
    r = run_cli(
        "run", "scenarios/smoke.yaml", "-q", "--set", STAGES, "--set", "load.session.hold=0.3",
        out_dir=tmp_path, timeout=60,
    )  # fmt: skip
    assert r.code == 0, r.stdout + r.stderr
    assert "3 stages over 8 s: stage-1 0-2.5 s 2 users, peak 2.5-5.5 s 6 users" in r.stdout
    meta = json.loads((r.run_dir / "meta.json").read_text())
    t0 = meta["started_at"]
    assert meta["duration_planned_s"] == 8 and meta["complete"]
    # the last stage holds past its end: an attempt begun as the run stops is still its own
    windows = {"stage-1": (0.0, 2.5), "peak": (2.5, 5.5), "stage-3": (5.5, float("inf"))}
    by_stage: dict[str, list[dict[str, object]]] = {name: [] for name in windows}
    for rec in r.attempts():
        lo, hi = windows[str(rec["load_stage"])]
        assert lo <= float(rec["t_start"]) - t0 < hi  # type: ignore[arg-type]
        by_stage[str(rec["load_stage"])].append(rec)
    users = {name: {int(x["user"]) for x in recs} for name, recs in by_stage.items()}  # type: ignore[call-overload]
    assert users["stage-1"] and max(users["stage-1"]) <= 2  # no third user before 2.5 s
    assert len(users["peak"]) > 2  # the ramp to 6 users happened
    assert max(u for us in users.values() for u in us) <= 6  # never more users than planned
    summary = r.summary()
    assert [s["name"] for s in summary["stages"]] == ["stage-1", "peak", "stage-3"]
    assert [s["total"]["attempts"] for s in summary["stages"]] == [
        len(by_stage[n]) for n in windows
    ]
    assert summary["stages"][1]["users"] == 6 and summary["stages"][1]["rate"] is None
    page = (r.run_dir / "index.html").read_text()
    assert 'id="stages-table"' in page and "peak" in page


def test_an_arrival_rate_makes_about_the_planned_attempts(tmp_path: Path) -> None:
    r = run_cli(
        "run", "scenarios/smoke.yaml", "--set", "load.stages=[{duration: 4, rate: 10}]",
        out_dir=tmp_path, timeout=60,
    )  # fmt: skip
    assert r.code == 0, r.stdout + r.stderr
    attempts = r.attempts()
    assert 25 <= len(attempts) <= 55, len(attempts)  # 40 planned: 10/s for 4 s
    assert {a["load_stage"] for a in attempts} == {"stage-1"}
    assert "arrivals: " in r.stdout and " made of " in r.stdout
    stage = r.summary()["stages"][0]
    assert stage["rate"] == 10 and stage["max_users"] == 100
    assert 6 <= stage["attempts_per_s"] <= 14


def test_sigterm_during_a_stage_ends_the_run_interrupted_with_a_report(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "harness", "run", "scenarios/smoke.yaml", "--set",
            "load.stages=[{duration: 20, users: 3}, {duration: 20, users: 6}]",
            "--out", str(tmp_path),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # the load has started
        if "stages over 40 s" in line:
            break
    time.sleep(scaled(2))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 130, out + err
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted_by"] == "SIGTERM" and not summary["complete"]
    assert summary["stages"][0]["total"]["attempts"] > 0
    assert summary["stages"][1]["attempts_per_s"] is None  # it never began


#: The parts without a run, in a process of their own: importing Locust or gevent would
#: monkey-patch the test process (tests/test_architecture.py).
UNITS = """
import time
from prometheus_client import generate_latest
from harness.config.scenario import Stage
from harness.config.stages import StagePlan
from harness.load.arrivals import ArrivalSchedule
from harness.load.live_metrics import LiveMetrics
from harness.load.shape import StagesShape

# the shape ticks the stage of the run's own clock
plan = StagePlan((Stage(duration=2, users=3, spawn_rate=5), Stage(duration=2, rate=4, max_users=7)))
shape = StagesShape(plan)
assert shape.tick() == (3, 5.0)  # before the run begins: its first stage
shape.begin(time.time() - 3.0)
assert shape.tick() == (7, 10.0) and shape.current().index == 1
shape.begin(time.time() - 100.0)
assert shape.tick() == (7, 10.0)  # the last stage holds: the run stops the load
shape.reset_time()
assert shape.elapsed() == 0.0

# the arrival schedule keeps the plan and counts missed arrivals
plan = StagePlan((Stage(duration=10, rate=100, max_users=1),))
now = time.time()
mine = ArrivalSchedule(plan, started_at=now, index=1, count=2)  # every other arrival
assert mine.wait_turn() and mine.made == 1 and mine.missed == 0
late = ArrivalSchedule(plan, started_at=now - 3.0)  # 3 s in: about 200 arrivals too late
assert late.wait_turn() and late.made == 1 and 195 <= late.missed <= 205, late.missed
assert not ArrivalSchedule(plan, started_at=now - 20.0).wait_turn()  # none left

# the live metrics gauge the running stage
metrics = LiveMetrics(lambda: 0.0, lambda: 0.0)
metrics.stage_active("stage-1")
metrics.stage_active("peak")
text = generate_latest(metrics.registry).decode()
assert 'harness_load_stage{stage="stage-1"} 0.0' in text, text
assert 'harness_load_stage{stage="peak"} 1.0' in text, text
print("ok")
"""


def test_the_shape_the_arrival_schedule_and_the_stage_gauge() -> None:
    out = subprocess.run(
        [sys.executable, "-c", UNITS], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout == "ok\n", out.stdout + out.stderr
