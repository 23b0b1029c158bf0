"""The master's side of a distributed run: workers told what to run, their records written
once, each with the master's chaos labels, and every worker accounted for.

The run itself (run directory, target, probe, chaos, recorder, report) is the one
:class:`harness.load.lifecycle.ActiveRun` of every route; on a master it hands its users'
part to a :class:`MasterSide` instead of configuring local users:

- :meth:`MasterSide.begin` (at ``test_start``, before Locust's spawn messages on the same
  connections): each connected worker gets its short id and ``harness_run``; a worker that
  connects later gets it when it connects (before Locust sends it users).
- Batches of records arrive through the :class:`harness.load.distributed.WorkerLedger`;
  each record gets the chaos windows it lived through here (a worker knows no chaos
  timeline) and goes to the run's recorder.
- :meth:`MasterSide.check` (the run's monitor, every tick): a worker Locust marks missing
  (no heartbeat for about 3 s) or whose process exited (for the workers this machine
  started) is lost; the run goes on with the others.
- :meth:`MasterSide.finish` (at ``test_stop``): waits, bounded, for every worker's final
  batch; a worker whose batch never came is lost. The accounts go into ``meta.json``.

A worker that refuses the run (its scenario differs from the master's) says why with
``harness_refused``; the master prints it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from harness.load.distributed import (
    FOOTPRINT_KEY,
    PID_KEY,
    RECORDS_MESSAGE,
    REFUSED_MESSAGE,
    RUN_MESSAGE,
    RunInfo,
    WorkerAccount,
    WorkerLedger,
)
from harness.load.user import RecordSink
from harness.rundir.records import AttemptRecord

#: Seconds the master waits at ``test_stop`` for the workers' final batches.
FLUSH_TIMEOUT_S = 10.0

#: Locust's states: a worker whose heartbeats stopped; a runner spreading or running users.
MISSING, SPAWNING, RUNNING_STATE = "missing", "spawning", "running"

Say = Callable[[str], None]
#: labels of the chaos windows that overlap [start, end] (epoch s)
FaultsBetween = Callable[[float, float], list[str]]
#: how this machine's worker process ``pid`` ended (None: running, or not one it started)
ExitOf = Callable[[int | None], str | None]


class LabellingSink:
    """The records of workers, each given the chaos windows it lived through, into ``sink``."""

    def __init__(self, sink: RecordSink, faults_between: FaultsBetween) -> None:
        self.sink = sink
        self.faults_between = faults_between

    def add(self, record: AttemptRecord) -> None:
        end = record.t_end if record.t_end is not None else record.t_start
        record.chaos = self.faults_between(record.t_start, end)
        self.sink.add(record)


class MasterSide:
    """The users' part of a run on a master (see the module docstring)."""

    def __init__(self, say: Say, *, exit_of: ExitOf | None = None) -> None:
        self.say = say
        self.exit_of = exit_of
        self.ledger: WorkerLedger | None = None
        self.setup: RunInfo | None = None  # the run's set-up, its worker id left empty
        self.environment: Any = None
        #: process ids of the workers by Locust client id, from every report (a worker
        #: reports once when it connects, then every 3 s)
        self.pids: dict[str, int] = {}
        #: each worker's last footprint (:mod:`harness.load.footprint`), by client id
        self.footprints: dict[str, dict[str, Any]] = {}
        self._t0 = 0.0
        self._sharing = 1  # the workers connected when the run began (arrival shares)

    def attach(self, environment: Any) -> None:
        """Hang the master's handlers on its runner (once per process: each test's run
        finds the current ledger through them)."""
        self.environment = environment
        runner = environment.runner
        runner.register_message(RECORDS_MESSAGE, lambda environment, msg, **_: self._on_batch(msg))
        runner.register_message(REFUSED_MESSAGE, lambda environment, msg, **_: self._refused(msg))
        environment.events.worker_report.add_listener(self._on_report)
        environment.events.worker_connect.add_listener(self._on_connect)

    @property
    def runner(self) -> Any:
        return self.environment.runner

    def connected(self) -> list[str]:
        """Locust client ids of the workers ready or running."""
        r = self.runner
        return [c.id for c in (*r.clients.ready, *r.clients.spawning, *r.clients.running)]

    def begin(self, setup: RunInfo, sink: RecordSink, faults_between: FaultsBetween) -> None:
        """A run starts: a new ledger, and ``harness_run`` to every connected worker."""
        self.ledger = WorkerLedger(LabellingSink(sink, faults_between))
        self.setup, self._t0 = setup, time.monotonic()
        self._sharing = max(1, len(self.connected()))
        for client_id in self.connected():
            self._tell(client_id)

    def _tell(self, client_id: str) -> WorkerAccount:
        """Send ``client_id`` the run, with its short id; its account."""
        assert self.ledger is not None and self.setup is not None
        account = self.ledger.join(client_id)
        if account.pid is None:
            account.pid = self.pids.get(client_id)
        index = int(account.id[1:]) - 1  # "w1" is the first to join
        count = max(self._sharing, index + 1)  # a late worker shares with the others
        info = replace(self.setup, worker=account.id, arrival_index=index, arrival_count=count)
        self.runner.send_message(RUN_MESSAGE, info.to_message(), client_id)
        return account

    def _on_connect(self, client_id: str, **_: Any) -> None:
        """A worker (re)connected: during a run's load it is told the run at once (a worker
        that reports ready again after the test's stop is not)."""
        running = self.runner.state in (SPAWNING, RUNNING_STATE)
        if self.ledger is not None and self.setup is not None and running:
            account = self._tell(client_id)
            self.say(f"[{self._elapsed():5.0f}s] worker {account.id} joined the run")

    def _on_batch(self, msg: Any) -> None:
        if self.ledger is not None:
            self.ledger.on_records(str(msg.node_id), dict(msg.data or {}))

    def _on_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        pid = data.get(PID_KEY)
        if isinstance(pid, int):
            self.pids[client_id] = pid
        foot = data.get(FOOTPRINT_KEY)
        if isinstance(foot, dict):
            self.footprints[client_id] = foot
        if self.ledger is not None:
            self.ledger.on_report(client_id, data)

    def _refused(self, msg: Any) -> None:
        data = dict(msg.data or {})
        reason = str(data.get("reason") or "no reason given")
        self.say(f"harness: error: worker {data.get('worker', msg.node_id)}: {reason}")
        if self.ledger is not None:
            self._lose(self.ledger.join(str(msg.node_id)), "refused the run")

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0

    def footprint(self) -> dict[str, Any] | None:
        """The connected workers' footprints summed (their last reports); None until every
        one of them has reported (a partial sum would be no idle size to measure from)."""
        connected = self.connected()
        if not connected or any(c not in self.footprints for c in connected):
            return None
        got = [self.footprints[c] for c in connected]
        summed = {key: sum(int(f.get(key, 0)) for f in got) for key in ("open", "rss", "fds")}
        cpu = [f.get("cpu_s") for f in got]
        cpu_s = None if None in cpu else sum(float(c) for c in cpu if c is not None)
        return summed | {"cpu_s": cpu_s, "processes": len(got)}

    def check(self) -> None:
        """Mark lost the workers Locust sees missing or whose process exited; say so."""
        if self.ledger is None:
            return
        states = {c.id: c.state for c in self.runner.clients.all}
        for account in self.ledger.pending():
            how = self.exit_of(account.pid) if self.exit_of is not None else None
            if how is None and states.get(account.client_id) == MISSING:
                how = "stopped sending heartbeats"
            if how is not None:
                self._lose(account, how)

    def _lose(self, account: WorkerAccount, how: str) -> None:
        if self.ledger is None or self.ledger.lose(account.client_id, how=how) is None:
            return
        pid = "" if account.pid is None else f" (PID {account.pid})"
        self.say(
            f"[{self._elapsed():5.0f}s] worker {account.id}{pid} lost ({how}):"
            f" {account.records} of its records arrived, of {account.made} it reported"
            " making; the run goes on with the other workers and ends as not trusted (exit 2)"
        )

    def finish(self, timeout: float = FLUSH_TIMEOUT_S) -> list[dict[str, Any]]:
        """The users stopped: wait (bounded) for the final batches, mark lost the workers
        whose batch never came, and end the run's ledger; every worker's account."""
        ledger = self.ledger
        if ledger is None:
            return []
        for account in ledger.wait_flushed(timeout):
            how = self.exit_of(account.pid) if self.exit_of is not None else None
            self._lose(account, how or f"no final batch within {timeout:g} s")
        self.ledger, self.setup = None, None
        if ledger.duplicates:
            self.say(f"harness: {ledger.duplicates} batches came twice (written once)")
        return [a.to_dict() for a in ledger.workers.values()]
