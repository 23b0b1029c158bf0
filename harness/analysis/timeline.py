"""Pure time binning of a run for the charts: seconds since the run's start, fixed-width bins.

Every function here takes DataFrames and returns DataFrames or lists; nothing draws.
Times are seconds since the run's start (``meta.started_at``, else the first attempt).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.summary import PERCENTILES
from harness.protocol.outcomes import Verdict

#: About this many bins over the run (never narrower than MIN_BIN_S).
TARGET_BINS = 40
MIN_BIN_S = 1.0


@dataclass(frozen=True)
class Timeline:
    """The time axis of a run's charts.

    Attributes:
        t0: epoch seconds of time zero (the run's start).
        width_s: bin width in seconds.
        edges: bin edges in seconds since ``t0`` (``len(edges) == bins + 1``).
    """

    t0: float
    width_s: float
    edges: np.ndarray[Any, np.dtype[np.float64]]

    @property
    def centers(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Bin centres in seconds since ``t0``."""
        return (self.edges[:-1] + self.edges[1:]) / 2.0

    def bin_of(self, t_rel: pd.Series[float]) -> pd.Series[int]:
        """Index of the bin of each relative time (seconds), clipped into range."""
        idx = np.floor((t_rel.to_numpy(dtype=float) - self.edges[0]) / self.width_s)
        idx = np.clip(idx, 0, len(self.edges) - 2)
        return pd.Series(idx.astype(int), index=t_rel.index)


def bin_width_s(duration_s: float) -> float:
    """Bin width in seconds: ``max(1 s, duration / 40)``."""
    return max(MIN_BIN_S, duration_s / TARGET_BINS)


def make_timeline(
    attempts: pd.DataFrame,
    samples: pd.DataFrame,
    meta: Mapping[str, Any],
    *,
    until_s: float | None = None,
) -> Timeline:
    """The time axis covering the run (from start to end, or to the last record seen).

    ``until_s`` (seconds since the start, e.g. the last chaos event) extends it further.
    """
    times = pd.concat(
        [
            pd.to_numeric(attempts["t_start"], errors="coerce"),
            pd.to_numeric(samples["t"], errors="coerce"),
        ]
    ).dropna()
    t0 = _num(meta.get("started_at"))
    if t0 is None:
        t0 = float(times.min()) if not times.empty else 0.0
    ended = _num(meta.get("ended_at"))
    first = min(0.0, float(times.min()) - t0) if not times.empty else 0.0
    last = float(times.max()) - t0 if not times.empty else 0.0
    if ended is not None:
        last = max(last, ended - t0)
    if until_s is not None and math.isfinite(until_s):
        last = max(last, until_s)
    width = bin_width_s(last - first)
    start = math.floor(first / width) * width
    # Records at exactly the end fall into the last bin (see Timeline.bin_of, which clips).
    bins = max(1, math.ceil((last - start) / width - 1e-9))
    edges = start + width * np.arange(bins + 1, dtype=np.float64)
    return Timeline(t0=t0, width_s=width, edges=edges)


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _binned(attempts: pd.DataFrame, tl: Timeline) -> pd.DataFrame:
    """The attempts with a valid ``t_start``, plus a ``bin`` column."""
    rows = attempts[attempts["t_start"].notna()].copy()
    rows["bin"] = tl.bin_of(rows["t_start"].astype(float) - tl.t0)
    return rows


def success_by_bin(attempts: pd.DataFrame, tl: Timeline) -> pd.DataFrame:
    """Success rate (0..1) per bin (rows) and token kind (columns); NaN where none counted."""
    rows = _binned(attempts, tl)
    rows = rows[rows["verdict"].astype("string") != Verdict.EXCLUDED.value]
    bins = pd.RangeIndex(len(tl.edges) - 1)
    if rows.empty:
        return pd.DataFrame(index=bins)
    ok = (rows["verdict"].astype("string") == Verdict.OK.value).astype(float)
    rows = rows.assign(ok=ok, kind=rows["token_kind"].astype(str))
    table = rows.pivot_table(index="bin", columns="kind", values="ok", aggfunc="mean")
    return table.reindex(bins)


def handshake_by_bin(attempts: pd.DataFrame, tl: Timeline) -> pd.DataFrame:
    """Handshake p50/p95/p99 in ms per bin (columns ``p50``, ``p95``, ``p99``; NaN if none)."""
    rows = _binned(attempts, tl)
    rows = rows[rows["handshake_ms"].notna()]
    bins = pd.RangeIndex(len(tl.edges) - 1)
    out = pd.DataFrame(index=bins, columns=list(PERCENTILES), dtype=float)
    if rows.empty:
        return out
    grouped = rows.groupby("bin")["handshake_ms"]
    for key, q in PERCENTILES.items():
        out[key] = grouped.quantile(q).reindex(bins).astype(float)
    return out


def verdict_rates_by_bin(attempts: pd.DataFrame, tl: Timeline) -> pd.DataFrame:
    """Attempts per second per bin (rows) and verdict (columns, Verdict order, nonzero only)."""
    rows = _binned(attempts, tl)
    bins = pd.RangeIndex(len(tl.edges) - 1)
    if rows.empty:
        return pd.DataFrame(index=bins)
    rows = rows.assign(v=rows["verdict"].astype("string").fillna("unknown").astype(str))
    counts = rows.groupby(["bin", "v"]).size().unstack(fill_value=0).reindex(bins, fill_value=0)
    order = [v.value for v in Verdict if v.value in counts.columns]
    order += sorted(c for c in counts.columns if c not in order)
    return counts[order].astype(float) / tl.width_s


def samples_relative(samples: pd.DataFrame, tl: Timeline) -> pd.DataFrame:
    """The samples with ``t_rel`` (seconds since the run's start) and numeric float columns."""
    out = samples.copy()
    out["t_rel"] = out["t"].astype(float) - tl.t0
    for col in ("fds", "connections", "threads"):
        out[col] = out[col].astype("Float64").astype(float)
    return out
