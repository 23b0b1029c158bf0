"""Connection charts: how many WebSockets were open over time, and how long each stayed open.

From the attempt records alone: a connection is open from ``t_s + (connect_ms +
handshake_ms) / 1000`` (seconds since the run's start) for ``open_s`` seconds, when the
attempt got its 101 (outcome
``accepted``, a server close ``closed_*``, or ``abnormal_closure``, or stage ``open``).
The computations are pure functions; the two ``*_chart`` functions draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.phases import WindowSpan
from harness.analysis.summary import StageStats
from harness.analysis.timeline import Timeline, samples_relative
from harness.protocol.outcomes import Outcome
from harness.render.charts.figures import new_figure, no_data, save_png
from harness.render.charts.marks import reserve_headroom, shade_stages, shade_windows

#: How a connection that was open ended: group -> (legend label, colour).
HOLD_GROUPS: Mapping[str, tuple[str, str]] = {
    "planned": ("held as planned, then closed by the client", "#2ca02c"),
    "server_closed": ("closed early by the server (close frame with a code)", "#ff7f0e"),
    "dropped": ("dropped without a close frame (1006)", "#d62728"),
}


def hold_group(outcome: str) -> str | None:
    """The :data:`HOLD_GROUPS` key of an outcome of an opened connection (None: never open)."""
    if outcome == Outcome.ACCEPTED.value:
        return "planned"
    if outcome == Outcome.ABNORMAL_CLOSURE.value:
        return "dropped"
    if outcome.startswith("closed_"):
        return "server_closed"
    return None


def open_intervals(attempts: pd.DataFrame) -> pd.DataFrame:
    """When each opened connection was open: ``start_s``, ``end_s`` (s since the run's start),
    ``group``.

    Reads the run's attempts (with ``t_s``); rows without ``open_s`` or ``t_s`` are left out;
    a missing connect or handshake time counts as 0 ms.
    """
    outcome = attempts["outcome"].astype("string").fillna("")
    # one hold_group call per distinct outcome, not one per attempt
    groups = {o: hold_group(str(o)) for o in pd.unique(outcome.to_numpy(dtype=object))}
    group = pd.Series(outcome.to_numpy(dtype=object), index=attempts.index, dtype=object).map(
        groups
    )
    opened_stage = attempts["stage"].astype("string") == "open"
    group = group.where(group.notna() | ~opened_stage.fillna(False), "planned")
    keep = group.notna() & attempts["open_s"].notna() & attempts["t_s"].notna()
    rows = attempts.loc[keep.to_numpy(dtype=bool), ["t_s", "connect_ms", "handshake_ms", "open_s"]]
    setup_s = (rows["connect_ms"].fillna(0.0) + rows["handshake_ms"].fillna(0.0)) / 1000.0
    start = rows["t_s"].astype(float) + setup_s
    end = start + rows["open_s"].astype(float).clip(lower=0.0)
    return pd.DataFrame(
        {
            "start_s": start.to_numpy(dtype=float),
            "end_s": end.to_numpy(dtype=float),
            "group": group[keep.to_numpy(dtype=bool)].astype(str).to_numpy(),
        }
    )


def open_counts(intervals: pd.DataFrame) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The number of open connections as a step function: ``(times_s, counts)``.

    ``counts[i]`` holds from ``times_s[i]`` until ``times_s[i + 1]`` (an interval is open
    at its start, closed at its end). Empty arrays when there are no intervals.
    """
    if intervals.empty:
        return np.zeros(0), np.zeros(0, dtype=int)
    times = np.concatenate([intervals["start_s"].to_numpy(), intervals["end_s"].to_numpy()])
    deltas = np.concatenate([np.ones(len(intervals), int), -np.ones(len(intervals), int)])
    order = np.lexsort((deltas, times))  # at one instant, closes before opens
    times, counts = times[order], np.cumsum(deltas[order])
    # One value per instant: the count after every event at that time.
    last = np.append(times[1:] != times[:-1], True)
    return times[last], counts[last]


def _time_axis(ax: Any, tl: Timeline) -> None:
    ax.set_xlim(float(tl.edges[0]), float(tl.edges[-1]))
    ax.set_xlabel("time since run start (s)")
    ax.grid(True, alpha=0.3)


def open_connections_chart(
    attempts: pd.DataFrame,
    samples: pd.DataFrame,
    tl: Timeline,
    path: Path,
    spans: Sequence[WindowSpan] = (),
    intervals: pd.DataFrame | None = None,
    stages: Sequence[StageStats] = (),
) -> Path:
    """Open WebSockets over time as the clients saw them, and the target's own count; chaos
    windows and load stages shaded.

    ``intervals``: the :func:`open_intervals` of ``attempts``, when already computed.
    """
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_title("Open WebSocket connections over time (from the attempt records)")
    times, counts = open_counts(open_intervals(attempts) if intervals is None else intervals)
    data = samples_relative(samples)
    target = data["connections"].to_numpy(dtype=float)
    has_target = not data.empty and not bool(np.isnan(target).all())
    if not len(times) and not has_target:
        no_data(ax, "no data (no connection was ever open)")
    if len(times):
        x = np.concatenate([[float(tl.edges[0])], times])
        y = np.concatenate([[0], counts])
        ax.step(x, y, where="post", color="#1f77b4", lw=1.6, label="open (client side)")
        peak = int(counts.max())
        at = float(times[int(np.argmax(counts))])
        ax.annotate(
            f"peak {peak} open at {at:.1f} s",
            (at, peak),
            xytext=(6, 4),
            textcoords="offset points",
            fontsize=8,
            color="#1f77b4",
        )
    if has_target:
        ax.plot(
            data["t_s"].to_numpy(dtype=float),
            target,
            color="#7f7f7f",
            ls="--",
            lw=1.2,
            label="target's TCP connections (probe)",
        )
    ax.set_ylim(bottom=0)
    ax.set_ylabel("open connections")
    _time_axis(ax, tl)
    shade_stages(ax, stages)
    reserve_headroom(ax, shade_windows(ax, spans))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return save_png(fig, path)


def open_durations_chart(
    attempts: pd.DataFrame,
    path: Path,
    planned_hold_s: float | None = None,
    intervals: pd.DataFrame | None = None,
) -> Path:
    """How long connections stayed open: a stacked histogram of ``open_s`` by how they ended.

    Connections the server closed early (orange) or dropped (red) stand out against the
    ones held as planned (green); a dashed line marks the scenario's planned hold.
    ``intervals``: the :func:`open_intervals` of ``attempts``, when already computed.
    """
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_title("How long connections stayed open, by how they ended")
    if intervals is None:
        intervals = open_intervals(attempts)
    durations = intervals["end_s"] - intervals["start_s"]
    if intervals.empty:
        no_data(ax, "no data (no connection was ever open)")
    else:
        top = float(max(durations.max(), planned_hold_s or 0.0))
        edges = np.linspace(0.0, top * 1.05 if top > 0 else 1.0, 41)
        values, colors, labels = [], [], []
        for group, (label, color) in HOLD_GROUPS.items():
            d = durations[(intervals["group"] == group).to_numpy()].to_numpy(dtype=float)
            if len(d):
                values.append(d)
                colors.append(color)
                labels.append(f"{label}: n={len(d)}, median {float(np.median(d)):.2f} s")
        ax.hist(
            values, bins=edges.tolist(), stacked=True, color=colors, label=labels, edgecolor="white"
        )
        ax.set_xlim(0.0, float(edges[-1]))
    if planned_hold_s is not None and planned_hold_s > 0:
        ax.axvline(planned_hold_s, color="#333333", ls="--", lw=1.2)
        ax.annotate(
            f"planned hold {planned_hold_s:g} s",
            (planned_hold_s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(-4, -4),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=8,
        )
    ax.set_xlabel("time the WebSocket stayed open (s)")
    ax.set_ylabel("connections")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize=8, ncols=1)
    return save_png(fig, path)
