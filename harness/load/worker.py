"""The worker's side of a distributed run: users configured from the master's
``harness_run``, their records sent to the master in batches, nothing else.

A worker owns no run directory, no target, no probe and no chaos: it never applies a fault
(it never builds a chaos session) and never writes a report. What it needs and cannot know
from its scenario file (the target URL with the run's ports, the run id, the secret, the
CAs, its short id) comes in ``harness_run`` (:class:`harness.load.distributed.RunInfo`),
which reaches it before Locust's spawn message on the same connection, so its users never
start unconfigured. A worker whose scenario is not the master's refuses the run: it tells
the master why (``harness_refused``) and quits.

At the test's stop (Locust's ``stop`` message: users are interrupted first) the batcher
sends its final batch, before the worker tells the master it stopped.
"""

from __future__ import annotations

import gevent

import os
from collections.abc import Callable
from typing import Any

from harness.config.scenario import Scenario
from harness.load.distributed import (
    FOOTPRINT_KEY,
    MADE_KEY,
    PID_KEY,
    REFUSED_MESSAGE,
    RUN_MESSAGE,
    RecordBatcher,
    RunInfo,
)
from harness.load.footprint import own_footprint
from harness.load.user import configure_users

Say = Callable[[str], None]


class WorkerSide:
    """A worker's part of the runs its master starts (see the module docstring)."""

    def __init__(self, scenario: Scenario, say: Say) -> None:
        self.scenario = scenario
        self.say = say
        self.batcher: RecordBatcher | None = None
        self.info: RunInfo | None = None
        self.refused: str | None = None
        self.environment: Any = None
        #: records made over every run of this process
        self.made = 0

    def attach(self, environment: Any) -> None:
        self.environment = environment
        environment.runner.register_message(
            RUN_MESSAGE, lambda environment, msg, **_: self._on_run(dict(msg.data or {}))
        )
        environment.events.test_start.add_listener(self._on_test_start)
        environment.events.test_stop.add_listener(self._on_test_stop)
        environment.events.report_to_master.add_listener(self._on_report)

    def _on_run(self, data: dict[str, Any]) -> None:
        info = RunInfo.from_message(data)
        runner = self.environment.runner
        why = info.mismatch(self.scenario)
        if why is not None:
            self.refused = why
            self.say(f"harness: error: worker {info.worker} refuses run {info.run_id}: {why}")
            runner.send_message(REFUSED_MESSAGE, {"worker": info.worker, "reason": why})
            configure_users(self.environment.user_classes, None)
            gevent.spawn_later(0.2, runner.quit)  # after the message has gone
            return
        seq = self._close()  # a previous batcher, if its stop never came (told again)
        self.info = info
        self.batcher = RecordBatcher(info.worker, runner.send_message)
        self.batcher.seq = seq  # batch numbers go on: the master drops a number seen twice
        self.batcher.start()
        configure_users(
            self.environment.user_classes, info.user_config(self.scenario, self.batcher)
        )
        self.say(f"run {info.run_id}: worker {info.worker}, target {info.url}")

    def _on_test_start(self, environment: Any, **_: Any) -> None:
        if self.batcher is None and self.refused is None:
            self.say(
                "harness: warning: users were sent before the run's set-up (harness_run):"
                " is the master a harness master? These users stop at once."
            )

    def _on_test_stop(self, environment: Any, **_: Any) -> None:
        configure_users(environment.user_classes, None)
        self._close()

    def _close(self) -> int:
        """Send the batcher's final batch; the last batch number sent (0: no batcher)."""
        batcher, self.batcher = self.batcher, None
        if batcher is None:
            return 0
        batcher.close()
        self.made += batcher.made
        self.say(f"run {self.info.run_id if self.info else '?'}: {batcher.made} records sent")
        return batcher.seq

    def _on_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[MADE_KEY] = self.batcher.made if self.batcher is not None else 0
        data[PID_KEY] = os.getpid()
        data[FOOTPRINT_KEY] = own_footprint()
