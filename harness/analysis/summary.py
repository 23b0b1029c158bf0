"""The typed summary of a run, and ``summary.json``: its serialisation (schema version 2).

:class:`Summary` is what every renderer reads, by attribute: the terminal, HTML, charts,
JUnit, Markdown, CSV and ``harness compare``. It is computed by
:func:`harness.analysis.summarize.summarize`, gates added by
:func:`harness.analysis.gates.with_gates`, serialised by :func:`summary_to_json` (the report
writer, :mod:`harness.render.report`, writes it) and read back by :func:`read_summary`.
``docs/summary.schema.json`` is generated from these classes
(:func:`summary_json_schema`; regenerate with ``python -m harness.analysis.summary_schema``).

Units: rates and shares 0..1; handshake times milliseconds; ``*_s`` seconds since the
run's start (``started_at``), ``*_at`` epoch seconds. ``None`` (``null``) is "no data",
never 0. Definitions of counted attempts, rates and percentiles: :mod:`harness.analysis.stats`.

Schema versions:

- 1 (schema_minor 1): the first; ``counted`` dropped only ``excluded`` attempts.
- 2: ``counted`` (and so ``success_rate``, ``abrupt_rate``) also drops ``generator_fault``
  attempts, as recovery and findings always did; phases carry their ``name``, recovery
  entries their ``label``; chaos windows keep their fault's ``kind`` and ``disruptive``;
  ``stop_reason`` from ``meta.json``; ``gates`` and ``passed`` are part of the type (they
  were added beside it); ``schema_minor`` is gone. Later additions with defaults (readers of
  version 2 keep working): ``interrupted_by``, ``target_died``; a window's ``optional``;
  ``sessions``; ``socketio``; ``workers``; ``generator``; ``stages``.

A ``summary.json`` of another version is not read (:class:`SummaryVersionError`): rebuild
it from its run directory (``harness report RUN_DIR``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from harness.analysis.jsontypes import JsonShapeError, OneOf, from_json, json_schema, to_json
from harness.config.scenario import SEVERITIES
from harness.errors import RunDirError
from harness.protocol.outcomes import Verdict
from harness.rundir.chaos_log import WINDOW_STATUSES
from harness.rundir.layout import SUMMARY
from harness.rundir.meta import GeneratorFootprint

SCHEMA_VERSION = 2

#: Kinds of phase (see :mod:`harness.analysis.phases`).
PHASE_KINDS: tuple[str, ...] = ("baseline", "during", "after")

#: Types of finding: whose problem it is.
FINDING_TYPES: tuple[str, ...] = ("token", "resource", "connection", "crash", "configuration")

#: How a window's recovery ended (see :mod:`harness.analysis.recovery`).
RECOVERED = "recovered"
NOT_RECOVERED = "did not recover"
NO_DATA_AFTER = "no data after the window"
NEVER_ENDED = "window never ended"
NEVER_APPLIED = "never applied"
RECOVERY_STATUSES: tuple[str, ...] = (
    RECOVERED,
    NOT_RECOVERED,
    NO_DATA_AFTER,
    NEVER_ENDED,
    NEVER_APPLIED,
)

#: What a section's attempts expected: all a session, all a refusal, or both.
EXPECTATIONS: tuple[str, ...] = ("accept", "reject", "mixed")


class SummaryVersionError(RunDirError):
    """A ``summary.json`` of another schema version: rebuild it from its run directory."""

    def __init__(self, path: Path | None, version: object) -> None:
        self.path, self.version = path, version
        where = f"{path}: " if path else ""
        super().__init__(
            f"{where}summary.json has schema version {version!r}, this harness reads "
            f"{SCHEMA_VERSION}: rebuild it from the run directory (harness report RUN_DIR)"
        )


@dataclass(frozen=True)
class Percentiles:
    """Time percentiles in milliseconds (linear interpolation; None: no value).

    Of the handshake times, or of the client pings' round trips.

    Attributes:
        p50: the median (ms).
        p95: the 95th percentile (ms).
        p99: the 99th percentile (ms).
    """

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True)
class Section:
    """The numbers of a set of attempts: one token kind, all of them, or either within a phase.

    Attributes:
        attempts: every attempt, excluded ones and generator faults too.
        counted: attempts that count in rates: attempts - excluded - generator_fault.
        expected: what the attempts expected: accept, reject, mixed (both); None: no attempts.
        outcomes: attempts per outcome (nonzero only, most frequent first).
        verdicts: attempts per verdict, every verdict present (zeros too), in Verdict order.
        success_rate: ok / counted (0..1); None without counted attempts.
        abrupt_rate: abrupt / counted (0..1); None without counted attempts.
        graceful: refusals that gave a reason (an HTTP status or a close code).
        abrupt: refusals without one (a reset, a drop, a timeout, a 1006), whatever the verdict.
        graceful_share: graceful / (graceful + abrupt) (0..1); None without refusals.
        handshake_ms: handshake time percentiles (ms) of the attempts that completed one.
        ping_rtt_ms: percentiles (ms) of the client pings' round trip, over the average of
            each attempt whose pings were answered (its ping_rtt_ms_avg); all None without
            client pings (load.session.ping_interval).
        close_codes: attempts per close code (the codes as text: JSON keys), ascending.
        close_reasons: attempts per close reason, the most frequent first (at most 10).
    """

    attempts: int = 0
    counted: int = 0
    expected: Annotated[str, OneOf(EXPECTATIONS)] | None = None
    outcomes: Mapping[str, int] = field(default_factory=dict)
    verdicts: Mapping[str, int] = field(default_factory=lambda: {v.value: 0 for v in Verdict})
    success_rate: float | None = None
    abrupt_rate: float | None = None
    graceful: int = 0
    abrupt: int = 0
    graceful_share: float | None = None
    handshake_ms: Percentiles = field(default_factory=Percentiles)
    ping_rtt_ms: Percentiles = field(default_factory=Percentiles)
    close_codes: Mapping[str, int] = field(default_factory=dict)
    close_reasons: Mapping[str, int] = field(default_factory=dict)

    def verdict(self, verdict: Verdict | str) -> int:
        """How many attempts had ``verdict`` (0 when none did)."""
        return int(self.verdicts.get(str(verdict), 0))


@dataclass(frozen=True)
class Window:
    """One scheduled chaos window on the run's timeline (from ``chaos.jsonl``).

    Attributes:
        label: unique per window, <fault>#<n>.
        fault: the fault's registered name.
        kind: the fault's kind (cpu, memory, connections, network, process).
        disruptive: the fault cuts or delays clients itself (network, process faults), so the
            abrupt outcomes it causes are not the service's doing.
        optional: the scenario let the run go on without it (a failed optional window does
            not fail the run).
        params: the fault's parameters, as scheduled.
        planned_at: when it was scheduled to start (s).
        planned_for: how long it was scheduled for (s); None: to the end of the run.
        applied_s: when it started (s); None: it never did (failed before acting, skipped).
        reverted_s: when it ended (s); None: never (the run ended or was killed first).
        status: reverted, active_at_end (never reverted), failed or skipped.
        error: the distinct error texts of its events, joined by "; "; None: no error.
    """

    label: str
    fault: str = ""
    kind: str = ""
    disruptive: bool = False
    optional: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    planned_at: float | None = None
    planned_for: float | None = None
    applied_s: float | None = None
    reverted_s: float | None = None
    status: Annotated[str, OneOf(WINDOW_STATUSES)] = "failed"
    error: str | None = None


@dataclass(frozen=True)
class Phase:
    """One phase of the run: baseline, during <labels>, or after <label> (its recovery).

    Attributes:
        name: baseline, "during a[ + b...]" (the active windows, sorted) or "after <label>".
        kind: baseline, during or after.
        labels: the window labels the phase names (none for baseline).
        start_s: the phase's first start (s); None: no time known.
        end_s: its last end (s); None: no time known.
        total: all token kinds together.
        token_kinds: one section per token kind with attempts in the phase.
    """

    name: str
    kind: Annotated[str, OneOf(PHASE_KINDS)]
    labels: tuple[str, ...] = ()
    start_s: float | None = None
    end_s: float | None = None
    total: Section = field(default_factory=Section)
    token_kinds: Mapping[str, Section] = field(default_factory=dict)


@dataclass(frozen=True)
class StageStats:
    """One load stage (``load.stages``) as planned, and the attempts that started in it.

    Attributes:
        name: the stage's name: its records' ``load_stage``.
        start_s: when it started (s).
        end_s: when it ended (s): the next stage's start.
        users: the users it ramped to and held; None: an arrival-rate stage.
        rate: the new sessions per second planned; None: a stage of users.
        max_users: an arrival-rate stage's users serving its arrivals; None: a stage of users.
        spawn_rate: how fast its users were started or stopped (users/s).
        attempts_per_s: attempts started in it, per second of it (an arrival-rate stage
            without reconnects: the arrival rate made); None: it had not begun when the run
            ended.
        total: its attempts (all token kinds).
    """

    name: str
    start_s: float
    end_s: float
    users: int | None = None
    rate: float | None = None
    max_users: int | None = None
    spawn_rate: float | None = None
    attempts_per_s: float | None = None
    total: Section = field(default_factory=Section)


@dataclass(frozen=True)
class Recovery:
    """How valid-token success came back after one chaos window (valid tokens only).

    Attributes:
        label: the window's label.
        fault: the window's fault; None: unknown.
        window_status: the window's status, as in chaos_windows.
        applied_s: when the window started (s); None: never.
        reverted_s: when it ended (s); None: never.
        baseline_success_rate: valid success in the baseline phase (0..1).
        baseline_attempts: counted valid attempts it was measured on.
        baseline_assumed: the baseline had no valid attempt: 1.0 was taken.
        margin: how far below the baseline still counts as recovered (0..1).
        threshold: baseline - margin (0..1).
        success_rate_during: valid success during the window (0..1); None: no attempt.
        worst_rate_during: the lowest judged trailing success rate during it (0..1).
        degraded: success fell below the threshold; None: no valid attempt during the window.
        horizon_end_s: the end of the stretch watched after it: the next window's start or
            the run's end (s).
        attempts_after: counted valid attempts in that stretch.
        success_rate_after: their success rate (0..1); None: none.
        recovered_at_s: when success was back within the margin for good (s); None: never.
        recovery_s: recovered_at_s - reverted_s (s); 0: it never degraded; None: no recovery.
        recovered: success came back within the margin.
        status: recovered, did not recover, no data after the window, window never ended,
            never applied.
        note: what else to know (an assumed baseline, windows still active at the revert).
    """

    label: str
    fault: str | None
    window_status: str | None
    applied_s: float | None
    reverted_s: float | None
    baseline_success_rate: float
    baseline_attempts: int
    baseline_assumed: bool
    margin: float
    threshold: float
    success_rate_during: float | None
    worst_rate_during: float | None
    degraded: bool | None
    horizon_end_s: float | None
    attempts_after: int
    success_rate_after: float | None
    recovered_at_s: float | None
    recovery_s: float | None
    recovered: bool
    status: Annotated[str, OneOf(RECOVERY_STATUSES)]
    note: str | None = None


@dataclass(frozen=True)
class Finding:
    """A problem the findings rules saw in the run (see :mod:`harness.analysis.findings`).

    Attributes:
        id: the rule's id, e.g. invalid-token-accepted.
        type: whose problem: token, resource, connection or configuration.
        severity: low, medium, high or critical.
        title: one line naming the problem.
        evidence: what was seen, with numbers.
        meaning: what it means for the service.
        fix: what to do about it.
    """

    id: str
    type: Annotated[str, OneOf(FINDING_TYPES)]
    severity: Annotated[str, OneOf(SEVERITIES)]
    title: str
    evidence: str
    meaning: str
    fix: str


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate (see :mod:`harness.analysis.gates`).

    Attributes:
        name: the gate's name from the scenario.
        metric: the gate metric (see the gate-metric registry).
        token_kind: the token kind the metric was read for; None: all kinds.
        op: the comparison: <, <=, >, >=, == or !=.
        threshold: the number the value is compared with (the metric's unit).
        value: the metric's value; None: no data (the gate fails).
        passed: there was a value and the comparison held.
        message: one line, e.g. "FAIL invalid_accepted[empty] == 0: got 37".
        phase: the phase the metric was read in; None: the whole run.
        fault: the chaos window of a recovery_s gate.
        severity: the lowest severity a findings gate counts.
        unit: the metric's unit: share (0..1), count, ms or s; ``ratio`` for a gate with
            ``relative_to``.
        relative_to: the phase whose value the metric was divided by (None: no ratio).
    """

    name: str
    metric: str
    token_kind: str | None
    op: str
    threshold: float
    value: float | None
    passed: bool
    message: str
    phase: str | None = None
    fault: str | None = None
    severity: str | None = None
    unit: str = ""
    relative_to: str | None = None


