"""Resource rules (pure): valid clients refused with no fault on (the service is at capacity),
where a declared connection limit sat, abrupt refusals under pressure, slow recovery after a
fault, slow handshakes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.analysis.limits import (
    DeclaredLimits,
    answered_at,
    at_declared_limit,
    declared_refusals,
    held_open_at,
    most_held_open,
)
from harness.analysis.rules import (
    ABRUPT,
    AUTH,
    REFUSALS,
    Hit,
    Rule,
    RunView,
    breakdown,
    died_at_s,
    percent,
    valid_section,
)
from harness.analysis.rules_configuration import not_capacity
from harness.analysis.stats import NOT_COUNTED
from harness.analysis.summary import (
    NOT_RECOVERED,
    RECOVERED,
)
from harness.protocol.outcomes import Verdict

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
    lists = view.attempts["chaos"].to_numpy(dtype=object)
    no_fault = np.fromiter((not v for v in lists), dtype=bool, count=len(lists))
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


def expected_refusals(view: RunView) -> pd.Series[bool]:
    """Per attempt: refused at the limit the service declares (``target.expect``; all False
    when it declares none), see :mod:`harness.analysis.limits`."""
    limits = DeclaredLimits.of(view.run.scenario)
    at_limit = (
        at_declared_limit(view.attempts, limits)
        if limits is not None
        else np.zeros(len(view.attempts), dtype=bool)
    )
    return pd.Series(at_limit, index=view.attempts.index, dtype=bool)


def check_valid_refused_without_chaos(view: RunView) -> Hit | None:
    """Valid tokens refused or dropped beyond :data:`QUIET_REFUSED_MAX_SHARE` with no fault on
    (refusals :func:`not_capacity` explains are ``wrong-path``'s and ``upstream-down``'s;
    those at a declared limit are the service's promise kept, :func:`expected_refusals`)."""
    parts, auth, total = [], 0, 0
    explained = not_capacity(view.summary)
    expected = expected_refusals(view)
    for name, rows in quiet_periods(view):
        verdict = rows["verdict"].astype("string")
        refused = verdict.isin([Verdict.VALID_REFUSED.value, Verdict.ABRUPT.value]).fillna(False)
        other = ~rows["outcome"].astype("string").isin(explained).fillna(False)
        bad = rows[refused & other & ~expected.reindex(rows.index, fill_value=False)]
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


def _codes(rows: pd.DataFrame) -> str:
    """``503 12, 1013 3``: the answers of refusals, most frequent first."""
    codes = rows["http_status"].where(rows["http_status"] != 101, rows["close_code"])
    counts = {str(k): int(v) for k, v in codes.dropna().astype("Int64").value_counts().items()}
    return breakdown(counts, lambda _: True)


def check_declared_limit(view: RunView) -> Hit | None:
    """Where the declared connection limit sat: refusals with a declared answer at it (low),
    below it, or more connections held at once than declared (medium); silent when the run
    neither reached the limit nor was refused with a declared answer. Attempts under a fault
    or after the target died are the fault's and the crash's, not the limit's."""
    limits = DeclaredLimits.of(view.run.scenario)
    if limits is None or limits.max_connections is None:
        return None
    attempts = view.attempts
    lists = attempts["chaos"].to_numpy(dtype=object)
    quiet = np.fromiter((not v for v in lists), dtype=bool, count=len(lists)) & ~view.disrupted
    refused = declared_refusals(attempts, limits) & quiet
    at_limit = at_declared_limit(attempts, limits) & quiet
    below = refused & ~at_limit
    most = most_held_open(attempts[quiet], limits)
    declared = limits.max_connections
    parts, severity = [], "low"
    if below.sum():
        severity = "medium"
        held = held_open_at(attempts, answered_at(attempts)[below], limits)
        parts.append(
            f"{int(below.sum())} refusals ({_codes(attempts[below])}) below the declared limit of "
            f"{declared}: with {int(held.min())} to {int(held.max())} connections held open"
        )
    if most > declared + limits.slack():
        severity = "medium"
        parts.append(f"up to {most} connections held open at once, above the declared {declared}")
    if at_limit.sum():
        parts.append(
            f"{int(at_limit.sum())} refusals ({_codes(attempts[at_limit])}) at the declared "
            f"limit of {declared} (at least {limits.floor} held open); at most {most} at once"
        )
    if not parts:
        return None
    if severity == "low":
        return Hit(
            "the limit held where declared: " + "; ".join(parts),
            severity="low",
            meaning="The service refused with a declared answer once the declared number of "
            "connections was open, and not before: the limit sits where it was declared.",
            fix="Nothing to fix; plan capacity on this limit.",
        )
    return Hit("; ".join(parts), severity=severity)


DECLARED_LIMIT = Rule(
    "declared-limit", "resource", "medium",
    "The connection limit did not sit where it was declared",
    "The scenario declares the service's connection limit (target.expect), and the service "
    "refused below it or served more than it: capacity planned on the declared limit is wrong.",
    "Find the real limit (harness capacity) and correct the declaration, or the service's "
    "configuration (connection limit, ulimit -n, workers) to match it.",
    check_declared_limit,
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
