"""Benchmark: what holding N open WebSockets costs ``harness run`` against a raw asyncio
client (``websockets``), in CPU and in memory per connection.

The reference target runs alone on the last CPU (``harness target``, no pings, no limits;
see bench/held_connections.py); each generator in turn runs on CPU 0 (``taskset``) and
opens N connections that send nothing. Once all N are open (the target's own
``ws_connections_open``), the benchmark samples the generator's CPU time over a window
and its RSS. Memory per held connection is (RSS holding N - RSS before the first
connection) / N: the raw client writes its idle RSS before it connects; ``harness run``
measures the same in its ``meta.json`` (``generator``, its first sample is before the
first user) and the benchmark reads it from there. Rounds alternate the generators.

    .venv/bin/python bench/held_vs_raw.py [-n 5000] [--rounds 2] [--window 10]

Not part of the test suite. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from held_connections import KEY, ROOT, SCENARIO, open_connections, start_target

GENERATORS = ("raw", "harness-run")


def raw_holder(url: str, n: int, idle_file: Path, seconds: float) -> None:
    """Open ``n`` connections (50 at a time) and hold them for ``seconds``."""
    import jwt
    from websockets.asyncio.client import connect

    idle_file.write_text(str(psutil.Process().memory_info().rss))
    token = jwt.encode({"sub": "u", "exp": int(time.time()) + 3600}, KEY, "HS256")

    async def hold(gate: asyncio.Semaphore, done: asyncio.Event) -> None:
        async with gate:
            ws = await connect(f"{url}?token={token}", ping_interval=None)
        try:
            await done.wait()
        finally:
            await ws.close()

    async def main() -> None:
        gate, done = asyncio.Semaphore(50), asyncio.Event()
        tasks = [asyncio.create_task(hold(gate, done)) for _ in range(n)]
        await asyncio.sleep(seconds)
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def measure(generator: str, url: str, n: int, window: float, tmp: Path) -> tuple[float, float]:
    """(CPU % of one core, KB per held connection) of ``generator`` holding ``n``."""
    rate = 500
    duration = n / rate + 8 + window
    idle = tmp / "idle"
    idle.unlink(missing_ok=True)
    runs = tmp / f"runs-{time.monotonic_ns()}"
    if generator == "raw":
        cmd = [sys.executable, __file__, "--hold", url, str(n), str(idle), str(duration)]
    else:
        scenario = tmp / "held.yaml"
        scenario.write_text(SCENARIO.format(url=url, users=n, rate=rate, duration=duration))
        cmd = [sys.executable, "-m", "harness", "run", str(scenario), "-q", "--out", str(runs)]
    proc = subprocess.Popen(
        ["taskset", "-c", "0", *cmd],
        cwd=ROOT,
        env={**os.environ, "BENCH_KEY": KEY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + duration
        while open_connections(url) < n:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{generator}: only {open_connections(url)} of {n} opened")
            time.sleep(0.2)
        time.sleep(2)  # let the spawning settle
        p = psutil.Process(proc.pid)  # taskset execs the generator: the same PID
        c0, t0 = p.cpu_times(), time.monotonic()
        time.sleep(window)
        c1, t1 = p.cpu_times(), time.monotonic()
        rss = p.memory_info().rss
        cpu = 100.0 * ((c1.user + c1.system) - (c0.user + c0.system)) / (t1 - t0)
        proc.wait(timeout=duration + 60)
        if generator == "raw":
            kb = (rss - int(idle.read_text())) / n / 1024
        else:
            meta = json.loads(next(runs.glob("*/meta.json")).read_text())
            kb = float(meta["generator"]["kb_per_open"])
        return cpu, kb
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        while open_connections(url) > 0:  # the target lets go of the last sockets
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5000, help="connections held (default 5000)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds sampled (10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per generator (2)")
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {g: [] for g in GENERATORS}
    kb: dict[str, list[float]] = {g: [] for g in GENERATORS}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        target, url = start_target(tmp)
        try:
            for i in range(args.rounds):
                for g in GENERATORS if i % 2 == 0 else reversed(GENERATORS):
                    c, k = measure(g, url, args.n, args.window, tmp)
                    cpu[g].append(c)
                    kb[g].append(k)
                    print(f"round {i + 1}: {g:11} {c:6.1f} % of a core, {k:5.1f} KB/conn")
        finally:
            target.terminate()
            target.wait(10)
    print(f"\n{args.n} held connections, generator on CPU 0, {args.window:g} s windows")
    print(f"{'generator':11} {'CPU % med':>9} {'x raw':>6} {'KB/conn med':>11} {'x raw':>6}")
    base_c, base_k = statistics.median(cpu["raw"]), statistics.median(kb["raw"])
    for g in GENERATORS:
        c, k = statistics.median(cpu[g]), statistics.median(kb[g])
        xc = f"{c / base_c:6.2f}" if base_c > 0 else "     -"  # an idle asyncio loop: 0 %
        print(f"{g:11} {c:9.1f} {xc} {k:11.1f} {k / base_k:6.2f}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--hold":
        raw_holder(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(main())
