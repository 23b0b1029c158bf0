"""PNG charts of a run (matplotlib's Agg canvas on each Figure; no pyplot, no global state).

Each chart reads only the DataFrames of :mod:`harness.analysis.frames` (and the phases of
the summary) and writes one PNG (dpi 100) into the run's ``charts/`` directory. A chart
without data still renders, with a "no data" note, so a report of an empty or cut-short
run is complete. Times on the x axis are seconds since the run's start; every applied
chaos window (``chaos.jsonl``) is shaded and labelled on every time chart
(:mod:`harness.render.charts.marks`).

The charts, in report order, are listed with their captions in :data:`CHART_CAPTIONS`;
the recovery chart is drawn only when the summary has ``recovery`` entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from harness.analysis.frames import no_chaos
from harness.analysis.phases import WindowSpan, run_spans
from harness.analysis.summary import (
    attempt_phases,
    ordered_kinds,
    phase_sections,
    run_duration_s,
)
from harness.analysis.timeline import (
    Timeline,
    handshake_by_bin,
    make_timeline,
    samples_relative,
    success_by_bin,
    verdict_rates_by_bin,
)
from harness.protocol.outcomes import Verdict
from harness.render.charts.connections import open_connections_chart, open_durations_chart
from harness.render.charts.figures import new_figure, no_data, save_png
from harness.render.charts.marks import reserve_headroom, shade_windows
from harness.render.charts.outcomes import outcomes_chart
from harness.render.charts.phases import phases_chart
from harness.render.charts.recovery import recovery_chart

#: Chaos windows to shade, in time order.
Spans = Sequence[WindowSpan]

#: Every chart file, in report order, with its caption (what it shows, with units).
CHART_CAPTIONS: Mapping[str, str] = {
    "success_rate.png": "Success rate over time per token kind (expected outcome / counted).",
    "outcomes.png": "Outcomes per token kind: close codes and HTTP statuses named.",
    "outcomes_by_phase.png": "Outcomes per chaos phase (all token kinds): how refusals "
    "changed under each fault and after it.",
    "handshake_latency.png": "Handshake time p50/p95/p99 over time (ms).",
    "attempts_rate.png": "Attempts per second by verdict over time.",
    "open_connections.png": "Open WebSocket connections over time (client side, from the "
    "records) and the target's own TCP connection count.",
    "open_durations.png": "How long connections stayed open (s): held as planned vs closed "
    "early by the server vs dropped.",
    "target_resources.png": "Target CPU, memory, open file descriptors and connections.",
    "phases.png": "Per chaos phase: success rate per token kind; refusals graceful vs abrupt.",
    "recovery.png": "Time to recover after each fault (s from its revert until success is "
    "back near baseline).",
}
CHART_FILES: tuple[str, ...] = tuple(CHART_CAPTIONS)

#: Colours of verdicts: green is good, red is a security or availability problem.
VERDICT_COLORS: Mapping[str, str] = {
    Verdict.OK.value: "#2ca02c",
    Verdict.VALID_REFUSED.value: "#ff7f0e",
    Verdict.INVALID_ACCEPTED.value: "#d62728",
    Verdict.ABRUPT.value: "#8c564b",
    Verdict.WRONG_REJECTION.value: "#9467bd",
    Verdict.GENERATOR_FAULT.value: "#7f7f7f",
    Verdict.EXCLUDED.value: "#c7c7c7",
}


def _time_axis(ax: Axes, tl: Timeline) -> None:
    ax.set_xlim(float(tl.edges[0]), float(tl.edges[-1]))
    ax.set_xlabel(f"time since run start (s); bins of {tl.width_s:g} s")
    ax.grid(True, alpha=0.3)


# --- Charts -----------------------------------------------------------------------------


def _legend_right(ax: Axes, title: str) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), title=title)


def success_rate_chart(attempts: pd.DataFrame, tl: Timeline, path: Path, spans: Spans = ()) -> Path:
    """Success rate (%) over time, one line per token kind; chaos windows shaded."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_title("Success rate over time, per token kind (expected outcome / counted attempts)")
    table = success_by_bin(attempts, tl)
    if table.empty or table.columns.empty or table.isna().all().all():
        no_data(ax)
    else:
        for kind in ordered_kinds(pd.Series(list(table.columns))):
            ax.plot(
                tl.centers,
                table[kind].to_numpy(dtype=float) * 100.0,
                marker="o",
                ms=3,
                lw=1.5,
                label=kind,
            )
    ax.set_ylim(-5, 105)
    ax.set_yticks(range(0, 101, 20))
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylabel("success rate (%)")
    _time_axis(ax, tl)
    reserve_headroom(ax, shade_windows(ax, spans))
    _legend_right(ax, "token kind")
    return save_png(fig, path)


