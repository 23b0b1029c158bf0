"""`harness run`: start the target, drive Locust users, sample the target, write the run directory,
build the report and decide the exit code.

Importing this module imports Locust first (gevent monkey-patching).
"""

from __future__ import annotations

import gevent
import locust
from locust.env import Environment

import json
import os
import platform
import secrets as _secrets
import signal
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import __version__
from harness.chaos import session as chaos
from harness.config.scenario import ChaosEntry, Scenario
from harness.config.secret import resolve_secret
from harness.config.serialise import scenario_to_dict
from harness.errors import HarnessError
from harness.load.probe import Probe
from harness.load.user import UserConfig, make_user_class
from harness.protocol.outcomes import DEFAULT_APP_CLOSE_CODES
from harness.protocol.tokens import new_secret
from harness.redact import redact
from harness.render.report import build_report
from harness.render.terminal import format_terminal_summary
from harness.rundir.jsonl import JsonlWriter
from harness.rundir.layout import ATTEMPTS
from harness.rundir.records import AttemptRecord
from harness.target.process import start_target

EXIT_PASS = 0
EXIT_GATE_FAILED = 1
EXIT_HARNESS = 2
EXIT_INTERRUPTED = 130

#: Share of attempts that were the generator's own faults above which the run is not trusted.
GENERATOR_FAULT_DOMINATES = 0.5

#: Seconds Locust gives users to finish their attempt once the run stops.
STOP_TIMEOUT_S = 3.0


class RunRecorder:
    """Writes attempt records and keeps live counts for the progress line."""

    def __init__(self, run_dir: Path) -> None:
        self.writer = JsonlWriter(run_dir / ATTEMPTS)
        self.verdicts: Counter[str] = Counter()
        self.total = 0
        self.recent_hs: deque[float] = deque(maxlen=500)

    def add(self, record: AttemptRecord) -> None:
        self.writer.write_line(record.to_json())
        self.total += 1
        self.verdicts[record.verdict] += 1
        if record.handshake_ms is not None:
            self.recent_hs.append(record.handshake_ms)

    def progress_line(self, elapsed: float, planned: float, users: int, wanted: int) -> str:
        counted = self.total - self.verdicts["excluded"]
        ok = self.verdicts["ok"]
        rate = f"{100.0 * ok / counted:5.1f}%" if counted else "   - "
        hs = sorted(self.recent_hs)
        p95 = f"{hs[int(0.95 * (len(hs) - 1))]:.1f} ms" if hs else "-"
        return (
            f"[{elapsed:5.0f}s/{planned:.0f}s] users {users}/{wanted}  attempts {self.total}"
            f" ({self.total / max(elapsed, 0.001):.1f}/s)  as expected {rate}"
            f"  valid-refused {self.verdicts['valid_refused']}"
            f"  invalid-accepted {self.verdicts['invalid_accepted']}"
            f"  abrupt {self.verdicts['abrupt']}"
            f"  gen-fault {self.verdicts['generator_fault']}  handshake p95 {p95}"
        )


@dataclass
class RunResult:
    exit_code: int
    run_dir: Path
    message: str


