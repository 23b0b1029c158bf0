"""Recovery after each chaos window (pure): when valid-token success came back near its baseline.

Definitions (times are seconds since the run's start):

- **success**: a ``valid``-token attempt whose verdict is ``ok``. Attempts ``excluded``
  (interrupted by the harness) and ``generator_fault`` (the harness's own failure, never the
  target's) are left out of every rate here.
- **baseline**: the success share of the valid attempts in the ``baseline`` phase (see
  :mod:`harness.analysis.phases`); 1.0 when it has none, and the result says so
  (``baseline_assumed``).
- **threshold**: ``baseline - margin``; the default margin 0.05 means "back within 5 points".
- **trailing rate** at an attempt: the success share of the attempts of the last
  :data:`TRAILING_S` seconds up to it, widened to the last :data:`MIN_TRAILING_ATTEMPTS` when
  those seconds hold fewer. A rate over fewer attempts than that is not judged, except at the
  last attempt of a stretch (so a short stretch still gets a verdict).
- **horizon** of a window: from its revert to the next window's start, or the end of the run.
  Attempts still open when the next window began are left out of it (that window ended them),
  and so are baseline attempts still open when the first window began.
- **recovered_at_s**: the start of the first successful attempt in the horizon from which the
  trailing rate stays at or above the threshold to the end of the horizon. From that attempt
  on, trailing rates look back no further than it: failures before it do not count against it.
- **recovery_s**: ``recovered_at_s - reverted_s``; 0 when the window never degraded (every
  judged trailing rate during the window held, and so did every one after it).

Each window gets a ``status``: ``recovered``, ``did not recover``, ``no data after the window``
(no valid attempt in its horizon), ``window never ended`` (never reverted: the run ended first)
or ``never applied`` (the fault failed or was skipped; there is nothing to recover from).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.phases import BASELINE, assign_phases, window_spans
from harness.numbers import finite
from harness.protocol.outcomes import Verdict

#: Default margin below the baseline success rate that still counts as recovered (0..1).
MARGIN = 0.05
#: Seconds of attempts a trailing success rate covers.
TRAILING_S = 2.0
#: Fewest attempts a trailing success rate covers (widened back in time to reach it).
MIN_TRAILING_ATTEMPTS = 5

RECOVERED = "recovered"
NOT_RECOVERED = "did not recover"
NO_DATA_AFTER = "no data after the window"
NEVER_ENDED = "window never ended"
NEVER_APPLIED = "never applied"
#: Every status a window's recovery can have.
RECOVERY_STATUSES: tuple[str, ...] = (
    RECOVERED,
    NOT_RECOVERED,
    NO_DATA_AFTER,
    NEVER_ENDED,
    NEVER_APPLIED,
)

#: Verdicts left out of success rates: not the target's doing.
_NOT_COUNTED = frozenset({Verdict.EXCLUDED.value, Verdict.GENERATOR_FAULT.value})
#: The ``note`` of every window when the baseline phase had no valid attempt.
ASSUMED_BASELINE_NOTE = "no valid attempts in the baseline phase; baseline taken as 1.0"
#: Columns that add up to an attempt's duration: ms, ms, s.
_DURATIONS = ("connect_ms", "handshake_ms", "open_s")
#: Tolerance of rate comparisons (19/20 must equal 1.0 - 0.05).
_EPS = 1e-9

_Floats = npt.NDArray[np.float64]
_Bools = npt.NDArray[np.bool_]
_Ints = npt.NDArray[np.intp]


def _window_records(windows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Windows as dicts with ``label``, ``fault``, ``applied_s``, ``reverted_s``, ``status``."""
    rows = windows.to_dict("records") if isinstance(windows, pd.DataFrame) else list(windows)
    out = []
    for row in rows:
        fault = row.get("fault")
        status = row.get("status")
        out.append(
            {
                "label": str(row.get("label")),
                "fault": fault if isinstance(fault, str) else None,
                "applied_s": finite(row.get("applied_s")),
                "reverted_s": finite(row.get("reverted_s")),
                "status": status if isinstance(status, str) else None,
            }
        )
    return out


def trailing_starts(t_s: _Floats) -> _Ints:
    """Index of the first attempt of each attempt's trailing group (``t_s`` sorted, seconds)."""
    n = len(t_s)
    by_time = np.searchsorted(t_s, t_s - TRAILING_S, side="right")
    by_count = np.arange(n) - (MIN_TRAILING_ATTEMPTS - 1)
    return np.maximum(np.minimum(by_time, by_count), 0).astype(np.intp)


def _judged_rates(ok: _Bools, starts: _Ints, first: int) -> tuple[_Floats, _Bools]:
    """Trailing rates of attempts ``first..`` looking back no further than ``first``."""
    n = len(ok)
    cum = np.concatenate(([0], np.cumsum(ok, dtype=np.int64)))
    idx = np.arange(first, n)
    lo = np.maximum(starts[first:], first)
    size = idx - lo + 1
    rate = (cum[idx + 1] - cum[lo]) / size
    judged = (size >= MIN_TRAILING_ATTEMPTS) | (idx == n - 1)
    return rate.astype(np.float64), judged


