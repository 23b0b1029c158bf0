"""The one rule that folds chaos.jsonl into windows, live (follower) and whole (report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.rundir.chaos_log import (
    ACTIVE_AT_END,
    FAILED,
    NOTHING_RECORDED,
    REVERTED,
    SKIPPED,
    ChaosFollower,
    fold_events,
    read_windows,
)

T0 = 1_700_000_000.0


def ev(t: float, event: str, label: str, **extra: Any) -> dict[str, Any]:
    fault = label.split("#")[0]
    return {"t": T0 + t, "event": event, "label": label, "fault": fault, "kind": "cpu", **extra}


def test_reverted_window_spans_from_applying_to_reverted() -> None:
    (w,) = fold_events([ev(10, "applying", "cpu#1"), ev(10.3, "applied", "cpu#1"),
                        ev(20, "reverted", "cpu#1")])  # fmt: skip
    assert (w.status, w.start_t, w.end_t) == (REVERTED, T0 + 10, T0 + 20)
    assert w.overlaps(T0 + 19, T0 + 25) and not w.overlaps(T0 + 20.5, T0 + 25)
    assert w.kind == "cpu" and not w.disruptive


def test_failed_window_that_started_spans_to_its_failure() -> None:
    (w,) = fold_events([ev(10, "applying", "mem#1"), ev(10.4, "failed", "mem#1", error="nope")])
    assert (w.status, w.start_t, w.end_t, w.error) == (FAILED, T0 + 10, T0 + 10.4, "nope")
    assert w.overlaps(T0 + 10.2, T0 + 10.2)


def test_failed_without_start_and_skipped_have_no_span() -> None:
    windows = {w.label: w for w in fold_events([ev(5, "failed", "a#1", error="x"),
                                                 ev(50, "skipped", "b#1")])}  # fmt: skip
    assert windows["a#1"].status == FAILED and not windows["a#1"].has_span
    assert windows["b#1"].status == SKIPPED and not windows["b#1"].has_span
    assert not windows["b#1"].overlaps(0, T0 + 100)


def test_started_and_never_ended_is_active_at_end() -> None:
    (w,) = fold_events([ev(10, "applying", "cpu#1")])
    assert w.status == ACTIVE_AT_END and w.end_t is None
    assert w.overlaps(T0 + 1000, T0 + 1001)


def test_label_with_nothing_recorded_is_failed_and_says_so() -> None:
    (w,) = fold_events([{"t": T0, "event": "something", "label": "x#1"}])
    assert w.status == FAILED and w.error == NOTHING_RECORDED


def test_disruptive_as_written_else_by_kind() -> None:
    windows = {
        w.label: w
        for w in fold_events(
            [
                ev(1, "applying", "connection_cap#1", kind="connections", disruptive=True),
                ev(2, "applying", "fd_limit#1", kind="connections", disruptive=False),
                ev(3, "applying", "reset#1", kind="network"),  # an older file: no flag
            ]
        )
    }
    assert windows["connection_cap#1"].disruptive
    assert not windows["fd_limit#1"].disruptive
    assert windows["reset#1"].disruptive


def test_follower_reads_appended_lines_and_skips_a_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "chaos.jsonl"
    follower = ChaosFollower(path)
    assert follower.follow() == [] and follower.active() == []  # no file yet
    with open(path, "w") as fh:
        fh.write(json.dumps(ev(10, "applying", "cpu#1")) + "\n")
        fh.write('{"t": 1, "event": "appl')  # being written
    assert [e["event"] for e in follower.follow()] == ["applying"]
    assert follower.active() == ["cpu#1"]
    assert follower.faults_between(T0 + 11, T0 + 12) == ["cpu#1"]
    with open(path, "a") as fh:
        fh.write('ied"}\n' + json.dumps(ev(20, "reverted", "cpu#1")) + "\n")
        fh.write(json.dumps({"t": T0 + 21, "event": "target_pid", "pid": 4242}) + "\n")
    follower.follow()
    assert follower.active() == [] and follower.target_pid == 4242
    assert follower.faults_between(T0 + 21, T0 + 22) == []
    assert [w.status for w in read_windows(path)] == [REVERTED]  # the report's reading agrees
