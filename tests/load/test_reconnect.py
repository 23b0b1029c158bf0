"""Reconnect policies: the delays each policy waits, when a session stops trying, and a real
restart of the embedded target with and without jitter (the stampede and its absence)."""

from __future__ import annotations

import random
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.config.scenario import RECONNECT_PRESETS, Reconnect
from harness.load.reconnect import Backoff
from harness.rundir.records import AttemptRecord
from tests.conftest import run_cli

FRONT_END = RECONNECT_PRESETS["front-end"]


def record(outcome: str, **kw: Any) -> AttemptRecord:
    fields: dict[str, Any] = {"stage": "handshake", "closed_by": None, "close_code": None}
    fields.update(kw)
    return AttemptRecord(
        run_id="r", worker="local", user=1, attempt=1, token_kind="valid", placement="query",
        expected="accept", t_start=0.0, outcome=outcome, **fields,
    )  # fmt: skip


REFUSED = record("refused", stage="connect")


def test_exponential_doubles_to_the_cap_and_gives_up_after_max_attempts() -> None:
    b = Backoff(replace(FRONT_END, cap=4.0))
    assert [b.next_delay(REFUSED) for _ in range(6)] == [1.0, 2.0, 4.0, 4.0, 4.0, None]
    assert b.gave_up


def test_fixed_waits_the_same_and_a_session_that_opened_counts_again() -> None:
    b = Backoff(Reconnect(policy="fixed", delay=0.5, max_attempts=2))
    assert [b.next_delay(REFUSED), b.next_delay(REFUSED)] == [0.5, 0.5]
    lost_after_open = record("closed_normal", stage="open", closed_by="server", close_code=1001)
    assert b.next_delay(lost_after_open) == 0.5  # connected again, then lost: a fresh count
    assert b.next_delay(REFUSED) == 0.5
    assert b.next_delay(REFUSED) is None


def test_a_completed_session_an_auth_failure_and_a_server_disconnect_end_it() -> None:
    b = Backoff(FRONT_END)
    assert b.next_delay(record("accepted", stage="open", closed_by="client")) is None
    assert b.next_delay(record("rejected_auth", http_status=401)) is None
    bye = record("closed_normal", stage="open", closed_by="server", close_code=1000)
    assert b.next_delay(bye) is None
    going_away = record("closed_normal", stage="open", closed_by="server", close_code=1001)
    assert b.next_delay(going_away) == 1.0  # a restart: retried
    retry_all = Backoff(replace(FRONT_END, after_auth_failure=True, after_server_close=True))
    assert retry_all.next_delay(record("rejected_auth", http_status=401)) == 1.0
    assert retry_all.next_delay(bye) == 1.0  # it had opened: the count starts again
    assert Backoff(Reconnect()).next_delay(REFUSED) is None  # policy none


@pytest.mark.parametrize(
    ("jitter", "low", "high"),
    [("full", 0.0, 8.0), ("equal", 4.0, 8.0), ("randomized", 4.0, 10.0)],
)
def test_jitter_stays_in_its_range_and_spreads(jitter: str, low: float, high: float) -> None:
    policy = replace(FRONT_END, jitter=jitter, cap=10.0, randomization=0.5)
    delays = [Backoff(policy, random.Random(i)).delay(4) for i in range(400)]  # 8 s unjittered
    assert all(low <= d <= high for d in delays)
    assert statistics.pstdev(delays) > 0.5


def storm(tmp_path: Path, jitter: str) -> dict[str, Any]:
    """reconnect-storm.yaml, shortened: 60 users, a restart at 3 s, 9 s in all."""
    out = tmp_path / jitter
    res = run_cli(
        "run", "scenarios/reconnect-storm.yaml", "-q",
        "--set", "load.users=60", "--set", "load.spawn_rate=60", "--set", "load.duration=8",
        "--set", "chaos[0].at=2.5", "--set", "chaos[0].down_ms=1000",
        "--set", f"load.reconnect.jitter={jitter}",
        out_dir=out,
    )  # fmt: skip
    assert res.code in (0, 1), res.stderr[-2000:]
    summary = res.summary()
    summary["_attempts"] = res.attempts()
    return summary


@pytest.mark.slow  # two 10 s runs of 200 sessions; the shipped reconnect-storm is slow too
def test_a_real_restart_without_jitter_stampedes_and_with_jitter_does_not(
    tmp_path: Path,
) -> None:
    stepped, spread = storm(tmp_path, "none"), storm(tmp_path, "full")
    for s in (stepped, spread):
        assert s["sessions"]["preset"] == "front-end"
        r = s["sessions"]["restarts"]["restart_target#1"]
        assert r["lost"] >= 50  # the held sessions were cut by the restart
        assert r["reconnected"] >= 0.9 * r["lost"]
    # what each reconnect waited, as recorded: exactly the policy's delays without jitter
    first = [a["reconnect_delay_s"] for a in stepped["_attempts"] if a["session_attempt"] == 1]
    assert first and set(first) == {1.0}
    jittered = [a["reconnect_delay_s"] for a in spread["_attempts"] if a["session_attempt"] == 1]
    assert statistics.pstdev(jittered) > 0.15  # uniform in [0, 1]: about 0.29
    p_step = stepped["sessions"]["restarts"]["restart_target#1"]["peak_to_mean"]
    p_spread = spread["sessions"]["restarts"]["restart_target#1"]["peak_to_mean"]
    assert p_step > 6 > p_spread, (p_step, p_spread)
    assert "reconnect-stampede" in [f["id"] for f in stepped["findings"]]
    assert "reconnect-stampede" not in [f["id"] for f in spread["findings"]]
    # every reconnect is its own record, linked to its session
    again = [a for a in stepped["_attempts"] if a["session_attempt"] > 0]
    sessions = {a["session"] for a in stepped["_attempts"] if a["session_attempt"] == 0}
    assert again and {a["session"] for a in again} <= sessions
