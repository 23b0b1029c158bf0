"""Benchmark: how many handshakes a second each load generator makes, on one pinned core.

A small echo target (``websockets``, uvloop when installed, every upgrade's HS256 token
checked) runs alone on the last CPU; each generator runs in turn on CPU 0 (``taskset``),
for ``--seconds`` after a warm-up, with ``--users`` concurrent users that each loop: mint a
token, connect, send one 64-byte message, await its echo, close. The rate is the target's
own count of completed handshakes over the window (not what a generator claims). Rounds
alternate the generators so that drift on the machine affects all alike; the report gives
each generator's rate per round, its median, and the median's ratio to the raw client.

Generators:

- ``raw``: a raw asyncio client on ``websockets`` (the floor any Python tool has to beat);
- ``locust-plain``: a hand-written Locust user with websocket-client, nothing recorded;
- ``harness-norecord``: the harness's user (classification, records built) with the
  records dropped;
- ``harness-record``: the same user writing every record (``attempts.jsonl``);
- ``harness-run``: ``harness run`` itself (the whole product: lifecycle, progress, report);
- ``harness-workers``: ``harness run --workers 2``, both workers and the master on the same
  one core: what the distributed path (records over Locust's messages) costs per core.

``--mode messages`` measures messages instead: each user opens one connection and sends
64-byte messages closed-loop (the next once the echo came: ``load.session.pace:
closed_loop``); the rate is the target's count of echoed messages. ``locust-plain`` has no
messages mode.

    .venv/bin/pip install -e '.[test,bench]'      # uvloop for the target
    .venv/bin/python bench/generator.py [--users 50] [--seconds 15] [--rounds 2]

Not part of the test suite. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-generator-" + "k" * 32
GENERATORS = (
    "raw",
    "locust-plain",
    "harness-norecord",
    "harness-record",
    "harness-run",
    "harness-workers",
)
#: What a user does, and what the target counts: "handshakes" (connect, one echo, close,
#: again) or "messages" (one connection, then send, await the echo, send again: closed loop)
MODES = ("handshakes", "messages")
WARMUP_S = 5.0  # the slowest to start (harness run: imports, run directory) is spawning by then


# --- The target ---------------------------------------------------------------------------


def serve(port_file: Path) -> None:
    """The echo target: token checked per upgrade, counts at ``GET /count``."""
    import http
    import logging

    import jwt
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.http11 import Request, Response

    counts = {"handshakes": 0, "refused": 0, "messages": 0}
    # clients that reset instead of closing (a generator stopped mid-attempt) are not news
    logging.getLogger("websockets").setLevel(logging.CRITICAL)

    def check(conn: ServerConnection, request: Request) -> Response | None:
        if request.path == "/count":
            return conn.respond(http.HTTPStatus.OK, json.dumps(counts))
        token = request.path.partition("token=")[2]
        try:
            jwt.decode(token, KEY, algorithms=["HS256"])
        except jwt.PyJWTError:
            counts["refused"] += 1
            return conn.respond(http.HTTPStatus.UNAUTHORIZED, "bad token\n")
        counts["handshakes"] += 1
        return None

    async def echo(conn: ServerConnection) -> None:
        async for message in conn:
            counts["messages"] += 1
            await conn.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, process_request=check, ping_interval=None) as s:
            port = s.sockets[0].getsockname()[1]
            port_file.write_text(str(port))
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def start_target(work: Path, cpu: int) -> tuple[subprocess.Popen[bytes], str]:
    port_file = work / "port"
    proc = subprocess.Popen(
        ["taskset", "-c", str(cpu), sys.executable, __file__, "--serve", str(port_file)]
    )
    for _ in range(100):
        if port_file.exists() and port_file.read_text():
            return proc, f"ws://127.0.0.1:{port_file.read_text()}/ws"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the bench target did not start")


def handshakes(url: str, what: str = "handshakes") -> int:
    base = url.replace("ws://", "http://").rsplit("/", 1)[0]
    with urllib.request.urlopen(f"{base}/count", timeout=5) as r:
        return int(json.loads(r.read())[what])


# --- The raw client -----------------------------------------------------------------------


def raw_client(url: str, users: int, seconds: float, mode: str = "handshakes") -> None:
    """``users`` coroutines, each looping connect, one echo, close, for ``seconds`` (mode
    "messages": one connection each, then echo after echo)."""
    import jwt
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    async def user(end: float) -> None:
        while time.monotonic() < end:
            token = jwt.encode({"sub": "u", "exp": int(time.time()) + 300}, KEY, "HS256")
            try:
                async with connect(f"{url}?token={token}", ping_interval=None) as ws:
                    await ws.send(os.urandom(64))
                    await ws.recv()
            except (OSError, WebSocketException):
                continue  # the target's count is the measure; a failed attempt is not in it

    async def chatter(end: float) -> None:
        token = jwt.encode({"sub": "u", "exp": int(time.time()) + 3600}, KEY, "HS256")
        async with connect(f"{url}?token={token}", ping_interval=None) as ws:
            while time.monotonic() < end:
                await ws.send(os.urandom(64))
                await ws.recv()

    async def main() -> None:
        end = time.monotonic() + seconds
        one = chatter if mode == "messages" else user
        await asyncio.gather(*(one(end) for _ in range(users)))

    asyncio.run(main())


# --- One measurement ----------------------------------------------------------------------


def command(
    generator: str, url: str, users: int, seconds: float, work: Path, mode: str = "handshakes"
) -> list[str]:
    total = f"{seconds + WARMUP_S + 2:g}"
    if generator == "raw":
        return [sys.executable, __file__, "--raw", url, str(users), total, mode]
    if generator in ("harness-run", "harness-workers"):
        session = (
            "{hold: 600, messages: 1000000, pace: closed_loop, wait: 0}"
            if mode == "messages"
            else "{hold: 0, messages: 1, wait: 0}"
        )
        scenario = work / "run.yaml"
        scenario.write_text(
            f"name: bench-run\ntarget: {{url: '{url}'}}\nauth: {{secret: {{env: BENCH_KEY}}}}\n"
            f"load: {{users: {users}, spawn_rate: {users}, duration: {total},\n"
            f"       session: {session}}}\n"
        )
        workers = ["--workers", "2"] if generator == "harness-workers" else []
        return [
            *(sys.executable, "-m", "harness", "run", str(scenario), *workers),
            *("--out", str(work / "runs")),
        ]
    return [
        *(sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "generator_users.py")),
        *("--headless", "-u", str(users), "-r", str(users), "-t", f"{total}s", "--only-summary"),
        *("--loglevel", "ERROR"),
    ]


def measure(
    generator: str, url: str, users: int, seconds: float, cpu: int, mode: str = "handshakes"
) -> float:
    """Handshakes (or messages) a second the target completed while ``generator`` ran on
    ``cpu``."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{generator}-"))
    env = {**os.environ, "BENCH_GENERATOR": generator, "BENCH_URL": url, "BENCH_KEY": KEY}
    env["BENCH_OUT"], env["BENCH_MODE"] = str(work), mode
    cmd = ["taskset", "-c", str(cpu), *command(generator, url, users, seconds, work, mode)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        time.sleep(WARMUP_S)
        a, t_a = handshakes(url, mode), time.monotonic()
        time.sleep(seconds)
        b, t_b = handshakes(url, mode), time.monotonic()
        _, err = proc.communicate(timeout=60)
        if proc.returncode not in (0, 1):  # 1: a run whose gates or findings failed
            sys.stderr.write(err.decode(errors="replace")[-2000:])
            raise SystemExit(f"{generator} exited {proc.returncode}")
        return (b - a) / (t_b - t_a)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default=",".join(GENERATORS), help="comma-separated generators")
    parser.add_argument("--mode", choices=MODES, default="handshakes")
    args = parser.parse_args(argv)
    cpus = os.cpu_count() or 1
    if cpus < 2:
        raise SystemExit("needs 2 CPUs: the target on one, the generator on the other")
    chosen = [g for g in args.only.split(",") if g]
    if args.mode == "messages" and "locust-plain" in chosen:
        chosen.remove("locust-plain")  # no messages mode
    rates: dict[str, list[float]] = {g: [] for g in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-target-") as tmp:
        target, url = start_target(Path(tmp), cpus - 1)
        try:
            for r in range(args.rounds):
                order = chosen if r % 2 == 0 else list(reversed(chosen))
                for g in order:
                    rate = measure(g, url, args.users, args.seconds, 0, args.mode)
                    rates[g].append(rate)
                    print(f"round {r + 1}: {g:<17} {rate:8.0f} {args.mode}/s", flush=True)
        finally:
            target.send_signal(signal.SIGTERM)
            target.wait(timeout=10)
    base = statistics.median(rates["raw"]) if rates.get("raw") else None
    print(f"\n{args.users} users, {args.seconds:g} s per measurement, {args.rounds} rounds")
    print(f"{'generator':<17} {'min':>8} {'median':>8} {'max':>8} {'x raw':>7}")
    for g, values in rates.items():
        med = statistics.median(values)
        ratio = f"{med / base:7.2f}" if base else "      -"
        print(f"{g:<17} {min(values):8.0f} {med:8.0f} {max(values):8.0f} {ratio}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--raw":
        raw_client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(main())
