"""The checks of the findings rules (pure): a :class:`RunView` in, a :class:`Hit` or None out.

Each check backs one rule of :data:`harness.analysis.findings.RULES`, which gives it its id,
type, severity, title, meaning and fix; a check returns the evidence (with numbers) and
anything it changes from those defaults. Thresholds live in
:mod:`harness.analysis.finding_limits`; times are seconds, handshakes milliseconds, shares 0..1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

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
from harness.analysis.recovery import NOT_RECOVERED, RECOVERED
from harness.protocol.outcomes import ABRUPT_OUTCOMES, AUTH_REJECTIONS, Outcome, Verdict

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

_ABRUPT = frozenset(o.value for o in ABRUPT_OUTCOMES)
_AUTH = frozenset(o.value for o in AUTH_REJECTIONS)
_NOT_COUNTED = frozenset({Verdict.EXCLUDED.value, Verdict.GENERATOR_FAULT.value})
#: Outcomes that refuse (or drop) a client, the target's doing.
_REFUSALS = frozenset(o.value for o in Outcome) - {
    Outcome.ACCEPTED.value,
    Outcome.GENERATOR_FAULT.value,
    Outcome.INTERRUPTED.value,
}


@dataclass(frozen=True)
class RunView:
    """What a rule reads: the summary, the attempts, each attempt's start and end."""

    summary: Mapping[str, Any]
    attempts: pd.DataFrame
    t_s: pd.Series[float]
    end_s: pd.Series[float]  # when each attempt ended (s since the start)
    phase: pd.Series[Any]  # each attempt's phase (see harness.analysis.phases)
    disrupted: npt.NDArray[np.bool_]  # it saw or overlapped a disruptive fault's window

    def phases(self, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
        """The summary's phases of ``kind`` (``baseline``, ``during``, ``after``), in order."""
        phases: Mapping[str, Any] = self.summary.get("phases") or {}
        return [(n, p) for n, p in phases.items() if p.get("kind") == kind]

    def disruptive(self, label: str) -> bool:
        """True when the window ``label`` is of a disruptive fault (it cuts or delays clients
        itself: see :mod:`harness.rundir.chaos_log`)."""
        windows = self.summary.get("chaos_windows") or []
        return any(w.get("label") == label and w.get("disruptive") for w in windows)

    def column(self, name: str) -> pd.Series[Any]:
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


# --- Helpers ------------------------------------------------------------------------------


def _n(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:.1f}%" if den else "n/a"


def _verdict(section: Mapping[str, Any], v: Verdict) -> int:
    return _n((section.get("verdicts") or {}).get(v.value))


def _breakdown(counts: Mapping[str, Any], keep: Callable[[str], bool]) -> str:
    """``a 3, b 1`` for the kept keys of a count table, most frequent first."""
    pairs = sorted(((k, _n(v)) for k, v in counts.items() if keep(k)), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in pairs if v)


def _valid(section_holder: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``valid`` token kind section of a summary or phase (``{}`` when absent)."""
    sec = (section_holder.get("token_kinds") or {}).get("valid")
    return sec if isinstance(sec, Mapping) else {}


# --- Token rules --------------------------------------------------------------------------


def _invalid_token_accepted(run: RunView) -> Hit | None:
    parts, fixes = [], []
    for kind, sec in (run.summary.get("token_kinds") or {}).items():
        if kind == "expired_reused" or sec.get("expected") != "reject":
            continue  # expired_reused is the stale-token-accepted rule's
        n = _verdict(sec, Verdict.INVALID_ACCEPTED)
        if n:
            parts.append(f"{kind}: {n} of {_n(sec.get('counted'))} accepted")
            fixes.append(KIND_FIXES.get(kind, f"refuse {kind} tokens"))
    if not parts:
        return None
    fix = "; ".join(fixes)
    return Hit("; ".join(parts), fix=fix[0].upper() + fix[1:] + ".")


def _stale_token_accepted(run: RunView) -> Hit | None:
    kinds = run.summary.get("token_kinds") or {}
    sec = kinds.get("expired_reused") or {}
    stale = _verdict(sec, Verdict.INVALID_ACCEPTED)
    if not stale:
        return None
    parts = [f"expired_reused: {stale} of {_n(sec.get('counted'))} accepted after expiry"]
    a = run.attempts
    keys = ["worker", "user", "attempt"]
    kind, verdict = run.column("token_kind"), run.column("verdict")
    reused = a[((kind == "expired_reused") & ~verdict.isin(_NOT_COUNTED)).fillna(False)]
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
    fresh = kinds.get("expired") or {}
    if _n(fresh.get("counted")):
        n = _verdict(fresh, Verdict.INVALID_ACCEPTED)
        parts.append(f"fresh expired tokens: {n} of {_n(fresh['counted'])} accepted")
    return Hit("; ".join(parts))


# --- Availability and resource rules ------------------------------------------------------


def _quiet_periods(run: RunView) -> list[tuple[str, pd.DataFrame]]:
    """Valid attempts that started and ended with no fault active: before the first window,
    and after each window from its recovery to the next window's start."""
    windows = run.summary.get("chaos_windows") or []
    starts = sorted(float(w["applied_s"]) for w in windows if w.get("applied_s") is not None)
    periods = [("baseline", -math.inf, starts[0] if starts else math.inf)]
    for label, rec in (run.summary.get("recovery") or {}).items():
        if rec.get("status") == RECOVERED:  # else: the slow-recovery rule's
            lo = float(rec["recovered_at_s"])
            hi = min((s for s in starts if s > lo), default=math.inf)
            periods.append((f"after {label} (from {lo:.1f} s)", lo, hi))
    no_fault = run.attempts["chaos"].map(lambda v: not v).to_numpy(dtype=bool)
    valid = (run.column("token_kind") == "valid").fillna(False).to_numpy(dtype=bool)
    t, end = run.t_s.fillna(-math.inf), run.end_s.fillna(-math.inf)  # unknown: baseline
    return [
        (name, run.attempts[valid & no_fault & ((t >= lo) & (end < hi)).to_numpy(dtype=bool)])
        for name, lo, hi in periods
    ]


def _valid_refused_without_chaos(run: RunView) -> Hit | None:
    parts, auth, total = [], 0, 0
    for name, rows in _quiet_periods(run):
        verdict = rows["verdict"].astype("string")
        bad = rows[verdict.isin([Verdict.VALID_REFUSED.value, Verdict.ABRUPT.value]).fillna(False)]
        counted = int((verdict != Verdict.EXCLUDED.value).fillna(True).sum())
        if not counted or len(bad) / counted <= QUIET_REFUSED_MAX_SHARE:
            continue
        outcomes = {
            str(k): int(v) for k, v in bad["outcome"].astype("string").value_counts().items()
        }
        how = _breakdown(outcomes, lambda o: o in _REFUSALS)
        share = _pct(len(bad), counted)
        parts.append(f"{name}: {len(bad)} of {counted} valid attempts refused ({share}; {how})")
        auth += sum(v for k, v in outcomes.items() if k in _AUTH)
        total += len(bad)
    if not parts:
        return None
    if auth * 2 > total:
        return Hit("; ".join(parts), type="configuration", meaning=_MEANING_CONFIG, fix=_FIX_CONFIG)
    return Hit("; ".join(parts))


_MEANING_CONFIG = (
    "Valid tokens are refused as unauthorized with no fault active: the harness and the "
    "service disagree on the secret, algorithm, claims, token placement or clock."
)
_FIX_CONFIG = (
    "Check the scenario's auth (secret, algorithm, claims, placement, query_param/header) "
    "against the service's validator, and the clocks of both hosts."
)


def _abrupt_under_pressure(run: RunView) -> Hit | None:
    parts = []
    for name, phase in run.phases("during"):
        if any(run.disruptive(label) for label in phase.get("labels") or []):
            continue  # a cut network or a dead process cannot refuse gracefully
        sec = _valid(phase) or phase.get("total") or {}
        graceful, abrupt = _n(sec.get("graceful")), _n(sec.get("abrupt"))
        n = graceful + abrupt
        if n >= MIN_PRESSURE_REFUSALS and graceful / n < GRACEFUL_SHARE_MIN:
            how = _breakdown(sec.get("outcomes") or {}, lambda o: o in _ABRUPT)
            parts.append(
                f"{name}: {abrupt} of {n} refusals abrupt (graceful share "
                f"{graceful / n:.2f} < {GRACEFUL_SHARE_MIN:g}; {how})"
            )
    return Hit("; ".join(parts)) if parts else None


def _slow_recovery(run: RunView) -> Hit | None:
    parts, severity = [], "medium"
    for label, rec in (run.summary.get("recovery") or {}).items():
        if rec.get("status") == NOT_RECOVERED:
            severity = "high"
            after = rec.get("success_rate_after")
            parts.append(
                f"{label} did not recover by {rec['horizon_end_s']:.1f} s (valid success "
                f"{after:.2f} after its revert at {rec['reverted_s']:.1f} s; baseline "
                f"{rec['baseline_success_rate']:.2f}, threshold {rec['threshold']:.2f})"
            )
        elif rec.get("status") == RECOVERED and (rec.get("recovery_s") or 0.0) > SLOW_RECOVERY_S:
            at, took = rec["recovered_at_s"], rec["recovery_s"]
            parts.append(
                f"{label} took {took:.1f} s to recover (back within the margin at {at:.1f} s)"
            )
    return Hit("; ".join(parts), severity=severity) if parts else None


def _handshake_latency(run: RunView) -> Hit | None:
    base = next((_valid(p) for _, p in run.phases("baseline")), {})
    p95 = float((base.get("handshake_ms") or {}).get("p95") or 0.0)  # 0: none
    parts = []
    if p95 > HANDSHAKE_P95_MAX_MS:
        parts.append(f"baseline: valid handshake p95 {p95:.0f} ms > {HANDSHAKE_P95_MAX_MS:g} ms")
    for name, phase in run.phases("during") if p95 else []:
        if any(run.disruptive(label) for label in phase.get("labels") or []):
            continue  # added latency or lost packets are the fault itself
        q = (_valid(phase).get("handshake_ms") or {}).get("p95")
        if q is not None and q > HANDSHAKE_CHAOS_FACTOR * p95 and q >= HANDSHAKE_CHAOS_FLOOR_MS:
            parts.append(f"{name}: p95 {q:.0f} ms, {q / p95:.1f}x the baseline's {p95:.0f} ms")
    return Hit("; ".join(parts)) if parts else None


# --- Connection rules ---------------------------------------------------------------------


def _closed_before_established(run: RunView) -> Hit | None:
    dropped = (run.column("outcome") == Outcome.ABNORMAL_HANDSHAKE.value).fillna(False)
    mine = dropped.to_numpy(dtype=bool) & ~run.disrupted
    if not mine.any():
        return None
    n, attempts, others = int(mine.sum()), len(run.attempts), int((dropped & run.disrupted).sum())
    counts = run.phase[mine].value_counts()
    spread = ", ".join(f"{p} {int(counts[p])}" for p in pd.unique(run.phase) if p in counts)
    tail = f" ({others} more under network or process faults, not counted)" if others else ""
    return Hit(
        f"{n} of {attempts} attempts ({_pct(n, attempts)}) dropped before the 101: {spread}{tail}"
    )


def _close_without_code(run: RunView) -> Hit | None:
    outcome, reason = run.column("outcome"), run.column("close_reason")
    code = pd.to_numeric(run.attempts["close_code"], errors="coerce")
    no_code = int(((outcome == Outcome.CLOSED_OTHER.value) & code.isna()).fillna(False).sum())
    gone = int(((outcome == Outcome.ABNORMAL_CLOSURE.value).fillna(False) & ~run.disrupted).sum())
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


def _no_heartbeat(run: RunView) -> Hit | None:
    open_s = pd.to_numeric(run.attempts["open_s"], errors="coerce")
    accepted = (run.column("outcome") == Outcome.ACCEPTED.value).fillna(False)
    long = run.attempts[(accepted & (open_s >= LONG_OPEN_S)).to_numpy(dtype=bool)]
    if len(long) < MIN_LONG_CONNECTIONS:
        return None  # too few long connections to expect a ping: say nothing
    if int(pd.to_numeric(long["pings"], errors="coerce").fillna(0).sum()) > 0:
        return None
    longest = float(pd.to_numeric(long["open_s"], errors="coerce").max())
    return Hit(
        f"{len(long)} accepted connections stayed open >= {LONG_OPEN_S:g} s "
        f"(longest {longest:.1f} s); none saw a server ping"
    )


# --- Configuration rules ------------------------------------------------------------------


def _generator_fault(run: RunView) -> Hit | None:
    total: Mapping[str, Any] = run.summary.get("total") or {}
    n = _verdict(total, Verdict.GENERATOR_FAULT)
    if not n:
        return None
    attempts = _n(total.get("attempts"))
    faulty = run.column("verdict") == Verdict.GENERATOR_FAULT.value
    errors = run.column("error")[faulty.fillna(False)].dropna().value_counts().head(3)
    seen = "; ".join(f"{e!s} x{c}" for e, c in errors.items())
    tail = f" (errors: {seen})" if seen else ""
    return Hit(
        f"{n} of {attempts} attempts ({_pct(n, attempts)}) failed in the load generator{tail}"
    )
