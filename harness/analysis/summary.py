"""Pure computations on the attempts DataFrame: the run summary written to ``summary.json``.

Layout of the summary (``schema_version`` 1, ``schema_minor`` 1); every number is a plain
int/float, ``None`` where there is no data; times marked "s" are seconds since the run's start::

    {
      "schema_version": 1, "schema_minor": 1,  # minor 1 added recovery and findings
      "run_id": str, "scenario": str, "target_url": str | None,
      "started_at": epoch s | None, "ended_at": epoch s | None,
      "duration_s": s | None, "duration_planned_s": s | None, "complete": bool,
      "generator_fault_share": 0..1 | None,   # generator_fault / attempts, over all kinds
      "total": <section>,                      # all token kinds together
      "token_kinds": {kind: <section>},        # in TOKEN_KINDS order, then others
      "chaos_windows": [<window>],             # from chaos.jsonl, in time order; [] if none
      "phases": {phase: <phase>},              # baseline / during / after, in time order
      "recovery": {label: <recovery>},         # per chaos window, in time order; {} if none
      "findings": [<finding>],                 # most severe first, then by id; [] if none
      "findings_by_severity": {"critical": int, "high": int, "medium": int, "low": int},
    }

Each ``<window>`` (one scheduled chaos window, see :func:`harness.analysis.frames.chaos_frame`)::

    {
      "label": "cpu_quota#1", "fault": "cpu_quota", "params": {...},
      "planned_at": s, "planned_for": s | None,  # as scheduled (None: to the end)
      "applied_s": s | None, "reverted_s": s | None,
      "status": "reverted" | "active_at_end" | "failed" | "skipped",
      "error": str | None,
    }

Each ``<phase>`` (see :mod:`harness.analysis.phases` for how attempts are assigned;
``baseline``, ``during <label>[ + <label>...]``, ``after <label>``)::

    {
      "kind": "baseline" | "during" | "after", "labels": [window label, ...],
      "start_s": s | None, "end_s": s | None,  # first start, last end on the timeline
      "total": <section>, "token_kinds": {kind: <section>},
    }

Each ``<recovery>`` (see :mod:`harness.analysis.recovery`; valid tokens only, rates 0..1)::

    {
      "fault": str | None, "window_status": str | None,  # as in chaos_windows
      "applied_s": s | None, "reverted_s": s | None,
      "baseline_success_rate": 0..1, "baseline_attempts": int,
      "baseline_assumed": bool,              # no valid attempt in the baseline: 1.0 taken
      "margin": 0..1, "threshold": 0..1,     # threshold = baseline - margin
      "success_rate_during": 0..1 | None, "worst_rate_during": 0..1 | None,
      "degraded": bool | None,               # None: no valid attempt during the window
      "horizon_end_s": s | None,             # the next window's start, or the run's end
      "attempts_after": int, "success_rate_after": 0..1 | None,
      "recovered_at_s": s | None, "recovery_s": s | None,  # 0: it never degraded
      "recovered": bool,
      "status": "recovered" | "did not recover" | "no data after the window"
                | "window never ended" | "never applied",
      "note": str | None,
    }

Each ``<finding>`` (see :mod:`harness.analysis.findings` for the rules)::

    {
      "id": "invalid-token-accepted", "type": "token" | "resource" | "connection"
      | "configuration", "severity": "low" | "medium" | "high" | "critical",
      "title": str, "evidence": str, "meaning": str, "fix": str,
    }

and each ``<section>`` is::

    {
      "attempts": int,                     # all rows
      "counted": int,                      # rows whose verdict is not "excluded"
      "expected": "accept" | "reject" | "mixed" | None,
      "outcomes": {outcome: int},          # nonzero only, most frequent first
      "verdicts": {verdict: int},          # every Verdict value, zeros included
      "success_rate": 0..1 | None,         # ok / counted
      "abrupt_rate": 0..1 | None,          # abrupt / counted
      "graceful": int,                     # refusals that gave a reason (status, close code)
      "abrupt": int,                       # refusals without one (reset, drop, timeout, 1006)
      "graceful_share": 0..1 | None,       # graceful / (graceful + abrupt)
      "handshake_ms": {"p50": ms, "p95": ms, "p99": ms},  # None each when no handshake
      "close_codes": {"1013": int, ...},   # codes as strings (JSON keys), ascending
      "close_reasons": {reason: int},      # the most frequent reasons
    }

``graceful`` and ``abrupt`` count attempts by their ``manner``
(:class:`harness.protocol.outcomes.Manner`; derived from the outcome where a record lacks it),
whatever the token kind: an empty token refused with 401 is a graceful refusal too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.analysis.findings import compute_findings, findings_by_severity
from harness.analysis.frames import CHAOS_COLUMNS, CHAOS_FLOAT_COLUMNS, no_chaos
from harness.analysis.phases import (
    BASELINE,
    assign_phases,
    ordered_phases,
    phase_intervals,
    phase_kind,
    phase_labels,
    run_spans,
)
from harness.analysis.recovery import MARGIN, compute_recovery
from harness.config.scenario import TOKEN_KINDS
from harness.protocol.outcomes import Manner, Outcome, Verdict, manner

SCHEMA_VERSION = 1
#: Additions that keep version 1 readers working (1: recovery, findings).
SCHEMA_MINOR = 1

#: Percentiles of handshake time reported in each section (key -> quantile).
PERCENTILES: Mapping[str, float] = {"p50": 0.50, "p95": 0.95, "p99": 0.99}

#: How many distinct close reasons each section keeps.
TOP_REASONS = 10

#: Manner of each outcome value (None: accepted, or the harness's own), for old records.
_OUTCOME_MANNERS: Mapping[str, str | None] = {
    o.value: (m.value if (m := manner(o)) else None) for o in Outcome
}


def _opt_float(value: Any) -> float | None:
    """``value`` as a float, or None for None/NaN/NA/unparsable values."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _counts(series: pd.Series[Any]) -> dict[str, int]:
    """Counts of the non-null values of ``series``, most frequent first, ties by value."""
    vc = series.dropna().astype(str).value_counts()
    pairs = sorted(((str(k), int(v)) for k, v in vc.items()), key=lambda kv: (-kv[1], kv[0]))
    return dict(pairs)


