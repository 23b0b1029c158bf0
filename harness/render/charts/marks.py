"""Chaos windows and load stages drawn on a time axis.

Chaos windows: a translucent coloured span per window, dashed edges, its label at the top.
Labels sit in rows at the top of the plot; a label that would run into the one before
it (overlapping or close windows) drops to the next row, so every label stays readable.
:func:`reserve_headroom` then lifts the y range so the rows never hide the data.

Load stages (``load.stages``), in a lighter style below them: every other stage a pale grey
band, a thin solid grey line where a stage begins, and its name with its load (``peak: 50
users``, ``ramp: 20/s``) in small grey italics at the bottom (:func:`shade_stages`).
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

from harness.analysis.phases import WindowSpan
from harness.analysis.summary import StageStats

#: Fill colours of windows, one per fault (in order of first appearance), and their edges.
CHAOS_COLORS: tuple[str, ...] = ("#fdae6b", "#9ecae1", "#bcbddc", "#a1d99b", "#fc9272")
CHAOS_EDGES: tuple[str, ...] = ("#e6550d", "#3182bd", "#756bb1", "#31a354", "#de2d26")

#: Font size of window labels (points) and the height of one label row (share of the axes).
LABEL_FONT_PT = 8.0
ROW_HEIGHT = 0.075
#: Gap above the first row (share of the axes).
TOP_GAP = 0.02
#: Approximate width of one label character, in inches (a sans-serif font at 8 pt).
CHAR_WIDTH_IN = LABEL_FONT_PT * 0.62 / 72.0


def span_text(span: WindowSpan) -> str:
    """The label drawn for a window: its label, and a note when it was never reverted."""
    return f"{span.label} (not reverted)" if span.open_ended else span.label


def label_layout(
    spans: Sequence[WindowSpan], x_lo_s: float, x_hi_s: float, axes_width_in: float = 8.0
) -> list[tuple[float, int]]:
    """Where each span's label goes: its left edge (s) and its row (0 = top), without overlaps.

    A label starts at its window's start and is about ``len(text) * CHAR_WIDTH_IN`` wide;
    one that would run past the right edge is pulled left to end there. It goes to the
    first row whose last label has ended by then.

    Args:
        spans: the windows, in time order.
        x_lo_s: x limits of the axes, seconds since the run's start.
        x_hi_s: see ``x_lo_s``.
        axes_width_in: width of the axes in inches.
    """
    s_per_in = max(x_hi_s - x_lo_s, 1e-9) / max(axes_width_in, 1e-9)
    row_ends: list[float] = []  # where the last label of each row ends, in seconds
    out = []
    for span in sorted(spans, key=lambda s: (s.start_s, s.label)):
        width_s = (len(span_text(span)) + 2) * CHAR_WIDTH_IN * s_per_in
        x = max(x_lo_s, min(span.start_s, x_hi_s - width_s))
        row = next((i for i, end in enumerate(row_ends) if end <= x), len(row_ends))
        if row == len(row_ends):
            row_ends.append(0.0)
        row_ends[row] = x + width_s
        out.append((x, row))
    return out


def fault_colors(spans: Sequence[WindowSpan]) -> dict[str, tuple[str, str]]:
    """(fill, edge) colour of each fault, in order of first appearance."""
    colors: dict[str, tuple[str, str]] = {}
    for span in spans:
        if span.fault not in colors:
            i = len(colors) % len(CHAOS_COLORS)
            colors[span.fault] = (CHAOS_COLORS[i], CHAOS_EDGES[i])
    return colors


def shade_windows(ax: Axes, spans: Sequence[WindowSpan], *, labels: bool = True) -> int:
    """Shade every window on ``ax`` (x in seconds since the run's start) and label it.

    Args:
        ax: a time axis; call after its x limits are set, so labels are laid out right.
        spans: the windows, in time order.
        labels: write the labels (False for the lower panels of a stack of plots).

    Returns:
        The number of label rows used (give it to :func:`reserve_headroom`).
    """
    colors = fault_colors(spans)
    for span in spans:
        fill, edge = colors[span.fault]
        ax.axvspan(span.start_s, span.end_s, facecolor=fill, alpha=0.35, lw=0, zorder=0)
        # Edges above the data, so a window stays visible over a filled (stacked) plot.
        ax.axvline(span.start_s, color=edge, lw=0.9, ls="--", alpha=0.9, zorder=3)
        if not span.open_ended:
            ax.axvline(span.end_s, color=edge, lw=0.9, ls=":", alpha=0.9, zorder=3)
    if not labels or not spans:
        return 0
    lo, hi = ax.get_xlim()
    # Before layout, the axes' share of the figure is a guess: a legend may narrow it later.
    width_in = 0.85 * ax.get_position().width * ax.get_figure().get_figwidth()  # type: ignore[union-attr]
    spans = sorted(spans, key=lambda s: (s.start_s, s.label))
    layout = label_layout(spans, float(lo), float(hi), float(width_in))
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    for span, (x, row) in zip(spans, layout, strict=True):
        _, edge = colors[span.fault]
        ax.text(
            x,
            1.0 - TOP_GAP - row * ROW_HEIGHT,
            span_text(span),
            transform=transform,
            ha="left",
            va="top",
            fontsize=LABEL_FONT_PT,
            color="#222222",
            clip_on=True,
            zorder=5,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": edge, "alpha": 0.85},
        )
    return max(row for _, row in layout) + 1


#: Load stages: the band of every other stage, the line where a stage begins, label colour.
STAGE_BAND = "#ececec"
STAGE_LINE = "#9e9e9e"
STAGE_TEXT = "#616161"


def stage_text(stage: StageStats) -> str:
    """The label drawn for a stage: its name and its load (``stage-2: 8 users``)."""
    users = f"{stage.users} user{'' if stage.users == 1 else 's'}"
    load = f"{stage.rate:g}/s" if stage.rate is not None else users
    return f"{stage.name}: {load}"


def shade_stages(ax: Axes, stages: Sequence[StageStats], *, labels: bool = True) -> None:
    """Draw the load stages on ``ax`` (x in seconds since the run's start; call after its x
    limits are set): a pale band on every other stage, a thin line at each stage's start,
    and (``labels``) each name at the bottom, cut at the axes' edge."""
    lo, hi = ax.get_xlim()
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    for i, stage in enumerate(stages):
        if stage.start_s >= hi:
            break
        if i % 2 == 1:
            ax.axvspan(stage.start_s, stage.end_s, facecolor=STAGE_BAND, lw=0, zorder=-1)
        if stage.start_s > lo:
            ax.axvline(stage.start_s, color=STAGE_LINE, lw=0.8, ls="-", alpha=0.9, zorder=3)
        if labels:
            ax.text(
                max(stage.start_s, float(lo)),
                0.02,
                " " + stage_text(stage),
                transform=transform,
                ha="left",
                va="bottom",
                fontsize=LABEL_FONT_PT - 1,
                style="italic",
                color=STAGE_TEXT,
                clip_on=True,
                zorder=4,
                bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
            )


def reserve_headroom(ax: Axes, rows: int) -> None:
    """Raise the top of the y range so ``rows`` label rows sit above the data."""
    if rows <= 0:
        return
    bottom, top = ax.get_ylim()
    band = TOP_GAP + rows * ROW_HEIGHT + 0.01
    ax.set_ylim(bottom, bottom + (top - bottom) / (1.0 - band))