@dataclass(frozen=True)
class TargetDied:
    """The target process died during the run, and no chaos fault killed it.

    Attributes:
        at_s: when the harness saw it gone (s); every attempt after it met a dead service.
        pid: the process.
        how: how it ended, e.g. "killed by SIGKILL", "exited with status 1".
    """

    at_s: float | None
    pid: int
    how: str


@dataclass(frozen=True)
class RestartReconnects:
    """How sessions came back after one restart or kill of the target (a process window).

    Attributes:
        label: the chaos window's label.
        applied_s: when the window started (s).
        lost: sessions whose connection was lost or refused around the window and that
            tried to reconnect.
        reconnected: of those, sessions that had it back before the run ended.
        full_reconnection_s: from the window's start until the last of them was back (s);
            None: some never were.
        reconnect_attempts: reconnects made from the window's start until then (to the
            run's end when some never were back).
        peak_to_mean: of the reconnects from the window's start until 95 % of the sessions
            were back, the busiest bin over the mean per bin (bins of 0.1 s or wider, 5
            reconnects each if spread evenly; above 6: a stampede); None: too few to tell.
    """

    label: str
    applied_s: float | None = None
    lost: int = 0
    reconnected: int = 0
    full_reconnection_s: float | None = None
    reconnect_attempts: int = 0
    peak_to_mean: float | None = None


