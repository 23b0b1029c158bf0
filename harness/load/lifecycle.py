"""The run lifecycle: one engine for every route, hung on Locust's own events.

Routes: ``harness run`` (Locust in library mode), ``locust -f locustfile.py --scenario FILE``
headless, and Locust's web UI. Each route builds a :class:`RunEngine` and attaches it to
the Locust environment's events; nothing else differs between them:

- ``init``: nothing left to do (the route loaded the scenario and called
  :meth:`RunEngine.prepare`, which resolves the secret and checks the chaos plan);
- ``test_start``: a :class:`ActiveRun` starts: its run directory, the embedded target (or
  the external target's PID), the probe, the chaos session, the recorder, the users'
  configuration, and a monitor greenlet that prints progress lines, follows the chaos
  timeline and ends the load when the planned duration has run;
- ``test_stop`` (users already stopped by Locust, by interrupting them): the run finishes:
  the recorder is flushed and closed, every fault reverted, the probe and target stopped,
  ``meta.json`` completed, the report built and the verdict handed to the route;
- ``quitting`` (Locust's own shutdown: SIGTERM, Ctrl-C): a run still going is stopped,
  users first, and finished as interrupted.

On a master of a distributed run (``harness run --workers N``, ``harness master``) the run
is the same; its users run on the workers: the engine's :class:`harness.load.master.MasterSide`
tells each worker what to run, writes their records to the run's recorder, and accounts for
every worker in ``meta.json`` (see :mod:`harness.load.master`).

Each test started from the web UI is its own run with its own directory and report. The
load stops at the scenario's planned duration on every route (in the web UI the test
stops and the UI stays); Locust's ``--run-time`` or the UI's stop button may end it
earlier, and the run is then marked incomplete.
"""

from __future__ import annotations

import gevent
import gevent.greenlet
from locust.runners import MasterRunner

import html
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.analysis.verdict import Verdict, judge_run
from harness.chaos import session as chaos
from harness.config.scenario import ChaosEntry, Scenario
from harness.config.secret import resolve_secret
from harness.config.serialise import scenario_to_dict
from harness.errors import HarnessError
from harness.load.distributed import RunInfo, scenario_digest
from harness.load.footprint import FootprintProbe, own_footprint
from harness.load.hooks import check_hook
from harness.load.live_metrics import CountingSink, LiveMetrics
from harness.load.master import MasterSide
from harness.load.probe import Probe
from harness.load.progress import progress_line
from harness.load.recorder import RunRecorder
from harness.load.shape import StagesShape, run_shape
from harness.load.user import RecordSink, UserConfig, configure_users, scenario_user_config
from harness.load.watchdog import TargetWatch
from harness.processes import refusal
from harness.protocol.tokens import new_secret
from harness.redact import redact
from harness.render.report import build_report
from harness.render.terminal import format_terminal_summary
from harness.rundir.layout import RunDir, new_run_id, write_json_atomic, write_text_atomic
from harness.rundir.meta import RunMeta, RunWorker
from harness.target.certs import make_run_certs
from harness.target.process import TargetProcess, start_target

#: Why the load stopped, as ``meta.json`` records it.
PLANNED_END = "planned duration"
STOPPED_BY_LOCUST = "stopped by Locust before the planned duration (--run-time or the stop button)"

#: Seconds between two looks at the chaos timeline while a run goes.
MONITOR_TICK_S = 0.2


@dataclass(frozen=True)
class RunPlan:
    """What a route asks the engine to run.

    Attributes:
        scenario: the checked scenario (overrides applied).
        out_dir: where run directories go.
        command: the command line (redacted before it is written).
        route: ``harness run``, ``locust`` or ``locust web ui`` (see :mod:`harness.rundir.meta`).
        progress_every: seconds between progress lines.
        metrics: (host, port) to serve the live metrics on (:mod:`harness.load.live_metrics`;
            port 0: a free one); None: not served.
    """

    scenario: Scenario
    out_dir: Path
    command: str
    route: str
    progress_every: float = 2.0
    metrics: tuple[str, int] | None = None