def _expected(series: pd.Series[Any]) -> str | None:
    values = sorted(str(v) for v in series.dropna().unique())
    if not values:
        return None
    return values[0] if len(values) == 1 else "mixed"


def handshake_percentiles(handshake_ms: pd.Series[Any]) -> dict[str, float | None]:
    """p50/p95/p99 of handshake times in ms (linear interpolation), None when there are none."""
    values = pd.to_numeric(handshake_ms, errors="coerce").dropna()
    if values.empty:
        return dict.fromkeys(PERCENTILES)
    return {key: _opt_float(values.quantile(q)) for key, q in PERCENTILES.items()}


def manners(rows: pd.DataFrame) -> pd.Series[Any]:
    """Each row's manner (``graceful``/``abrupt``/NA), from the outcome where it is missing."""
    given = rows["manner"].astype("string")
    derived = rows["outcome"].astype("string").map(_OUTCOME_MANNERS, na_action="ignore")
    return given.fillna(derived.astype("string"))


def section(rows: pd.DataFrame) -> dict[str, Any]:
    """The summary section of a set of attempt rows (one token kind, all of them, one phase)."""
    verdict = rows["verdict"].astype("string")
    attempts = len(rows)
    counted = int((verdict != Verdict.EXCLUDED.value).fillna(True).sum())
    found = _counts(verdict)
    verdicts = {v.value: found.get(v.value, 0) for v in Verdict}
    # A verdict string the enum does not know is kept, so nothing disappears silently.
    verdicts.update({k: n for k, n in found.items() if k not in verdicts})
    close_codes = pd.to_numeric(rows["close_code"], errors="coerce").dropna().astype(int)
    codes = {str(c): int(n) for c, n in sorted(close_codes.value_counts().items())}
    reasons = rows["close_reason"].astype("string")
    reasons = reasons[reasons.notna() & (reasons.str.strip() != "")]
    how = manners(rows)
    graceful = int((how == Manner.GRACEFUL.value).fillna(False).sum())
    abrupt = int((how == Manner.ABRUPT.value).fillna(False).sum())
    return {
        "attempts": attempts,
        "counted": counted,
        "expected": _expected(rows["expected"]),
        "outcomes": _counts(rows["outcome"]),
        "verdicts": verdicts,
        "success_rate": _ratio(verdicts[Verdict.OK.value], counted),
        "abrupt_rate": _ratio(verdicts[Verdict.ABRUPT.value], counted),
        "graceful": graceful,
        "abrupt": abrupt,
        "graceful_share": _ratio(graceful, graceful + abrupt),
        "handshake_ms": handshake_percentiles(rows["handshake_ms"]),
        "close_codes": codes,
        "close_reasons": dict(list(_counts(reasons).items())[:TOP_REASONS]),
    }


def ordered_kinds(kinds: pd.Series[Any]) -> list[str]:
    """Distinct token kinds, in :data:`TOKEN_KINDS` order first, then the others sorted."""
    present = {str(k) for k in kinds.dropna().unique()}
    known = [k for k in TOKEN_KINDS if k in present]
    return known + sorted(present - set(known))


def run_duration_s(attempts: pd.DataFrame, meta: Mapping[str, Any]) -> float | None:
    """Seconds from the run's start to its end; to the last attempt when it was cut short."""
    started = _opt_float(meta.get("started_at"))
    ended = _opt_float(meta.get("ended_at"))
    t_start = pd.to_numeric(attempts["t_start"], errors="coerce").dropna()
    if started is None and not t_start.empty:
        started = float(t_start.min())
    if started is None:
        return None
    if ended is not None:
        return max(0.0, ended - started)
    if t_start.empty:
        return None
    return max(0.0, float(t_start.max()) - started)


def run_start(attempts: pd.DataFrame, meta: Mapping[str, Any]) -> float | None:
    """Epoch seconds of the run's start: ``meta.started_at``, else the first attempt."""
    started = _opt_float(meta.get("started_at"))
    if started is None:
        t_start = pd.to_numeric(attempts["t_start"], errors="coerce").dropna()
        started = float(t_start.min()) if not t_start.empty else None
    return started


