"""Findings (pure): a diagnostic engine that reads a run's summary and attempts for problems.

Each rule is a :class:`Rule`: an id, a type (``token``, ``resource``, ``connection``,
``configuration``), a default severity, a title, what it means, how to fix it, and a small
pure check that returns the evidence (with numbers) or None. The rules are listed in
:data:`RULES`; each is defined below beside its check and its thresholds (module constants:
times are seconds, handshakes milliseconds, shares 0..1). A rule fires at most once per run;
its evidence lists every place it saw the problem. A check may raise the severity or change
the type, meaning or fix for what it saw (e.g. ``slow-recovery`` is high when a window never
recovered, medium when it only took long).

Rules stay silent rather than guess: below their sample minimums they report nothing. Rates
count as :mod:`harness.analysis.stats` says (excluded attempts and generator faults are not
the target's). Phases come from the attempts frame (:mod:`harness.analysis.run`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.run import Run
from harness.analysis.stats import NOT_COUNTED
from harness.analysis.summary import (
    FINDING_TYPES,
    NOT_RECOVERED,
    RECOVERED,
    Finding,
    Phase,
    Section,
    Summary,
)
from harness.config.scenario import SEVERITIES
from harness.protocol.outcomes import ABRUPT_OUTCOMES, AUTH_REJECTIONS, Outcome, Verdict

SEVERITY_RANK: Mapping[str, int] = {s: i for i, s in enumerate(SEVERITIES)}


def severity_at_least(severity: str, floor: str) -> bool:
    """True when ``severity`` ranks at or above ``floor`` (both from :data:`SEVERITIES`)."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[floor]


# --- What a check reads and returns ---------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """What a check reads: the summary (without findings yet) and the run.

    Attributes:
        summary: the run's summary, with recovery.
        run: the run: its attempts carry ``t_s``, ``end_s`` and ``phase``.
        disrupted: per attempt, it listed, or started or ended inside, the window of a
            disruptive fault (one that cuts or delays clients itself).
    """

    summary: Summary
    run: Run
    disrupted: npt.NDArray[np.bool_]

    @property
    def attempts(self) -> pd.DataFrame:
        return self.run.attempts

    def phases(self, kind: str) -> list[Phase]:
        """The summary's phases of ``kind`` (``baseline``, ``during``, ``after``), in order."""
        return [p for p in self.summary.phases.values() if p.kind == kind]

    def disruptive(self, label: str) -> bool:
        """The window ``label`` is of a disruptive fault (see :mod:`harness.rundir.chaos_log`)."""
        window = self.summary.window(label)
        return window is not None and window.disruptive

    def column(self, name: str) -> pd.Series[str]:
        """An attempts column as ``string`` (NA where missing)."""
        return self.attempts[name].astype("string")


@dataclass(frozen=True)
class Hit:
    """What a check saw: the evidence, and anything it changes from the rule's defaults."""

    evidence: str
    severity: str | None = None
    type: str | None = None
    meaning: str | None = None
    fix: str | None = None


@dataclass(frozen=True)
class Rule:
    """One diagnostic rule (see the module docstring)."""

    id: str
    type: str
    severity: str
    title: str
    meaning: str
    fix: str
    check: Callable[[RunView], Hit | None]


#: Seconds before the target was seen dead from which attempts count as having met its
#: death: the harness looks every 0.2 s, and a client sees a dead peer before it does.
DEATH_SLACK_S = 1.0


def died_at_s(summary: Summary) -> float:
    """From when attempts met the target dead (s since the start; :data:`DEATH_SLACK_S`
    before it was seen gone), infinity when it did not die."""
    died = summary.target_died
    return math.inf if died is None or died.at_s is None else died.at_s - DEATH_SLACK_S