@dataclass(frozen=True)
class RunOutcome:
    """What a finished (or failed) run hands back to its route.

    Attributes:
        verdict: the run's verdict; None when it could not run (``error`` says why).
        error: why the run could not start (a message for the user, no traceback).
        run_dir: the run directory, when one was made.
        report: the report's ``index.html``, when one was built.
    """

    verdict: Verdict | None
    error: str | None = None
    run_dir: Path | None = None
    report: Path | None = None


Say = Callable[[str], None]
OnFinished = Callable[[Any, RunOutcome], None]


class RunEngine:
    """The run lifecycle of one process (see the module docstring)."""

    def __init__(
        self,
        plan: RunPlan,
        *,
        say: Say,
        on_finished: OnFinished,
        master: MasterSide | None = None,
    ) -> None:
        self.plan = plan
        self.say = say
        self.on_finished = on_finished
        #: the master's side of a distributed run (None: the users run in this process)
        self.master = master
        self.secret: str | None = None
        self.windows: list[ChaosEntry] = []
        self.current: ActiveRun | None = None
        self.outcomes: list[RunOutcome] = []
        self._prepared = False

    def prepare(self) -> None:
        """Import the session hook, resolve the secret and check the chaos plan against this
        machine.

        Raises:
            HarnessError: a hook that cannot be imported, no secret, or a fault that cannot
                run here (the message says why).
        """
        s = self.plan.scenario
        check_hook(s)
        self.secret = resolve_secret(s) or new_secret()
        t = s.target
        has_pid = t.is_embedded or t.pid is not None or t.pid_file is not None
        self.windows, notes = chaos.preflight(s, has_pid=has_pid)
        for note in notes:
            self.say(note)
        self._prepared = True

    def attach(self, events: Any) -> None:
        """Hang the engine on a Locust environment's events."""
        events.test_start.add_listener(self._on_test_start)
        events.test_stop.add_listener(self._on_test_stop)
        events.quitting.add_listener(self._on_quitting)

    # --- Locust's events ---------------------------------------------------------------

    def _on_test_start(self, environment: Any, **_: Any) -> None:
        if self.current is not None:
            return
        assert self._prepared, "RunEngine.prepare() must run before the first test"
        run = ActiveRun(self, environment)
        try:
            run.start()
        except HarnessError as exc:
            configure_users(environment.user_classes, None)
            print(f"harness: error: {exc}", file=sys.stderr, flush=True)
            self._finished(environment, RunOutcome(None, error=str(exc), run_dir=run.abandon()))
            stop_load(environment)
            return
        self.current = run

    def _on_test_stop(self, environment: Any, **_: Any) -> None:
        run, self.current = self.current, None
        if run is not None:
            self._finished(environment, run.finish())

    def _on_quitting(self, environment: Any, **_: Any) -> None:
        run = self.current
        if run is None:
            return
        run.interrupt("shutdown (SIGTERM or Ctrl-C)")
        with deferred_signals(self.say):
            environment.runner.stop()  # stops the users first, then fires test_stop

    def _finished(self, environment: Any, outcome: RunOutcome) -> None:
        self.outcomes.append(outcome)
        self.on_finished(environment, outcome)

    # --- Called by routes ----------------------------------------------------------------

    def interrupt(self, environment: Any, reason: str) -> None:
        """Stop the running test because of ``reason`` (a signal's name); it ends as
        interrupted, with the report of what ran."""
        run = self.current
        if run is None or run.stop_reason is not None:
            self.say(f"harness: {reason} again: still stopping, the report comes next")
            return
        run.interrupt(reason)
        gevent.spawn(end_and_quit, environment.runner)


