"""Checks of the master/worker glue (harness.load.distributed) on a real Locust runner and
recorder, run in a subprocess of their own by tests/load/test_distributed.py (importing Locust
monkey-patches the process with gevent, which the pytest process must not be).

A local runner's ``send_message`` calls the registered handler in-process, so a batcher
sending through it and a ledger listening on it exercise Locust's own message path.

``python -m tests.load.distributed_checks DIR`` runs every ``check_*`` function with a fresh
folder under DIR and prints one JSON object: check name -> "ok" or the failure's traceback.
"""

from __future__ import annotations

import gevent
import locust
from locust.env import Environment

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from harness.config.loader import load_scenario
from harness.config.overrides import apply_overrides
from harness.load.distributed import (
    BATCH_MAX,
    FLUSHED,
    LOST,
    MADE_KEY,
    RUN_MESSAGE,
    RUNNING,
    RecordBatcher,
    RunInfo,
    WorkerLedger,
    record_from_json,
    scenario_digest,
)
from harness.load.master import MasterSide
from harness.load.recorder import RunRecorder
from harness.load.user import ScenarioUser
from harness.load.worker import WorkerSide
from harness.rundir.records import AttemptRecord


def _record(worker: str, user: int, attempt: int) -> AttemptRecord:
    return AttemptRecord(
        run_id="r",
        worker=worker,
        user=user,
        attempt=attempt,
        token_kind="valid",
        placement="query",
        expected="accept",
        t_start=1.0 + attempt,
        outcome="accepted",
        verdict="ok",
        chaos=["cpu_quota#1"],
    )


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_a_record_survives_the_trip_as_json() -> None:
    rec = _record("w1", 3, 7)
    assert record_from_json(rec.to_json()) == rec
    extra = json.dumps({**json.loads(rec.to_json()), "from_a_newer_harness": 1})
    assert record_from_json(extra) == rec


def master_side(env: Environment, ledger: WorkerLedger) -> MasterSide:
    """The master's handlers (the ones a run uses) on ``env``, writing to ``ledger``."""
    side = MasterSide(lambda line: None)
    side.attach(env)
    side.ledger = ledger
    return side


def check_batches_through_a_runner_reach_the_recorder_exactly_once(tmp_path: Path) -> None:
    env = Environment(user_classes=[ScenarioUser], events=locust.events)
    runner = env.create_local_runner()
    recorder = RunRecorder(tmp_path / "attempts.jsonl")
    ledger = WorkerLedger(recorder)
    master_side(env, ledger)
    batcher = RecordBatcher("w1", runner.send_message, every=60.0).start()
    try:
        n = BATCH_MAX + 5  # one batch sent because it is full, the rest at close
        for i in range(1, n + 1):
            batcher.add(_record("w1", 1, i))
        assert ledger.total == BATCH_MAX  # the full batch went at once
        assert ledger.workers["w1"].state == RUNNING
        batcher.close()
        batcher.add(_record("w1", 1, n + 1))  # after the end: not kept, never raised
        batcher.close()  # idempotent: no second final batch
    finally:
        runner.quit()
        recorder.close()
    account = ledger.workers["w1"]
    assert (account.records, account.made, account.state) == (n, n, FLUSHED)
    assert batcher.seq == 2 and ledger.duplicates == 0
    rows = _lines(tmp_path / "attempts.jsonl")
    assert [r["attempt"] for r in rows] == list(range(1, n + 1))
    assert {r["worker"] for r in rows} == {"w1"}


def check_the_periodic_flush_sends_without_waiting_for_a_full_batch(tmp_path: Path) -> None:
    sent: list[dict[str, object]] = []
    batcher = RecordBatcher("w2", lambda kind, data: sent.append(data), every=0.01).start()
    batcher.add(_record("w2", 1, 1))
    for _ in range(500):  # cooperative: the flush greenlet runs while this one sleeps
        if sent:
            break
        gevent.sleep(0.01)
    batcher.close()
    assert [len(b["records"]) for b in sent] == [1, 0]  # type: ignore[arg-type]
    assert [b["final"] for b in sent] == [False, True]


def check_a_resent_batch_is_written_once_and_workers_get_short_ids(tmp_path: Path) -> None:
    recorder = RunRecorder(tmp_path / "attempts.jsonl")
    ledger = WorkerLedger(recorder)
    batch = {"worker": "x", "seq": 1, "records": [_record("w1", 1, 1).to_json()], "made": 1}
    ledger.on_records("host_aaaa", batch)
    ledger.on_records("host_aaaa", batch)
    ledger.on_records("host_bbbb", {**batch, "records": [_record("w2", 1, 1).to_json()]})
    recorder.close()
    assert ledger.duplicates == 1
    assert sorted(ledger.workers) == ["w1", "w2"]
    assert ledger.join("host_bbbb").id == "w2"
    assert len(_lines(tmp_path / "attempts.jsonl")) == 2