@dataclass(frozen=True)
class Sessions:
    """Sessions and their reconnects (see :mod:`harness.analysis.sessions`).

    A session is a user's logical connection: its first attempt and every reconnect with the
    same token (``load.reconnect``). An outage is a stretch of a session without a connection:
    from the end of the attempt that was lost or refused to the opening of the next accepted
    attempt of the session (a reconnect), or to the session's end (lost).

    Attributes:
        policy: none, fixed or exponential.
        preset: the preset the policy came from; None: none.
        sessions: sessions with at least one attempt.
        reconnects: attempts that were reconnects (not a session's first).
        reconnects_per_session: reconnects / sessions; None: no session.
        max_reconnects: the most reconnects one session made.
        outages: stretches without a connection that the policy tried to bridge.
        reconnected: outages that ended with a reconnect accepted.
        time_to_reconnect_p50_s: the median outage that ended with a reconnect (s).
        time_to_reconnect_p95_s: its 95th percentile (s).
        time_to_reconnect_max_s: the longest (s).
        gave_up: sessions that ended after max_attempts reconnects in a row failed.
        auth_failed: valid-token sessions whose last attempt was an auth rejection: a front
            end would send its user back to login.
        restarts: the reconnects after each restart or kill of the target, by window label.
        expired_open: connections whose token expired while they were open.
        closed_at_expiry: of those, connections the server closed within 2 s of the expiry.
        kept_past_expiry_s: the longest any of the others stayed open past it (s); None: none.
        stale_reconnects: reconnects that sent the session's expired token again.
        stale_accepted: of those, reconnects the server let in (the WebSocket opened and
            was not closed for its token).
        refreshed: reconnects with a token minted anew (``load.reconnect.refresh``).
        refreshed_accepted: of those, reconnects the server let in.
    """

    policy: str = "none"
    preset: str | None = None
    sessions: int = 0
    reconnects: int = 0
    reconnects_per_session: float | None = None
    max_reconnects: int = 0
    outages: int = 0
    reconnected: int = 0
    time_to_reconnect_p50_s: float | None = None
    time_to_reconnect_p95_s: float | None = None
    time_to_reconnect_max_s: float | None = None
    gave_up: int = 0
    auth_failed: int = 0
    restarts: Mapping[str, RestartReconnects] = field(default_factory=dict)
    expired_open: int = 0
    closed_at_expiry: int = 0
    kept_past_expiry_s: float | None = None
    stale_reconnects: int = 0
    stale_accepted: int = 0
    refreshed: int = 0
    refreshed_accepted: int = 0


