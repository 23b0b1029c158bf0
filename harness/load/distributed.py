"""The master/worker glue of a distributed run, on Locust's own custom messages.

One master (the process owning the run directory, the target, chaos and the report) and
workers that run the users. What travels between them, besides Locust's own traffic:

- ``harness_run`` (master to each worker, at ``test_start``, before Locust's spawn message
  on the same connection): what a worker cannot know from its scenario file (the target
  URL with the run's ports, the run id, the signing secret, the CA file, the timeline's
  zero, the worker's short id) and a digest of the master's scenario (:class:`RunInfo`).
  The secret travels only in this message: never on a command line, never in a log.
- ``harness_records`` (worker to master): a batch of attempt records, every
  :data:`BATCH_EVERY_S` seconds or :data:`BATCH_MAX` records, whichever comes first, and a
  last batch marked ``final`` when the worker's test stops (before Locust's
  ``client_stopped``: one ZeroMQ connection keeps the order). Data: ``{"worker": id,
  "seq": n, "records": [json line, ...], "made": n, "final": bool}``; ``made`` is how many
  records the worker had made when it sent the batch.
- ``harness_refused`` (worker to master): the worker will not run this run (its scenario
  is not the master's); the master prints the reason.
- Locust's periodic ``report_to_master`` data (every 3 s) gets one more key,
  :data:`MADE_KEY`: the records the worker has made, so the master knows how many attempts
  a worker made even when its last batches never arrive (a worker SIGKILLed mid-run), and
  :data:`PID_KEY`: the worker's process id, and :data:`FOOTPRINT_KEY`: its sessions open,
  memory and file descriptors.

The :class:`RecordBatcher` is the worker's record sink; the :class:`WorkerLedger` is the
master's account of every worker: records received, attempts reported, state and when it
vanished, so the report can say how many attempts a lost worker may have taken with it.
Batches carry a sequence number: a batch seen twice (a resent message) is written once.

The master's use of them is :mod:`harness.load.master`, the worker's
:mod:`harness.load.worker`; the commands are ``harness run --workers N``, ``harness master``
and ``harness worker`` (:mod:`harness.cli.master`, :mod:`harness.cli.worker`).
"""

from __future__ import annotations

import gevent

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from harness.config.scenario import Scenario
from harness.config.serialise import scenario_to_dict
from harness.load.user import RecordSink, UserConfig, scenario_user_config
from harness.rundir.records import AttemptRecord

#: Custom message carrying the run's set-up from the master to a worker.
RUN_MESSAGE = "harness_run"
#: Custom message carrying a batch of records from a worker to the master.
RECORDS_MESSAGE = "harness_records"
#: Custom message from a worker that will not run the master's run: ``{"worker", "reason"}``.
REFUSED_MESSAGE = "harness_refused"
#: Key a worker adds to Locust's ``report_to_master`` data: records made so far.
MADE_KEY = "harness_made"
#: Key a worker adds to the same reports: its process id (the master names it when lost).
PID_KEY = "harness_pid"
#: Key a worker adds to the same reports: its footprint
#: (:func:`harness.load.footprint.own_footprint`).
FOOTPRINT_KEY = "harness_footprint"

#: Seconds between two batches of a worker (at most).
BATCH_EVERY_S = 0.5
#: Records in one batch (at most).
BATCH_MAX = 200

#: A worker's states, as the ledger and the report name them.
RUNNING, FLUSHED, LOST = "running", "flushed", "lost"

_FIELDS = frozenset(f.name for f in fields(AttemptRecord))

Send = Callable[[str, dict[str, Any]], None]


#: Scenario keys only the master uses, left out of :func:`scenario_digest`: how many users
#: and how fast (Locust spreads them), how long, the target it starts and the URL it hands
#: out, chaos, gates, and the file's name and path.
MASTER_ONLY = {
    "": ("name", "source", "description", "gates", "chaos"),
    "load": ("users", "spawn_rate", "duration"),
    "target": ("embedded", "url", "allow_hosts", "pid", "pid_file"),
    "auth": ("secret",),
}


