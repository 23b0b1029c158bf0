"""The load's shape on Locust's own :class:`~locust.LoadTestShape`: ``load.stages``.

One shape for every route: ``harness run`` (the local runner), a master of workers
(``harness run --workers N``, ``harness master``, ``locust --master``) and ``locust -f
locustfile.py`` (headless or the web UI) all give the scenario's :class:`StagesShape` to the
Locust environment (:func:`install_shape`) and start the load with :func:`start_load`: Locust's
shape worker then asks :meth:`StagesShape.tick` once a second for the users to run and how
fast to start (or stop) them, and ramps there (on a master, by spreading them over the
workers). A run without stages is started as before, ``load.users`` at ``load.spawn_rate``.

The shape's clock is the run's own (seconds since ``meta.json``'s ``started_at``, set by the
run lifecycle when the run starts: :meth:`StagesShape.begin`), so the stage Locust runs and
the stage every record is labelled with (:class:`harness.config.stages.StagePlan`) are the
same. Locust's shape worker ticks once a second: a stage's users change within about a second
of its start. The shape never ends the test (its last stage holds): the run lifecycle stops
the load at the planned duration (the stages' sum), and Ctrl-C or SIGTERM end it as
interrupted, as they do a run without stages.

An arrival-rate stage runs ``max_users`` users, started at its ``spawn_rate``: each serves
arrivals one at a time (:mod:`harness.load.arrivals`).
"""

from __future__ import annotations

from locust import LoadTestShape

import time
from typing import Any

from harness.config.scenario import Scenario
from harness.config.stages import StagePlan, StageSpan, stage_plan


class StagesShape(LoadTestShape):
    """``load.stages`` as a Locust load shape (see the module docstring)."""

    def __init__(self, plan: StagePlan) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.plan = plan
        #: the run's time zero (epoch s); None until a run begins
        self.started_at: float | None = None

    def begin(self, started_at: float) -> None:
        """A run starts: its time zero (epoch s) is the shape's."""
        self.started_at = started_at

    def reset_time(self) -> None:
        """Locust starts a shape test: until the run begins, its first stage."""
        super().reset_time()  # type: ignore[no-untyped-call]
        self.started_at = None

    def elapsed(self) -> float:
        """Seconds since the run's start (0 before it starts)."""
        return 0.0 if self.started_at is None else time.time() - self.started_at

    def current(self) -> StageSpan:
        """The stage running now."""
        return self.plan.at(self.elapsed())

    def tick(self) -> tuple[int, float]:
        """The users to run now (the stage's ``users``, or its ``max_users``) and how fast
        to start or stop them (users/s)."""
        stage = self.current().stage
        return stage.pool, stage.spawn_rate


def shape_for(scenario: Scenario) -> StagesShape | None:
    """The scenario's shape; None when its load has no stages."""
    plan = stage_plan(scenario.load.stages)
    return None if plan is None else StagesShape(plan)


def install_shape(environment: Any, scenario: Scenario) -> StagesShape | None:
    """Give ``environment`` the scenario's shape (or none), its runner attached (Locust
    attaches it only to a shape the environment was created with)."""
    shape = shape_for(scenario)
    environment.shape_class = shape
    if shape is not None:
        shape.runner = environment.runner
    return shape


def run_shape(environment: Any) -> StagesShape | None:
    """The :class:`StagesShape` the environment runs, if any."""
    shape = getattr(environment, "shape_class", None)
    return shape if isinstance(shape, StagesShape) else None


def start_load(environment: Any, scenario: Scenario) -> None:
    """Start the load of a library-mode route: the shape's, or ``load.users`` at
    ``load.spawn_rate``."""
    runner = environment.runner
    if run_shape(environment) is not None:
        runner.start_shape()
    else:
        runner.start(scenario.load.users, spawn_rate=scenario.load.spawn_rate)
