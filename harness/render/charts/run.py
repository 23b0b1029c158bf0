"""PNG charts of a run (matplotlib's Agg canvas on each Figure; no pyplot, no global state).

Each chart reads the run (:class:`harness.analysis.run.Run`: attempts with ``t_s`` and
``phase``, samples) and its summary, and writes one PNG (dpi 100) into the run's ``charts/``
directory. A chart without data still renders, with a "no data" note, so a report of an
empty or cut-short run is complete. Times on the x axis are seconds since the run's start,
in bins of a round width; every applied chaos window (``chaos.jsonl``) is shaded and
labelled on every time chart, and so is every load stage (``load.stages``), in a lighter
style (:mod:`harness.render.charts.marks`).

The charts, in report order, are listed with their captions in
:data:`harness.render.charts.captions.CHART_CAPTIONS`; the two phase charts are drawn only
when the run had chaos, the recovery chart only when the summary has recovery entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from harness.analysis.phases import WindowSpan, window_spans
from harness.analysis.run import Run
from harness.analysis.sections import ordered_kinds
from harness.analysis.summary import StageStats, Summary
from harness.analysis.timeline import (
    Timeline,
    handshake_by_bin,
    make_timeline,
    reconnect_rate_by_bin,
    samples_relative,
    success_by_bin,
    verdict_rates_by_bin,
)
from harness.protocol.outcomes import Verdict
from harness.render.charts.captions import CHART_FILES, RECOVERY_CHART, expected_charts
from harness.render.charts.connections import (
    open_connections_chart,
    open_durations_chart,
    open_intervals,
)
from harness.render.charts.figures import new_figure, no_data, save_png
from harness.render.charts.marks import reserve_headroom, shade_stages, shade_windows
from harness.render.charts.outcomes import outcomes_chart
from harness.render.charts.phases import phases_chart
from harness.render.charts.recovery import recovery_chart

#: Chaos windows to shade, in time order.
Spans = Sequence[WindowSpan]
#: Load stages to shade, in time order.
Stages = Sequence[StageStats]

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


def success_rate_chart(
    attempts: pd.DataFrame, tl: Timeline, path: Path, spans: Spans = (), stages: Stages = ()
) -> Path:
    """Success rate (%) over time, one line per token kind; chaos windows and stages shaded."""
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
    shade_stages(ax, stages)
    reserve_headroom(ax, shade_windows(ax, spans))
    _legend_right(ax, "token kind")
    return save_png(fig, path)


def handshake_chart(
    attempts: pd.DataFrame, tl: Timeline, path: Path, spans: Spans = (), stages: Stages = ()
) -> Path:
    """Handshake time percentiles (ms) over time, over all token kinds; chaos windows and
    stages shaded."""
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
    shade_stages(ax, stages)
    reserve_headroom(ax, shade_windows(ax, spans))
    _legend_right(ax, "percentile")
    return save_png(fig, path)


def attempts_rate_chart(
    attempts: pd.DataFrame, tl: Timeline, path: Path, spans: Spans = (), stages: Stages = ()
) -> Path:
    """Attempts per second over time, stacked by verdict; chaos windows and stages shaded
    (an arrival-rate stage's planned rate drawn as a grey step)."""
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
        again = reconnect_rate_by_bin(attempts, tl)
        if again is not None:  # a stampede after a restart shows as spikes of this line
            ax.plot(tl.centers, again.to_numpy(dtype=float), color="black", lw=1.2,
                    ls="--", label="of which reconnects")  # fmt: skip
    if any(st.rate is not None for st in stages):
        ax.stairs(
            [st.rate or 0.0 for st in stages],
            [stages[0].start_s, *(st.end_s for st in stages)],
            color="#616161",
            lw=1.2,
            ls="-.",
            label="planned arrivals (1/s)",
            zorder=4,
        )
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1.1 * max(st.rate or 0 for st in stages)))
    ax.set_ylabel("attempts per second (1/s)")
    _time_axis(ax, tl)
    shade_stages(ax, stages)
    reserve_headroom(ax, shade_windows(ax, spans))
    _legend_right(ax, "verdict")
    return save_png(fig, path)


def resources_chart(
    samples: pd.DataFrame,
    tl: Timeline,
    path: Path,
    spans: Spans = (),
    stages: Stages = (),
) -> Path:
    """Target CPU %, RSS MB, open FDs and connections over time, one subplot each.

    Chaos windows and stages are shaded on every panel and labelled on the top one (the
    stages: on the bottom one).
    """
    fig = new_figure(10.0, 8.0)
    axes = fig.subplots(4, 1, sharex=True)
    fig.suptitle("Target resources over time (probe samples, one per second)")
    data = samples_relative(samples)
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
            ax.plot(data["t_s"].to_numpy(dtype=float), values, color=color, lw=1.5)
            ax.set_ylim(bottom=0)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.set_xlim(float(tl.edges[0]), float(tl.edges[-1]))
        shade_stages(ax, stages, labels=i == len(panels) - 1)
        reserve_headroom(ax, shade_windows(ax, spans, labels=i == 0))
    axes[-1].set_xlabel("time since run start (s)")
    return save_png(fig, path)


def write_charts(run: Run, summary: Summary, out_dir: Path) -> list[Path]:
    """Write every chart of the run as a PNG into ``out_dir`` (created if needed).

    Args:
        run: the run (attempts, samples, chaos windows, scenario's planned hold).
        summary: its summary (phases, recovery).
        out_dir: the charts directory; charts of an earlier build that this one does not
            draw (phase charts of a run without chaos, a recovery chart without recovery)
            are removed.

    Returns:
        The PNGs written, in :data:`~harness.render.charts.captions.CHART_CAPTIONS` order.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    spans = window_spans(run.windows, run.end_s)
    tl = make_timeline(run)
    attempts = run.attempts
    wanted = expected_charts(summary.has_chaos, bool(summary.recovery))
    intervals = open_intervals(attempts)  # for both connection charts
    stages = summary.stages
    draw: Mapping[str, Callable[[Path], Path]] = {
        "success_rate.png": lambda p: success_rate_chart(attempts, tl, p, spans, stages),
        "outcomes.png": lambda p: outcomes_chart(attempts, p),
        "outcomes_by_phase.png": lambda p: outcomes_chart(
            attempts, p, groups=attempts["phase"], order=list(summary.phases), what="chaos phase"
        ),
        "handshake_latency.png": lambda p: handshake_chart(attempts, tl, p, spans, stages),
        "attempts_rate.png": lambda p: attempts_rate_chart(attempts, tl, p, spans, stages),
        "open_connections.png": lambda p: open_connections_chart(
            attempts, run.samples, tl, p, spans, intervals, stages
        ),
        "open_durations.png": lambda p: open_durations_chart(
            attempts, p, run.planned_hold_s, intervals
        ),
        "target_resources.png": lambda p: resources_chart(run.samples, tl, p, spans, stages),
        "phases.png": lambda p: phases_chart(summary.phases, p),
        RECOVERY_CHART: lambda p: recovery_chart(list(summary.recovery.values()), p, run.end_s),
    }
    assert set(draw) == set(CHART_FILES), "every chart file needs a drawing"
    for name in CHART_FILES:
        stale = out_dir / name
        if name not in wanted and stale.exists():
            stale.unlink()  # from an earlier build of the same run directory
    return [draw[name](out_dir / name) for name in wanted]
