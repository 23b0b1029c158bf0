"""The overlaid charts of a comparison (matplotlib, Agg): run A solid, run B dashed.

One colour per token kind (or percentile) in both runs, against seconds since each run's
start; the outcome bars use the run report's colours and hatch an outcome that was not the
expected one, as the run report does. :func:`write_charts` writes the three PNGs that
:mod:`harness.render.compare_html` embeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from harness.analysis.compare_rows import Comparison, RunInfo
from harness.analysis.sections import ordered_kinds
from harness.analysis.timeline import Timeline, handshake_by_bin, make_timeline, success_by_bin
from harness.render.charts.figures import new_figure, no_data, save_png
from harness.render.charts.outcomes import HATCH, outcome_colors, outcome_counts, unexpected_cells

#: Each run's attempts and time axis, in order A, B (None: no attempts to draw).
Runs = Sequence[tuple[pd.DataFrame, Timeline] | None]

#: Line style of each run in the overlaid charts.
RUN_STYLES: Mapping[str, str] = {"A": "-", "B": "--"}


def run_frames(info: RunInfo) -> tuple[pd.DataFrame, Timeline] | None:
    """A run's attempts and its time axis, or None when its run is not at hand or empty."""
    if info.run is None or info.run.attempts.empty:
        return None
    return info.run.attempts, make_timeline(info.run)


def _style_legend(ax: Axes, cmp: Comparison, handles: list[Any], title: str) -> None:
    for label, info in (("A", cmp.a), ("B", cmp.b)):
        handles.append(
            Line2D([], [], color="#444444", ls=RUN_STYLES[label], label=f"{label}: {info.run_id}")
        )
    ax.legend(
        handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), title=title, fontsize=8
    )
    ax.set_xlabel("time since run start (s)")
    ax.grid(True, alpha=0.3)


def success_chart(cmp: Comparison, runs: Runs, path: Path) -> Path:
    """Success rate (%) over time per token kind, A solid and B dashed, one colour per kind."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_title("Success rate over time per token kind (expected outcome / counted attempts)")
    tables = [None if r is None else (success_by_bin(r[0], r[1]), r[1]) for r in runs]
    kinds = ordered_kinds(pd.Series([str(k) for t in tables if t for k in t[0].columns]))
    colors = {kind: f"C{i % 10}" for i, kind in enumerate(kinds)}
    for label, table in zip(RUN_STYLES, tables, strict=True):
        if table is not None:
            for kind in table[0].columns:
                y = table[0][kind].to_numpy(dtype=float) * 100.0
                ax.plot(
                    table[1].centers,
                    y,
                    color=colors[str(kind)],
                    ls=RUN_STYLES[label],
                    marker="o",
                    ms=3,
                    lw=1.5,
                )
    if not kinds:
        no_data(ax)
    ax.set_ylim(-5, 105)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylabel("success rate (%)")
    _style_legend(ax, cmp, [Line2D([], [], color=colors[k], label=k) for k in kinds], "token kind")
    return save_png(fig, path)


def latency_chart(cmp: Comparison, runs: Runs, path: Path) -> Path:
    """Handshake p50 and p95 (ms) over time over all token kinds, A solid and B dashed."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_title("Handshake time over time (all token kinds): upgrade request to response")
    colors = {"p50": "#1f77b4", "p95": "#ff7f0e"}
    drawn = False
    for label, run in zip(RUN_STYLES, runs, strict=True):
        if run is None:
            continue
        table = handshake_by_bin(run[0], run[1])
        for key, color in colors.items():
            y = table[key].to_numpy(dtype=float)
            drawn = drawn or not pd.isna(y).all()
            ax.plot(run[1].centers, y, color=color, ls=RUN_STYLES[label], marker="o", ms=3)
    if drawn:
        ax.set_ylim(bottom=0)
    else:
        no_data(ax, "no data (no handshake completed)")
    ax.set_ylabel("handshake time (ms)")
    handles = [Line2D([], [], color=c, label=k) for k, c in colors.items()]
    _style_legend(ax, cmp, handles, "percentile")
    return save_png(fig, path)


