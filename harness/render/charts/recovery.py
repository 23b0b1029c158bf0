"""The recovery chart: how long success took to come back after each chaos fault was reverted.

One horizontal bar per chaos window (in the summary's order): its length is ``recovery_s``,
the seconds from the revert until success was back near baseline. A window that did not
recover gets a red hatched bar over the time it was watched (from its revert to the end
of the run) and says "did not recover"; a window without a verdict (e.g. never reverted)
gets its status written instead of a bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.analysis.summary import Recovery
from harness.render.charts.figures import new_figure, no_data, save_png
from harness.render.present import pct, recovery_state, recovery_text

RECOVERED_COLOR = "#2ca02c"
NOT_RECOVERED_COLOR = "#d62728"


def recovery_bars(recovery: Sequence[Recovery], run_end_s: float | None) -> list[dict[str, Any]]:
    """What to draw per window: ``label``, ``length_s``, ``kind`` and ``text`` (pure).

    ``kind`` is ``recovered`` (length ``recovery_s``), ``not_recovered`` (length from the
    revert to ``run_end_s``, or 0 when either is unknown) or ``unknown`` (no bar).
    """
    bars = []
    for rec in recovery:
        seconds, reverted = rec.recovery_s, rec.reverted_s
        note = f"; baseline success {pct(rec.baseline_success_rate, 0)}"
        label = f"{rec.label}\n({rec.fault})" if rec.fault else rec.label
        state = recovery_state(rec)
        if state == "recovered":
            kind, length = "recovered", seconds or 0.0
        elif state == "not_recovered":
            kind = "not_recovered"
            watched = None if reverted is None or run_end_s is None else run_end_s - reverted
            length = max(0.0, watched or 0.0)
            note += f"; watched {length:.1f} s" if length else ""
        else:
            kind, length = "unknown", 0.0
        bars.append(
            {"label": label, "length_s": length, "kind": kind, "text": recovery_text(rec) + note}
        )
    return bars


def recovery_chart(
    recovery: Sequence[Recovery], path: Path, run_end_s: float | None = None
) -> Path:
    """Write the time-to-recover chart of the summary's recovery entries.

    Args:
        recovery: the summary's recovery entries, in its order.
        path: the PNG to write.
        run_end_s: the end of the run, seconds since its start (for windows that never
            recovered: how long they were watched).
    """
    bars = recovery_bars(recovery, run_end_s)
    fig = new_figure(10.0, max(2.8, 1.4 + 0.7 * len(bars)))
    ax = fig.add_subplot()
    ax.set_title("Time to recover after each fault (revert until success is back near baseline)")
    if not bars:
        no_data(ax, "no chaos window to recover from")
        ax.set_yticks([])
        return save_png(fig, path)
    longest = max([b["length_s"] for b in bars] + [1.0])
    for i, bar in enumerate(bars):
        if bar["kind"] == "recovered":
            ax.barh(i, bar["length_s"], color=RECOVERED_COLOR, height=0.6)
            ax.plot([bar["length_s"]], [i], marker="D", color=RECOVERED_COLOR, ms=6)
        elif bar["kind"] == "not_recovered":
            ax.barh(
                i,
                bar["length_s"] or longest,
                color="white",
                edgecolor=NOT_RECOVERED_COLOR,
                hatch="///",
                height=0.6,
            )
        color = NOT_RECOVERED_COLOR if bar["kind"] == "not_recovered" else "#222222"
        x = bar["length_s"] if bar["kind"] == "recovered" else 0.0
        ax.text(
            x + longest * 0.03,
            i,
            bar["text"],
            va="center",
            ha="left",
            fontsize=9,
            color=color,
            fontweight="bold" if bar["kind"] == "not_recovered" else "normal",
            bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1},
        )
    ax.set_yticks(range(len(bars)), [b["label"] for b in bars], fontsize=9)
    ax.set_ylim(len(bars) - 0.5, -0.5)  # first window on top
    ax.set_xlim(0, longest * 1.6)
    ax.set_xlabel("seconds from the fault's revert until success was back near baseline (s)")
    ax.grid(True, axis="x", alpha=0.3)
    return save_png(fig, path)
