"""Benchmark: what the chaos proxy (no toxic active) adds to a WebSocket handshake.

Starts the embedded reference target and a :class:`harness.chaos.proxy.server.ChaosProxy` in
front of it (on its own thread), then runs N sequential handshakes (TCP connect,
HTTP upgrade, normal close) directly and N through the proxy, interleaved (the order
alternates each round) so that drift on the machine affects both alike. Prints p50
and p95 of the handshake time (TCP connect + upgrade, in ms) for both, the
difference and the ratio proxy/direct.

    .venv/bin/python bench/proxy_overhead.py [-n 300] [--warmup 20]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.chaos.proxy.server import ChaosProxy, ProxyThread
from harness.config.scenario import Auth, EmbeddedTarget
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.protocol.outcomes import Outcome, classify
from harness.protocol.tokens import mint, new_secret
from harness.target.process import start_target

NO_SESSION = SessionPlan(hold=0.0, messages=0)  # connect, upgrade, close at once


def handshake_ms(url: str, token: str) -> float:
    """TCP connect + upgrade time of one attempt, in ms (raises if it was not accepted)."""
    res = open_attempt(Request(url=url, token=token), NO_SESSION)
    outcome = classify(res.observation)
    if outcome is not Outcome.ACCEPTED or res.connect_ms is None or res.handshake_ms is None:
        raise RuntimeError(f"handshake to {url} not accepted: {outcome} {res.error}")
    return res.connect_ms + res.handshake_ms


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``values``, by linear interpolation."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="handshakes per path (default 300)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed handshakes per path first")
    args = ap.parse_args(argv)
    secret = new_secret()
    token = mint("valid", Auth(), secret)
    assert token is not None
    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
        opts = EmbeddedTarget(ping_interval=0, max_connections=100_000)
        with start_target(opts, secret=secret, log_path=Path(tmp) / "target.log") as target:
            pt = ProxyThread(ChaosProxy(target.host, target.port))
            port = pt.start()
            try:
                urls = {"direct": target.url, "proxy": f"ws://127.0.0.1:{port}{target.path}"}
                times: dict[str, list[float]] = {"direct": [], "proxy": []}
                for i in range(args.warmup + args.n):
                    order = ("direct", "proxy") if i % 2 == 0 else ("proxy", "direct")
                    for path in order:
                        ms = handshake_ms(urls[path], token)
                        if i >= args.warmup:
                            times[path].append(ms)
            finally:
                pt.stop()
    p50 = {k: percentile(v, 50) for k, v in times.items()}
    p95 = {k: percentile(v, 95) for k, v in times.items()}
    print(f"{args.n} sequential handshakes per path (connect + upgrade), interleaved")
    print(f"{'':8}{'p50 ms':>10}{'p95 ms':>10}")
    for k in ("direct", "proxy"):
        print(f"{k:8}{p50[k]:10.3f}{p95[k]:10.3f}")
    print(f"{'diff':8}{p50['proxy'] - p50['direct']:10.3f}{p95['proxy'] - p95['direct']:10.3f}")
    print(f"{'ratio':8}{p50['proxy'] / p50['direct']:10.2f}{p95['proxy'] / p95['direct']:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