@contextmanager
def deferred_signals(say: Say) -> Iterator[None]:
    """While a stopped run is being finished (records, faults, report), a further Ctrl-C or
    SIGTERM only says so: the finishing goes on (Locust's own handlers would abort it)."""

    def notice(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        say(f"harness: {name} again: still stopping, the report comes next")

    old = {sig: signal.signal(sig, notice) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def is_headless(environment: Any) -> bool:
    """True when no web UI keeps the process alive after a test (library mode, --headless)."""
    opts = getattr(environment, "parsed_options", None)
    return opts is None or bool(getattr(opts, "headless", False))


def stop_load(environment: Any) -> None:
    """End the current test: headless routes quit (the process ends), the web UI stops the
    test and stays up. Runs in a greenlet of its own (never inside Locust's own calls)."""
    runner = environment.runner
    gevent.spawn(end_and_quit if is_headless(environment) else stop_test, runner)


def is_master(runner: Any) -> bool:
    """The runner is a master of workers (Locust's :class:`MasterRunner`)."""
    return isinstance(runner, MasterRunner)


def stop_test(runner: Any) -> None:
    """Stop the test (users first; ``test_stop`` follows)."""
    runner.stop()


def end_and_quit(runner: Any) -> None:
    """Stop the test and quit. A master's ``quit`` alone fires ``test_stop`` without waiting
    for its workers to stop (and so for their last records): it is stopped first."""
    if is_master(runner):
        runner.stop()
    runner.quit()


def external_pid(scenario: Scenario) -> int | None:
    """The PID of an external target, from ``target.pid`` or ``target.pid_file``, checked
    to be one the harness may act on (:func:`harness.processes.refusal`).

    Raises:
        HarnessError: the PID file cannot be read or holds no PID, or the PID is refused
            (PID 1, the harness's own, an ancestor, its session, another user's).
    """
    t = scenario.target
    key = "target.pid"
    if t.pid is not None:
        pid = t.pid
    elif t.pid_file is None:
        return None
    else:
        key, path = "target.pid_file", Path(t.pid_file)
        try:
            pid = int(path.read_bytes()[:32].decode("ascii", "replace").strip())
        except (OSError, ValueError) as exc:
            raise HarnessError(
                f"{scenario.source}: target.pid_file: cannot read a PID from {path}: {exc}"
            ) from None
    reason = refusal(pid)
    if reason is not None:
        raise HarnessError(f"{scenario.source}: {key}: {reason}")
    return pid


#: The page that stands in for the report until it is built (a second Ctrl-C may stop that).
PLACEHOLDER = """<!doctype html>
<meta charset="utf-8"><title>report of {run_id}: not built yet</title>
<h1>The report of {run_id} is not built yet</h1>
<p>The run ended and its records are complete; building the report was still going on or
was interrupted. Rebuild it from the run directory:</p>
<pre>harness report {path}</pre>
"""


def write_report_placeholder(run_dir: RunDir) -> None:
    """Put a page that says how to rebuild the report where ``index.html`` goes."""
    page = PLACEHOLDER.format(
        run_id=html.escape(run_dir.run_id), path=html.escape(str(run_dir.path))
    )
    write_text_atomic(run_dir.index, page)


@dataclass
class ActiveRun:
    """One test, from ``test_start`` to ``test_stop``: its run directory and what runs for it."""

    engine: RunEngine
    environment: Any
    stop_reason: str | None = None
    interrupted_by: str | None = None
    complete: bool = False
    session: chaos.ChaosSession | None = None
    probe: Probe | None = None
    watch: TargetWatch | None = None
    #: the CAs the users trust for wss:// (the embedded target's own, or target.tls.ca_file)
    ca_file: str | None = None
    #: the live metrics, when served (RunPlan.metrics)
    metrics: LiveMetrics | None = None
    #: the load's stages on Locust's shape (None: a constant load)
    shape: StagesShape | None = None
    #: this process's users' configuration (None: the users run on workers)
    users: UserConfig | None = None
    _stack: ExitStack = field(default_factory=ExitStack)
    _monitor: gevent.Greenlet | None = None
    _t0: float = 0.0

    def start(self) -> None:
        """Set the run up and start its timeline (see the module docstring).

        Raises:
            HarnessError: the run directory, the target or the chaos driver could not start.
        """
        plan, say = self.engine.plan, self.engine.say
        s = plan.scenario
        secret = self.engine.secret or ""
        self.run_dir = RunDir.create(plan.out_dir, new_run_id(s.name))
        write_json_atomic(self.run_dir.scenario, scenario_to_dict(s))
        self.meta = RunMeta(
            run_id=self.run_dir.run_id,
            scenario=s.name,
            scenario_file=s.source,
            route=plan.route,
            command=redact(plan.command, [secret]),
            duration_planned_s=s.load.duration,
            target_url=s.target.url,
        )
        self.meta.write(self.run_dir.path)
        say(f"run {self.run_dir.run_id}: scenario {s.name!r} from {s.source}")
        with self._stack as stack:  # every exit path unwinds what was started, in reverse
            url, pid = self._start_target(stack, secret)
            if pid is not None:
                self.meta.target_pid = pid
                if self.watch is None:
                    self.watch = TargetWatch(pid)
                self.probe = Probe(pid, self.run_dir.path).start()
                stack.callback(self.probe.stop)
            if self.engine.windows:
                url = self._start_chaos(stack, url, pid, secret)
            master = self.engine.master
            self.footprint = FootprintProbe(
                own_footprint if master is None else master.footprint, self.run_dir.path
            ).start()
            stack.callback(self.footprint.stop)
            self.recorder = RunRecorder(self.run_dir.attempts)
            stack.callback(self.recorder.close)  # the first to run on finish: users are gone
            sink: RecordSink = self.recorder
            if plan.metrics is not None:
                sink = CountingSink(self.recorder, self._serve_metrics(stack, *plan.metrics))
            faults = self.session.faults_between if self.session else _none
            self.meta.target_url = url
            self.meta.started_at = time.time()  # the timeline's zero: chaos "at" counts from it
            self.shape = run_shape(self.environment)
            if self.shape is not None:  # load stages count from it too
                self.shape.begin(self.meta.started_at)
            if master is None:
                self.users = scenario_user_config(
                    s,
                    secret=secret,
                    url=url,
                    sink=sink,
                    run_id=self.run_dir.run_id,
                    faults_between=faults,
                    ca_file=self.ca_file,
                    started_at=self.meta.started_at,
                )
                configure_users(self.environment.user_classes, self.users)
            else:  # the workers' users: told before Locust sends them any
                setup = RunInfo(
                    run_id=self.run_dir.run_id,
                    worker="",  # each worker's short id is the master's to give
                    url=url,
                    started_at=self.meta.started_at,
                    digest=scenario_digest(s),
                    ca_file=self.ca_file,
                    secret=secret,
                )
                master.begin(setup, sink, faults)
            self.meta.write(self.run_dir.path)
            self._t0 = time.monotonic()
            if self.session is not None:
                self.session.start(self.meta.started_at)
            self._stack = stack.pop_all()  # set up: unwound when the run finishes
        self._monitor = gevent.spawn(self._watch)
        if self.shape is not None:
            say(f"target {url}; {stages_text(self.shape)}")
        else:
            say(
                f"target {url}; {self._wanted()} users at {self._spawn_rate():g}/s"
                f" for {s.load.duration:g} s"
            )

    def _serve_metrics(self, stack: ExitStack, host: str, port: int) -> LiveMetrics:
        """Serve the run's live metrics until it finishes.

        Raises:
            HarnessError: the address cannot be bound.
        """

        def sessions_open() -> float:
            got = self.footprint.source()
            return 0.0 if got is None else float(got["open"])

        metrics = LiveMetrics(sessions_open, lambda: float(self.environment.runner.user_count))
        try:
            bound = metrics.serve(host, port)
        except OSError as exc:
            raise HarnessError(
                f"--metrics-host/--metrics-port: cannot listen on {host}:{port}:"
                f" {exc.strerror or exc}"
            ) from None
        stack.callback(metrics.stop)
        self.metrics = metrics
        self.engine.say(f"live metrics: http://{host}:{bound}/metrics")
        return metrics

    def abandon(self) -> Path | None:
        """The set-up failed: mark the run directory (if made) as a run that never started."""
        meta: RunMeta | None = getattr(self, "meta", None)
        if meta is None:
            return None
        meta.stop_reason = "could not start"
        meta.write(self.run_dir.path)
        return self.run_dir.path

    def _start_target(self, stack: ExitStack, secret: str) -> tuple[str, int | None]:
        s = self.engine.plan.scenario
        if not s.target.is_embedded:
            assert s.target.url is not None
            self.ca_file = s.target.tls.ca_file
            if s.target.tls.insecure:
                self.engine.say(
                    "warning: target.tls.insecure: the server's certificate is not verified"
                )
            return s.target.url, external_pid(s)
        opts = s.target.embedded
        assert opts is not None
        certs = make_run_certs(self.run_dir.path) if opts.tls else None
        self.ca_file = None if certs is None else str(certs.ca_file)
        self.engine.say(
            "starting the embedded reference target"
            + (f" with defects: {', '.join(opts.defects)}" if opts.defects else "")
        )
        target: TargetProcess = start_target(
            opts,
            secret=secret,
            log_path=self.run_dir.target_log,
            path=s.target.path,
            query_param=s.auth.query_param,
            algorithm=s.auth.algorithm,
            auth=s.auth,
            certs=certs,
            protocol=s.target.protocol,
            socketio=s.target.socketio,
            disconnect_after=opts.disconnect_after,
        )
        stack.callback(target.stop)
        self.watch = TargetWatch(target.pid, target.popen)
        return target.url, target.pid

    def _start_chaos(self, stack: ExitStack, url: str, pid: int | None, secret: str) -> str:
        windows = self.engine.windows
        self.session = chaos.start_session(
            self.engine.plan.scenario,
            windows,
            self.run_dir.path,
            url=url,
            target_pid=pid,
            secret=secret,
        )
        stack.callback(self.session.stop)  # reverts every fault before the target stops
        say = self.engine.say
        if self.session.proxy_port is not None:
            url = chaos.proxied_url(url, self.session.proxy_port)
            say(f"chaos proxy on port {self.session.proxy_port} in front of the target")
        say(
            f"chaos: {len(windows)} fault windows: "
            + ", ".join(
                f"{w.label} at {w.at:g}s" + (f" for {w.duration:g}s" if w.duration else "")
                for w in windows
            )
        )
        return url

    def _wanted(self) -> int:
        target = getattr(self.environment.runner, "target_user_count", None)
        return int(target) if target else self.engine.plan.scenario.load.users

    def _spawn_rate(self) -> float:
        opts = getattr(self.environment, "parsed_options", None)
        rate = getattr(opts, "spawn_rate", None) if opts is not None else None
        return float(rate) if rate else self.engine.plan.scenario.load.spawn_rate

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0

    def _progress(self) -> str:
        return progress_line(
            self.recorder,
            elapsed=self._elapsed(),
            planned=self.engine.plan.scenario.load.duration,
            users=int(self.environment.runner.user_count),
            wanted=self._wanted(),
            chaos=self.session.active if self.session is not None else (),
            stage=self.shape.current().name if self.shape is not None else None,
        )

    def _watch(self) -> None:
        """The monitor: progress lines, the chaos timeline, and the planned end."""
        plan = self.engine.plan
        every, planned = plan.progress_every, plan.scenario.load.duration
        next_line = every
        while True:
            elapsed = self._elapsed()
            self._follow_chaos()
            self._check_target()
            if self.engine.master is not None:
                self.engine.master.check()
            if self.metrics is not None:
                self.metrics.chaos_active(self.session.active if self.session else ())
                if self.shape is not None:
                    self.metrics.stage_active(self.shape.current().name)
            if elapsed >= planned:
                if self.stop_reason is None:
                    self.stop_reason, self.complete = PLANNED_END, True
                    stop_load(self.environment)
                return
            if elapsed >= next_line:
                self.engine.say(self._progress())
                next_line += every
            gevent.sleep(min(MONITOR_TICK_S, max(0.0, planned - elapsed)))

    def _check_target(self) -> None:
        """Record the target's death (once), unless a process fault of the plan caused it."""
        if self.watch is None:
            return
        expected = self.session is not None and any(
            w.kind == "process" and w.has_span and w.end_t is None
            for w in self.session.timeline.windows()
        )
        death = self.watch.check(expected=expected)
        if death is None:
            return
        self.meta.target_exit = death
        self.meta.write(self.run_dir.path)
        self.engine.say(
            f"[{self._elapsed():5.0f}s] target: PID {death.pid} died ({death.how}); the load"
            " goes on against a dead service, and the report will say so"
        )

    def _follow_chaos(self) -> None:
        """Report the driver's new timeline events; follow a restarted target."""
        if self.session is None:
            return
        say = self.engine.say
        for ev in self.session.poll():
            kind, at = ev.get("event"), f"[{self._elapsed():5.0f}s]"
            if kind == "target_pid":
                if self.probe is not None:
                    self.probe.retarget(int(ev["pid"]))
                if self.watch is not None:
                    self.watch.follow(int(ev["pid"]))
                say(f"{at} chaos: target restarted as PID {ev['pid']}")
            elif kind != "applying":  # "applied" (or "failed") follows
                params = ", ".join(f"{k}={v}" for k, v in (ev.get("params") or {}).items())
                err = f": {ev['error']}" if ev.get("error") else ""
                say(f"{at} chaos: {kind} {ev.get('label')} ({params}){err}")

    def interrupt(self, reason: str) -> None:
        """The load is being stopped by ``reason``: the run ends as interrupted."""
        if self.stop_reason is None:
            self.stop_reason, self.interrupted_by = reason, reason

    def finish(self) -> RunOutcome:
        """Users are stopped: close the records, revert, stop, complete meta.json, report."""
        say = self.engine.say
        if self.stop_reason is None:  # Locust ended it: --run-time, the stop button
            self.stop_reason = STOPPED_BY_LOCUST
        say("stopping users" + ("" if self.complete else f" ({self.stop_reason})"))
        if self._monitor is not None and self._monitor is not gevent.getcurrent():
            self._monitor.kill(block=True)
        configure_users(self.environment.user_classes, None)
        master = self.engine.master
        if master is not None:  # the workers' last batches, before the recorder closes
            self.meta.workers = [RunWorker(**w) for w in master.finish()]
        say(self._progress())
        arrivals = self.users.arrivals if self.users is not None else None
        if arrivals is not None:
            say(
                f"arrivals: {arrivals.made} made of {arrivals.made + arrivals.missed} due"
                + (
                    f"; {arrivals.missed} missed: every user was busy (raise the stages' max_users)"
                    if arrivals.missed
                    else ""
                )
            )
        self._follow_chaos()
        self._stack.close()  # recorder closed, faults reverted, probe and target stopped
        self._follow_chaos()
        self.meta.ended_at = time.time()
        self.meta.complete = self.complete
        self.meta.stop_reason = self.stop_reason
        self.meta.interrupted_by = self.interrupted_by
        self.meta.attempts = self.recorder.total
        self.meta.generator = self.footprint.result()
        self.meta.write(self.run_dir.path)
        if self.recorder.dropped:
            say(f"harness: {self.recorder.dropped} records came after the run ended (not kept)")
        say("building the report")
        write_report_placeholder(self.run_dir)
        report = build_report(self.run_dir.path, self.engine.plan.scenario.gates)
        say("")
        say(format_terminal_summary(report.summary, report.gate_results))
        say("")
        say(f"report: {report.paths.index_html.resolve().as_uri()}")
        verdict = judge_run(report.summary, report.gate_results, interrupted_by=self.interrupted_by)
        return RunOutcome(verdict, run_dir=self.run_dir.path, report=report.paths.index_html)


def stages_text(shape: StagesShape) -> str:
    """The load's stages in one line: ``3 stages over 8 s: stage-1 0-3 s 4 users, ...``."""
    spans = shape.plan.spans
    parts = []
    for span in spans:
        st = span.stage
        n = st.max_users if st.is_rate else st.users
        users = f"{n} user{'' if n == 1 else 's'}"
        load = f"{st.rate:g}/s, {users} at most" if st.is_rate else users
        parts.append(f"{span.name} {span.start_s:g}-{span.end_s:g} s {load}")
    count = f"{len(spans)} stage{'' if len(spans) == 1 else 's'}"
    return f"{count} over {shape.plan.duration_s:g} s: " + ", ".join(parts)


def _none(start: float, end: float) -> list[str]:
    return []