def handshake_chart(attempts: pd.DataFrame, tl: Timeline, path: Path, spans: Spans = ()) -> Path:
    """Handshake time percentiles (ms) over time, over all token kinds; chaos windows shaded."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_title("Handshake time over time (all token kinds): upgrade request to response")
    table = handshake_by_bin(attempts, tl)
    if table.isna().all().all():
        no_data(ax, "no data (no handshake completed)")
    else:
        styles = {"p50": ("#1f77b4", "-"), "p95": ("#ff7f0e", "--"), "p99": ("#d62728", ":")}
        for key, (color, ls) in styles.items():
            ax.plot(
                tl.centers,
                table[key].to_numpy(dtype=float),
                color=color,
                ls=ls,
                marker="o",
                ms=3,
                lw=1.5,
                label=key,
            )
        ax.set_ylim(bottom=0)
    ax.set_ylabel("handshake time (ms)")
    _time_axis(ax, tl)
    reserve_headroom(ax, shade_windows(ax, spans))
    _legend_right(ax, "percentile")
    return save_png(fig, path)


def attempts_rate_chart(
    attempts: pd.DataFrame, tl: Timeline, path: Path, spans: Spans = ()
) -> Path:
    """Attempts per second over time, stacked by verdict; chaos windows shaded."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_title("Attempts per second, by verdict (stacked)")
    table = verdict_rates_by_bin(attempts, tl)
    if table.columns.empty:
        no_data(ax)
    else:
        cols = [str(c) for c in table.columns]
        colors = [VERDICT_COLORS.get(c, "#bcbd22") for c in cols]
        ax.stackplot(
            tl.centers,
            *[table[c].to_numpy(dtype=float) for c in cols],
            labels=[c.replace("_", " ") for c in cols],
            colors=colors,
            alpha=0.85,
        )
        ax.set_ylim(bottom=0)
    ax.set_ylabel("attempts per second (1/s)")
    _time_axis(ax, tl)
    reserve_headroom(ax, shade_windows(ax, spans))
    _legend_right(ax, "verdict")
    return save_png(fig, path)


def resources_chart(
    samples: pd.DataFrame,
    tl: Timeline,
    path: Path,
    spans: Spans = (),
) -> Path:
    """Target CPU %, RSS MB, open FDs and connections over time, one subplot each.

    Chaos windows are shaded on every panel and labelled on the top one.
    """
    fig = new_figure(10.0, 8.0)
    axes = fig.subplots(4, 1, sharex=True)
    fig.suptitle("Target resources over time (probe samples, one per second)")
    data = samples_relative(samples, tl)
    panels = [
        ("cpu_percent", "CPU (%)", "#1f77b4"),
        ("rss_mb", "RSS (MB)", "#2ca02c"),
        ("fds", "open FDs", "#9467bd"),
        ("connections", "connections", "#ff7f0e"),
    ]
    for i, (ax, (col, label, color)) in enumerate(zip(axes, panels, strict=True)):
        values = data[col].to_numpy(dtype=float)
        if data.empty or pd.isna(values).all():
            no_data(ax, "no samples")
        else:
            ax.plot(data["t_rel"].to_numpy(dtype=float), values, color=color, lw=1.5)
            ax.set_ylim(bottom=0)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.set_xlim(float(tl.edges[0]), float(tl.edges[-1]))
        reserve_headroom(ax, shade_windows(ax, spans, labels=i == 0))
    axes[-1].set_xlabel("time since run start (s)")
    return save_png(fig, path)


def write_charts(
    attempts: pd.DataFrame,
    samples: pd.DataFrame,
    meta: Mapping[str, Any],
    out_dir: Path,
    *,
    windows: pd.DataFrame | None = None,
    phases: Mapping[str, Any] | None = None,
    recovery: Sequence[Mapping[str, Any]] = (),
    planned_hold_s: float | None = None,
) -> list[Path]:
    """Write every chart as a PNG into ``out_dir`` (created if needed); return their paths.

    Args:
        attempts: from :func:`harness.analysis.frames.load_attempts`.
        samples: from :func:`harness.analysis.frames.load_samples`.
        meta: the run's ``meta.json``.
        out_dir: the charts directory.
        windows: chaos windows from :func:`harness.analysis.frames.load_chaos` (None: none).
        phases: the summary's ``phases``; None computes them from ``attempts`` and
            ``windows``.
        recovery: the summary's recovery per window (see
            :func:`harness.render.present.recovery`); the recovery chart is drawn only
            when there is at least one.
        planned_hold_s: how long a user holds a connection open (the scenario's
            ``load.session.hold``, seconds), marked on the open-durations chart.

    Returns:
        The PNGs written, in :data:`CHART_CAPTIONS` order.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if windows is None:
        windows = no_chaos()
    if phases is None:
        phases = phase_sections(attempts, meta, windows)
    spans, end_s = run_spans(windows, run_duration_s(attempts, meta))
    tl = make_timeline(attempts, samples, meta, until_s=end_s)
    assigned, _ = attempt_phases(attempts, meta, windows)
    paths = [
        success_rate_chart(attempts, tl, out_dir / "success_rate.png", spans),
        outcomes_chart(attempts, out_dir / "outcomes.png"),
        outcomes_chart(
            attempts,
            out_dir / "outcomes_by_phase.png",
            groups=assigned,
            order=list(phases),
            what="chaos phase",
        ),
        handshake_chart(attempts, tl, out_dir / "handshake_latency.png", spans),
        attempts_rate_chart(attempts, tl, out_dir / "attempts_rate.png", spans),
        open_connections_chart(attempts, samples, tl, out_dir / "open_connections.png", spans),
        open_durations_chart(attempts, out_dir / "open_durations.png", planned_hold_s),
        resources_chart(samples, tl, out_dir / "target_resources.png", spans),
        phases_chart(phases, out_dir / "phases.png"),
    ]
    if recovery:
        paths.append(recovery_chart(recovery, out_dir / "recovery.png", end_s))
    stale = out_dir / "recovery.png"
    if not recovery and stale.exists():
        stale.unlink()  # from an earlier build of the same run directory
    return paths