def scenario_digest(scenario: Scenario) -> str:
    """A digest of what the scenario asks of the users (token mix, sessions, timeouts,
    reconnects, auth, protocol, hooks), for a worker to check that its scenario file, with
    its overrides, drives the master's users: the keys only the master reads
    (:data:`MASTER_ONLY`) and where the secret comes from are left out."""
    data = scenario_to_dict(scenario)
    for section, keys in MASTER_ONLY.items():
        part = data if not section else data.get(section, {})
        for key in keys:
            part.pop(key, None)
    blob = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class RunInfo:
    """What the master sends a worker in ``harness_run`` (see the module docstring).

    Attributes:
        run_id: the run's id (every record carries it).
        worker: the worker's short id (``w1``...), its records' ``worker`` field.
        url: the URL the users load (the embedded target's port, or the chaos proxy's).
        started_at: the timeline's zero (epoch s).
        digest: :func:`scenario_digest` of the master's scenario.
        ca_file: the CAs the users trust for wss:// (None: the system's).
        secret: the signing secret (never in ``repr``).
        arrival_index: this worker's place among ``arrival_count`` workers that share an
            arrival-rate load (:mod:`harness.load.arrivals`), from 0.
        arrival_count: the workers that share it (those connected when the run started).
    """

    run_id: str
    worker: str
    url: str
    started_at: float
    digest: str
    ca_file: str | None = None
    secret: str = field(default="", repr=False)
    arrival_index: int = 0
    arrival_count: int = 1

    def to_message(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "worker": self.worker,
            "url": self.url,
            "started_at": self.started_at,
            "digest": self.digest,
            "ca_file": self.ca_file,
            "secret": self.secret,
            "arrival_index": self.arrival_index,
            "arrival_count": self.arrival_count,
        }

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> RunInfo:
        ca = data.get("ca_file")
        return cls(
            run_id=str(data["run_id"]),
            worker=str(data["worker"]),
            url=str(data["url"]),
            started_at=float(data["started_at"]),
            digest=str(data["digest"]),
            ca_file=None if ca is None else str(ca),
            secret=str(data.get("secret") or ""),
            arrival_index=int(data.get("arrival_index") or 0),
            arrival_count=int(data.get("arrival_count") or 1),
        )

    def mismatch(self, scenario: Scenario) -> str | None:
        """Why this worker must not run the master's run with ``scenario`` (None: it may)."""
        mine = scenario_digest(scenario)
        if mine == self.digest:
            return None
        return (
            f"the scenario here ({scenario.source}, digest {mine}) is not the master's"
            f" (digest {self.digest}): give every machine the same file and overrides"
        )

    def user_config(self, scenario: Scenario, sink: RecordSink) -> UserConfig:
        """The worker's users' configuration for this run (chaos labels are the master's to
        add: a worker knows no chaos timeline)."""
        return scenario_user_config(
            scenario,
            secret=self.secret,
            url=self.url,
            sink=sink,
            run_id=self.run_id,
            worker=self.worker,
            ca_file=self.ca_file,
            started_at=self.started_at,
            share=(self.arrival_index, self.arrival_count),
        )


def record_from_json(line: str) -> AttemptRecord:
    """An attempt record back from its JSON line (keys this harness does not know are
    dropped: a worker of a newer harness may send more)."""
    raw = orjson.loads(line)
    return AttemptRecord(**{k: v for k, v in raw.items() if k in _FIELDS})


class RecordBatcher:
    """A worker's record sink (:class:`harness.load.user.RecordSink`): records are kept and
    sent to the master in batches through ``send`` (a runner's ``send_message``).

    :meth:`start` runs the periodic flush in a greenlet; :meth:`close` sends what is left
    as the final batch. Safe across greenlets (one lock around the pending list).
    """

    def __init__(self, worker: str, send: Send, *, every: float = BATCH_EVERY_S) -> None:
        self.worker = worker
        self._send = send
        self._every = every
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._greenlet: gevent.Greenlet | None = None
        self.made = 0
        self.sent = 0
        self.seq = 0
        self.closed = False

    def add(self, record: AttemptRecord) -> None:
        with self._lock:
            if self.closed:
                return
            self._pending.append(record.to_json())
            self.made += 1
            full = len(self._pending) >= BATCH_MAX
        if full:
            self.flush()

    def flush(self, *, final: bool = False) -> None:
        """Send the pending records (an empty batch only when it is the final one)."""
        with self._lock:
            batch, self._pending = self._pending, []
            if not batch and not final:
                return
            self.seq += 1
            data = {
                "worker": self.worker,
                "seq": self.seq,
                "records": batch,
                "made": self.made,
                "final": final,
            }
            self.sent += len(batch)
        self._send(RECORDS_MESSAGE, data)

    def start(self) -> RecordBatcher:
        self._greenlet = gevent.spawn(self._loop)
        return self

    def _loop(self) -> None:
        while not self.closed:
            gevent.sleep(self._every)
            self.flush()

    def close(self) -> None:
        """Stop the periodic flush and send the final batch (once)."""
        if self.closed:
            return
        if self._greenlet is not None and self._greenlet is not gevent.getcurrent():
            self._greenlet.kill(block=True)
        self.flush(final=True)
        with self._lock:
            self.closed = True


