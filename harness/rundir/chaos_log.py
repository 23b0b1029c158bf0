"""``chaos.jsonl``, the chaos driver's timeline, and the one rule that folds it into windows.

The driver appends one event per line, flushed at once::

    {"t": epoch s, "event": "applying" | "applied" | "reverted" | "failed" | "skipped"
                            | "target_pid",
     "label": "cpu_quota#1", "fault": "cpu_quota", "kind": "cpu", "disruptive": false,
     "optional": false,
     "params": {...}, "planned_at": s, "planned_for": s | null, "error": str | null,
     "pid": int}                                   # target_pid events only

The rule, used by the run while it goes (to label attempts) and by the report alike:

- a window **starts** at its first ``applying`` (the fault is announced just before it
  acts) or ``applied`` event, and **ends** at its ``reverted`` or ``failed`` event;
- ``reverted``: applied, then reverted; ``failed``: the apply raised (what it did was
  undone at once) - if it had started, it still spans from ``applying`` to ``failed``;
  ``active_at_end``: started and never ended (the run ended or was killed first: it
  lasts to the end of the run); ``skipped``: never applied, so no span at all;
- a label with events but no start and no ``failed`` or ``skipped`` is ``failed``, and
  its error says that nothing was recorded.

A window keeps its fault's ``kind`` (cpu, memory, connections, network, process) and
whether the fault is ``disruptive`` (it cuts or delays clients itself, so the abrupt
outcomes it causes are not the service's doing). Files from before ``disruptive`` was
written fall back to the kinds ``network`` and ``process``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.numbers import finite
from harness.rundir.jsonl import JsonlTail, read_jsonl

APPLYING = "applying"
APPLIED = "applied"
REVERTED_EVENT = "reverted"
FAILED_EVENT = "failed"
SKIPPED_EVENT = "skipped"
TARGET_PID = "target_pid"
EVENTS: tuple[str, ...] = (
    APPLYING,
    APPLIED,
    REVERTED_EVENT,
    FAILED_EVENT,
    SKIPPED_EVENT,
    TARGET_PID,
)

#: Window statuses (see the module docstring).
REVERTED = "reverted"
ACTIVE_AT_END = "active_at_end"
FAILED = "failed"
SKIPPED = "skipped"
WINDOW_STATUSES: tuple[str, ...] = (REVERTED, ACTIVE_AT_END, FAILED, SKIPPED)

#: Fault kinds whose faults are disruptive, for files that do not say.
DISRUPTIVE_KINDS: frozenset[str] = frozenset({"network", "process"})

NOTHING_RECORDED = "no applied, failed or skipped event recorded"


@dataclass(frozen=True)
class ChaosWindow:
    """One scheduled fault window, as the timeline tells it.

    Attributes:
        label: unique per window, ``<fault>#<n>``.
        fault: the fault's registered name; ``kind`` its kind; ``disruptive`` see above.
        optional: the scenario allowed the run to go on without it (``optional: true``).
        params: the fault's parameters.
        planned_at, planned_for: as scheduled, seconds since the run's start
            (``planned_for`` None: to the end of the run).
        start_t, end_t: epoch seconds of its start and end (None: not started / not ended).
        status: one of :data:`WINDOW_STATUSES`.
        error: the distinct error texts of its events, joined by ``"; "``.
    """

    label: str
    fault: str = ""
    kind: str = ""
    disruptive: bool = False
    optional: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    planned_at: float | None = None
    planned_for: float | None = None
    start_t: float | None = None
    end_t: float | None = None
    status: str = FAILED
    error: str | None = None

    @property
    def has_span(self) -> bool:
        """The fault acted (or was announced) for a while: attempts can be inside it."""
        return self.start_t is not None

    def overlaps(self, start: float, end: float) -> bool:
        """The window was on at some time in ``[start, end]`` (epoch seconds)."""
        if self.start_t is None or self.start_t > end:
            return False
        return self.end_t is None or self.end_t >= start


def _status(seen: set[str], end_t: float | None, started: bool) -> str:
    if started:
        if FAILED_EVENT in seen:
            return FAILED
        return REVERTED if REVERTED_EVENT in seen and end_t is not None else ACTIVE_AT_END
    return SKIPPED if SKIPPED_EVENT in seen and FAILED_EVENT not in seen else FAILED


class _Fold:
    """The state of one window while its events are folded."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.info: dict[str, Any] = {}
        self.seen: set[str] = set()
        self.start_t: float | None = None
        self.end_t: float | None = None
        self.errors: list[str] = []

    def add(self, ev: Mapping[str, Any]) -> None:
        for key in ("fault", "kind", "disruptive", "optional", "planned_at", "planned_for"):
            if self.info.get(key) is None and ev.get(key) is not None:
                self.info[key] = ev[key]
        if not self.info.get("params") and isinstance(ev.get("params"), dict):
            self.info["params"] = dict(ev["params"])
        kind = str(ev.get("event", ""))
        self.seen.add(kind)
        t = finite(ev.get("t"))
        if kind in (APPLYING, APPLIED) and self.start_t is None:
            self.start_t = t
        elif kind in (REVERTED_EVENT, FAILED_EVENT) and t is not None and self.start_t is not None:
            self.end_t = t if self.end_t is None else max(self.end_t, t)
        if ev.get("error") and str(ev["error"]) not in self.errors:
            self.errors.append(str(ev["error"]))

    def window(self) -> ChaosWindow:
        started = self.start_t is not None
        errors = list(self.errors)
        if not started and not self.seen & {FAILED_EVENT, SKIPPED_EVENT} and not errors:
            errors.append(NOTHING_RECORDED)
        kind = str(self.info.get("kind") or "")
        disruptive = self.info.get("disruptive")
        return ChaosWindow(
            label=self.label,
            fault=str(self.info.get("fault") or ""),
            kind=kind,
            disruptive=bool(disruptive) if disruptive is not None else kind in DISRUPTIVE_KINDS,
            optional=self.info.get("optional") is True,
            params=dict(self.info.get("params") or {}),
            planned_at=finite(self.info.get("planned_at")),
            planned_for=finite(self.info.get("planned_for")),
            start_t=self.start_t,
            end_t=self.end_t,
            status=_status(self.seen, self.end_t, started),
            error="; ".join(errors) or None,
        )


