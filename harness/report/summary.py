"""Pure computations on the attempts DataFrame: the run summary written to ``summary.json``.

Layout of the summary (``schema_version`` 1); every number is a plain int/float, ``None``
where there is no data::

    {
      "schema_version": 1,
      "run_id": str, "scenario": str, "target_url": str | None,
      "started_at": epoch s | None, "ended_at": epoch s | None,
      "duration_s": s | None, "duration_planned_s": s | None, "complete": bool,
      "generator_fault_share": 0..1 | None,   # generator_fault / attempts, over all kinds
      "total": <section>,                      # all token kinds together
      "token_kinds": {kind: <section>},        # in TOKEN_KINDS order, then others
      "chaos_phases": {label: <section>},      # by the set of faults active at t_start
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
      "handshake_ms": {"p50": ms, "p95": ms, "p99": ms},  # None each when no handshake
      "close_codes": {"1013": int, ...},   # codes as strings (JSON keys), ascending
      "close_reasons": {reason: int},      # the most frequent reasons
    }
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.outcomes import TOKEN_KINDS, Verdict

SCHEMA_VERSION = 1

#: Percentiles of handshake time reported in each section (key -> quantile).
PERCENTILES: Mapping[str, float] = {"p50": 0.50, "p95": 0.95, "p99": 0.99}

#: How many distinct close reasons each section keeps.
TOP_REASONS = 10

#: Label of attempts that started while no chaos fault was active.
NO_CHAOS = "none"


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
    return {
        "attempts": attempts,
        "counted": counted,
        "expected": _expected(rows["expected"]),
        "outcomes": _counts(rows["outcome"]),
        "verdicts": verdicts,
        "success_rate": _ratio(verdicts[Verdict.OK.value], counted),
        "abrupt_rate": _ratio(verdicts[Verdict.ABRUPT.value], counted),
        "handshake_ms": handshake_percentiles(rows["handshake_ms"]),
        "close_codes": codes,
        "close_reasons": dict(list(_counts(reasons).items())[:TOP_REASONS]),
    }


def ordered_kinds(kinds: pd.Series[Any]) -> list[str]:
    """Distinct token kinds, in :data:`TOKEN_KINDS` order first, then the others sorted."""
    present = {str(k) for k in kinds.dropna().unique()}
    known = [k for k in TOKEN_KINDS if k in present]
    return known + sorted(present - set(known))


def chaos_label(faults: object) -> str:
    """Label of the set of chaos faults active at an attempt's start (``"none"`` if empty)."""
    if isinstance(faults, list | tuple) and faults:
        return " + ".join(sorted({str(f) for f in faults}))
    return NO_CHAOS


def chaos_labels(chaos: pd.Series[Any]) -> pd.Series[str]:
    """:func:`chaos_label` of each row (computed only for rows with faults; most have none)."""
    labels = pd.Series(NO_CHAOS, index=chaos.index, dtype=object)
    active = chaos.map(bool).astype(bool)
    if active.any():
        labels[active] = chaos[active].map(chaos_label)
    return labels


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


def compute_summary(attempts: pd.DataFrame, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a run (pure): totals, per token kind, per chaos phase, run metadata.

    Args:
        attempts: the frame from :func:`harness.report.frames.load_attempts`.
        meta: the run's ``meta.json`` (keys may be missing; a run cut short has
            ``complete`` false and ``ended_at`` None).

    Returns:
        A JSON-ready dict laid out as in this module's docstring.
    """
    kinds = attempts["token_kind"].astype("string")
    by_kind = {kind: section(attempts[kinds == kind]) for kind in ordered_kinds(kinds)}
    labels = chaos_labels(attempts["chaos"])
    phases = sorted({str(v) for v in labels.unique()}, key=lambda lab: (lab != NO_CHAOS, lab))
    by_phase = {lab: section(attempts[(labels == lab).to_numpy()]) for lab in phases}
    total = section(attempts)
    gen_faults = total["verdicts"][Verdict.GENERATOR_FAULT.value]
    ended = _opt_float(meta.get("ended_at"))
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": str(meta.get("run_id", "")),
        "scenario": str(meta.get("scenario", "")),
        "target_url": meta.get("target_url"),
        "started_at": _opt_float(meta.get("started_at")),
        "ended_at": ended,
        "duration_s": run_duration_s(attempts, meta),
        "duration_planned_s": _opt_float(meta.get("duration_planned_s")),
        "complete": bool(meta.get("complete", False)) and ended is not None,
        "generator_fault_share": _ratio(gen_faults, total["attempts"]),
        "total": total,
        "token_kinds": by_kind,
        "chaos_phases": by_phase,
    }