@dataclass(frozen=True)
class WorkerStats:
    """One worker of a distributed run, as the master accounted for it (``meta.json``).

    Attributes:
        id: its short id (``w1``...), the records' ``worker`` field.
        records: its records the master received (each once).
        made: the records it said it had made (its last batch or stats report).
        state: ``flushed`` (its last batch came), ``lost`` (it vanished before), or
            ``running`` (the run was killed before the end).
        pid: its process id on its machine; None: it never reported one.
        lost_at_s: when the master saw it vanish (s); None unless lost.
        lost_how: how it vanished (its exit status, missing heartbeats); None unless lost.
        lost_at_least: attempts it made that never reached the master (a lower bound: what
            it made after its last report is unknown); None unless lost.
    """

    id: str
    records: int = 0
    made: int = 0
    state: str = "flushed"
    pid: int | None = None
    lost_at_s: float | None = None
    lost_how: str | None = None
    lost_at_least: int | None = None


@dataclass(frozen=True)
class SocketIOStats:
    """What the Socket.IO sessions ran on and how servers refused them (see
    :mod:`harness.analysis.socketio`).

    Attributes:
        attempts_by_transport: attempts whose Engine.IO session opened, by the transport
            that carried it last (websocket, polling).
        accepted_by_transport: of those, the accepted ones.
        fallbacks: attempts whose WebSocket failed and that went on over polling.
        upgrades_tried: polling sessions that tried to upgrade to a WebSocket.
        upgrades_failed: of those, upgrades that failed (the session stayed on polling).
        connect_errors: the servers' CONNECT_ERROR messages and how often each came, most
            frequent first (at most :data:`harness.analysis.socketio.MAX_MESSAGES`).
        server_disconnects: sessions the server disconnected ("io server disconnect").
        heartbeat_timeouts: sessions given up because no Engine.IO ping came in time.
    """

    attempts_by_transport: Mapping[str, int] = field(default_factory=dict)
    accepted_by_transport: Mapping[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    upgrades_tried: int = 0
    upgrades_failed: int = 0
    connect_errors: Mapping[str, int] = field(default_factory=dict)
    server_disconnects: int = 0
    heartbeat_timeouts: int = 0


@dataclass(frozen=True)
class Summary:
    """What happened in a run: per token kind, per chaos phase, recovery, findings and gates.

    Attributes:
        schema_version: the version of this shape (docs/summary.md lists what each changed).
        run_id: the run's id.
        scenario: the scenario's name.
        target_url: the URL the load went to; None: unknown.
        started_at: the run's start, time zero of every *_s (epoch s); None: unknown.
        ended_at: the run's end (epoch s); None: not recorded (the run was killed).
        duration_s: seconds from the start to the end, or to the last attempt when cut short.
        duration_planned_s: the planned duration (s).
        complete: the planned duration ran to its end.
        stop_reason: why the load stopped (e.g. planned duration, SIGTERM); None: unknown.
        interrupted_by: what cut the run short (a signal, Locust's shutdown); None: nothing
            did, or the run was killed before it could say (then ended_at is None).
        target_died: the target process died during the run (not by chaos); None: it did not
            (or nothing watched it: an external target without a PID).
        generator_fault_share: generator_fault / attempts over all kinds (0..1); None: no
            attempts.
        total: all attempts.
        token_kinds: one section per token kind (TOKEN_KINDS order, then others sorted).
        chaos_windows: every scheduled chaos window, in time order.
        phases: every phase, in time order, by name.
        recovery: recovery after each chaos window, by label, in the windows' order.
        sessions: sessions and reconnects; None: the scenario does not reconnect.
        socketio: transports, fallbacks, upgrades and refusals of Socket.IO sessions; None:
            not a Socket.IO run.
        workers: a distributed run's workers, in the order they joined; empty: the users
            ran in one process.
        generator: the load generator's own footprint (sessions held open at its peak, its
            memory, what one held connection cost it); None: not recorded.
        stages: the load stages (``load.stages``), in time order; empty: a constant load.
        findings: the findings, most severe first, then by id.
        findings_by_severity: how many findings of each severity, critical first.
        gates: the gates' results, in the scenario's order (none until evaluated).
        passed: every gate passed (true when there are none).
    """

    run_id: str
    scenario: str
    target_url: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    duration_s: float | None = None
    duration_planned_s: float | None = None
    complete: bool = False
    stop_reason: str | None = None
    interrupted_by: str | None = None
    target_died: TargetDied | None = None
    generator_fault_share: float | None = None
    total: Section = field(default_factory=Section)
    token_kinds: Mapping[str, Section] = field(default_factory=dict)
    chaos_windows: tuple[Window, ...] = ()
    phases: Mapping[str, Phase] = field(default_factory=dict)
    recovery: Mapping[str, Recovery] = field(default_factory=dict)
    sessions: Sessions | None = None
    socketio: SocketIOStats | None = None
    workers: tuple[WorkerStats, ...] = ()
    generator: GeneratorFootprint | None = None
    stages: tuple[StageStats, ...] = ()
    findings: tuple[Finding, ...] = ()
    findings_by_severity: Mapping[str, int] = field(
        default_factory=lambda: dict.fromkeys(reversed(SEVERITIES), 0)
    )
    gates: tuple[GateResult, ...] = ()
    passed: bool = True
    schema_version: int = SCHEMA_VERSION

    @property
    def has_chaos(self) -> bool:
        """The run had chaos windows, or attempts that saw a fault (not all baseline)."""
        return bool(self.chaos_windows) or any(p.kind != "baseline" for p in self.phases.values())

    @property
    def lost_workers(self) -> tuple[WorkerStats, ...]:
        """The workers that vanished before their last records came."""
        return tuple(w for w in self.workers if w.state == "lost")

    @property
    def failed_gates(self) -> tuple[GateResult, ...]:
        """The gates that failed, in order."""
        return tuple(g for g in self.gates if not g.passed)

    def window(self, label: str) -> Window | None:
        """The chaos window ``label``, None when there is none."""
        return next((w for w in self.chaos_windows if w.label == label), None)


# --- summary.json -------------------------------------------------------------------------


def summary_to_json(summary: Summary) -> dict[str, Any]:
    """The ``summary.json`` document of a summary (plain JSON values, ``schema_version`` first)."""
    doc: dict[str, Any] = to_json(summary)
    return {"schema_version": doc.pop("schema_version"), **doc}


def summary_from_json(doc: Any, path: Path | None = None) -> Summary:
    """A summary from a parsed ``summary.json`` of this schema version.

    Raises:
        SummaryVersionError: it is of another schema version (or has none).
        RunDirError: it is not a summary (the message names the bad key).
    """
    if not isinstance(doc, dict):
        raise RunDirError(f"{path or 'summary.json'}: expected a JSON object")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise SummaryVersionError(path, doc.get("schema_version"))
    try:
        return from_json(Summary, doc)
    except JsonShapeError as exc:
        raise RunDirError(f"{path or 'summary.json'}: not a summary: {exc}") from exc


def read_summary(run_dir: Path) -> Summary:
    """The run's ``summary.json``.

    Raises:
        SummaryVersionError: the file is of another schema version: rebuild it.
        RunDirError: the file is missing, unreadable, or not a summary.
    """
    path = run_dir / SUMMARY
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(
            f"{run_dir}: cannot read {SUMMARY} ({exc}); rebuild it with `harness report {run_dir}`"
        ) from exc
    return summary_from_json(doc, path)


#: Where the schema lives in the repository.
SCHEMA_PATH = "docs/summary.schema.json"


def summary_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``summary.json``, generated from :class:`Summary`."""
    schema = json_schema(Summary, title="harness summary.json")
    props = schema["properties"]
    version = {**props.pop("schema_version"), "const": SCHEMA_VERSION}
    schema["properties"] = {"schema_version": version, **props}
    schema["required"] = list(schema["properties"])
    return schema
