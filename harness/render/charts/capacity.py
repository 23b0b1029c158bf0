"""The chart of a capacity search: success rate, handshake p95, refusals and the target's
CPU and memory against the load of each step, users or a rate (``capacity.png``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes

from harness.render.charts.figures import new_figure, no_data, save_png

#: Marker colour per step status.
STATUS_COLORS: Mapping[str, str] = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "generator-limited": "#8a5a00",
    "error": "#757575",
    "interrupted": "#757575",
}


def _series(
    steps: Sequence[Mapping[str, Any]], key: str
) -> tuple[list[float], list[float], list[str]]:
    xs, ys, colors = [], [], []
    for s in steps:
        v = s.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            xs.append(float(s["load"]))
            ys.append(float(v))
            colors.append(STATUS_COLORS.get(str(s.get("status")), "#333333"))
    return xs, ys, colors


def _panel(
    ax: Axes,
    steps: Sequence[Mapping[str, Any]],
    key: str,
    title: str,
    scale: float = 1.0,
    *,
    xlabel: str = "users",
) -> None:
    xs, ys, colors = _series(steps, key)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)
    if not xs:
        no_data(ax)
        return
    ys = [y * scale for y in ys]
    ax.plot(xs, ys, color="#555555", linewidth=1, zorder=1)
    ax.scatter(xs, ys, c=colors, s=36, zorder=2)


def capacity_chart(capacity: Mapping[str, Any], path: Path) -> Path:
    """Four panels against the load of each step; the highest passing step marked."""
    steps = sorted(capacity.get("steps") or [], key=lambda s: s["load"])
    x = "users" if capacity.get("axis", "users") == "users" else "new sessions per second"
    fig = new_figure(11.0, 7.0)
    axes = fig.subplots(2, 2)
    _panel(axes[0][0], steps, "success_rate", "success rate (%)", 100.0, xlabel=x)
    _panel(axes[0][1], steps, "handshake_p95_ms", "handshake p95 (ms)", xlabel=x)
    _panel(axes[1][0], steps, "refusals", "valid tokens refused (attempts)", xlabel=x)
    _panel(axes[1][1], steps, "target_cpu_percent", "target CPU (% of a core, median)", xlabel=x)
    rss = axes[1][1].twinx()
    xs, ys, _ = _series(steps, "target_rss_mb")
    if xs:
        rss.plot(xs, ys, color="#1565c0", linestyle="--", linewidth=1)
        rss.set_ylabel("target RSS (MB, dashed)", color="#1565c0")
    best = capacity.get("highest_passing") or {}
    if best.get("load") is not None:
        for row in axes:
            for ax in row:
                ax.axvline(float(best["load"]), color="#2e7d32", linestyle=":", linewidth=1)
    fig.suptitle(
        "capacity search: green passed, red failed its gates, brown the generator's limit",
        fontsize=10,
    )
    return save_png(fig, path)
