"""Recovery after each chaos window (pure): when valid-token success came back near its baseline.

Definitions (times are seconds since the run's start):

- **success**: a ``valid``-token attempt whose verdict is ``ok``. Attempts that do not count
  (:data:`harness.analysis.stats.NOT_COUNTED`: ``excluded``, interrupted by the harness, and
  ``generator_fault``, the harness's own failure) are left out of every rate here.
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

Each window gets a ``status`` (constants in :mod:`harness.analysis.summary`): ``recovered``,
``did not recover``, ``no data after the window``
(no valid attempt in its horizon), ``window never ended`` (never reverted: the run ended first)
or ``never applied`` (the fault failed or was skipped; there is nothing to recover from).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.phases import BASELINE
from harness.analysis.run import Run
from harness.analysis.stats import NOT_COUNTED
from harness.analysis.summary import (
    NEVER_APPLIED,
    NEVER_ENDED,
    NO_DATA_AFTER,
    NOT_RECOVERED,
    RECOVERED,
    Recovery,
    Window,
)
from harness.protocol.outcomes import Verdict

#: Default margin below the baseline success rate that still counts as recovered (0..1).
MARGIN = 0.05
#: Seconds of attempts a trailing success rate covers.
TRAILING_S = 2.0
#: Fewest attempts a trailing success rate covers (widened back in time to reach it).
MIN_TRAILING_ATTEMPTS = 5

#: The ``note`` of every window when the baseline phase had no valid attempt.
ASSUMED_BASELINE_NOTE = "no valid attempts in the baseline phase; baseline taken as 1.0"
#: Tolerance of rate comparisons (19/20 must equal 1.0 - 0.05).
EPS = 1e-9

_Floats = npt.NDArray[np.float64]
_Bools = npt.NDArray[np.bool_]
_Ints = npt.NDArray[np.intp]


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
    bad = judged & (rate < threshold - EPS)
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
        if not np.any(early_judged & (early < threshold - EPS)):
            return int(k)
    return None


def valid_attempts(run: Run) -> pd.DataFrame:
    """The valid-token attempts that count, with ``t_s``, ``end_s`` (s) and ``ok``, by index."""
    a = run.attempts
    kind = a["token_kind"].astype("string")
    verdict = a["verdict"].astype("string")
    keep = ((kind == "valid") & ~verdict.isin(NOT_COUNTED)).fillna(False).to_numpy(dtype=bool)
    out = pd.DataFrame(
        {
            "t_s": a["t_s"].to_numpy(dtype=float),
            "end_s": a["end_s"].to_numpy(dtype=float),
            "ok": (verdict == Verdict.OK.value).fillna(False).to_numpy(dtype=bool),
            "phase": a["phase"].astype(str).to_numpy(),
        },
        index=a.index,
    )
    return out[keep]


def _baseline(valid: pd.DataFrame, windows: Sequence[Window]) -> pd.Series[bool]:
    """Success flags of the valid attempts in the baseline phase that ended before any fault."""
    first = min((w.applied_s for w in windows if w.applied_s is not None), default=math.inf)
    before = ~(valid["end_s"] >= first)  # NaN (unknown time) stays in, as in the phases
    in_baseline = (valid["phase"] == BASELINE).to_numpy(dtype=bool)
    return valid["ok"][in_baseline & before.to_numpy(dtype=bool)]


def _stretch(
    valid: pd.DataFrame, lo: float, hi: float, *, end_before: float = math.inf
) -> tuple[_Bools, _Floats]:
    """Success flags and starts (s) of the valid attempts that started in ``[lo, hi)`` and
    ended before ``end_before`` (the next window's start), in time order."""
    t, end = valid["t_s"].to_numpy(dtype=float), valid["end_s"].to_numpy(dtype=float)
    rows = valid[(t >= lo) & (t < hi) & (end < end_before)].sort_values("t_s", kind="stable")
    return rows["ok"].to_numpy(dtype=bool), rows["t_s"].to_numpy(dtype=float)


def _one_window(
    w: Window,
    windows: Sequence[Window],
    valid: pd.DataFrame,
    end_s: float,
    threshold: float,
) -> dict[str, Any]:
    """The recovery fields of one window that depend on its own attempts (see the docstring)."""
    applied, reverted = w.applied_s, w.reverted_s
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
        worst = worst_trailing_rate(ok_in, t_in)
        out["success_rate_during"] = float(ok_in.mean())
        out["worst_rate_during"] = worst
        out["degraded"] = worst is not None and worst < threshold - EPS
    if reverted is None:
        return {**out, "status": NEVER_ENDED}
    later = [x.applied_s for x in windows if x.applied_s is not None]
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


def still_active_at_revert(w: Window, windows: Sequence[Window]) -> list[str]:
    """Labels of the other windows applied before ``w`` was reverted and active after it."""
    r = w.reverted_s
    if r is None:
        return []
    return [
        x.label
        for x in windows
        if x is not w
        and x.applied_s is not None
        and x.applied_s < r
        and (x.reverted_s is None or x.reverted_s > r)
    ]


def compute_recovery(run: Run, *, margin: float = MARGIN) -> dict[str, Recovery]:
    """How each chaos window's valid-token success recovered after it (pure).

    Args:
        run: the run (its attempts' ``t_s``, ``end_s`` and ``phase``, its windows and the
            end of its timeline are read).
        margin: how far (absolute, 0..1) below the baseline success rate still counts as
            recovered.

    Returns:
        Per window label, in the windows' order (see :class:`~harness.analysis.summary.Recovery`
        for every field).
    """
    valid = valid_attempts(run)
    base = _baseline(valid, run.windows)
    assumed = base.empty
    baseline = 1.0 if assumed else float(base.mean())
    threshold = max(0.0, baseline - margin)
    out: dict[str, Recovery] = {}
    for w in run.windows:
        notes = [ASSUMED_BASELINE_NOTE] if assumed else []
        if overlapping := still_active_at_revert(w, run.windows):
            notes.append(f"still active at its revert: {', '.join(overlapping)}")
        out[w.label] = Recovery(
            label=w.label,
            fault=w.fault or None,
            window_status=w.status,
            applied_s=w.applied_s,
            reverted_s=w.reverted_s,
            baseline_success_rate=baseline,
            baseline_attempts=len(base),
            baseline_assumed=assumed,
            margin=margin,
            threshold=threshold,
            **_one_window(w, run.windows, valid, run.end_s, threshold),
            note="; ".join(notes) or None,
        )
    return out