def unexpected_segments(counts: Sequence[pd.DataFrame | None]) -> set[tuple[str, str, str]]:
    """The (token kind, outcome label, run) segments drawn hatched: not the expected outcome
    for most of their attempts (:func:`harness.render.charts.outcomes.unexpected_cells`).

    Args:
        counts: :func:`~harness.render.charts.outcomes.outcome_counts` of run A and run B
            (None: a run without attempts).
    """
    return {
        (kind, label, run)
        for run, c in zip(RUN_STYLES, counts, strict=True)
        if c is not None
        for kind, label in unexpected_cells(c)
    }


def outcomes_chart(cmp: Comparison, runs: Runs, path: Path) -> Path:
    """Outcome shares (%) per token kind: A's bar above B's, stacked by outcome label."""
    counts = [None if r is None else outcome_counts(r[0]) for r in runs]
    frames = [
        c.assign(run=label) for label, c in zip(RUN_STYLES, counts, strict=True) if c is not None
    ]
    rows = pd.concat(frames) if frames else pd.DataFrame()
    kinds = ordered_kinds(rows["kind"]) if not rows.empty else []
    fig = new_figure(11.0, max(3.0, 1.4 + 0.5 * 2 * len(kinds)))
    ax = fig.add_subplot()
    ax.set_title(
        "Outcomes per token kind, A and B (share of the kind's attempts; hatched = not the "
        "expected outcome)"
    )
    if rows.empty:
        no_data(ax)
        return save_png(fig, path)
    order = [str(x) for x in rows.groupby("label")["n"].sum().sort_values(ascending=False).index]
    colors = outcome_colors(rows, order)
    hatched = unexpected_segments(counts)
    bars = [(kind, run) for kind in kinds for run in RUN_STYLES]
    totals = rows.groupby(["kind", "run"])["n"].sum()
    ypos = [i + (i // 2) * 0.6 for i in range(len(bars))]  # a gap between kinds
    left = [0.0] * len(bars)
    for label in order:
        sel = rows[rows["label"] == label].groupby(["kind", "run"])["n"].sum()
        share = [100.0 * sel.get(b, 0) / totals.get(b, 1) if b in totals else 0.0 for b in bars]
        drawn = ax.barh(ypos, share, left=left, color=colors[label], edgecolor="white", lw=0.5)
        for (kind, run), bar in zip(bars, drawn, strict=True):
            if (kind, label, run) in hatched:
                bar.set_hatch(HATCH)
        left = [x + s for x, s in zip(left, share, strict=True)]
    ax.set_yticks(ypos, [f"{k} {r} (n={int(totals.get((k, r), 0))})" for k, r in bars])
    ax.invert_yaxis()
    # Plain swatches: a bar container's own legend handle copies its first bar's hatch.
    handles = [Patch(facecolor=colors[label], edgecolor="white", label=label) for label in order]
    handles.append(
        Patch(facecolor="white", edgecolor="#555555", hatch=HATCH, label="(hatched) not expected")
    )
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="outcome", fontsize=8
    )
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(PercentFormatter(100))
    ax.set_xlabel("share of attempts of the token kind (%)")
    ax.grid(True, axis="x", alpha=0.3)
    return save_png(fig, path)


def write_charts(cmp: Comparison, out_dir: Path) -> list[Path]:
    """Write the three overlaid charts into ``out_dir``; a run without attempts shows no data."""
    runs = [run_frames(cmp.a), run_frames(cmp.b)]
    return [
        success_chart(cmp, runs, out_dir / "success_rate.png"),
        latency_chart(cmp, runs, out_dir / "handshake_latency.png"),
        outcomes_chart(cmp, runs, out_dir / "outcomes.png"),
    ]