def worst_trailing_rate(ok: _Bools, t_s: _Floats) -> float | None:
    """The lowest judged trailing success rate of a stretch of attempts, None when empty."""
    if len(ok) == 0:
        return None
    rate, judged = _judged_rates(ok, trailing_starts(t_s), 0)
    return float(rate[judged].min())


def recovered_from(ok: _Bools, t_s: _Floats, threshold: float) -> int | None:
    """Index of the attempt from which the stretch stays at or above ``threshold``, or None.

    Args:
        ok: success of each attempt, in time order.
        t_s: each attempt's start (seconds, sorted).
        threshold: the lowest acceptable trailing success rate (0..1).
    """
    n = len(ok)
    if n == 0:
        return None
    starts = trailing_starts(t_s)
    rate, judged = _judged_rates(ok, starts, 0)
    bad = judged & (rate < threshold - _EPS)
    # later_bad[m]: some attempt at or after m with a full trailing group is below threshold
    later_bad = np.concatenate((np.logical_or.accumulate(bad[::-1])[::-1], [False]))
    cum = np.concatenate(([0], np.cumsum(ok, dtype=np.int64)))
    for k in np.flatnonzero(ok):
        # From m on, trailing groups start at or after k: their rates are the ones above.
        m = int(np.searchsorted(starts, k, side="left"))
        if later_bad[m]:
            continue
        idx = np.arange(k, m)
        size = idx - k + 1
        early = (cum[idx + 1] - cum[k]) / size
        early_judged = (size >= MIN_TRAILING_ATTEMPTS) | (idx == n - 1)
        if not np.any(early_judged & (early < threshold - _EPS)):
            return int(k)
    return None


def attempt_end_s(attempts: pd.DataFrame, t_s: pd.Series[Any]) -> pd.Series[float]:
    """When each attempt ended (s since the start): its start plus connect, handshake and
    time open (missing parts count 0). A session that was open when a fault began ended
    under it, whenever it started."""
    parts = [pd.to_numeric(attempts[c], errors="coerce").fillna(0.0) for c in _DURATIONS]
    total = parts[0] / 1000.0 + parts[1] / 1000.0 + parts[2]
    return (pd.to_numeric(t_s, errors="coerce") + total).astype("float64")


def _valid_attempts(attempts: pd.DataFrame, started_at: float | None) -> pd.DataFrame:
    """Valid-token attempts that count, with ``t_s`` / ``end_s`` (s since the start), ``ok``."""
    kind = attempts["token_kind"].astype("string")
    verdict = attempts["verdict"].astype("string")
    t = pd.to_numeric(attempts["t_start"], errors="coerce")
    t0 = started_at if started_at is not None else (float(t.min()) if t.notna().any() else 0.0)
    keep = ((kind == "valid") & ~verdict.isin(_NOT_COUNTED)).fillna(False).to_numpy(dtype=bool)
    out = pd.DataFrame(
        {
            "t_s": (t - t0).to_numpy(dtype=float),
            "end_s": attempt_end_s(attempts, t - t0).to_numpy(dtype=float),
            "ok": (verdict == Verdict.OK.value).fillna(False).to_numpy(dtype=bool),
            "chaos": attempts["chaos"].to_numpy(dtype=object),
        },
        index=attempts.index,
    )
    return out[keep]


def _baseline(valid: pd.DataFrame, windows: list[dict[str, Any]], end_s: float) -> pd.Series[Any]:
    """Success flags of the valid attempts in the baseline phase that ended before any fault."""
    frame = pd.DataFrame(windows, columns=["label", "fault", "applied_s", "reverted_s"])
    spans = window_spans(frame, end_s)
    phases = assign_phases(valid["chaos"], valid["t_s"], spans)
    first = min((s.start_s for s in spans), default=math.inf)
    before = ~(valid["end_s"] >= first)  # NaN (unknown time) stays in, as in the phases
    return valid["ok"][(phases == BASELINE).to_numpy(dtype=bool) & before.to_numpy(dtype=bool)]


def _stretch(
    valid: pd.DataFrame, lo: float, hi: float, *, end_before: float = math.inf
) -> tuple[_Bools, _Floats]:
    """Success flags and starts (s) of the valid attempts that started in ``[lo, hi)`` and
    ended before ``end_before`` (the next window's start), in time order."""
    t, end = valid["t_s"].to_numpy(dtype=float), valid["end_s"].to_numpy(dtype=float)
    rows = valid[(t >= lo) & (t < hi) & (end < end_before)].sort_values("t_s", kind="stable")
    return rows["ok"].to_numpy(dtype=bool), rows["t_s"].to_numpy(dtype=float)


