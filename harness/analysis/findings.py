"""Findings (pure): a diagnostic engine that reads a run's summary and attempts for problems.

Each rule is one entry of :data:`RULES`: an id, a type (``token``, ``resource``,
``connection``, ``configuration``), a default severity, a title, what it means, how to fix
it, and a small pure check that returns the evidence (with numbers) or None. A rule fires
at most once per run; its evidence lists every place it saw the problem. A check may raise
the severity or change the type, meaning or fix for what it saw (e.g. ``slow-recovery`` is
high when a window never recovered, medium when it only took long).

Rules stay silent rather than guess: below their sample minimums they report nothing.
The checks are in :mod:`harness.analysis.finding_checks`; the thresholds are the constants of
:mod:`harness.analysis.finding_limits` (re-exported here): times are seconds, handshakes
milliseconds, shares 0..1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.finding_checks import (
    KIND_FIXES,
    Hit,
    RunView,
    _abrupt_under_pressure,
    _close_without_code,
    _closed_before_established,
    _generator_fault,
    _handshake_latency,
    _invalid_token_accepted,
    _no_heartbeat,
    _slow_recovery,
    _stale_token_accepted,
    _valid_refused_without_chaos,
)
from harness.analysis.finding_limits import (
    GRACEFUL_SHARE_MIN,
    HANDSHAKE_CHAOS_FACTOR,
    HANDSHAKE_CHAOS_FLOOR_MS,
    HANDSHAKE_P95_MAX_MS,
    LONG_OPEN_S,
    MIN_LONG_CONNECTIONS,
    MIN_PRESSURE_REFUSALS,
    NORMAL_CLOSE_CODES,
    QUIET_REFUSED_MAX_SHARE,
    SLOW_RECOVERY_S,
)
from harness.analysis.phases import assign_phases, run_spans
from harness.analysis.recovery import attempt_end_s
from harness.config.scenario import SEVERITIES

__all__ = [
    "FINDING_TYPES",
    "GRACEFUL_SHARE_MIN",
    "HANDSHAKE_CHAOS_FACTOR",
    "HANDSHAKE_CHAOS_FLOOR_MS",
    "HANDSHAKE_P95_MAX_MS",
    "KIND_FIXES",
    "LONG_OPEN_S",
    "MIN_LONG_CONNECTIONS",
    "MIN_PRESSURE_REFUSALS",
    "NORMAL_CLOSE_CODES",
    "QUIET_REFUSED_MAX_SHARE",
    "RULES",
    "SLOW_RECOVERY_S",
    "Hit",
    "Rule",
    "RunView",
    "compute_findings",
    "findings_by_severity",
    "severity_at_least",
]

#: Types of finding: whose problem it is.
FINDING_TYPES: tuple[str, ...] = ("token", "resource", "connection", "configuration")

_SEVERITY_RANK: Mapping[str, int] = {s: i for i, s in enumerate(SEVERITIES)}


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


# --- The table ----------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule("invalid-token-accepted", "token", "critical", "Invalid tokens were accepted",
         "The service opened sessions for tokens it must refuse: anyone can connect.",
         "Validate the token before completing the upgrade.",
         _invalid_token_accepted),
    Rule("stale-token-accepted", "token", "critical",
         "Tokens were accepted again after they expired",
         "Tokens accepted while valid were accepted again after their exp: a validity cache "
         "(or session store) outlives the tokens it holds, so expired credentials keep working.",
         "Cap every cache entry's TTL at the token's exp (min(ttl, exp - now)), or check exp "
         "again on every cache hit.",
         _stale_token_accepted),
    Rule("valid-refused-without-chaos", "resource", "high",
         "Valid tokens were refused with no fault active",
         "The service refused or dropped valid clients under this load alone: it is at "
         "capacity (connections, CPU, memory, descriptors) before any fault.",
         "Size the service for this load (connection limit, workers, ulimit -n, memory), or "
         "lower the load to what it is meant to carry.",
         _valid_refused_without_chaos),
    Rule("abrupt-under-pressure", "resource", "high",
         "Under pressure, refusals were abrupt rather than graceful",
         "Under a fault the service reset, dropped or timed out clients instead of refusing "
         "with a reason; clients cannot tell overload from a broken network and retry at once.",
         "Check capacity before the upgrade and refuse with 503 + Retry-After, or accept and "
         "close with 1013 and a reason; keep headroom for that path.",
         _abrupt_under_pressure),
    Rule("closed-before-established", "connection", "high",
         "Connections were closed before they were established",
         "TCP connections ended before the server answered the upgrade (the browser's 'closed "
         "before the connection is established'): a full accept backlog, a crash or restart, "
         "a proxy or handshake timeout, or a server that drops instead of refusing when full.",
         "Answer every upgrade (503 when full, never a drop), raise the listen backlog "
         "(net.core.somaxconn), and align proxy and handshake timeouts.",
         _closed_before_established),
    Rule("close-without-code", "connection", "medium",
         "Connections were closed without a code or reason",
         "Clients saw closes they cannot interpret (no close frame, no code, or an error code "
         "without a reason), so they cannot decide whether to retry.",
         "Always send a close frame with a code (RFC 6455 section 7.4.1; 4000-4999 for your "
         "own) and a short reason before dropping a connection.",
         _close_without_code),
    Rule("no-heartbeat", "connection", "low", "Long-lived connections saw no server pings",
         "Without pings (RFC 6455 section 5.5.2) half-open connections are only found when "
         "a write fails, and idle proxies may cut quiet ones.",
         "Send a ping every 20-30 s and close connections whose pong does not come back.",
         _no_heartbeat),
    Rule("slow-recovery", "resource", "medium", "Service was slow to recover after a fault",
         "After a fault window ended, valid-token success stayed below its baseline: the "
         "service kept degraded state (full queues, leaked connections, a tripped breaker).",
         "Make refusals and timeouts release their resources, bound queues, let breakers "
         "close again; re-run to check that recovery is bounded.",
         _slow_recovery),
    Rule("generator-fault", "configuration", "critical",
         "The load generator itself failed: results are not trustworthy",
         "The harness ran out of something (file descriptors, ports, memory): those attempts "
         "say nothing about the target, and the load was lower than planned.",
         "Raise the generator's ulimit -n, add Locust workers (or machines), or lower users.",
         _generator_fault),
    Rule("handshake-latency", "resource", "medium", "WebSocket handshakes were slow",
         "Upgrades waited long for an answer: the accept loop or token validation is "
         "saturated, and clients with short timeouts give up.",
         "Profile the upgrade path (accept loop, token validation); add workers or headroom.",
         _handshake_latency),
)  # fmt: skip
assert all(r.type in FINDING_TYPES and r.severity in SEVERITIES for r in RULES)
assert len({r.id for r in RULES}) == len(RULES), "rule ids must be unique"


def severity_at_least(severity: str, floor: str) -> bool:
    """True when ``severity`` ranks at or above ``floor`` (both from :data:`SEVERITIES`)."""
    return _SEVERITY_RANK[severity] >= _SEVERITY_RANK[floor]


_WINDOW_COLUMNS = ("label", "fault", "applied_s", "reverted_s")


def _disrupted(run: RunView) -> npt.NDArray[np.bool_]:
    """Attempts that listed, or started or ended inside, a window of a disruptive fault."""
    t, end = run.t_s.to_numpy(dtype=float), run.end_s.to_numpy(dtype=float)
    listed = run.attempts["chaos"].map(
        lambda v: any(run.disruptive(str(x)) for x in v) if isinstance(v, list) else False
    )
    out = np.array(listed, dtype=bool)  # a copy: to_numpy may be read-only
    for w in run.summary.get("chaos_windows") or []:
        start, stop = w.get("applied_s"), w.get("reverted_s")
        if start is not None and run.disruptive(str(w.get("label"))):
            out |= (t < (math.inf if stop is None else float(stop))) & (end >= float(start))
    return out


def _t_s(summary: Mapping[str, Any], attempts: pd.DataFrame) -> pd.Series[float]:
    t = pd.to_numeric(attempts["t_start"], errors="coerce")
    t0 = summary.get("started_at")
    if not isinstance(t0, int | float):
        t0 = float(t.min()) if t.notna().any() else 0.0
    return (t - float(t0)).astype("float64")


def compute_findings(
    summary: Mapping[str, Any], attempts: pd.DataFrame, rules: Sequence[Rule] = RULES
) -> list[dict[str, str]]:
    """Every finding of a run (pure), most severe first, then by id.

    Args:
        summary: the run summary (see :mod:`harness.analysis.summary`), with ``recovery``.
        attempts: the frame of :func:`harness.analysis.frames.load_attempts`.
        rules: the rules to apply (default: all of :data:`RULES`).

    Returns:
        Dicts with ``id``, ``type``, ``severity``, ``title``, ``evidence``, ``meaning``, ``fix``.
    """
    t_s = _t_s(summary, attempts)
    end_s = attempt_end_s(attempts, t_s)
    windows = pd.DataFrame(summary.get("chaos_windows") or [], columns=_WINDOW_COLUMNS)
    spans, _ = run_spans(windows, summary.get("duration_s"))  # as the summary's phases
    phase = assign_phases(attempts["chaos"], t_s, spans)
    run = RunView(summary, attempts, t_s, end_s, phase, np.zeros(len(attempts), dtype=bool))
    run = replace(run, disrupted=_disrupted(run))
    out = []
    for rule in rules:
        hit = rule.check(run)
        if hit is None:
            continue
        out.append(
            {
                "id": rule.id,
                "type": hit.type or rule.type,
                "severity": hit.severity or rule.severity,
                "title": rule.title,
                "evidence": hit.evidence,
                "meaning": hit.meaning or rule.meaning,
                "fix": hit.fix or rule.fix,
            }
        )
    return sorted(out, key=lambda f: (-_SEVERITY_RANK[f["severity"]], f["id"]))


def findings_by_severity(findings: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Count of findings per severity, every severity included, highest first."""
    return {s: sum(1 for f in findings if f.get("severity") == s) for s in reversed(SEVERITIES)}
