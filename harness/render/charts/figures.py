"""Shared figure plumbing for the charts: Agg canvas, dpi, saving, the "no data" note."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Resolution of every chart (dots per inch); a 10 x 4.8 in chart is about 1000 x 480 px.
DPI = 100


def new_figure(width_in: float = 10.0, height_in: float = 4.8) -> Figure:
    """A figure of ``width_in`` x ``height_in`` inches on its own Agg canvas (no pyplot)."""
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` and return ``path``."""
    fig.savefig(path, dpi=DPI, format="png")
    return path


def no_data(ax: Axes, text: str = "no data") -> None:
    """Write ``text`` in the middle of an empty plot, so a missing series is never silent."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=14,
        color="#777777",
    )