def _one_window(
    w: dict[str, Any],
    windows: list[dict[str, Any]],
    valid: pd.DataFrame,
    end_s: float,
    threshold: float,
) -> dict[str, Any]:
    """The recovery fields of one window (see the module docstring)."""
    applied, reverted = w["applied_s"], w["reverted_s"]
    out: dict[str, Any] = {
        "success_rate_during": None,
        "worst_rate_during": None,
        "horizon_end_s": None,
        "attempts_after": 0,
        "success_rate_after": None,
        "degraded": None,
        "recovered_at_s": None,
        "recovery_s": None,
        "recovered": False,
    }
    if applied is None:
        return {**out, "status": NEVER_APPLIED}
    ok_in, t_in = _stretch(valid, applied, math.inf if reverted is None else reverted)
    if len(ok_in):
        out["success_rate_during"] = float(ok_in.mean())
        out["worst_rate_during"] = worst_trailing_rate(ok_in, t_in)
        out["degraded"] = bool(out["worst_rate_during"] < threshold - _EPS)
    if reverted is None:
        return {**out, "status": NEVER_ENDED}
    later = [x["applied_s"] for x in windows if x["applied_s"] is not None]
    next_start = min((a for a in later if a > reverted), default=math.inf)
    horizon_end = min(next_start, max(end_s, reverted))
    ok_after, t_after = _stretch(valid, reverted, horizon_end, end_before=next_start)
    out.update(horizon_end_s=horizon_end, attempts_after=len(ok_after))
    if not len(ok_after):
        return {**out, "status": NO_DATA_AFTER}
    out["success_rate_after"] = float(ok_after.mean())
    k = recovered_from(ok_after, t_after, threshold)
    if k is None:
        return {**out, "status": NOT_RECOVERED}
    if k == 0 and out["degraded"] is False:
        at = reverted  # held within the margin during the window and right after it
    else:
        out["degraded"] = True
        at = float(t_after[k])
    out.update(recovered_at_s=at, recovery_s=at - reverted, recovered=True)
    return {**out, "status": RECOVERED}


def _still_active_at_revert(w: dict[str, Any], windows: list[dict[str, Any]]) -> list[str]:
    """Labels of the other windows applied before ``w`` was reverted and active after it."""
    r = w["reverted_s"]
    if r is None:
        return []
    return [
        x["label"]
        for x in windows
        if x is not w
        and x["applied_s"] is not None
        and x["applied_s"] < r
        and (x["reverted_s"] is None or x["reverted_s"] > r)
    ]


def compute_recovery(
    attempts: pd.DataFrame,
    windows: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    margin: float = MARGIN,
    started_at: float | None = None,
    end_s: float | None = None,
) -> dict[str, dict[str, Any]]:
    """How each chaos window's valid-token success recovered after it (pure).

    Args:
        attempts: the frame of :func:`harness.analysis.frames.load_attempts`.
        windows: the chaos windows frame of :func:`harness.analysis.frames.load_chaos`, or the
            summary's ``chaos_windows`` list (``label``, ``fault``, ``applied_s``,
            ``reverted_s``, ``status``; times in seconds since the run's start).
        margin: how far (absolute, 0..1) below the baseline success rate still counts as
            recovered.
        started_at: the run's start (epoch s); None: the first attempt's start.
        end_s: the run's end (seconds since its start); None: the last attempt or chaos event.

    Returns:
        Per window label, in the windows' order: ``fault``, ``window_status`` (from the chaos
        timeline), ``applied_s``, ``reverted_s``, ``baseline_success_rate`` (0..1),
        ``baseline_attempts``, ``baseline_assumed``, ``margin``, ``threshold`` (0..1),
        ``success_rate_during`` and ``worst_rate_during`` (lowest judged trailing rate;
        0..1 or None), ``degraded`` (None: no valid attempt during the window),
        ``horizon_end_s``, ``attempts_after``, ``success_rate_after`` (over the whole
        horizon; 0..1 or None), ``recovered_at_s`` (s or None),
        ``recovery_s`` (s or None), ``recovered``, ``status`` (one of
        :data:`RECOVERY_STATUSES`) and ``note`` (str or None).
    """
    records = _window_records(windows)
    valid = _valid_attempts(attempts, started_at)
    times = [float(x) for x in valid["t_s"].dropna()]
    times += [x[k] for x in records for k in ("applied_s", "reverted_s") if x[k] is not None]
    run_end = end_s if end_s is not None else max(times, default=0.0)
    base = _baseline(valid, records, run_end)
    assumed = base.empty
    baseline = 1.0 if assumed else float(base.mean())
    threshold = max(0.0, baseline - margin)
    out: dict[str, dict[str, Any]] = {}
    for w in records:
        notes = [ASSUMED_BASELINE_NOTE] if assumed else []
        if overlapping := _still_active_at_revert(w, records):
            notes.append(f"still active at its revert: {', '.join(overlapping)}")
        out[w["label"]] = {
            "fault": w["fault"],
            "window_status": w["status"],
            "applied_s": w["applied_s"],
            "reverted_s": w["reverted_s"],
            "baseline_success_rate": baseline,
            "baseline_attempts": len(base),
            "baseline_assumed": assumed,
            "margin": margin,
            "threshold": threshold,
            **_one_window(w, records, valid, run_end, threshold),
            "note": "; ".join(notes) or None,
        }
    return out
