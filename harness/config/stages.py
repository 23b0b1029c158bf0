"""The timeline of ``load.stages`` (pure): which stage runs at a time of the run, and when the
arrivals of arrival-rate stages are planned.

Times are seconds since the run's start: the timeline's zero (``meta.json``'s ``started_at``),
the same as chaos windows' ``at``. Stage ``i`` runs over ``[start_i, end_i)``, one after the
other from 0; a time before 0 belongs to the first stage, one at or past the last end to the
last (the run stops at its planned duration, a moment later). The load generator (its
Locust shape, its users' record labels, its arrival schedule) and the report read the same
plan, so a record's ``load_stage`` is a function of its start time wherever it was made.

Arrivals (an arrival-rate stage: ``rate`` new sessions per second) are numbered from 0 over
the whole run: arrival ``k`` is planned when the arrivals before it add up to ``k``, so a
stage of 10/s over [0, 4) plans arrivals at 0, 0.1, ..., 3.9: forty.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from harness.config.scenario import Stage

#: The ``load_stage`` of every attempt of a run without stages.
STEADY = "steady"

_STAGE_FIELDS = frozenset(f.name for f in fields(Stage))


@dataclass(frozen=True)
class StageSpan:
    """One stage on the run's timeline.

    Attributes:
        stage: the stage as configured.
        index: its place in ``load.stages``, from 0.
        start_s: when it starts (s since the run's start).
        end_s: when it ends (s): the next stage's start.
        arrivals_before: arrivals planned before ``start_s`` (0 for a stage of users).
    """

    stage: Stage
    index: int
    start_s: float
    end_s: float
    arrivals_before: float = 0.0

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def arrivals(self) -> float:
        """Arrivals planned over the stage (0 for a stage of users)."""
        return (self.stage.rate or 0.0) * (self.end_s - self.start_s)


class StagePlan:
    """The stages of a load on the run's timeline (see the module docstring).

    Args:
        stages: ``load.stages``, at least one.

    Raises:
        ValueError: no stages.
    """

    def __init__(self, stages: Sequence[Stage]) -> None:
        if not stages:
            raise ValueError("a stage plan needs at least one stage")
        spans: list[StageSpan] = []
        start, before = 0.0, 0.0
        for i, stage in enumerate(stages):
            span = StageSpan(stage, i, start, start + stage.duration, before)
            spans.append(span)
            start, before = span.end_s, before + span.arrivals
        self.spans: tuple[StageSpan, ...] = tuple(spans)
        self._ends = [s.end_s for s in spans]

    @property
    def is_rate(self) -> bool:
        """Its stages are arrival-rate stages (open model)."""
        return self.spans[0].stage.is_rate

    @property
    def duration_s(self) -> float:
        """The stages' sum (s): the run's planned duration."""
        return self.spans[-1].end_s

    @property
    def total_arrivals(self) -> float:
        """Arrivals planned over the whole run."""
        last = self.spans[-1]
        return last.arrivals_before + last.arrivals

    def at(self, t_s: float) -> StageSpan:
        """The stage running at ``t_s`` (s since the run's start)."""
        return self.spans[min(bisect_right(self._ends, t_s), len(self.spans) - 1)]

    def label_at(self, t_s: float) -> str:
        """The ``load_stage`` of an attempt started at ``t_s``: the stage's name."""
        return self.at(t_s).name

    def arrivals_by(self, t_s: float) -> float:
        """Arrivals planned over ``[0, t_s)``."""
        if t_s <= 0:
            return 0.0
        span = self.at(t_s)
        inside = min(t_s, span.end_s) - span.start_s
        return span.arrivals_before + (span.stage.rate or 0.0) * inside

    def arrival_time(self, k: int) -> float | None:
        """When arrival ``k`` (from 0) is planned (s); None: the plan has no such arrival."""
        for span in self.spans:
            rate = span.stage.rate or 0.0
            if rate > 0 and k < span.arrivals_before + span.arrivals - 1e-9:
                return span.start_s + max(0.0, k - span.arrivals_before) / rate
        return None

    def first_arrival_from(self, t_s: float) -> int:
        """The number of the first arrival planned at or after ``t_s``."""
        return math.ceil(self.arrivals_by(t_s) - 1e-9)


def stage_plan(stages: Sequence[Stage]) -> StagePlan | None:
    """The plan of ``load.stages``; None when there are none (a constant load)."""
    return StagePlan(stages) if stages else None


def stages_from_plain(items: Iterable[Mapping[str, Any]]) -> tuple[Stage, ...]:
    """The stages of ``scenario.json``'s ``load.stages`` (unknown keys are ignored).

    Raises:
        ValueError: an item is not a stage (not a mapping, no duration, a value not a number).
    """
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"load.stages[{i}]: expected an object")
        v = {k: item[k] for k in item if k in _STAGE_FIELDS}
        try:
            out.append(
                Stage(
                    duration=float(v["duration"]),
                    name=str(v.get("name") or f"stage-{i + 1}"),
                    users=None if v.get("users") is None else int(v["users"]),
                    rate=None if v.get("rate") is None else float(v["rate"]),
                    spawn_rate=float(v.get("spawn_rate", Stage.spawn_rate)),
                    max_users=None if v.get("max_users") is None else int(v["max_users"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"load.stages[{i}]: {exc}") from None
    return tuple(out)
