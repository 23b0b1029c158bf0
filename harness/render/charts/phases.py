"""The phases chart: success rate per chaos phase and token kind, and how refusals happened.

Top panel: grouped bars, one group per phase (in time order), one bar per token kind,
height the success rate (%). Bottom panel: per phase, refusals stacked as graceful (a
status or close code given) under abrupt (reset, drop, timeout, 1006), with the
graceful share written above. Phases under chaos (``during ...``) have a tinted
background, in both panels.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from harness.analysis.phases import DURING
from harness.analysis.sections import ordered_kinds
from harness.analysis.summary import Phase
from harness.render.charts.figures import new_figure, no_data, save_png

GRACEFUL_COLOR = "#4daf4a"
ABRUPT_COLOR = "#d62728"
DURING_TINT = "#fdd0a2"
#: Characters per line of a phase name under its group of bars.
WRAP = 18


def phase_tick(name: str, attempts: int) -> str:
    """A phase name wrapped for an x tick, one window label per line, with its attempts."""
    lines = textwrap.wrap(name.replace(" + ", " +\u00a0"), WRAP, break_on_hyphens=False)
    return "\n".join([*lines, f"(n={attempts})"])


def success_table(phases: Mapping[str, Phase]) -> pd.DataFrame:
    """Success rate (0..1, NaN when none counted) per phase (rows) and token kind (columns)."""
    kinds = ordered_kinds([k for p in phases.values() for k in p.token_kinds])
    data = {
        kind: [_rate(p.token_kinds[kind].success_rate if kind in p.token_kinds else None)
               for p in phases.values()]
        for kind in kinds
    }  # fmt: skip
    return pd.DataFrame(data, index=list(phases), columns=kinds, dtype=float)


def _rate(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _tint_during(ax: Axes, phases: Mapping[str, Phase]) -> None:
    for i, phase in enumerate(phases.values()):
        if phase.kind == DURING:
            ax.axvspan(i - 0.5, i + 0.5, color=DURING_TINT, alpha=0.35, lw=0, zorder=0)


def _success_panel(ax: Axes, phases: Mapping[str, Phase]) -> None:
    table = success_table(phases)
    names = list(phases)
    _tint_during(ax, phases)
    x = np.arange(len(names), dtype=float)
    n_kinds = max(1, len(table.columns))
    width = 0.8 / n_kinds
    cmap = matplotlib.colormaps["tab10"]
    for j, kind in enumerate(table.columns):
        offsets = x - 0.4 + width * (j + 0.5)
        ax.bar(offsets, table[kind].to_numpy() * 100.0, width, color=cmap(j % 10), label=kind)
    if table.isna().all().all():
        no_data(ax, "no counted attempts")
    ax.set_ylim(0, 105)
    ax.set_yticks(range(0, 101, 20))
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylabel("success rate (%)")
    ax.set_title("Success rate per chaos phase and token kind (tinted: faults active)")
    ax.grid(True, axis="y", alpha=0.3)
    if len(table.columns):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="token kind", fontsize=8)


def _manner_panel(ax: Axes, phases: Mapping[str, Phase]) -> None:
    names = list(phases)
    _tint_during(ax, phases)
    graceful = np.array([p.total.graceful for p in phases.values()], dtype=float)
    abrupt = np.array([p.total.abrupt for p in phases.values()], dtype=float)
    x = np.arange(len(names), dtype=float)
    ax.bar(x, graceful, 0.6, color=GRACEFUL_COLOR, label="graceful (status / close code)")
    ax.bar(x, abrupt, 0.6, bottom=graceful, color=ABRUPT_COLOR, label="abrupt (reset, drop, ...)")
    top = float((graceful + abrupt).max()) if len(names) else 0.0
    for i, p in enumerate(phases.values()):
        share = p.total.graceful_share
        if share is not None:
            ax.text(
                i,
                graceful[i] + abrupt[i] + top * 0.02,
                f"{share * 100:.0f}% graceful",
                ha="center",
                va="bottom",
                fontsize=8,
            )
    if top == 0:
        no_data(ax, "no refusals")
        ax.set_ylim(0, 1)
    else:
        ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("refusals (attempts)")
    ax.set_title("Refusals per chaos phase: graceful vs abrupt (all token kinds)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="manner", fontsize=8)


def phases_chart(phases: Mapping[str, Phase], path: Path) -> Path:
    """Write ``phases.png`` from the summary's phases (see :mod:`harness.analysis.summary`)."""
    names = list(phases)
    fig = new_figure(max(10.0, 3.0 + 1.4 * len(names)), 8.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    if not names:
        for ax in (top, bottom):
            no_data(ax)
            ax.set_xticks([])
        return save_png(fig, path)
    _success_panel(top, phases)
    _manner_panel(bottom, phases)
    ticks = [phase_tick(n, p.total.attempts) for n, p in phases.items()]
    bottom.set_xticks(range(len(names)), ticks, fontsize=8)
    bottom.set_xlim(-0.5, len(names) - 0.5)
    bottom.set_xlabel("chaos phase, in time order (n = attempts)")
    return save_png(fig, path)
