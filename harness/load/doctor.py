"""`harness doctor URL`: a quick diagnosis of a WebSocket target (about 25 s).

Three probes run side by side, all classified and judged by the same code as a run
(:mod:`harness.load.attempt`, :mod:`harness.protocol.outcomes`) and written as a small run
directory,
so the findings come from the same report stage (:mod:`harness.render.report`):

1. every token kind a few times, one after another (and ``expired_reused`` once: a
   short-lived token used while valid, then again after it expired);
2. one valid connection held open to see whether the server sends heartbeats (pings);
3. a short ramp of concurrent valid connections, held until the ramp ends, to see how
   the target refuses when it has had enough (graceful 503/1013 or abrupt).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt

from harness import __version__
from harness.config.scenario import HS_ALGORITHMS, PLACEMENTS, TOKEN_KINDS, Auth, Secret
from harness.errors import HarnessError
from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import Request, SessionPlan, open_attempt
from harness.protocol.outcomes import CLOSE_CODE_NAMES, DEFAULT_APP_CLOSE_CODES
from harness.protocol.tokens import mint
from harness.rundir.jsonl import JsonlWriter
from harness.rundir.layout import ATTEMPTS
from harness.rundir.records import AttemptRecord

PER_KIND = 3  # attempts per token kind
HEARTBEAT_HOLD_S = 12.0  # how long the heartbeat probe holds its connection
RAMP_STEP = 10  # connections added per ramp step
RAMP_STEP_S = 0.5  # seconds between ramp steps


@dataclass(frozen=True)
class DoctorOptions:
    url: str
    secret: str
    auth: Auth
    ramp: int = 50  # concurrent connections at the top of the ramp
    timeout: float = 5.0  # connect and handshake timeout, seconds
    out_dir: Path = Path("reports")
    heartbeat_s: float = HEARTBEAT_HOLD_S  # how long the heartbeat probe holds its connection


class _Collector:
    """Thread-safe record sink writing the doctor's attempts.jsonl."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.writer = JsonlWriter(run_dir / ATTEMPTS)
        self.run_id = run_id
        self.records: list[AttemptRecord] = []
        self._lock = threading.Lock()
        self._n = 0

    def attempt(
        self, opts: DoctorOptions, kind: str, token: str | None, plan: SessionPlan, probe: str
    ) -> AttemptRecord:
        """One attempt, recorded; ramp attempts are marked as made under pressure ("ramp"),
        so the report judges them as a pressure phase, not as the baseline."""
        with self._lock:
            self._n += 1
            n = self._n
        req = Request(
            url=opts.url,
            token=token,
            placement=opts.auth.placement,
            query_param=opts.auth.query_param,
            header=opts.auth.header,
            connect_timeout=opts.timeout,
            handshake_timeout=opts.timeout,
        )
        t_start = time.time()
        res = open_attempt(req, plan)
        info = AttemptInfo(
            run_id=self.run_id,
            worker="doctor",
            user=0,
            attempt=n,
            token_kind=kind,
            placement=opts.auth.placement,
            token_sent=token is not None,
            t_start=t_start,
            chaos=("ramp",) if probe == "ramp" else (),
            load_stage=probe,
        )
        rec, _ = build_record(info, res, DEFAULT_APP_CLOSE_CODES)
        with self._lock:
            self.records.append(rec)
            self.writer.write_line(rec.to_json())
        return rec


