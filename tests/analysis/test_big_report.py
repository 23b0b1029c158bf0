"""The report at scale: ``harness report`` on a synthetic run of many attempt records
(``bench/make_big_run.py``), as a killed run leaves it (no end time, a torn last line).

The fast test runs 20,000 records; the slow one a million, with its time and peak memory
printed (never asserted: the figures go in ``docs/performance.md``). The vectorised session
pass is held to the per-session definition it replaces.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.sessions import (
    WALK_COLUMNS,
    session_order,
    session_outages,
    walk_sessions,
)
from harness.rundir.jsonl import read_jsonl
from harness.rundir.layout import ATTEMPTS
from tests.analysis.builders import T0, rec, run_of
from tests.conftest import ROOT

MAKE_BIG_RUN = ROOT / "bench" / "make_big_run.py"


def make_run(tmp_path: Path, n: int) -> tuple[Path, dict[str, Any]]:
    """A synthetic run of ``n`` whole records in ``tmp_path``; its directory and counts."""
    out = subprocess.run(
        [sys.executable, str(MAKE_BIG_RUN), str(tmp_path), "-n", str(n)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    return run_dir, json.loads((tmp_path / "counts.json").read_text())


def report(run_dir: Path) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """``harness report RUN_DIR`` in a subprocess: the result, wall seconds, peak RSS (MiB)."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - began
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return done, seconds, peak_mib


def check_report(run_dir: Path, counts: dict[str, Any], done: Any) -> None:
    assert done.returncode == 130, done.stderr  # killed: no end recorded
    for name in ("index.html", "summary.json", "summary.md", "junit.xml", "token_kinds.csv"):
        assert (run_dir / name).stat().st_size > 0, name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["total"]["attempts"] == counts["records"]  # the torn line left out
    kinds = {k: s["attempts"] for k, s in summary["token_kinds"].items()}
    assert kinds == counts["kinds"]
    assert {k: v for k, v in summary["total"]["verdicts"].items() if v} == counts["verdicts"]
    assert summary["sessions"]["sessions"] > 0
    assert len(list((run_dir / "charts").glob("*.png"))) >= 8


def test_the_report_of_a_killed_run_of_twenty_thousand_records(tmp_path: Path) -> None:
    run_dir, counts = make_run(tmp_path, 20_000)
    text = (run_dir / ATTEMPTS).read_bytes()
    assert not text.endswith(b"\n")  # the torn last line is there
    assert sum(1 for _ in read_jsonl(run_dir / ATTEMPTS)) == 20_000
    done, seconds, peak = report(run_dir)
    print(f"\n20,000 records: {seconds:.1f} s, peak RSS {peak:.0f} MiB")
    check_report(run_dir, counts, done)


@pytest.mark.slow
def test_the_report_of_a_million_records(tmp_path: Path) -> None:
    run_dir, counts = make_run(tmp_path, 1_000_000)
    done, seconds, peak = report(run_dir)
    print(f"\n1,000,000 records: {seconds:.1f} s, peak RSS {peak:.0f} MiB")
    check_report(run_dir, counts, done)


def random_sessions(rng: random.Random) -> list[dict[str, Any]]:
    """Sessions of 1-6 attempts with random stages and outcomes (some times unknown)."""
    outcomes = [
        ("accepted", "ok", "open"),
        ("closed_normal", "valid_refused", "open"),
        ("abnormal_closure", "abrupt", "open"),
        ("refused", "abrupt", "connect"),
        ("rejected_auth", "valid_refused", "handshake"),
        ("interrupted", "excluded", "handshake"),
    ]
    rows = []
    for s in range(rng.randint(0, 12)):
        t = rng.uniform(0.0, 30.0)
        for n in range(rng.randint(1, 6)):
            outcome, verdict, stage = rng.choice(outcomes)
            end = None if rng.random() < 0.1 else T0 + t + rng.uniform(0.0, 3.0)
            rows.append(
                rec(
                    rng.choice(["valid", "valid", "expired"]), outcome, verdict, t=t,
                    session=f"s{s}", session_attempt=n, t_end=end, stage=stage,
                    connect_ms=1.0, handshake_ms=rng.choice([None, 9.0]),
                )
            )  # fmt: skip
            t += rng.uniform(0.0, 4.0)
    rng.shuffle(rows)
    return rows


@pytest.mark.parametrize("seed", range(20))
def test_sessions_are_ordered_as_sorting_by_their_text_orders_them(seed: int) -> None:
    rng = random.Random(seed)
    rows = random_sessions(rng)
    for row in rows:  # unknown attempt numbers and starts sort last; ties keep their order
        if rng.random() < 0.15:
            row["session_attempt"] = None
        if rng.random() < 0.15:
            row["t_start"] = None
        if rng.random() < 0.1:
            row["session"] = rng.choice(["s1", "é", "Z", "s10"])
    frame = run_of(rows).attempts
    expected = frame.sort_values(["session", "session_attempt", "t_start"], kind="stable")
    order = session_order(frame)
    assert list(order.index) == list(expected.index)
    assert list(order.columns) == list(WALK_COLUMNS)


@pytest.mark.parametrize("seed", range(40))
def test_the_vectorised_session_walk_finds_what_the_per_session_one_does(seed: int) -> None:
    rows = random_sessions(random.Random(seed))
    frame = run_of(rows).attempts
    order = frame.sort_values(["session", "session_attempt", "t_start"], kind="stable")
    expected = []
    for sid, group in order.groupby("session", sort=False):
        expected += session_outages(str(sid), group.to_dict("records"))
    assert walk_sessions(order).outages == expected