def window_records(windows: pd.DataFrame) -> list[dict[str, Any]]:
    """The chaos windows as JSON-ready dicts (NaN and NA become None)."""
    out = []
    for row in windows.to_dict("records"):
        rec: dict[str, Any] = {}
        for col in CHAOS_COLUMNS:
            value = row.get(col)
            if col == "params":
                rec[col] = dict(value) if isinstance(value, Mapping) else {}
            elif col == "disruptive":
                rec[col] = bool(value)
            elif col in CHAOS_FLOAT_COLUMNS:
                rec[col] = _opt_float(value)
            else:
                rec[col] = None if value is None or pd.isna(value) else str(value)
        out.append(rec)
    return out


def attempt_phases(
    attempts: pd.DataFrame, meta: Mapping[str, Any], windows: pd.DataFrame
) -> tuple[pd.Series[str], dict[str, tuple[float | None, float | None]]]:
    """The phase of each attempt, and every phase with its start and end (s), in time order.

    See :mod:`harness.analysis.phases` for the rules.
    """
    spans, end_s = run_spans(windows, run_duration_s(attempts, meta))
    t0 = run_start(attempts, meta)
    t_rel = pd.to_numeric(attempts["t_start"], errors="coerce") - (t0 or 0.0)
    assigned = assign_phases(attempts["chaos"], t_rel, spans)
    return assigned, ordered_phases(assigned, t_rel, phase_intervals(spans, end_s))


def phase_sections(
    attempts: pd.DataFrame, meta: Mapping[str, Any], windows: pd.DataFrame
) -> dict[str, Any]:
    """The ``phases`` part of the summary: per phase, its times, total and token kinds."""
    assigned, phases = attempt_phases(attempts, meta, windows)
    out: dict[str, Any] = {}
    for name, (start, end) in phases.items():
        rows = attempts[(assigned == name).to_numpy(dtype=bool)]
        out[name] = {
            "kind": phase_kind(name),
            "labels": phase_labels(name),
            "start_s": start,
            "end_s": end,
            "total": section(rows),
            "token_kinds": kind_sections(rows),
        }
    return out


def kind_sections(rows: pd.DataFrame) -> dict[str, Any]:
    """One section per token kind present in ``rows``, in :func:`ordered_kinds` order."""
    kinds = rows["token_kind"].astype("string")
    return {
        kind: section(rows[(kinds == kind).to_numpy(dtype=bool)]) for kind in ordered_kinds(kinds)
    }


def compute_summary(
    attempts: pd.DataFrame,
    meta: Mapping[str, Any],
    windows: pd.DataFrame | None = None,
    *,
    margin: float = MARGIN,
) -> dict[str, Any]:
    """The summary of a run (pure): totals, kinds, chaos windows, phases, recovery, findings.

    Args:
        attempts: the frame from :func:`harness.analysis.frames.load_attempts`.
        meta: the run's ``meta.json`` (keys may be missing; a run cut short has
            ``complete`` false and ``ended_at`` None).
        windows: the chaos windows from :func:`harness.analysis.frames.load_chaos`;
            None for a run without chaos.
        margin: how far (0..1, absolute) below its baseline valid-token success counts as
            recovered after a chaos window (see :mod:`harness.analysis.recovery`).

    Returns:
        A JSON-ready dict laid out as in this module's docstring.
    """
    if windows is None:
        windows = no_chaos()
    total = section(attempts)
    gen_faults = total["verdicts"][Verdict.GENERATOR_FAULT.value]
    ended = _opt_float(meta.get("ended_at"))
    duration = run_duration_s(attempts, meta)
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "schema_minor": SCHEMA_MINOR,
        "run_id": str(meta.get("run_id", "")),
        "scenario": str(meta.get("scenario", "")),
        "target_url": meta.get("target_url"),
        "started_at": _opt_float(meta.get("started_at")),
        "ended_at": ended,
        "duration_s": duration,
        "duration_planned_s": _opt_float(meta.get("duration_planned_s")),
        "complete": bool(meta.get("complete", False)) and ended is not None,
        "generator_fault_share": _ratio(gen_faults, total["attempts"]),
        "total": total,
        "token_kinds": kind_sections(attempts),
        "chaos_windows": window_records(windows),
        "phases": phase_sections(attempts, meta, windows),
    }
    summary["recovery"] = compute_recovery(
        attempts,
        windows,
        margin=margin,
        started_at=run_start(attempts, meta),
        end_s=run_spans(windows, duration)[1],
    )
    findings = compute_findings(summary, attempts)
    summary["findings"] = findings
    summary["findings_by_severity"] = findings_by_severity(findings)
    return summary


def has_chaos(summary: Mapping[str, Any]) -> bool:
    """True when a summary has chaos windows or attempts that saw a fault (not all baseline)."""
    phases: Mapping[str, Any] = summary.get("phases") or {}
    return bool(summary.get("chaos_windows")) or any(p != BASELINE for p in phases)
