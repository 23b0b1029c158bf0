"""Chaos phases of a run (pure): which part of the chaos timeline each attempt belongs to.

The phase of every attempt is computed once, when a run is loaded
(:func:`harness.analysis.run.make_run`, column ``phase``); every later step reads that column.

A phase is one of:

- ``baseline``: no fault active, started before the first window was applied (or at an
  unknown time). A run without chaos is all baseline.
- ``during <labels>``: faults were active when the attempt started. The attempt's own
  ``chaos`` list (the labels the load generator saw active) decides; overlapping
  windows give ``during a + b`` with the labels sorted. An attempt with an empty list
  that started inside a window on the chaos timeline (a load generator that does not
  fill the list) is placed by time the same way.
- ``after <label>``: no fault active, after ``label`` was reverted and before the next
  window was applied: the recovery phase of the most recently reverted window.

Times are seconds since the run's start. A window is a span from ``applied_s`` to
``reverted_s``; a window never reverted (``active_at_end``: the run ended or was killed
during it) lasts to the end of the run. Windows that ``failed`` or were ``skipped`` were
never applied and make no span and no phase.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.summary import Window

BASELINE = "baseline"
DURING = "during"
AFTER = "after"


@dataclass(frozen=True)
class WindowSpan:
    """One applied chaos window on the run's timeline.

    Attributes:
        label: the window's unique label, e.g. ``cpu_quota#1``.
        fault: the fault's registered name, e.g. ``cpu_quota``.
        start_s: when it was applied, seconds since the run's start.
        end_s: when it was reverted, or the end of the run when it never was.
        open_ended: never reverted (status ``active_at_end``).
    """

    label: str
    fault: str
    start_s: float
    end_s: float
    open_ended: bool = False

    def active_at(self, t_s: float) -> bool:
        """True when the window was active at ``t_s`` (start inclusive, revert exclusive)."""
        return self.start_s <= t_s and (self.open_ended or t_s < self.end_s)


def during_label(labels: Iterable[str]) -> str:
    """``during a + b`` for the set of active window labels (sorted, duplicates dropped)."""
    return f"{DURING} " + " + ".join(sorted({str(x) for x in labels}))


def after_label(label: str) -> str:
    """``after <label>``: the recovery phase of the window ``label``."""
    return f"{AFTER} {label}"


def phase_kind(phase: str) -> str:
    """``baseline``, ``during`` or ``after`` for a phase name."""
    return phase.split(" ", 1)[0]


def phase_labels(phase: str) -> list[str]:
    """The window labels a phase name refers to (none for baseline)."""
    kind, _, rest = phase.partition(" ")
    if kind == DURING:
        return rest.split(" + ")
    return [rest] if kind == AFTER else []


def window_spans(windows: Sequence[Window], end_s: float) -> list[WindowSpan]:
    """The applied windows as spans, in time order (windows never applied are skipped).

    Args:
        windows: the run's chaos windows (times in seconds since its start).
        end_s: the end of the run (s since its start), where unreverted windows end.
    """
    spans = []
    for w in windows:
        if w.applied_s is None:
            continue
        end = max(w.applied_s, end_s if w.reverted_s is None else w.reverted_s)
        spans.append(WindowSpan(w.label, w.fault, w.applied_s, end, w.reverted_s is None))
    return sorted(spans, key=lambda s: (s.start_s, s.label))


def timeline_end_s(windows: Sequence[Window], duration_s: float | None) -> float:
    """The end of the run's chaos timeline (s since its start).

    The run's duration (to its end, or to its last attempt when it was cut short), or the
    last chaos event when that came later; a window never reverted lasts to it.
    """
    times = [duration_s or 0.0]
    times += [t for w in windows for t in (w.applied_s, w.reverted_s) if t is not None]
    return max(times)


def phase_at(t_s: float, spans: Sequence[WindowSpan]) -> str:
    """The phase at ``t_s`` (seconds since the run's start) by the chaos timeline alone."""
    active = [s.label for s in spans if s.active_at(t_s)]
    if active:
        return during_label(active)
    done = [s for s in spans if not s.open_ended and s.end_s <= t_s]
    if done:
        last = max(done, key=lambda s: (s.end_s, s.start_s, s.label))
        return after_label(last.label)
    return BASELINE


def assign_phases(
    chaos: pd.Series[Any], t_s: pd.Series[Any], spans: Sequence[WindowSpan]
) -> pd.Series[str]:
    """The phase of each attempt (see the module docstring for the rules).

    Args:
        chaos: each attempt's list of window labels active at its start.
        t_s: each attempt's start, seconds since the run's start (NaN: unknown,
            which is baseline unless the attempt saw faults).
        spans: from :func:`window_spans`.

    Returns:
        Phase names, same index as ``chaos``.
    """
    t = pd.to_numeric(t_s, errors="coerce").to_numpy(dtype=float)
    phases = np.full(len(t), BASELINE, dtype=object)
    known = ~np.isnan(t)
    reverted = sorted(
        (s for s in spans if not s.open_ended), key=lambda s: (s.end_s, s.start_s, s.label)
    )
    for span in reverted:  # the most recently reverted window wins
        phases[known & (t >= span.end_s)] = after_label(span.label)
    if spans:
        active = np.column_stack(
            [known & (t >= s.start_s) & (s.open_ended | (t < s.end_s)) for s in spans]
        )
        rows = np.flatnonzero(active.any(axis=1))
        if rows.size:
            patterns, inverse = np.unique(active[rows], axis=0, return_inverse=True)
            names = [
                during_label(s.label for s, on in zip(spans, p, strict=True) if on)
                for p in patterns
            ]
            phases[rows] = [names[i] for i in np.ravel(inverse)]
    values = chaos.to_numpy(dtype=object)
    if set(map(type, values)) <= {list}:  # the attempts frame's: lengths alone say it
        listed = np.fromiter(map(len, values), dtype=np.int64, count=len(values)) > 0
    else:
        listed = np.fromiter(
            (isinstance(v, list | tuple) and len(v) > 0 for v in values),
            dtype=bool,
            count=len(values),
        )
    if listed.any():
        labels: dict[tuple[str, ...], str] = {}  # one label per distinct list, not per attempt
        phases[listed] = [
            labels.get(key) or labels.setdefault(key, during_label(key))
            for key in (tuple(v) for v in values[listed])
        ]
    return pd.Series(phases, index=chaos.index, dtype=object)


def phase_intervals(
    spans: Sequence[WindowSpan], end_s: float, start_s: float = 0.0
) -> dict[str, tuple[float, float]]:
    """Each phase of the chaos timeline with its first start and last end (s), in time order.

    Segments between consecutive chaos events get :func:`phase_at` of their middle;
    a phase that comes back (``during a`` around ``during a + b``) keeps its first start
    and last end. Zero-length segments make no phase; with no windows the whole run
    ``[start_s, end_s]`` is baseline.
    """
    start_s = min([start_s] + [s.start_s for s in spans])
    bounds = {start_s, end_s}
    bounds.update(s.start_s for s in spans)
    bounds.update(s.end_s for s in spans if not s.open_ended)
    edges = sorted(b for b in bounds if start_s <= b <= end_s)
    out: dict[str, tuple[float, float]] = {}
    for lo, hi in pairwise(edges):
        if hi <= lo:
            continue
        name = phase_at((lo + hi) / 2.0, spans)
        first = out.get(name, (lo, hi))
        out[name] = (min(first[0], lo), max(first[1], hi))
    if not spans and not out:
        out[BASELINE] = (start_s, max(start_s, end_s))
    return out


def ordered_phases(
    assigned: pd.Series[Any],
    t_s: pd.Series[Any],
    intervals: Mapping[str, tuple[float, float]],
) -> dict[str, tuple[float | None, float | None]]:
    """Every phase of the run (on the timeline or with attempts) with its start and end (s).

    Phases of the timeline keep their interval; a phase only attempts have (their lists
    named labels with no window in ``chaos.jsonl``, or a race at a window's edge) spans
    its attempts' first and last start. Order: by start, baseline first on ties.
    """
    t = pd.to_numeric(t_s, errors="coerce")
    names = assigned.astype(str)
    out: dict[str, tuple[float | None, float | None]] = dict(intervals)
    for name in pd.unique(names):
        if name in out:
            continue
        times = t[(names == name).to_numpy()].dropna()
        out[str(name)] = (
            (float(times.min()), float(times.max())) if not times.empty else (None, None)
        )

    def key(item: tuple[str, tuple[float | None, float | None]]) -> tuple[float, int, str]:
        name, (start, _) = item
        return (math.inf if start is None else start, name != BASELINE, name)

    return dict(sorted(out.items(), key=key))
