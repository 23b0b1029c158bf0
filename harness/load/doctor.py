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

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jwt

from harness.analysis.summary import Finding
from harness.config.scenario import TOKEN_KINDS, Auth
from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import auth_request
from harness.protocol.outcomes import CLOSE_CODE_NAMES, DEFAULT_APP_CLOSE_CODES
from harness.protocol.tokens import mint
from harness.render.report import build_report
from harness.render.terminal import format_findings
from harness.rundir.jsonl import JsonlWriter
from harness.rundir.layout import RunDir, new_run_id, write_json_atomic
from harness.rundir.meta import RunMeta
from harness.rundir.records import AttemptRecord

PER_KIND = 3  # attempts per token kind
RAMP_STEP = 10  # connections added per ramp step
RAMP_STEP_S = 0.5  # seconds between ramp steps


@dataclass(frozen=True)
class DoctorOptions:
    """What to probe and how (the command line gives the defaults: ``harness doctor -h``)."""

    url: str
    secret: str
    auth: Auth
    ramp: int  # concurrent connections at the top of the ramp
    timeout: float  # connect and handshake timeout, seconds
    out_dir: Path  # where the run directory goes
    heartbeat_s: float  # how long the heartbeat probe holds its connection, seconds
    concurrency: int  # token-kind probes at once
    ca_file: str | None = None  # wss://: PEM file of the CAs to trust (None: the system's)
    verify_tls: bool = True  # wss://: verify the server's certificate (--insecure: False)


class Collector:
    """Thread-safe record sink writing the doctor's attempts.jsonl."""

    def __init__(self, run: RunDir, run_id: str) -> None:
        self.writer = JsonlWriter(run.attempts)
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
        req = auth_request(
            opts.url,
            opts.auth,
            token,
            connect_timeout=opts.timeout,
            handshake_timeout=opts.timeout,
            verify_tls=opts.verify_tls,
            ca_file=opts.ca_file,
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


def _token_kinds(opts: DoctorOptions, col: Collector, say: Callable[[str], None]) -> None:
    """Every kind PER_KIND times, at most ``opts.concurrency`` at once (with the heartbeat
    probe's connection, that many plus one): a small per-client connection limit must not
    turn the token probe into a capacity test."""
    # no message: a service need not echo, and a missing echo is not what this probe asks
    plan = SessionPlan(hold=0.3, messages=0, expect_reply=False, reply_timeout=opts.timeout)
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

    # expired_reused first: its wait for the expiry overlaps the other kinds
    kinds = sorted(TOKEN_KINDS, key=lambda k: k != "expired_reused")
    jobs = [(k, i) for k in kinds for i in range(1 if k == "expired_reused" else PER_KIND)]
    with ThreadPoolExecutor(max_workers=opts.concurrency, thread_name_prefix="kinds") as pool:
        for future in [pool.submit(one, *job) for job in jobs]:
            future.result(timeout=len(jobs) * (3 * opts.timeout + 5))
    for kind, outcomes in got.items():
        counts = Counter(outcomes)
        say(f"  {kind:14} {', '.join(f'{o} x{n}' for o, n in counts.items()) or 'no answer'}")


def _heartbeat(opts: DoctorOptions, col: Collector) -> None:
    token = mint("valid", opts.auth, opts.secret)
    plan = SessionPlan(hold=opts.heartbeat_s, messages=0, expect_reply=False)
    col.attempt(opts, "valid", token, plan, "heartbeat")


def _ramp(opts: DoctorOptions, col: Collector, say: Callable[[str], None]) -> None:
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


@dataclass(frozen=True)
class DoctorResult:
    """What the doctor found: its run directory, the findings and the report's page."""

    run_dir: Path
    findings: tuple[Finding, ...]
    report: Path


def run_doctor(opts: DoctorOptions, say: Callable[[str], None] = print) -> DoctorResult:
    """Probe the target, write a run directory with its report (see the module docstring).

    Raises:
        HarnessError: the run directory cannot be made.
    """
    run = RunDir.create(opts.out_dir, new_run_id("doctor", prefix="doctor"))
    meta = RunMeta(
        run_id=run.run_id,
        scenario="doctor",
        route="doctor",
        command="harness doctor",
        duration_planned_s=opts.heartbeat_s,
        target_url=opts.url,
        started_at=time.time(),
    )
    write_json_atomic(run.scenario, {"name": "doctor", "gates": []})
    meta.write(run.path)
    col = Collector(run, run.run_id)
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
    meta.ended_at, meta.complete, meta.attempts = time.time(), True, len(col.records)
    meta.stop_reason = "planned duration"
    meta.write(run.path)
    _say_codes(col.records, say)
    report = build_report(run.path, gates=[])
    findings = tuple(report.summary.findings)
    say("")
    say(format_findings(findings))
    say(f"report: {report.paths.index_html.resolve().as_uri()}")
    return DoctorResult(run.path, findings, report.paths.index_html)


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