def check_a_lost_worker_says_how_many_attempts_it_may_have_taken(tmp_path: Path) -> None:
    env = Environment(user_classes=[ScenarioUser], events=locust.events)
    runner = env.create_local_runner()
    recorder = RunRecorder(tmp_path / "attempts.jsonl")
    ledger = WorkerLedger(recorder)
    master_side(env, ledger)
    batcher = RecordBatcher("w1", runner.send_message, every=60.0)
    worker = WorkerSide(load_scenario(str(SMOKE)), lambda line: None)
    worker.attach(env)  # its reports carry the batcher's made count
    worker.batcher = batcher
    try:
        for i in range(1, 4):
            batcher.add(_record("w1", 1, i))
        batcher.flush()  # 3 records arrive
        for i in range(4, 9):
            batcher.add(_record("w1", 1, i))  # 5 more made, never sent: the worker dies
        data: dict[str, object] = {}
        env.events.report_to_master.fire(client_id="local", data=data)  # type: ignore[no-untyped-call]
        assert data[MADE_KEY] == 8
        env.events.worker_report.fire(client_id="local", data=data)  # type: ignore[no-untyped-call]
        assert ledger.wait_flushed(timeout=0.05) == [ledger.workers["w1"]]
        lost = ledger.lose("local", at=123.0, how="killed by SIGKILL")
        worker.batcher = None  # killed: its pending records are never sent, not even at stop
    finally:
        runner.quit()
        recorder.close()
    assert lost is not None
    assert lost.to_dict() == {
        "id": "w1",
        "client_id": "local",
        "records": 3,
        "made": 8,
        "state": LOST,
        "lost_at": 123.0,
        "lost_how": "killed by SIGKILL",
        "pid": os.getpid(),  # from the worker's report, as the made count
        "lost_at_least": 5,
    }
    assert ledger.lose("local") is None  # once
    assert ledger.pending() == []


def check_a_flushed_worker_is_not_lost_when_it_quits(tmp_path: Path) -> None:
    recorder = RunRecorder(tmp_path / "attempts.jsonl")
    ledger = WorkerLedger(recorder)
    ledger.on_records("c1", {"seq": 1, "records": [], "made": 0, "final": True})
    recorder.close()
    assert ledger.lose("c1") is None
    assert ledger.workers["w1"].lost_at_least is None
    assert ledger.wait_flushed(timeout=1.0) == []


SMOKE = Path(__file__).resolve().parents[2] / "scenarios" / "smoke.yaml"


def check_the_run_message_reaches_a_worker_and_configures_its_users() -> None:
    scenario = load_scenario(str(SMOKE))
    secret = "s3cret-value-for-the-check"
    info = RunInfo(
        run_id="run-1",
        worker="w2",
        url="ws://127.0.0.1:1/ws",
        started_at=100.0,
        digest=scenario_digest(scenario),
        ca_file="/tmp/ca.pem",
        secret=secret,
    )
    assert secret not in repr(info)
    env = Environment(user_classes=[ScenarioUser], events=locust.events)
    runner = env.create_local_runner()
    got: list[RunInfo] = []
    runner.register_message(
        RUN_MESSAGE, lambda environment, msg, **_: got.append(RunInfo.from_message(msg.data))
    )
    try:
        runner.send_message(RUN_MESSAGE, info.to_message())
    finally:
        runner.quit()
    assert got == [info]
    sink = RecordBatcher("w2", lambda kind, data: None)
    cfg = got[0].user_config(scenario, sink)
    assert (cfg.worker, cfg.run_id, cfg.url, cfg.secret) == ("w2", "run-1", info.url, secret)
    assert (cfg.sink, cfg.ca_file) == (sink, "/tmp/ca.pem")
    assert got[0].mismatch(scenario) is None


def check_a_worker_with_another_scenario_is_told_why() -> None:
    scenario = load_scenario(str(SMOKE))
    digest = scenario_digest(scenario)
    assert scenario_digest(load_scenario(str(SMOKE))) == digest  # stable
    other = load_scenario(str(SMOKE), sets=["load.session.hold=9"])
    info = RunInfo(run_id="r", worker="w1", url="ws://x", started_at=0.0, digest=digest)
    why = info.mismatch(other)
    assert why is not None and digest in why and "same file" in why
    # what only the master reads (users, spawn rate, duration, the embedded target) may differ
    mine = apply_overrides(scenario, users=scenario.load.users + 1, duration=3.0, spawn_rate=7)
    assert info.mismatch(apply_overrides(mine, defects=["accept-empty-token"])) is None


def main(root: Path) -> dict[str, str]:
    """Run every check; name -> "ok" or its traceback."""
    checks: dict[str, Callable[..., None]] = {
        name: fn for name, fn in globals().items() if name.startswith("check_")
    }
    results: dict[str, str] = {}
    for name, fn in checks.items():
        folder = root / name
        folder.mkdir(parents=True)
        try:
            if fn.__code__.co_argcount:
                fn(folder)
            else:
                fn()
            results[name] = "ok"
        except Exception:
            results[name] = traceback.format_exc()
    return results


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
