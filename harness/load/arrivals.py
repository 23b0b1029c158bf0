"""Arrivals of an arrival-rate load (open model): new sessions at the planned rate, whatever
the target's answers take.

Locust's users are a closed model: each starts its next session when its last one (and its
wait) is over, so a slow target gets fewer attempts. An arrival-rate stage
(``load.stages[i].rate``) turns that around with the simplest mechanism that keeps the rate:
one :class:`ArrivalSchedule` per process, shared by its users, and a pool of users
(``max_users``) that serve it. An idle user takes its turn (a gevent semaphore, so one user
at a time waits for the next arrival), sleeps until the next planned arrival
(:meth:`harness.config.stages.StagePlan.arrival_time`), gives the turn to the next idle
user and starts one session (one attempt unless ``load.reconnect`` reconnects it); then it is
idle again. The rate is therefore the plan's while at least one user is idle; when every
user is busy, arrivals wait for the first to come free, and an arrival more than
:data:`LATE_S` late is missed (counted in :attr:`ArrivalSchedule.missed`, as k6 counts
dropped iterations). A user stopped while waiting (a stage with fewer ``max_users``, the
run's end) takes no arrival with it: the next idle user waits for the same one.

In a distributed run every worker has its own schedule and takes every ``n``-th arrival
(``n``: the workers connected when the run started, told in ``harness_run``), so the workers
together make the planned rate.
"""

from __future__ import annotations

import gevent
from gevent.lock import Semaphore

import time

from harness.config.stages import StagePlan

#: An arrival this late (s) when a user comes free is missed, not made.
LATE_S = 1.0


class ArrivalSchedule:
    """One process's share of a run's planned arrivals (see the module docstring).

    Args:
        plan: the run's arrival-rate stages.
        started_at: the run's time zero (epoch s).
        index: this process's place among ``count`` (0 for a run in one process).
        count: the processes that share the arrivals (1 for a run in one process).
    """

    def __init__(self, plan: StagePlan, started_at: float, index: int = 0, count: int = 1) -> None:
        self.plan = plan
        self.started_at = started_at
        self.index, self.count = index, max(1, count)
        self._turn = Semaphore()
        self._taken = 0  # this process's arrivals made or missed so far
        #: arrivals made (each started a session)
        self.made = 0
        #: arrivals missed: every user was busy for more than LATE_S
        self.missed = 0

    def _number(self, taken: int) -> int:
        """The run-wide number of this process's ``taken``-th arrival."""
        return taken * self.count + self.index

    def wait_turn(self) -> bool:
        """Wait (interruptibly) for this process's next arrival; False: the plan has none left.

        Returns at the arrival's planned time, or at once when it is already due (late by at
        most :data:`LATE_S`); the arrival is then this caller's.
        """
        with self._turn:
            while True:
                t = self.plan.arrival_time(self._number(self._taken))
                if t is None:
                    return False
                now_s = time.time() - self.started_at
                if t < now_s - LATE_S:  # every user was busy: skip to the arrivals due now
                    first = self.plan.first_arrival_from(now_s - LATE_S)
                    skip = max(1, -(-(first - self.index) // self.count) - self._taken)
                    self._taken += skip
                    self.missed += skip
                    continue
                if t > now_s:
                    gevent.sleep(t - now_s)  # a kill here leaves the arrival to the next user
                self._taken += 1
                self.made += 1
                return True
