"""Pure time binning of a run for the charts: seconds since the run's start, fixed-width bins.

Every function here takes DataFrames and returns DataFrames or lists; nothing draws. Times
are the ``t_s`` columns of a :class:`~harness.analysis.run.Run` (seconds since its start).
Bin widths are round numbers (:data:`NICE_WIDTHS_S`): about :data:`TARGET_BINS` bins over
the run, never narrower than one second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import stats
from harness.analysis.run import Run
from harness.analysis.sections import array_percentiles
from harness.protocol.outcomes import Verdict

#: About this many bins over the run (at most; fewer when the width is rounded up).
TARGET_BINS = 40
#: Bin widths in seconds, in order; beyond the last, a multiple of an hour.
NICE_WIDTHS_S: tuple[float, ...] = (
    1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 10.0, 15.0, 20.0, 30.0, 60.0, 90.0, 120.0,
    180.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0,
)  # fmt: skip


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

    @property
    def bins(self) -> pd.RangeIndex:
        """The bins' index, ``0 .. len(edges) - 2``."""
        return pd.RangeIndex(len(self.edges) - 1)

    def bin_of(self, t_s: pd.Series[float]) -> pd.Series[int]:
        """Index of the bin of each relative time (seconds), clipped into range."""
        idx = np.floor((t_s.to_numpy(dtype=float) - self.edges[0]) / self.width_s)
        idx = np.clip(idx, 0, len(self.edges) - 2)
        return pd.Series(idx.astype(int), index=t_s.index)


def bin_width_s(duration_s: float) -> float:
    """Bin width (s): the smallest of :data:`NICE_WIDTHS_S` at least ``duration / 40``."""
    raw = duration_s / TARGET_BINS
    for width in NICE_WIDTHS_S:
        if width >= raw - 1e-9:
            return width
    return math.ceil(raw / 3600.0) * 3600.0


def make_timeline(run: Run, *, until_s: float | None = None) -> Timeline:
    """The time axis covering the run: from its start (or its first record, when earlier) to
    its end, its last record or the end of its chaos timeline, whichever is last.

    ``until_s`` (seconds since the start) extends it further.
    """
    times = pd.concat([run.attempts["t_s"], run.samples["t_s"]]).dropna()
    first = min(0.0, float(times.min())) if not times.empty else 0.0
    ends = [run.end_s, float(times.max()) if not times.empty else 0.0]
    if until_s is not None and math.isfinite(until_s):
        ends.append(until_s)
    last = max(ends)
    width = bin_width_s(last - first)
    start = math.floor(first / width) * width
    # Records at exactly the end fall into the last bin (see Timeline.bin_of, which clips).
    bins = max(1, math.ceil((last - start) / width - 1e-9))
    edges = start + width * np.arange(bins + 1, dtype=np.float64)
    return Timeline(t0=run.started_at or 0.0, width_s=width, edges=edges)


def binned(
    attempts: pd.DataFrame, tl: Timeline, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The attempts with a known ``t_s``, plus a ``bin`` column; only ``t_s`` and ``columns``
    when given (a copy of those alone, not of the whole frame)."""
    if columns is not None:
        attempts = attempts[["t_s", *(c for c in columns if c != "t_s")]]
    rows = attempts[attempts["t_s"].notna().to_numpy(dtype=bool)].copy()
    rows["bin"] = tl.bin_of(rows["t_s"].astype(float))
    return rows


def success_by_bin(attempts: pd.DataFrame, tl: Timeline) -> pd.DataFrame:
    """Success rate (0..1) per bin (rows) and token kind (columns); NaN where none counted.

    Counted as :mod:`harness.analysis.stats` says (no excluded attempts, no generator faults).
    """
    rows = binned(attempts, tl, ("verdict", "token_kind"))
    rows = rows[~rows["verdict"].astype("string").isin(stats.NOT_COUNTED).fillna(False)]
    if rows.empty:
        return pd.DataFrame(index=tl.bins)
    ok = (rows["verdict"].astype("string") == Verdict.OK.value).fillna(False).astype(float)
    rows = rows.assign(ok=ok, kind=rows["token_kind"].astype(str))
    table = rows.pivot_table(index="bin", columns="kind", values="ok", aggfunc="mean")
    return table.reindex(tl.bins)


def handshake_by_bin(attempts: pd.DataFrame, tl: Timeline) -> pd.DataFrame:
    """Handshake p50/p95/p99 in ms per bin (columns ``p50``, ``p95``, ``p99``; NaN if none),
    by :func:`harness.analysis.stats.percentile`."""
    rows = binned(attempts, tl, ("handshake_ms",))
    rows = rows[rows["handshake_ms"].notna()]
    by_bin = {int(str(b)): g.to_numpy(dtype=float) for b, g in rows.groupby("bin")["handshake_ms"]}
    data: dict[str, list[float]] = {key: [] for key in stats.PERCENTILES}
    for b in tl.bins:
        values = array_percentiles(by_bin.get(int(b), np.zeros(0)))
        for key, value in values.items():
            data[key].append(math.nan if value is None else value)
    return pd.DataFrame(data, index=tl.bins, dtype=float)


def verdict_rates_by_bin(attempts: pd.DataFrame, tl: Timeline) -> pd.DataFrame:
    """Attempts per second per bin (rows) and verdict (columns, Verdict order, nonzero only)."""
    rows = binned(attempts, tl, ("verdict",))
    if rows.empty:
        return pd.DataFrame(index=tl.bins)
    rows = rows.assign(v=rows["verdict"].astype("string").fillna("unknown").astype(str))
    counts = rows.groupby(["bin", "v"]).size().unstack(fill_value=0).reindex(tl.bins, fill_value=0)
    order = [v.value for v in Verdict if v.value in counts.columns]
    order += sorted(c for c in counts.columns if c not in order)
    return counts[order].astype(float) / tl.width_s


def reconnect_rate_by_bin(attempts: pd.DataFrame, tl: Timeline) -> pd.Series[float] | None:
    """Reconnects (attempts after a session's first) per second per bin; None: none made."""
    if "session_attempt" not in attempts.columns:
        return None
    again = pd.to_numeric(attempts["session_attempt"], errors="coerce").fillna(0) > 0
    if not again.any():
        return None
    rows = binned(attempts.loc[again.to_numpy(dtype=bool), ["t_s"]], tl)
    counts = rows.groupby("bin").size().reindex(tl.bins, fill_value=0)
    return counts.astype(float) / tl.width_s


def samples_relative(samples: pd.DataFrame) -> pd.DataFrame:
    """The samples with numeric float columns (``t_s``: seconds since the run's start)."""
    out = samples.copy()
    for col in ("fds", "connections", "threads"):
        out[col] = out[col].astype("Float64").astype(float)
    return out