def new_run_id(scenario: Scenario) -> str:
    """``YYYYmmdd-HHMMSS-<name>-<4 hex>``: sortable, unique, readable."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in scenario.name)[:40]
    return f"{stamp}-{name}-{_secrets.token_hex(2)}"


def _versions() -> dict[str, str]:
    out = {"harness": __version__, "python": platform.python_version()}
    for pkg in ("locust", "websocket-client", "websockets", "pyjwt", "pandas", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def run(
    scenario: Scenario,
    *,
    out_dir: Path,
    command: str,
    say: Callable[[str], None] = print,
    progress_every: float = 2.0,
) -> RunResult:
    """Run ``scenario`` end to end and return the exit code and run directory.

    Raises:
        HarnessError: the run could not start (no secret, target failed to start, ...).
    """
    secret = resolve_secret(scenario)
    if secret is None:
        secret = new_secret()
    t = scenario.target
    windows, chaos_notes = chaos.preflight(
        scenario, has_pid=t.is_embedded or t.pid is not None or t.pid_file is not None
    )
    run_id = new_run_id(scenario)
    run_dir = out_dir / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        raise HarnessError(f"cannot create run directory {run_dir}: {exc.strerror}") from exc
    load = scenario.load
    meta: dict[str, Any] = {
        "run_id": run_id,
        "scenario": scenario.name,
        "scenario_file": scenario.source,
        "started_at": time.time(),
        "ended_at": None,
        "duration_planned_s": load.duration,
        "target_url": scenario.target.url,
        "command": redact(command, [secret]),
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count() or 0},
        "complete": False,
    }
    _write_json(run_dir / "scenario.json", scenario_to_dict(scenario))
    _write_json(run_dir / "meta.json", meta)
    say(f"run {run_id}: scenario {scenario.name!r} from {scenario.source}")
    for note in chaos_notes:
        say(note)

    recorder = RunRecorder(run_dir)
    stopped_by: list[str] = []
    session: chaos.ChaosSession | None = None
    probe: Probe | None = None
    with ExitStack() as stack:
        stack.callback(recorder.writer.close)
        if scenario.target.is_embedded:
            opts = scenario.target.embedded
            assert opts is not None
            say(
                "starting the embedded reference target"
                + (f" with defects: {', '.join(opts.defects)}" if opts.defects else "")
            )
            target = start_target(
                opts,
                secret=secret,
                log_path=run_dir / "target.log",
                path=scenario.target.path,
                query_param=scenario.auth.query_param,
                algorithm=scenario.auth.algorithm,
            )
            stack.callback(target.stop)
            url = target.url
            target_pid: int | None = target.pid
        else:
            assert t.url is not None
            url = t.url
            target_pid = _external_pid(scenario)
        if target_pid is not None:
            meta["target_pid"] = target_pid
            probe = Probe(target_pid, run_dir).start()
            stack.callback(probe.stop)
        if windows:
            session = _start_chaos(scenario, windows, run_dir, url, target_pid, secret)
            stack.callback(session.stop)  # before the target stops: reverts first
            if session.proxy_port is not None:
                url = chaos.proxied_url(url, session.proxy_port)
                say(f"chaos proxy on port {session.proxy_port} in front of the target")
            say(
                f"chaos: {len(windows)} fault windows: "
                + ", ".join(
                    f"{w.label} at {w.at:g}s" + (f" for {w.duration:g}s" if w.duration else "")
                    for w in windows
                )
            )
        meta["target_url"] = url
        _write_json(run_dir / "meta.json", meta)
        say(f"target {url}; {load.users} users at {load.spawn_rate:g}/s for {load.duration:g} s")

        config = UserConfig(
            scenario=scenario,
            secret=secret,
            url=url,
            sink=recorder,
            run_id=run_id,
            app_codes={**DEFAULT_APP_CLOSE_CODES, **scenario.target.close_codes},
            faults_between=session.faults_between if session else (lambda a, b: []),
        )
        env = Environment(
            user_classes=[make_user_class(config)],
            events=locust.events,
            stop_timeout=STOP_TIMEOUT_S,
        )
        runner = env.create_local_runner()

        def on_signal(name: str) -> Callable[[], None]:
            def handler() -> None:
                if not stopped_by:
                    stopped_by.append(name)

            return handler

        for sig in (signal.SIGINT, signal.SIGTERM):
            stack.callback(gevent.signal_handler(sig, on_signal(sig.name)).cancel)
        t0 = time.monotonic()
        meta["started_at"] = time.time()  # the timeline's zero: chaos "at" counts from here
        _write_json(run_dir / "meta.json", meta)
        if session is not None:
            session.start(meta["started_at"])
        runner.start(load.users, spawn_rate=load.spawn_rate)
        next_progress = progress_every
        while not stopped_by:
            elapsed = time.monotonic() - t0
            if elapsed >= load.duration:
                break
            if session is not None:
                _follow_chaos(session, probe, say, elapsed)
            if elapsed >= next_progress:
                line = recorder.progress_line(elapsed, load.duration, runner.user_count, load.users)
                if session is not None and session.active:
                    line += "  chaos: " + ", ".join(sorted(session.active))
                say(line)
                next_progress += progress_every
            gevent.sleep(min(0.2, load.duration - elapsed))
        say("stopping users" + (f" ({stopped_by[0]})" if stopped_by else ""))
        runner.quit()
        say(recorder.progress_line(time.monotonic() - t0, load.duration, 0, load.users))
        if session is not None:
            session.stop()
            _follow_chaos(session, probe, say, time.monotonic() - t0)

    meta["ended_at"] = time.time()
    meta["complete"] = not stopped_by
    meta["attempts"] = recorder.total
    _write_json(run_dir / "meta.json", meta)

    say("building the report")
    report = build_report(run_dir, scenario.gates)
    say("")
    say(format_terminal_summary(report.summary, report.gate_results))
    say("")
    say(f"report: {report.paths.index_html.resolve().as_uri()}")
    share = report.summary.generator_fault_share or 0.0
    if stopped_by:
        return RunResult(EXIT_INTERRUPTED, run_dir, f"run stopped early by {stopped_by[0]}")
    if share > GENERATOR_FAULT_DOMINATES:
        return RunResult(
            EXIT_HARNESS,
            run_dir,
            f"{share:.0%} of attempts failed inside the load generator itself "
            "(e.g. out of file descriptors): the results say nothing about the target",
        )
    failed = [g for g in report.gate_results if not g.passed]
    if failed:
        return RunResult(
            EXIT_GATE_FAILED,
            run_dir,
            f"{len(failed)} of {len(report.gate_results)} gates failed: "
            + "; ".join(f"{g.name!r} ({g.message})" for g in failed),
        )
    return RunResult(EXIT_PASS, run_dir, f"all {len(report.gate_results)} gates passed")


def _external_pid(scenario: Scenario) -> int | None:
    """The PID of an external target, from target.pid or target.pid_file."""
    t = scenario.target
    if t.pid is not None:
        return t.pid
    if t.pid_file is None:
        return None
    path = Path(t.pid_file)
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise HarnessError(
            f"{scenario.source}: target.pid_file: cannot read a PID from {path}: {exc}"
        ) from None


def _start_chaos(
    scenario: Scenario,
    windows: list[ChaosEntry],
    run_dir: Path,
    url: str,
    target_pid: int | None,
    secret: str,
) -> chaos.ChaosSession:
    """Start the chaos driver process (and its proxy) and wait until it is ready."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    t = scenario.target
    restart: dict[str, Any] | None = None
    if t.is_embedded:
        restart = chaos.embedded_restart_spec(scenario, port, run_dir / "target.log")
    elif t.restart_command:
        restart = {"kind": "command", "command": t.restart_command, "pid_file": t.pid_file}
    plan = {
        "run_dir": str(run_dir),
        "parent_pid": os.getpid(),
        "target": {"pid": target_pid, "cgroup": t.cgroup, "host": parts.hostname, "port": port},
        "restart": restart,
        "proxy": {"upstream_host": parts.hostname, "upstream_port": port}
        if chaos.needs_proxy(windows)
        else None,
        "windows": chaos.fill_ports(windows, port),
    }
    session = chaos.ChaosSession(run_dir, plan, {**os.environ, "HARNESS_JWT_SECRET": secret})
    try:
        session.wait_ready()
    except BaseException:
        session.stop()
        raise
    return session


def _follow_chaos(
    session: chaos.ChaosSession, probe: Probe | None, say: Callable[[str], None], elapsed: float
) -> None:
    """Read the driver's new timeline events: report them, follow a restarted target."""
    for ev in session.poll():
        kind = ev["event"]
        if kind == "target_pid":
            if probe is not None:
                probe.retarget(int(ev["pid"]))
            say(f"[{elapsed:5.0f}s] chaos: target restarted as PID {ev['pid']}")
            continue
        if kind == "applying":
            continue  # "applied" follows (or "failed")
        params = ", ".join(f"{k}={v}" for k, v in (ev.get("params") or {}).items())
        err = f": {ev['error']}" if ev.get("error") else ""
        say(f"[{elapsed:5.0f}s] chaos: {kind} {ev.get('label')} ({params}){err}")