def _token_kinds(opts: DoctorOptions, col: _Collector, say: Callable[[str], None]) -> None:
    """Every kind PER_KIND times, all at once (the target is not under pressure yet)."""
    plan = SessionPlan(hold=0.3, messages=1, message_bytes=32, reply_timeout=opts.timeout)
    got: dict[str, list[str]] = {kind: [] for kind in TOKEN_KINDS}

    def one(kind: str, i: int) -> None:
        if kind == "expired_reused":
            token = mint(kind, opts.auth, opts.secret, user=i)
            assert token is not None
            first = col.attempt(opts, "valid", token, plan, "token kinds")
            exp = jwt.decode(token, options={"verify_signature": False})["exp"]
            time.sleep(max(0.0, exp + 1.05 - time.time()))
            again = col.attempt(opts, kind, token, plan, "token kinds")
            got[kind].append(f"{again.outcome} (was {first.outcome} while valid)")
            return
        token = mint(kind, opts.auth, opts.secret, user=i)
        got[kind].append(col.attempt(opts, kind, token, plan, "token kinds").outcome)

    jobs = [(k, i) for k in TOKEN_KINDS for i in range(1 if k == "expired_reused" else PER_KIND)]
    threads = [threading.Thread(target=one, args=job, daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * opts.timeout + 5)
    for kind, outcomes in got.items():
        counts = Counter(outcomes)
        say(f"  {kind:14} {', '.join(f'{o} x{n}' for o, n in counts.items()) or 'no answer'}")


def _heartbeat(opts: DoctorOptions, col: _Collector) -> None:
    token = mint("valid", opts.auth, opts.secret)
    plan = SessionPlan(hold=opts.heartbeat_s, messages=0, expect_reply=False)
    col.attempt(opts, "valid", token, plan, "heartbeat")


def _ramp(opts: DoctorOptions, col: _Collector, say: Callable[[str], None]) -> None:
    hold = RAMP_STEP_S * (opts.ramp // RAMP_STEP + 2)
    threads: list[threading.Thread] = []
    results: list[AttemptRecord] = []
    start = time.monotonic()
    for i in range(opts.ramp):
        if i and i % RAMP_STEP == 0:
            time.sleep(RAMP_STEP_S)
        left = max(0.5, hold - (time.monotonic() - start))
        plan = SessionPlan(hold=left, messages=0, expect_reply=False)
        token = mint("valid", opts.auth, opts.secret, user=i)

        def run(token: str | None = token, plan: SessionPlan = plan) -> None:
            results.append(col.attempt(opts, "valid", token, plan, "ramp"))

        t = threading.Thread(target=run, daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(hold + 2 * opts.timeout + 5)
    outcomes = Counter(r.outcome for r in results)
    say(f"  ramp to {opts.ramp}: {', '.join(f'{o} x{n}' for o, n in outcomes.most_common())}")


def run_doctor(opts: DoctorOptions, say: Callable[[str], None] = print) -> tuple[int, Path]:
    """Probe the target, write a run directory with its report; return (exit code, run dir)."""
    run_id = time.strftime("doctor-%Y%m%d-%H%M%S")
    run_dir = opts.out_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    started = time.time()
    meta: dict[str, Any] = {
        "run_id": run_id,
        "scenario": "doctor",
        "started_at": started,
        "ended_at": None,
        "duration_planned_s": opts.heartbeat_s,
        "target_url": opts.url,
        "command": "harness doctor",
        "versions": {"harness": __version__, "python": platform.python_version()},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count() or 0},
        "complete": False,
    }
    (run_dir / "scenario.json").write_text(json.dumps({"name": "doctor", "gates": []}))
    (run_dir / "meta.json").write_text(json.dumps(meta))
    col = _Collector(run_dir, run_id)
    say(f"doctor: probing {opts.url} (about {opts.heartbeat_s + 8:.0f} s)")
    heartbeat = threading.Thread(target=_heartbeat, args=(opts, col), daemon=True)
    heartbeat.start()
    say("token kinds:")
    _token_kinds(opts, col, say)
    say("connection ramp:")
    _ramp(opts, col, say)
    heartbeat.join(opts.heartbeat_s + 2 * opts.timeout + 5)
    hb = [r for r in col.records if r.load_stage == "heartbeat"]
    if hb:
        r = hb[0]
        seen = f"{r.pings} server pings in {r.open_s or 0:.1f} s" if r.open_s else r.outcome
        say(f"heartbeat: {seen}")
    col.writer.close()
    meta.update(ended_at=time.time(), complete=True, attempts=len(col.records))
    (run_dir / "meta.json").write_text(json.dumps(meta))
    _say_codes(col.records, say)

    from harness.render.report import build_report
    from harness.render.terminal import format_findings

    report = build_report(run_dir, gates=[])
    findings = report.summary.findings
    say("")
    say(format_findings(findings))
    say(f"report: {report.paths.index_html.resolve().as_uri()}")
    serious = [f for f in findings if f.severity in ("high", "critical")]
    return (1 if serious else 0), run_dir


def _say_codes(records: list[AttemptRecord], say: Callable[[str], None]) -> None:
    seen: Counter[str] = Counter()
    for r in records:
        if r.http_status is not None:
            seen[f"HTTP {r.http_status}"] += 1
        elif r.close_code is not None and r.closed_by == "server":
            name = CLOSE_CODE_NAMES.get(r.close_code, "")
            reason = f" {r.close_reason!r}" if r.close_reason else " (no reason)"
            seen[f"close {r.close_code} {name}{reason}".replace("  ", " ")] += 1
    if seen:
        say("refusals and closes seen: " + "; ".join(f"{k} x{n}" for k, n in seen.most_common()))


EPILOG = """\
examples:
  HARNESS_JWT_SECRET=... harness doctor ws://127.0.0.1:8765/ws
  harness doctor wss://chat.local/ws --secret-file secret.txt --placement header
  harness doctor ws://127.0.0.1:8765/ws --secret-env MY_KEY --ramp 100

exit codes: 0 no high or critical finding, 1 at least one, 2 the doctor could not run
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="the target's ws:// or wss:// URL")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--secret-env",
        default="HARNESS_JWT_SECRET",
        metavar="NAME",
        help="environment variable holding the signing secret (default %(default)s)",
    )
    g.add_argument("--secret-file", metavar="PATH", help="file holding the signing secret")
    p.add_argument("--algorithm", choices=HS_ALGORITHMS, default="HS256")
    p.add_argument(
        "--placement",
        choices=PLACEMENTS,
        default="query",
        help="token in the query string or the Authorization header",
    )
    p.add_argument("--query-param", default="token", help="query parameter name")
    p.add_argument(
        "--claims",
        default='{"sub": "doctor"}',
        metavar="JSON",
        help="claims template as JSON (default %(default)s)",
    )
    p.add_argument(
        "--ramp",
        type=int,
        default=50,
        metavar="N",
        help="concurrent connections at the top of the ramp (default %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="connect and handshake timeout (default %(default)s)",
    )
    p.add_argument(
        "--heartbeat",
        type=float,
        default=HEARTBEAT_HOLD_S,
        metavar="SECONDS",
        help="how long to hold a connection waiting for server pings "
        "(default %(default)s; the no-heartbeat finding needs > 10)",
    )
    p.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR")


def options_from_args(args: argparse.Namespace) -> DoctorOptions:
    """Check the arguments; bad input is a HarnessError naming the flag."""
    parts = urlsplit(args.url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise HarnessError(f"URL: expected a ws:// or wss:// URL with a host, got {args.url!r}")
    if args.secret_file:
        try:
            secret = Path(args.secret_file).read_text().strip()
        except OSError as exc:
            msg = f"--secret-file: cannot read {args.secret_file}: {exc.strerror}"
            raise HarnessError(msg) from None
        source = Secret(file=args.secret_file)
    else:
        secret = os.environ.get(args.secret_env, "")
        source = Secret(env=args.secret_env)
    if not secret:
        raise HarnessError(f"no signing secret: set {source.describe()} (or --secret-file PATH)")
    try:
        claims = json.loads(args.claims)
    except ValueError as exc:
        raise HarnessError(f"--claims: not JSON: {exc}") from None
    if not isinstance(claims, dict):
        raise HarnessError("--claims: expected a JSON object")
    if not 1 <= args.ramp <= 5000:
        raise HarnessError(f"--ramp: expected an integer in [1, 5000], got {args.ramp}")
    auth = Auth(
        secret=source,
        algorithm=args.algorithm,
        claims=claims,
        placement=args.placement,
        query_param=args.query_param,
    )
    if not 0 < args.heartbeat <= 120 or not 0 < args.timeout <= 60:
        raise HarnessError("--heartbeat: expected (0, 120] s; --timeout: expected (0, 60] s")
    return DoctorOptions(
        args.url, secret, auth, args.ramp, args.timeout, args.out, heartbeat_s=args.heartbeat
    )
