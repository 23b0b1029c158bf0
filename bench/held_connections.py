"""Benchmark: what the load generator spends holding open WebSocket connections.

Starts the reference target alone (``harness target``, pinned to the last CPU with
``taskset``, no server pings, no limits), then runs ``harness run`` from two source trees
side by side: this one and a baseline (``--baseline DIR``, e.g. a ``git worktree`` of an
older commit). Each run is pinned to CPU 0 and holds N connections: every user opens one
WebSocket and holds it past the end of the run, sending nothing. Once all N are open (the
target's ``ws_connections_open`` says so), the benchmark samples the ``harness run``
process's CPU time (user + system) over a window and reports, per tree, the CPU it spent
(% of one core), that per 1,000 held connections, and the ratio of the two trees. The
trees alternate, round after round, so that drift on the machine affects both alike.

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/held_connections.py --baseline /tmp/base [-n 1000] [--rounds 3]

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
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-" + "k" * 32

SCENARIO = """\
name: held
target: {{url: "{url}"}}
auth: {{secret: {{env: BENCH_KEY}}}}
load:
  users: {users}
  spawn_rate: {rate}
  duration: {duration}
  mix: {{valid: 1}}
  session: {{hold: 3600, messages: 0, expect_reply: false, wait: 0}}
"""


def last_cpu() -> int:
    return max(os.sched_getaffinity(0))


def start_target(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    ready = tmp / "ready.json"
    cmd = [
        "taskset", "-c", str(last_cpu()), sys.executable, "-m", "harness", "target",
        "--port", "0", "--secret-env", "BENCH_KEY", "--ready-file", str(ready),
        "--max-connections", "19000", "--ping-interval", "0", "--max-cpu-percent", "800",
        "--max-rss-mb", "8000", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, "BENCH_KEY": KEY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the target did not start")
        time.sleep(0.05)
    return proc, str(json.loads(ready.read_text())["url"])


def open_connections(url: str) -> int:
    http = url.replace("ws://", "http://").rsplit("/", 1)[0]
    with urllib.request.urlopen(http + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("ws_connections_open "):
                return int(float(line.split()[1]))
    return -1


def held_cpu(tree: Path, python: str, url: str, n: int, window: float, tmp: Path) -> float:
    """CPU % of one core the ``harness run`` of ``tree`` spends holding ``n`` connections."""
    rate = 500
    duration = n / rate + 6 + window
    scenario = tmp / f"held-{tree.name}.yaml"
    scenario.write_text(SCENARIO.format(url=url, users=n, rate=rate, duration=duration))
    cmd = ["taskset", "-c", "0", python, "-m", "harness", "run", str(scenario), "-q",
           "--out", str(tmp / "runs")]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        cwd=tree,
        env={**os.environ, "BENCH_KEY": KEY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + duration
        while open_connections(url) < n:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{tree}: only {open_connections(url)} of {n} connections opened")
            time.sleep(0.2)
        time.sleep(2)  # let the spawning settle
        # the run process is the Python under taskset (taskset execs it: same PID)
        p = psutil.Process(proc.pid)
        c0, t0 = p.cpu_times(), time.monotonic()
        time.sleep(window)
        c1, t1 = p.cpu_times(), time.monotonic()
        held = open_connections(url)
        if held < n:
            raise SystemExit(f"{tree}: connections dropped to {held} during the window")
        return 100.0 * ((c1.user + c1.system) - (c0.user + c0.system)) / (t1 - t0)
    finally:
        proc.wait(timeout=duration + 60)
        while open_connections(url) > 0:  # the target lets go of the last run's sockets
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="baseline source tree")
    parser.add_argument(
        "--baseline-python", default=sys.executable, help="Python for the baseline tree"
    )
    parser.add_argument("-n", type=int, default=1000, help="connections held (default 1000)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds sampled (10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per tree (3)")
    args = parser.parse_args()
    trees = {"this tree": (ROOT, sys.executable), "baseline": (args.baseline, args.baseline_python)}
    results: dict[str, list[float]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        target, url = start_target(tmp)
        try:
            for i in range(args.rounds):
                order = list(trees) if i % 2 == 0 else list(reversed(trees))
                for name in order:
                    tree, python = trees[name]
                    cpu = held_cpu(tree, python, url, args.n, args.window, tmp)
                    results[name].append(cpu)
                    print(f"round {i + 1}: {name:9} {cpu:6.1f} % of a core", flush=True)
        finally:
            target.terminate()
            target.wait(10)
    print(f"\n{args.n} held connections, CPU of the harness run process (pinned to CPU 0),"
          f" {args.window:g} s windows, median of {args.rounds}")  # fmt: skip
    med = {name: statistics.median(v) for name, v in results.items()}
    for name, value in med.items():
        print(f"  {name:9} {value:6.1f} % of a core   {value * 1000 / args.n:6.2f} % per 1,000")
    if med["baseline"] > 0:
        print(f"  ratio this/baseline: {med['this tree'] / med['baseline']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
