"""The overlaid charts of a comparison (matplotlib, Agg): run A solid, run B dashed.

One colour per token kind (or percentile) in both runs, against seconds since each run's
start; :func:`write_charts` writes the three PNGs that :mod:`harness.render.compare_html` embeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from harness.analysis.compare_rows import Comparison, RunInfo
from harness.analysis.frames import load_attempts, load_meta, samples_frame
from harness.analysis.summary import ordered_kinds
from harness.analysis.timeline import Timeline, handshake_by_bin, make_timeline, success_by_bin
from harness.protocol.outcomes import ABRUPT_OUTCOMES, AUTH_REJECTIONS, Outcome
from harness.render.charts.figures import new_figure, no_data, save_png
from harness.render.charts.outcomes import outcome_counts

#: Chart file name -> caption.
CHART_CAPTIONS: Mapping[str, str] = {
    "success_rate.png": "Success rate over time per token kind: A solid, B dashed.",
    "handshake_latency.png": "Handshake time p50 and p95 over time (ms): A solid, B dashed.",
    "outcomes.png": "Outcome shares per token kind, A and B side by side.",
}

#: Each run's attempts and time axis, in order A, B (None: no attempts to draw).
Runs = Sequence[tuple[pd.DataFrame, Timeline] | None]

#: Line style of each run in the overlaid charts.
RUN_STYLES: Mapping[str, str] = {"A": "-", "B": "--"}


def _frames(info: RunInfo) -> tuple[pd.DataFrame, Timeline] | None:
    """A run's attempts and its time axis, or None when it has no attempts file."""
    if info.path is None:
        return None
    attempts = load_attempts(info.path)
    if attempts.empty:
        return None
    meta = load_meta(info.path) if (info.path / "meta.json").exists() else {}
    return attempts, make_timeline(attempts, samples_frame([]), meta)


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


def _family(outcome: str) -> str:
    """Colormap of an outcome: green accepted, blue auth, red abrupt, grey the harness's own."""
    if outcome == Outcome.ACCEPTED.value:
        return "Greens"
    if outcome in AUTH_REJECTIONS:
        return "Blues"
    if outcome in ABRUPT_OUTCOMES:
        return "Reds"
    harness_own = (Outcome.GENERATOR_FAULT.value, Outcome.INTERRUPTED.value)
    return "Greys" if outcome in harness_own else "Oranges"


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
    ax.set_title("Outcomes per token kind, A and B (share of the kind's attempts)")
    if rows.empty:
        no_data(ax)
        return save_png(fig, path)
    order = rows.groupby("label")["n"].sum().sort_values(ascending=False).index
    outcome_of = rows.drop_duplicates("label").set_index("label")["outcome"]
    by_family: dict[str, list[str]] = {}
    for label in order:
        by_family.setdefault(_family(str(outcome_of[label])), []).append(str(label))
    colors: dict[str, Any] = {}
    for family, members in by_family.items():
        for i, label in enumerate(members):
            colors[label] = matplotlib.colormaps[family](0.75 - 0.4 * i / max(1, len(members)))
    bars = [(kind, run) for kind in kinds for run in RUN_STYLES]
    totals = rows.groupby(["kind", "run"])["n"].sum()
    ypos = [i + (i // 2) * 0.6 for i in range(len(bars))]  # a gap between kinds
    left = [0.0] * len(bars)
    for label in map(str, order):
        sel = rows[rows["label"] == label].groupby(["kind", "run"])["n"].sum()
        share = [100.0 * sel.get(b, 0) / totals.get(b, 1) if b in totals else 0.0 for b in bars]
        ax.barh(ypos, share, left=left, color=colors[label], edgecolor="white", lw=0.5)
        left = [x + s for x, s in zip(left, share, strict=True)]
    ax.set_yticks(ypos, [f"{k} {r} (n={int(totals.get((k, r), 0))})" for k, r in bars])
    ax.invert_yaxis()
    handles = [Patch(facecolor=colors[str(label)], label=str(label)) for label in order]
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
    runs = [_frames(cmp.a), _frames(cmp.b)]
    return [
        success_chart(cmp, runs, out_dir / "success_rate.png"),
        latency_chart(cmp, runs, out_dir / "handshake_latency.png"),
        outcomes_chart(cmp, runs, out_dir / "outcomes.png"),
    ]
