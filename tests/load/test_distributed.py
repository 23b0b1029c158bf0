"""The master/worker glue (harness.load.distributed): its checks run on a real Locust runner
in one subprocess (tests/load/distributed_checks.py; Locust must not patch this process),
one test here per check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("distributed")
    out = subprocess.run(
        [sys.executable, "-m", "tests.load.distributed_checks", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    parsed: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


CHECKS = (
    "a_record_survives_the_trip_as_json",
    "batches_through_a_runner_reach_the_recorder_exactly_once",
    "the_periodic_flush_sends_without_waiting_for_a_full_batch",
    "a_resent_batch_is_written_once_and_workers_get_short_ids",
    "a_lost_worker_says_how_many_attempts_it_may_have_taken",
    "a_flushed_worker_is_not_lost_when_it_quits",
    "the_run_message_reaches_a_worker_and_configures_its_users",
    "a_worker_with_another_scenario_is_told_why",
)


def test_every_check_ran(results: dict[str, str]) -> None:
    assert sorted(results) == sorted(f"check_{name}" for name in CHECKS)


@pytest.mark.parametrize("name", CHECKS)
def test_check(results: dict[str, str], name: str) -> None:
    assert results[f"check_{name}"] == "ok", results[f"check_{name}"]