def disrupted(summary: Summary, attempts: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Attempts that listed, or started or ended inside, a window of a disruptive fault, and
    attempts that ended after the target died (they met a dead service: a crash, not the
    service's way of refusing)."""
    t, end = attempts["t_s"].to_numpy(dtype=float), attempts["end_s"].to_numpy(dtype=float)
    bad = {w.label for w in summary.chaos_windows if w.disruptive}
    listed = attempts["chaos"].map(lambda v: any(str(x) in bad for x in v) if v else False)
    out = np.array(listed, dtype=bool)  # a copy: to_numpy may be read-only
    for w in summary.chaos_windows:
        if w.applied_s is not None and w.disruptive:
            stop = math.inf if w.reverted_s is None else w.reverted_s
            out |= (t < stop) & (end >= w.applied_s)
    out |= end >= died_at_s(summary)
    return out


# --- Helpers ------------------------------------------------------------------------------


def percent(num: int, den: int) -> str:
    """``num / den`` as a percentage with one decimal (``"13.3%"``), ``n/a`` without ``den``."""
    return f"{100.0 * num / den:.1f}%" if den else "n/a"


def breakdown(counts: Mapping[str, int], keep: Callable[[str], bool]) -> str:
    """``a 3, b 1`` for the kept keys of a count table, most frequent first."""
    pairs = sorted(((k, int(v)) for k, v in counts.items() if keep(k)), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in pairs if v)


def valid_section(kinds: Mapping[str, Section]) -> Section | None:
    """The ``valid`` token kind's section, None when there is none."""
    return kinds.get("valid")


ABRUPT = frozenset(o.value for o in ABRUPT_OUTCOMES)
AUTH = frozenset(o.value for o in AUTH_REJECTIONS)
#: Outcomes that refuse (or drop) a client, the target's doing.
REFUSALS = frozenset(o.value for o in Outcome) - {
    Outcome.ACCEPTED.value,
    Outcome.GENERATOR_FAULT.value,
    Outcome.INTERRUPTED.value,
}


# --- Token rules --------------------------------------------------------------------------

#: What a service must do for each invalid token kind it accepted.
KIND_FIXES: Mapping[str, str] = {
    "empty": "refuse an empty token before the upgrade (401)",
    "missing": "refuse a request without a token (401)",
    "expired": "check exp on every connection (RFC 7519 section 4.1.4)",
    "not_yet_valid": "check nbf (RFC 7519 section 4.1.5)",
    "bad_signature": "verify the signature with the service's own key",
    "alg_none": "pin the accepted algorithms, never 'none' (RFC 8725 section 3.1)",
    "malformed": "refuse a token that does not parse as a JWT",
}


def check_invalid_token_accepted(view: RunView) -> Hit | None:
    """Kinds that expect a refusal and got sessions (``expired_reused`` has its own rule)."""
    parts, fixes = [], []
    for kind, sec in view.summary.token_kinds.items():
        if kind == "expired_reused" or sec.expected != "reject":
            continue
        n = sec.verdict(Verdict.INVALID_ACCEPTED)
        if n:
            parts.append(f"{kind}: {n} of {sec.counted} accepted")
            fixes.append(KIND_FIXES.get(kind, f"refuse {kind} tokens"))
    if not parts:
        return None
    fix = "; ".join(fixes)
    return Hit("; ".join(parts), fix=fix[0].upper() + fix[1:] + ".")


INVALID_TOKEN_ACCEPTED = Rule(
    "invalid-token-accepted", "token", "critical", "Invalid tokens were accepted",
    "The service opened sessions for tokens it must refuse: anyone can connect.",
    "Validate the token before completing the upgrade.",
    check_invalid_token_accepted,
)  # fmt: skip


def check_stale_token_accepted(view: RunView) -> Hit | None:
    """``expired_reused`` tokens accepted after their expiry, compared with their first use."""
    kinds = view.summary.token_kinds
    sec = kinds.get("expired_reused")
    stale = 0 if sec is None else sec.verdict(Verdict.INVALID_ACCEPTED)
    if sec is None or not stale:
        return None
    parts = [f"expired_reused: {stale} of {sec.counted} accepted after expiry"]
    a = view.attempts
    keys = ["worker", "user", "attempt"]
    kind, verdict = view.column("token_kind"), view.column("verdict")
    reused = a[((kind == "expired_reused") & ~verdict.isin(NOT_COUNTED)).fillna(False)]
    first = a[(kind == "valid").fillna(False)][[*keys, "outcome", "t_start"]]
    before = reused[[*keys, "outcome", "t_start"]].assign(attempt=reused["attempt"] - 1)
    pairs = before.merge(first, on=keys, suffixes=("_stale", "_valid"))
    if not pairs.empty:
        ok_valid = int((pairs["outcome_valid"] == Outcome.ACCEPTED.value).sum())
        ok_stale = int((pairs["outcome_stale"] == Outcome.ACCEPTED.value).sum())
        gap = float((pairs["t_start_stale"] - pairs["t_start_valid"]).median())
        parts.append(
            f"the same {len(pairs)} tokens: {ok_valid} accepted while valid, {ok_stale} "
            f"after expiry (reused a median {gap:.1f} s after first use)"
        )
    fresh = kinds.get("expired")
    if fresh is not None and fresh.counted:
        n = fresh.verdict(Verdict.INVALID_ACCEPTED)
        parts.append(f"fresh expired tokens: {n} of {fresh.counted} accepted")
    return Hit("; ".join(parts))


STALE_TOKEN_ACCEPTED = Rule(
    "stale-token-accepted", "token", "critical",
    "Tokens were accepted again after they expired",
    "Tokens accepted while valid were accepted again after their exp: a validity cache "
    "(or session store) outlives the tokens it holds, so expired credentials keep working.",
    "Cap every cache entry's TTL at the token's exp (min(ttl, exp - now)), or check exp "
    "again on every cache hit.",
    check_stale_token_accepted,
)  # fmt: skip


# --- Availability and resource rules ------------------------------------------------------

#: Valid attempts refused or dropped with no fault active, as a share: up to this, noise.
QUIET_REFUSED_MAX_SHARE = 0.01

_MEANING_CONFIG = (
    "Valid tokens are refused as unauthorized with no fault active: the harness and the "
    "service disagree on the secret, algorithm, claims, token placement or clock."
)
_FIX_CONFIG = (
    "Check the scenario's auth (secret, algorithm, claims, placement, query_param/header) "
    "against the service's validator, and the clocks of both hosts."
)


def quiet_periods(view: RunView) -> list[tuple[str, pd.DataFrame]]:
    """Valid attempts that started and ended with no fault active: before the first window,
    and after each window from its recovery to the next window's start; never after the
    target died (those are the crash's)."""
    starts = sorted(w.applied_s for w in view.summary.chaos_windows if w.applied_s is not None)
    periods = [("baseline", -math.inf, starts[0] if starts else math.inf)]
    for label, rec in view.summary.recovery.items():
        if rec.status == RECOVERED and rec.recovered_at_s is not None:  # else: slow-recovery's
            lo = rec.recovered_at_s
            hi = min((s for s in starts if s > lo), default=math.inf)
            periods.append((f"after {label} (from {lo:.1f} s)", lo, hi))
    no_fault = view.attempts["chaos"].map(lambda v: not v).to_numpy(dtype=bool)
    valid = (view.column("token_kind") == "valid").fillna(False).to_numpy(dtype=bool)
    t = view.attempts["t_s"].fillna(-math.inf)  # unknown: baseline
    end = view.attempts["end_s"].fillna(-math.inf)
    alive = (end < died_at_s(view.summary)).to_numpy(dtype=bool)
    return [
        (
            name,
            view.attempts[valid & no_fault & alive & ((t >= lo) & (end < hi)).to_numpy(dtype=bool)],
        )
        for name, lo, hi in periods
    ]


#: The path part that names a Socket.IO endpoint (its default Engine.IO path).
SOCKETIO_PATH = "/socket.io"
REJECTED_PREFIX = "rejected_"


def plain_at_socketio_path(summary: Summary) -> bool:
    """A plain WebSocket run (no Socket.IO session) whose URL path is Socket.IO's."""
    path = urlsplit(summary.target_url or "").path
    return summary.socketio is None and SOCKETIO_PATH in path


def not_capacity(summary: Summary) -> frozenset[str]:
    """Refusals that say nothing about capacity: a wrong path, a dead upstream (502/504), and
    503 when no valid token was ever accepted (a proxy with nothing behind it, not a full
    service); every refused upgrade of a plain client at a Socket.IO path."""
    valid = valid_section(summary.token_kinds)
    never = valid is not None and valid.counted and not valid.outcomes.get(Outcome.ACCEPTED.value)
    explained = UPSTREAM_DOWN_OUTCOMES | NOT_FOUND_OUTCOMES | (_CAPACITY if never else frozenset())
    if plain_at_socketio_path(summary):
        explained |= {o for o in summary.total.outcomes if o.startswith(REJECTED_PREFIX)}
    return explained


def check_valid_refused_without_chaos(view: RunView) -> Hit | None:
    """Valid tokens refused or dropped beyond :data:`QUIET_REFUSED_MAX_SHARE` with no fault on
    (refusals :func:`not_capacity` explains are ``wrong-path``'s and ``upstream-down``'s)."""
    parts, auth, total = [], 0, 0
    explained = not_capacity(view.summary)
    for name, rows in quiet_periods(view):
        verdict = rows["verdict"].astype("string")
        refused = verdict.isin([Verdict.VALID_REFUSED.value, Verdict.ABRUPT.value]).fillna(False)
        other = ~rows["outcome"].astype("string").isin(explained).fillna(False)
        bad = rows[refused & other]
        counted = int((~verdict.isin(NOT_COUNTED)).fillna(True).sum())
        if not counted or len(bad) / counted <= QUIET_REFUSED_MAX_SHARE:
            continue
        outcomes = {
            str(k): int(v) for k, v in bad["outcome"].astype("string").value_counts().items()
        }
        how = breakdown(outcomes, lambda o: o in REFUSALS)
        share = percent(len(bad), counted)
        parts.append(f"{name}: {len(bad)} of {counted} valid attempts refused ({share}; {how})")
        auth += sum(v for k, v in outcomes.items() if k in AUTH)
        total += len(bad)
    if not parts:
        return None
    if auth * 2 > total:
        return Hit("; ".join(parts), type="configuration", meaning=_MEANING_CONFIG, fix=_FIX_CONFIG)
    return Hit("; ".join(parts))


VALID_REFUSED_WITHOUT_CHAOS = Rule(
    "valid-refused-without-chaos", "resource", "high",
    "Valid tokens were refused with no fault active",
    "The service refused or dropped valid clients under this load alone: it is at "
    "capacity (connections, CPU, memory, descriptors) before any fault.",
    "Size the service for this load (connection limit, workers, ulimit -n, memory), or "
    "lower the load to what it is meant to carry.",
    check_valid_refused_without_chaos,
)  # fmt: skip

#: Under a fault, the lowest acceptable share of refusals that name their reason (0..1).
GRACEFUL_SHARE_MIN = 0.8
#: Fewest refusals in a fault phase before that share is judged.
MIN_PRESSURE_REFUSALS = 10


def check_abrupt_under_pressure(view: RunView) -> Hit | None:
    """Phases under a (non-disruptive) fault whose refusals were mostly abrupt."""
    parts = []
    for phase in view.phases("during"):
        if any(view.disruptive(label) for label in phase.labels):
            continue  # a cut network or a dead process cannot refuse gracefully
        sec = valid_section(phase.token_kinds) or phase.total
        n = sec.graceful + sec.abrupt
        if n >= MIN_PRESSURE_REFUSALS and sec.graceful / n < GRACEFUL_SHARE_MIN:
            how = breakdown(sec.outcomes, lambda o: o in ABRUPT)
            parts.append(
                f"{phase.name}: {sec.abrupt} of {n} refusals abrupt (graceful share "
                f"{sec.graceful / n:.2f} < {GRACEFUL_SHARE_MIN:g}; {how})"
            )
    return Hit("; ".join(parts)) if parts else None


ABRUPT_UNDER_PRESSURE = Rule(
    "abrupt-under-pressure", "resource", "high",
    "Under pressure, refusals were abrupt rather than graceful",
    "Under a fault the service reset, dropped or timed out clients instead of refusing "
    "with a reason; clients cannot tell overload from a broken network and retry at once.",
    "Check capacity before the upgrade and refuse with 503 + Retry-After, or accept and "
    "close with 1013 and a reason; keep headroom for that path.",
    check_abrupt_under_pressure,
)  # fmt: skip

#: Seconds of recovery after a fault window beyond which it is slow.
SLOW_RECOVERY_S = 10.0


def check_slow_recovery(view: RunView) -> Hit | None:
    """Windows that did not recover (high), or took more than :data:`SLOW_RECOVERY_S` (medium)."""
    parts, severity = [], "medium"
    for label, rec in view.summary.recovery.items():
        if rec.status == NOT_RECOVERED:
            severity = "high"
            parts.append(
                f"{label} did not recover by {rec.horizon_end_s or 0.0:.1f} s (valid success "
                f"{rec.success_rate_after or 0.0:.2f} after its revert at "
                f"{rec.reverted_s or 0.0:.1f} s; baseline {rec.baseline_success_rate:.2f}, "
                f"threshold {rec.threshold:.2f})"
            )
        elif rec.status == RECOVERED and (rec.recovery_s or 0.0) > SLOW_RECOVERY_S:
            parts.append(
                f"{label} took {rec.recovery_s:.1f} s to recover (back within the margin at "
                f"{rec.recovered_at_s:.1f} s)"
            )
    return Hit("; ".join(parts), severity=severity) if parts else None


SLOW_RECOVERY = Rule(
    "slow-recovery", "resource", "medium", "Service was slow to recover after a fault",
    "After a fault window ended, valid-token success stayed below its baseline: the "
    "service kept degraded state (full queues, leaked connections, a tripped breaker).",
    "Make refusals and timeouts release their resources, bound queues, let breakers "
    "close again; re-run to check that recovery is bounded.",
    check_slow_recovery,
)  # fmt: skip

#: Valid handshake p95 (ms) in the baseline above which handshakes are slow.
HANDSHAKE_P95_MAX_MS = 500.0
#: A fault phase's valid p95 over the baseline's that is slow ...
HANDSHAKE_CHAOS_FACTOR = 5.0
#: ... when that p95 (ms) is also at least this.
HANDSHAKE_CHAOS_FLOOR_MS = 100.0


def check_handshake_latency(view: RunView) -> Hit | None:
    """A slow baseline p95, or fault phases much slower than the baseline."""
    base = next((valid_section(p.token_kinds) for p in view.phases("baseline")), None)
    p95 = (base.handshake_ms.p95 if base else None) or 0.0  # 0: none
    parts = []
    if p95 > HANDSHAKE_P95_MAX_MS:
        parts.append(f"baseline: valid handshake p95 {p95:.0f} ms > {HANDSHAKE_P95_MAX_MS:g} ms")
    for phase in view.phases("during") if p95 else []:
        if any(view.disruptive(label) for label in phase.labels):
            continue  # added latency or lost packets are the fault itself
        sec = valid_section(phase.token_kinds)
        q = sec.handshake_ms.p95 if sec else None
        if q is not None and q > HANDSHAKE_CHAOS_FACTOR * p95 and q >= HANDSHAKE_CHAOS_FLOOR_MS:
            parts.append(
                f"{phase.name}: p95 {q:.0f} ms, {q / p95:.1f}x the baseline's {p95:.0f} ms"
            )
    return Hit("; ".join(parts)) if parts else None


HANDSHAKE_LATENCY = Rule(
    "handshake-latency", "resource", "medium", "WebSocket handshakes were slow",
    "Upgrades waited long for an answer: the accept loop or token validation is "
    "saturated, and clients with short timeouts give up.",
    "Profile the upgrade path (accept loop, token validation); add workers or headroom.",
    check_handshake_latency,
)  # fmt: skip


# --- Connection rules ---------------------------------------------------------------------


def check_closed_before_established(view: RunView) -> Hit | None:
    """Connections dropped before the 101, outside disruptive faults, per phase."""
    dropped = (view.column("outcome") == Outcome.ABNORMAL_HANDSHAKE.value).fillna(False)
    mine = dropped.to_numpy(dtype=bool) & ~view.disrupted
    if not mine.any():
        return None
    n, attempts = int(mine.sum()), len(view.attempts)
    others = int((dropped.to_numpy(dtype=bool) & view.disrupted).sum())
    phase = view.attempts["phase"].astype(str)
    counts = phase[mine].value_counts()
    spread = ", ".join(f"{p} {int(counts[p])}" for p in view.run.phase_names if p in counts)
    tail = f" ({others} more under network or process faults, not counted)" if others else ""
    return Hit(
        f"{n} of {attempts} attempts ({percent(n, attempts)}) dropped before the 101: "
        f"{spread}{tail}"
    )


CLOSED_BEFORE_ESTABLISHED = Rule(
    "closed-before-established", "connection", "high",
    "Connections were closed before they were established",
    "TCP connections ended before the server answered the upgrade (the browser's 'closed "
    "before the connection is established'): a full accept backlog, a crash or restart, "
    "a proxy or handshake timeout, or a server that drops instead of refusing when full.",
    "Answer every upgrade (503 when full, never a drop), raise the listen backlog "
    "(net.core.somaxconn), and align proxy and handshake timeouts.",
    check_closed_before_established,
)  # fmt: skip

#: Close codes that need no reason (RFC 6455 section 7.4.1: normal closure, going away).
NORMAL_CLOSE_CODES: frozenset[int] = frozenset({1000, 1001})


def check_close_without_code(view: RunView) -> Hit | None:
    """Close frames without a code, 1006 endings, and error codes without a reason."""
    outcome, reason = view.column("outcome"), view.column("close_reason")
    code = pd.to_numeric(view.attempts["close_code"], errors="coerce")
    no_code = int(((outcome == Outcome.CLOSED_OTHER.value) & code.isna()).fillna(False).sum())
    gone_1006 = (outcome == Outcome.ABNORMAL_CLOSURE.value).fillna(False).to_numpy(dtype=bool)
    gone = int((gone_1006 & ~view.disrupted).sum())
    silent = (
        outcome.str.startswith("closed_").fillna(False)
        & code.notna()
        & ~code.isin(list(NORMAL_CLOSE_CODES))
        & (reason.isna() | (reason.str.strip() == "")).fillna(True)
    )
    parts = []
    if no_code:
        parts.append(f"{no_code} server close frames without a code")
    if gone:
        parts.append(f"{gone} connections ended after the 101 without a close frame (1006)")
    if silent.any():
        codes = code[silent].astype(int).value_counts().sort_index()
        listed = ", ".join(f"{c}: {n}" for c, n in codes.items())
        parts.append(f"{int(silent.sum())} closes with a code but no reason ({listed})")
    return Hit("; ".join(parts)) if parts else None


CLOSE_WITHOUT_CODE = Rule(
    "close-without-code", "connection", "medium",
    "Connections were closed without a code or reason",
    "Clients saw closes they cannot interpret (no close frame, no code, or an error code "
    "without a reason), so they cannot decide whether to retry.",
    "Always send a close frame with a code (RFC 6455 section 7.4.1; 4000-4999 for your "
    "own) and a short reason before dropping a connection.",
    check_close_without_code,
)  # fmt: skip

#: Seconds open after which a connection should have seen a server ping, when the scenario
#: does not say how often the service pings (``target.heartbeat_interval``): the longest
#: interval a service plausibly uses (Socket.IO 25 s, common proxies' idle cut 30-60 s, the
#: 20-30 s this rule recommends). A shorter session without a ping proves nothing: a 12 s
#: hold against a service pinging every 20 s would see none.
LONG_OPEN_S = 30.0
#: With a known interval, the sessions judged are those held longer than this many
#: intervals: a ping is due by then, whatever the phase of the service's timer at the open.
HEARTBEAT_INTERVAL_FACTOR = 1.5
#: Fewest such connections before a missing heartbeat is reported.
MIN_LONG_CONNECTIONS = 5


def check_no_heartbeat(view: RunView) -> Hit | None:
    """At least :data:`MIN_LONG_CONNECTIONS` sessions held long enough to see a ping, none
    seen: longer than :data:`HEARTBEAT_INTERVAL_FACTOR` times the scenario's
    ``target.heartbeat_interval``, or, when it is unknown, :data:`LONG_OPEN_S` s or more."""
    open_s = pd.to_numeric(view.attempts["open_s"], errors="coerce")
    accepted = (view.column("outcome") == Outcome.ACCEPTED.value).fillna(False)
    interval = view.run.heartbeat_interval_s
    if interval is None:
        held = open_s >= LONG_OPEN_S
        judged = f">= {LONG_OPEN_S:g} s"
        rule = (
            f"only sessions held longer than the {LONG_OPEN_S:g} s a service could plausibly "
            "wait between pings are judged"
        )
    else:
        cutoff = HEARTBEAT_INTERVAL_FACTOR * interval
        held = open_s > cutoff
        judged = f"> {cutoff:g} s"
        rule = (
            f"target.heartbeat_interval says the service pings every {interval:g} s: only "
            f"sessions held longer than {HEARTBEAT_INTERVAL_FACTOR:g} times that are judged"
        )
    long = view.attempts[(accepted & held).to_numpy(dtype=bool)]
    if len(long) < MIN_LONG_CONNECTIONS:
        return None  # too few long connections to expect a ping: say nothing
    if int(pd.to_numeric(long["pings"], errors="coerce").fillna(0).sum()) > 0:
        return None
    longest = float(pd.to_numeric(long["open_s"], errors="coerce").max())
    return Hit(
        f"{len(long)} accepted connections stayed open {judged} (longest {longest:.1f} s); "
        f"none saw a server ping ({rule})"
    )


NO_HEARTBEAT = Rule(
    "no-heartbeat", "connection", "low", "Long-lived connections saw no server pings",
    "Without pings (RFC 6455 section 5.5.2) half-open connections are only found when "
    "a write fails, and idle proxies may cut quiet ones.",
    "Send a ping every 20-30 s and close connections whose pong does not come back.",
    check_no_heartbeat,
)  # fmt: skip


# --- Crash --------------------------------------------------------------------------------


def check_target_died(view: RunView) -> Hit | None:
    """The target process died during the run, and how many attempts met it dead."""
    died = view.summary.target_died
    if died is None:
        return None
    at = "" if died.at_s is None else f" at {died.at_s:.1f} s"
    after = int((view.attempts["end_s"] >= died_at_s(view.summary)).sum())
    return Hit(
        f"the target (PID {died.pid}) died{at}: {died.how}; {after} attempts after it met a "
        "dead service and are left out of the capacity findings"
    )


TARGET_DIED = Rule(
    "target-died", "crash", "critical",
    "The target process died during the run",
    "The service's process ended while the load went on, and no chaos fault ended it: a "
    "crash, not a capacity limit. What clients saw afterwards (refused, reset) says nothing "
    "about how the service refuses when it is full.",
    "Find the cause in the service's log (target.log for the embedded target), its exit "
    "status or signal above, and the kernel log (an OOM kill); fix it, and supervise the "
    "service so it restarts.",
    check_target_died,
)  # fmt: skip


# --- Configuration rules ------------------------------------------------------------------

NOT_FOUND_OUTCOMES = frozenset({Outcome.REJECTED_NOT_FOUND.value})
UPSTREAM_DOWN_OUTCOMES = frozenset({Outcome.REJECTED_UPSTREAM.value})
_CAPACITY = frozenset({Outcome.REJECTED_CAPACITY.value})
#: Share of the counted attempts refused as not found (0..1) from which the path is wrong.
WRONG_PATH_MIN_SHARE = 0.5
#: Fewest attempts of a kind of refusal before ``wrong-path`` or ``upstream-down`` speaks.
MIN_CONFIG_REFUSALS = 5


def statuses_of(view: RunView, outcomes: frozenset[str]) -> str:
    """The HTTP statuses of the attempts that ended in ``outcomes``, as ``404 x12, 410 x1``."""
    hit = view.column("outcome").isin(outcomes).fillna(False)
    status = pd.to_numeric(view.attempts["http_status"][hit], errors="coerce").dropna()
    counts = status.astype(int).astype(str).value_counts()
    return ", ".join(f"{k!s} x{int(v)}" for k, v in counts.items())


def check_wrong_path(view: RunView) -> Hit | None:
    """Most counted attempts (:data:`WRONG_PATH_MIN_SHARE`) answered 404/410 at the upgrade."""
    total = view.summary.total
    n = sum(total.outcomes.get(o, 0) for o in NOT_FOUND_OUTCOMES)
    if n < MIN_CONFIG_REFUSALS or n < WRONG_PATH_MIN_SHARE * total.counted:
        return None
    return Hit(
        f"{n} of {total.counted} attempts ({percent(n, total.counted)}) were answered "
        f"{statuses_of(view, NOT_FOUND_OUTCOMES)} at the upgrade (rejected_not_found)"
    )


WRONG_PATH = Rule(
    "wrong-path", "configuration", "critical",
    "The URL path has no WebSocket endpoint: check the URL path",
    "The service (or a proxy in front of it) answered the upgrade with 404/410 Not Found: "
    "the scenario points at a path nothing serves. This is the scenario's error, not the "
    "service's capacity; the other results say little until it is fixed.",
    "Check the path in target.url (e.g. /ws, /socket.io/?EIO=4&transport=websocket for "
    "Socket.IO, a prefix a proxy adds or strips) against the service's routes.",
    check_wrong_path,
)  # fmt: skip


def check_protocol_mismatch(view: RunView) -> Hit | None:
    """Attempts whose server spoke another protocol (``protocol_mismatch``: Engine.IO)."""
    total = view.summary.total
    n = total.outcomes.get(Outcome.PROTOCOL_MISMATCH.value, 0)
    if not n:
        return None
    return Hit(
        f"{n} of {total.attempts} attempts ({percent(n, total.attempts)}) met a server whose "
        'first message was an Engine.IO OPEN packet (0{"sid": ...}); they are left out of '
        "the rates and of the token findings"
    )


PROTOCOL_MISMATCH = Rule(
    "protocol-mismatch", "configuration", "critical",
    "Configuration error: the service speaks Engine.IO/Socket.IO, not plain WebSocket",
    "The upgrade succeeded, but the server talks Engine.IO (Socket.IO) over it: a plain "
    "WebSocket client's sessions there say nothing about its auth (an Engine.IO server may "
    "check the token only in the Socket.IO CONNECT packet), so they are not counted.",
    "Set target.protocol: socketio in the scenario (and the Socket.IO path, "
    "/socket.io/?EIO=4&transport=websocket), or point target.url at the plain WebSocket "
    "endpoint.",
    check_protocol_mismatch,
)  # fmt: skip


def check_socketio_path(view: RunView) -> Hit | None:
    """A plain WebSocket scenario whose URL path is Socket.IO's, refused at the upgrade on
    most counted attempts (python-engineio answers 400 to a request without ``EIO``)."""
    if not plain_at_socketio_path(view.summary):
        return None
    path = urlsplit(view.summary.target_url or "").path
    total = view.summary.total
    outcomes = frozenset(o for o in total.outcomes if o.startswith(REJECTED_PREFIX))
    n = sum(total.outcomes[o] for o in outcomes)
    if n < MIN_CONFIG_REFUSALS or n < WRONG_PATH_MIN_SHARE * total.counted:
        return None
    return Hit(
        f"{n} of {total.counted} attempts ({percent(n, total.counted)}) were refused at the "
        f"upgrade ({statuses_of(view, outcomes)}) at {path}, a Socket.IO path, "
        "by a plain WebSocket client"
    )


SOCKETIO_PATH_RULE = Rule(
    "socketio-path", "configuration", "critical",
    "Configuration error: a plain WebSocket client at a Socket.IO path",
    "The URL's path is Socket.IO's, and the service refused the plain WebSocket upgrade: a "
    "Socket.IO server wants Engine.IO's query (EIO, transport) and, for auth, the Socket.IO "
    "CONNECT packet. These refusals say nothing about the service's auth or capacity.",
    "Set target.protocol: socketio (the path is target.socketio.path) and put the token "
    "where the service reads it (auth.placement: socketio_auth for io(url, {auth: {token}})).",
    check_socketio_path,
)  # fmt: skip


#: Fewest Socket.IO sessions a proxy pushed off the WebSocket before ``websocket-blocked``.
MIN_BLOCKED = 5
#: ... and their share of the sessions opened (0..1).
BLOCKED_MIN_SHARE = 0.5


def check_websocket_blocked(view: RunView) -> Hit | None:
    """Socket.IO sessions whose WebSocket failed: fallbacks to polling, failed upgrades."""
    sio = view.summary.socketio
    if sio is None:
        return None
    blocked = sio.fallbacks + sio.upgrades_failed
    opened = sum(sio.attempts_by_transport.values())
    if blocked < MIN_BLOCKED or blocked < BLOCKED_MIN_SHARE * opened:
        return None
    return Hit(
        f"{sio.fallbacks} sessions fell back to long-polling after their WebSocket failed and "
        f"{sio.upgrades_failed} of {sio.upgrades_tried} polling sessions failed to upgrade; "
        f"by transport: {', '.join(f'{k} {v}' for k, v in sio.attempts_by_transport.items())}"
    )


WEBSOCKET_BLOCKED = Rule(
    "websocket-blocked", "connection", "medium",
    "Socket.IO sessions could not use a WebSocket and ran over long-polling",
    "The WebSocket transport failed (refused, reset or timed out) while polling worked: a "
    "proxy or load balancer in front of the service blocks the upgrade, or the server allows "
    "only polling. Clients still connect, but every message costs an HTTP request, latency "
    "grows, and sticky sessions become mandatory behind a load balancer.",
    "Let the proxy pass WebSocket upgrades on the Socket.IO path (Upgrade and Connection "
    "headers, HTTP/1.1, a read timeout above the ping interval) and allow the websocket "
    "transport on the server.",
    check_websocket_blocked,
)  # fmt: skip


def check_flow_error(view: RunView) -> Hit | None:
    """Attempts whose session hook raised (``flow_error``): the scenario's code failed."""
    total = view.summary.total
    n = total.outcomes.get(Outcome.FLOW_ERROR.value, 0)
    if not n:
        return None
    a = view.attempts
    errors = a.loc[a["outcome"] == Outcome.FLOW_ERROR.value, "error"].dropna()
    first = f"; the first: {errors.iloc[0]}" if len(errors) else ""
    return Hit(
        f"{n} of {total.attempts} attempts ({percent(n, total.attempts)}) ended with an "
        f"exception of the session hook{first}; they are left out of the rates"
    )


FLOW_ERROR = Rule(
    "flow-error", "configuration", "critical",
    "The scenario's session hook raised an exception",
    "The Python function of load.session.hook failed on open connections: those sessions "
    "say nothing about the service, so they are not counted (the service is not blamed).",
    "Fix the hook (the record's error gives the exception and its line), and try it with "
    "a short run: harness run SCENARIO --set load.duration=5.",
    check_flow_error,
)  # fmt: skip


def check_upstream_down(view: RunView) -> Hit | None:
    """502/504 at the upgrade, or 503 from a run where no valid token was ever accepted."""
    total = view.summary.total
    explained = not_capacity(view.summary) - NOT_FOUND_OUTCOMES
    n = sum(total.outcomes.get(o, 0) for o in explained)
    if n < MIN_CONFIG_REFUSALS:
        return None
    tail = "; no valid token was ever accepted" if explained >= _CAPACITY else ""
    return Hit(
        f"{n} of {total.counted} attempts ({percent(n, total.counted)}) were answered "
        f"{statuses_of(view, explained)} at the upgrade{tail}"
    )


UPSTREAM_DOWN = Rule(
    "upstream-down", "crash", "high",
    "The service behind the proxy is down or unreachable",
    "A gateway answered for the service: 502/504 say the proxy could not reach it, and "
    "503 with not one session ever accepted says nothing behind the proxy is serving. The "
    "service is down or misrouted, not full: sizing it will not help.",
    "Check that the service behind the proxy runs and that the proxy's upstream (host, "
    "port, health check) points at it; then run again.",
    check_upstream_down,
)  # fmt: skip


def check_generator_fault(view: RunView) -> Hit | None:
    """Attempts that failed inside the load generator, with their most frequent errors."""
    total = view.summary.total
    n = total.verdict(Verdict.GENERATOR_FAULT)
    if not n:
        return None
    faulty = view.column("verdict") == Verdict.GENERATOR_FAULT.value
    errors = view.column("error")[faulty.fillna(False)].dropna().value_counts().head(3)
    seen = "; ".join(f"{e!s} x{c}" for e, c in errors.items())
    tail = f" (errors: {seen})" if seen else ""
    return Hit(
        f"{n} of {total.attempts} attempts ({percent(n, total.attempts)}) failed in the load "
        f"generator{tail}"
    )


GENERATOR_FAULT = Rule(
    "generator-fault", "configuration", "critical",
    "The load generator itself failed: results are not trustworthy",
    "The harness ran out of something (file descriptors, ports, memory): those attempts "
    "say nothing about the target, and the load was lower than planned.",
    "Raise the generator's ulimit -n, add Locust workers (or machines), or lower users.",
    check_generator_fault,
)  # fmt: skip


#: Reconnects after a restart bunched beyond this peak-to-mean ratio (see
#: :func:`harness.analysis.sessions.peak_to_mean`) are a stampede: after a restart, full
#: jitter read 3.5-4.4 on this machine, clients retrying in step 11-15.
STAMPEDE_PEAK_TO_MEAN = 6.0


def check_reconnect_stampede(view: RunView) -> Hit | None:
    """Restarts after which the reconnects bunched beyond :data:`STAMPEDE_PEAK_TO_MEAN`."""
    sessions = view.summary.sessions
    if sessions is None:
        return None
    parts = [
        f"after {r.label} {r.reconnect_attempts} reconnects of {r.lost} sessions came in bursts "
        f"{r.peak_to_mean:.1f}x their mean rate (the busiest bin over the mean, stated limit "
        f"{STAMPEDE_PEAK_TO_MEAN:g})"
        for r in sessions.restarts.values()
        if r.peak_to_mean is not None and r.peak_to_mean > STAMPEDE_PEAK_TO_MEAN
    ]
    return Hit("; ".join(parts)) if parts else None


RECONNECT_STAMPEDE = Rule(
    "reconnect-stampede", "connection", "medium",
    "Clients reconnect in a stampede after a restart",
    "Every client retries after the same delay, so a restarted service meets all of them in "
    "the same instant: the burst can push it back over its capacity, and again at each retry.",
    "Add jitter to the clients' reconnect delay (full or equal jitter, or socket.io-client's "
    "randomizationFactor), and have the service refuse gracefully (503 with Retry-After, "
    "1013) while it warms up.",
    check_reconnect_stampede,
)  # fmt: skip


def check_login_breaks(view: RunView) -> Hit | None:
    """Valid-token sessions whose last attempt was an auth rejection, or that gave up."""
    sessions = view.summary.sessions
    if sessions is None or not (sessions.auth_failed or sessions.gave_up):
        return None
    parts = []
    if sessions.auth_failed:
        parts.append(
            f"{sessions.auth_failed} of {sessions.sessions} sessions with a valid token ended "
            "in an auth rejection"
        )
    if sessions.gave_up:
        parts.append(f"{sessions.gave_up} sessions gave up after their last reconnect failed")
    return Hit("; ".join(parts))


LOGIN_BREAKS = Rule(
    "sessions-lost", "token", "high",
    "Users lost their session: a front end would send them back to login",
    "A client that reconnects with the token it holds was refused it, or ran out of "
    "reconnect attempts: in a real front end its user sees a login screen or an error.",
    "Accept a still-valid token on reconnect (no validity state tied to the old "
    "connection), and keep the service reachable through restarts (graceful refusals, "
    "a shorter restart, enough reconnect attempts on the client).",
    check_login_breaks,
)  # fmt: skip


def check_session_outlives_token(view: RunView) -> Hit | None:
    """Connections kept open past their token's expiry, none closed at it."""
    s = view.summary.sessions
    if s is None or not s.expired_open or s.closed_at_expiry or s.kept_past_expiry_s is None:
        return None
    return Hit(
        f"{s.expired_open} connections were open when their token expired and the server "
        f"closed none of them at the expiry (one stayed open {s.kept_past_expiry_s:.1f} s "
        "past it)"
    )


SESSION_OUTLIVES_TOKEN = Rule(
    "session-outlives-token", "token", "low",
    "Sessions stay open after their token expired",
    "The service checks the token only at the handshake: a connection keeps its rights "
    "after the token's exp (a revoked or expired user stays connected). This may be by "
    "design; then it is worth knowing how long sessions live.",
    "Close connections at their token's exp (4401 or 1008 with a reason) or ask the client "
    "to refresh in-band; bound session length.",
    check_session_outlives_token,
)  # fmt: skip


def check_token_refresh_failed(view: RunView) -> Hit | None:
    """Reconnects with a freshly minted token that the service refused."""
    s = view.summary.sessions
    if s is None or not s.refreshed or s.refreshed_accepted == s.refreshed:
        return None
    refused = s.refreshed - s.refreshed_accepted
    return Hit(f"{refused} of {s.refreshed} reconnects with a refreshed token were not accepted")


TOKEN_REFRESH_FAILED = Rule(
    "token-refresh-failed", "token", "high",
    "A refreshed token did not get the session back",
    "After its token expired the client minted a new one and reconnected, and was still "
    "refused: users whose tokens are refreshed lose their session anyway.",
    "Check that the service accepts a new token for a user it knew (no stale per-user "
    "state, no cached rejection).",
    check_token_refresh_failed,
)  # fmt: skip


# --- The table and the engine ---------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    TARGET_DIED,
    WRONG_PATH,
    PROTOCOL_MISMATCH,
    SOCKETIO_PATH_RULE,
    FLOW_ERROR,
    UPSTREAM_DOWN,
    INVALID_TOKEN_ACCEPTED,
    STALE_TOKEN_ACCEPTED,
    VALID_REFUSED_WITHOUT_CHAOS,
    ABRUPT_UNDER_PRESSURE,
    CLOSED_BEFORE_ESTABLISHED,
    CLOSE_WITHOUT_CODE,
    NO_HEARTBEAT,
    SLOW_RECOVERY,
    GENERATOR_FAULT,
    HANDSHAKE_LATENCY,
    WEBSOCKET_BLOCKED,
    RECONNECT_STAMPEDE,
    LOGIN_BREAKS,
    SESSION_OUTLIVES_TOKEN,
    TOKEN_REFRESH_FAILED,
)
assert all(r.type in FINDING_TYPES and r.severity in SEVERITIES for r in RULES)
assert len({r.id for r in RULES}) == len(RULES), "rule ids must be unique"


def compute_findings(
    summary: Summary, run: Run, rules: Sequence[Rule] = RULES
) -> tuple[Finding, ...]:
    """Every finding of a run (pure), most severe first, then by id.

    Args:
        summary: the run's summary (with ``recovery``; its ``findings`` are not read).
        run: the run the summary is of.
        rules: the rules to apply (default: all of :data:`RULES`).
    """
    view = RunView(summary, run, disrupted(summary, run.attempts))
    out = []
    for rule in rules:
        hit = rule.check(view)
        if hit is None:
            continue
        out.append(
            Finding(
                id=rule.id,
                type=hit.type or rule.type,
                severity=hit.severity or rule.severity,
                title=rule.title,
                evidence=hit.evidence,
                meaning=hit.meaning or rule.meaning,
                fix=hit.fix or rule.fix,
            )
        )
    return tuple(sorted(out, key=lambda f: (-SEVERITY_RANK[f.severity], f.id)))


def findings_by_severity(findings: Sequence[Finding]) -> dict[str, int]:
    """Count of findings per severity, every severity included, highest first."""
    return {s: sum(1 for f in findings if f.severity == s) for s in reversed(SEVERITIES)}
