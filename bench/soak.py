"""Soak: the harness against the embedded target for a long while; its own RSS and open file
descriptors over time, and their slopes (a leak shows as a slope that does not flatten).

One ``harness run`` of ``--minutes`` minutes (default 10) of churn: users connect, hold a
short session, close and connect again, every attempt recorded. Every ``--every`` seconds
the benchmark samples the ``harness run`` process (RSS in MiB, open FDs) and, separately,
the embedded target's. It prints the samples, then the least-squares slope of each over
the second half of the run (after the warm-up), per minute.

    .venv/bin/python bench/soak.py                 # 10 minutes, 50 users
    .venv/bin/python bench/soak.py --minutes 2 --users 20

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """\
name: soak
target:
  embedded: {{max_connections: 5000, max_cpu_percent: 800, max_rss_mb: 4096}}
load:
  users: {users}
  spawn_rate: 20
  duration: {duration}
  mix: {{valid: 6, empty: 1, expired: 1, bad_signature: 1, expired_reused: 1}}
  session: {{hold: 0.5, messages: 2, wait: [0.05, 0.2]}}
"""


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, value) points, per minute."""
    if len(points) < 2:
        return 0.0
    return statistics.linear_regression([p[0] for p in points], [p[1] for p in points]).slope


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    duration = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        scenario = tmp / "soak.yaml"
        scenario.write_text(SCENARIO.format(users=args.users, duration=duration))
        cmd = [sys.executable, "-m", "harness", "run", str(scenario), "-q", "--out", str(tmp)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        harness = psutil.Process(proc.pid)
        t0 = time.monotonic()
        rows: list[dict[str, float]] = []
        target: psutil.Process | None = None
        print("minute  harness_rss_mib  harness_fds  target_rss_mib  target_fds", flush=True)
        while proc.poll() is None and time.monotonic() - t0 < duration - 2:
            time.sleep(args.every)
            if target is None:
                metas = list(tmp.glob("*/meta.json"))
                pid = json.loads(metas[0].read_text()).get("target_pid") if metas else None
                target = psutil.Process(pid) if pid else None
            try:
                row = {
                    "minute": (time.monotonic() - t0) / 60,
                    "harness_rss": harness.memory_info().rss / 2**20,
                    "harness_fds": float(harness.num_fds()),
                    "target_rss": target.memory_info().rss / 2**20 if target else 0.0,
                    "target_fds": float(target.num_fds()) if target else 0.0,
                }
            except psutil.Error:
                break
            rows.append(row)
            print(
                f"{row['minute']:6.2f}  {row['harness_rss']:15.1f}  {row['harness_fds']:11.0f}"
                f"  {row['target_rss']:14.1f}  {row['target_fds']:10.0f}",
                flush=True,
            )
        proc.wait(timeout=120)
        runs = [p for p in tmp.iterdir() if p.is_dir()]
        attempts = (runs[0] / "attempts.jsonl").read_text().count("\n") if runs else 0
    half = rows[len(rows) // 2 :]
    print(
        f"\n{args.minutes:g} min, {args.users} users, {attempts} attempts recorded;"
        f" exit {proc.returncode}; slopes over the second half ({len(half)} samples):"
    )
    for key, unit in (("harness_rss", "MiB"), ("harness_fds", "FDs"),
                      ("target_rss", "MiB"), ("target_fds", "FDs")):  # fmt: skip
        pts = [(r["minute"], r[key]) for r in half]
        print(f"  {key:12} {slope(pts):+8.3f} {unit}/min   (from {half[0][key]:.1f} to"
              f" {half[-1][key]:.1f})" if half else f"  {key}: no samples")  # fmt: skip
    return 0 if os.environ.get("SOAK_STRICT") is None or proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