@dataclass
class WorkerAccount:
    """The master's account of one worker.

    Attributes:
        id: the worker's short id (``w1``, ``w2``, ...), the records' ``worker`` field.
        client_id: Locust's client id of the worker.
        records: records received from it (each written once).
        made: records it said it had made (its latest batch or stats report).
        state: ``running``, ``flushed`` (its final batch came) or ``lost``.
        lost_at: when the master saw it vanish (epoch s), or None.
        lost_how: how it vanished (its exit status, missing heartbeats), or None.
        pid: its process id (on its machine), from its reports; None until the first.
    """

    id: str
    client_id: str
    records: int = 0
    made: int = 0
    state: str = RUNNING
    lost_at: float | None = None
    lost_how: str | None = None
    pid: int | None = None

    @property
    def lost_at_least(self) -> int | None:
        """Attempts it made that never reached the master (a lower bound: attempts made
        after its last report are not known); None unless it was lost."""
        if self.state != LOST:
            return None
        return max(0, self.made - self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "records": self.records,
            "made": self.made,
            "state": self.state,
            "lost_at": self.lost_at,
            "lost_how": self.lost_how,
            "pid": self.pid,
            "lost_at_least": self.lost_at_least,
        }


class WorkerLedger:
    """The master's side: batches in, records to ``sink`` exactly once, every worker
    accounted for (see the module docstring)."""

    def __init__(self, sink: RecordSink) -> None:
        self.sink = sink
        self.workers: dict[str, WorkerAccount] = {}
        self._by_client: dict[str, WorkerAccount] = {}
        self._seen: dict[str, set[int]] = {}
        self.duplicates = 0

    def join(self, client_id: str) -> WorkerAccount:
        """The account of Locust client ``client_id``, opened with the next short id."""
        account = self._by_client.get(client_id)
        if account is None:
            account = WorkerAccount(id=f"w{len(self.workers) + 1}", client_id=client_id)
            self.workers[account.id] = account
            self._by_client[client_id] = account
        return account

    def on_records(self, client_id: str, data: dict[str, Any]) -> None:
        """A ``harness_records`` batch from ``client_id``."""
        account = self.join(client_id)
        seq = int(data.get("seq") or 0)
        seen = self._seen.setdefault(account.id, set())
        if seq in seen:
            self.duplicates += 1
            return
        seen.add(seq)
        for line in data.get("records") or ():
            self.sink.add(record_from_json(str(line)))
            account.records += 1
        account.made = max(account.made, int(data.get("made") or 0))
        if data.get("final") and account.state != LOST:
            account.state = FLUSHED

    def on_report(self, client_id: str, data: dict[str, Any]) -> None:
        """Locust's periodic worker report (``worker_report``): the worker's made count."""
        account = self._by_client.get(client_id)
        if account is None:
            return
        made, pid = data.get(MADE_KEY), data.get(PID_KEY)
        if isinstance(made, int):
            account.made = max(account.made, made)
        if isinstance(pid, int):
            account.pid = pid

    def lose(
        self, client_id: str, at: float | None = None, how: str | None = None
    ) -> WorkerAccount | None:
        """The worker vanished (missing heartbeats, or its process exited) before its final
        batch; None when it is unknown or had flushed already."""
        account = self._by_client.get(client_id)
        if account is None or account.state != RUNNING:
            return None
        account.state, account.lost_at = LOST, time.time() if at is None else at
        account.lost_how = how
        return account

    def pending(self) -> list[WorkerAccount]:
        """Workers whose final batch has not come and that are not lost."""
        return [a for a in self.workers.values() if a.state == RUNNING]

    def wait_flushed(self, timeout: float, tick: float = 0.05) -> list[WorkerAccount]:
        """Wait (cooperatively) up to ``timeout`` s for every worker's final batch; the
        workers still pending after it are returned (the caller marks them lost)."""
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline:
            gevent.sleep(tick)
        return self.pending()

    @property
    def total(self) -> int:
        return sum(a.records for a in self.workers.values())