class ChaosTimeline:
    """Chaos events folded into windows, one event at a time (see the module docstring).

    The run feeds it what the driver appends while the load goes (:meth:`follow`); the
    report folds a whole file at once (:func:`read_windows`). Both read the same windows.
    """

    def __init__(self) -> None:
        self._folds: dict[str, _Fold] = {}
        self._windows: list[ChaosWindow] | None = None
        self._t0: float | None = None  # the run's start as the events imply it (t - planned_at)
        self.target_pid: int | None = None

    def add(self, events: Iterable[Mapping[str, Any]]) -> None:
        for ev in events:
            self._windows = None
            t, planned = finite(ev.get("t")), finite(ev.get("planned_at"))
            if t is not None and planned is not None:
                self._t0 = t - planned if self._t0 is None else min(self._t0, t - planned)
            if ev.get("event") == TARGET_PID and finite(ev.get("pid")) is not None:
                self.target_pid = int(finite(ev.get("pid")) or 0)
            label = ev.get("label")
            if label:
                self._folds.setdefault(str(label), _Fold(str(label))).add(ev)

    def windows(self) -> list[ChaosWindow]:
        """Every window, by start (else planned start on the same clock), then label."""
        if self._windows is not None:
            return list(self._windows)
        out = [f.window() for f in self._folds.values()]

        def key(w: ChaosWindow) -> tuple[float, str]:
            when = w.start_t
            if when is None and w.planned_at is not None and self._t0 is not None:
                when = self._t0 + w.planned_at
            return (math.inf if when is None else when, w.label)

        self._windows = sorted(out, key=key)
        return list(self._windows)

    def active(self) -> list[str]:
        """Labels of the windows started and not ended."""
        return sorted(w.label for w in self.windows() if w.has_span and w.end_t is None)

    def faults_between(self, start: float, end: float) -> list[str]:
        """Labels of the windows on at some time in ``[start, end]`` (epoch seconds)."""
        return sorted(w.label for w in self.windows() if w.overlaps(start, end))


class ChaosFollower(ChaosTimeline):
    """A :class:`ChaosTimeline` of a ``chaos.jsonl`` that is still being written."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._tail = JsonlTail(path)

    def follow(self) -> list[dict[str, Any]]:
        """Fold the events appended since the last call, and return them."""
        events = self._tail.read()
        self.add(events)
        return events


def fold_events(events: Iterable[Mapping[str, Any]]) -> list[ChaosWindow]:
    """The windows of a sequence of chaos events (see the module docstring)."""
    timeline = ChaosTimeline()
    timeline.add(events)
    return timeline.windows()


def read_windows(path: Path) -> list[ChaosWindow]:
    """The windows of a ``chaos.jsonl`` file (none when it is missing: a run without chaos)."""
    return fold_events(read_jsonl(path))


def read_events(path: Path) -> list[dict[str, Any]]:
    """The raw events of a ``chaos.jsonl`` file."""
    return list(read_jsonl(path))
