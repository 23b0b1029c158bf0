"""Tests of chaos phases: windows on the run's timeline, phase assignment, per-phase numbers.

Everything here is pure: hand-built attempt rows and chaos events with known answers.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from harness.analysis.phases import (
    WindowSpan,
    assign_phases,
    phase_at,
    phase_intervals,
    timeline_end_s,
    window_spans,
)
from harness.analysis.summary import Window
from tests.analysis.builders import CUT_META, event, rec, run_of, summary_of


def overlap_events() -> list[dict[str, Any]]:
    """cpu#1 10..20 s and mem#2 15..30 s overlap; net#3 failed at 40 s; all reverted."""
    return [
        event(10, "applied", "cpu#1", params={"percent": 20}, planned_for=10),
        event(15, "applied", "mem#2", planned_for=15),
        event(20, "reverted", "cpu#1", planned_at=10, planned_for=10),
        event(30, "reverted", "mem#2", planned_at=15, planned_for=15),
        event(40, "failed", "net#3", error="nft: permission denied"),
    ]


# --- chaos.jsonl -> windows on the run's timeline -----------------------------------------


def test_events_fold_into_windows_relative_to_the_start() -> None:
    events = [*overlap_events(), event(50, "skipped", "kill#4", planned_for=5)]
    windows = run_of([], events).windows
    assert [w.label for w in windows] == ["cpu#1", "mem#2", "net#3", "kill#4"]
    assert [w.status for w in windows] == ["reverted", "reverted", "failed", "skipped"]
    cpu, _, net, kill = windows
    assert (cpu.fault, cpu.params, cpu.planned_for) == ("cpu", {"percent": 20}, 10.0)
    assert (cpu.applied_s, cpu.reverted_s) == (10.0, 20.0)
    assert net.applied_s is None and net.reverted_s is None
    assert net.error == "nft: permission denied"
    assert kill.error is None and kill.applied_s is None
    assert (kill.planned_at, kill.planned_for) == (50.0, 5.0)


def test_unreverted_and_orphan_events() -> None:
    events = [
        event(10, "applied", "cpu#1"),
        event(12, "reverted", "odd#2"),
        event(20, "applied", "mem#3"),
        event(25, "reverted", "mem#3", planned_at=20, error="revert failed: OSError: busy"),
        {"t": 1_700_000_001.0, "event": "target_pid", "pid": 4242, "error": None},  # no label
    ]
    windows = {w.label: w for w in run_of([], events).windows}
    assert list(windows) == ["cpu#1", "odd#2", "mem#3"]  # by applied_s, else planned_at
    assert windows["mem#3"].status == "reverted"
    assert windows["mem#3"].error == "revert failed: OSError: busy"
    assert (windows["cpu#1"].status, windows["cpu#1"].applied_s) == ("active_at_end", 10.0)
    assert windows["cpu#1"].reverted_s is None
    assert windows["odd#2"].status == "failed"  # reverted, but never applied
    assert "no applied" in str(windows["odd#2"].error)


def test_window_spans_and_the_timeline_end() -> None:
    windows = [
        Window("a#1", "a", applied_s=10.0, reverted_s=20.0, status="reverted"),
        Window("b#2", "b", applied_s=30.0, status="active_at_end"),
        Window("c#3", "c", status="failed"),
    ]
    assert timeline_end_s(windows, 25.0) == 30.0  # the last event came after the last attempt
    assert timeline_end_s(windows, 50.0) == 50.0
    spans = window_spans(windows, 50.0)
    assert spans == [WindowSpan("a#1", "a", 10.0, 20.0), WindowSpan("b#2", "b", 30.0, 50.0, True)]


# --- Phase assignment --------------------------------------------------------------------


def test_phase_assignment_with_overlap_and_recovery() -> None:
    rows = [
        rec("valid", "accepted", "ok", t=5.0),
        rec("valid", "accepted", "ok", t=12.0, chaos=("cpu#1",)),
        rec("valid", "accepted", "ok", t=17.0, chaos=("mem#2", "cpu#1")),
        rec("valid", "accepted", "ok", t=18.0),  # empty list inside both: placed by time
        rec("valid", "accepted", "ok", t=25.0, chaos=("mem#2",)),
        rec("valid", "accepted", "ok", t=35.0),
        rec("valid", "accepted", "ok", t=41.0),  # net#3 failed at 40 s: still recovery
    ]
    phases = summary_of(rows, overlap_events()).phases
    assert list(phases) == [
        "baseline",
        "during cpu#1",
        "during cpu#1 + mem#2",
        "during mem#2",
        "after mem#2",
    ]
    assert [p.total.attempts for p in phases.values()] == [1, 1, 2, 1, 2]
    spans = {name: (p.start_s, p.end_s) for name, p in phases.items()}
    assert spans == {
        "baseline": (0.0, 10.0),
        "during cpu#1": (10.0, 15.0),
        "during cpu#1 + mem#2": (15.0, 20.0),
        "during mem#2": (20.0, 30.0),
        "after mem#2": (30.0, 40.0),
    }
    assert phases["during cpu#1 + mem#2"].labels == ("cpu#1", "mem#2")
    assert phases["after mem#2"].kind == "after"
    assert not any("net#3" in name for name in phases)  # a failed window makes no phase


def test_recovery_phase_of_each_window() -> None:
    events = [
        event(10, "applied", "cpu#1"),
        event(20, "reverted", "cpu#1", planned_at=10),
        event(30, "applied", "cpu#2"),
        event(35, "reverted", "cpu#2", planned_at=30),
    ]
    rows = [
        rec("valid", "accepted", "ok", t=t, chaos=c)
        for t, c in [(5.0, ()), (20.0, ()), (29.9, ()), (31.0, ("cpu#2",)), (38.0, ())]
    ]
    phases = summary_of(rows, events).phases
    assert list(phases) == [
        "baseline",
        "during cpu#1",
        "after cpu#1",
        "during cpu#2",
        "after cpu#2",
    ]
    after = phases["after cpu#1"]
    assert after.total.attempts == 2  # reverted at 20 s: from 20 s on
    assert (after.start_s, after.end_s) == (20.0, 30.0)
    assert phases["during cpu#1"].total.attempts == 0  # shown, though nobody tried
    assert (phases["after cpu#2"].start_s, phases["after cpu#2"].end_s) == (35.0, 40.0)


def test_window_never_reverted_lasts_to_the_end_of_a_killed_run() -> None:
    rows = [
        rec("valid", "accepted", "ok", t=5.0),
        rec("valid", "timeout_handshake", "abrupt", t=12.0, chaos=("cpu#1",)),
        rec("valid", "timeout_handshake", "abrupt", t=30.0),  # list lost; inside the window
        rec("valid", "accepted", "ok", t=50.0, chaos=("cpu#1",)),
    ]
    summary = summary_of(rows, [event(10, "applied", "cpu#1")], CUT_META)
    (window,) = summary.chaos_windows
    assert (window.status, window.reverted_s) == ("active_at_end", None)
    assert list(summary.phases) == ["baseline", "during cpu#1"]
    during = summary.phases["during cpu#1"]
    assert (during.start_s, during.end_s) == (10.0, 50.0)  # to the last attempt
    assert during.total.attempts == 3
    assert during.total.success_rate == pytest.approx(1 / 3)


def test_no_chaos_is_all_baseline() -> None:
    summary = summary_of([rec("valid", "accepted", "ok", t=float(t)) for t in range(4)])
    assert summary.chaos_windows == () and list(summary.phases) == ["baseline"]
    base = summary.phases["baseline"]
    assert (base.total.attempts, base.start_s, base.end_s) == (4, 0.0, 40.0)
    assert not summary.has_chaos
    empty = summary_of([], run_meta=CUT_META)
    assert list(empty.phases) == ["baseline"] and empty.phases["baseline"].total.attempts == 0


def test_assign_phases_rules_directly() -> None:
    spans = [WindowSpan("a#1", "a", 10.0, 20.0), WindowSpan("b#2", "b", 30.0, 60.0, True)]
    chaos = pd.Series([[], ["z#9"], [], [], [], []], dtype=object)
    t = pd.Series([1.0, 2.0, 20.0, 29.0, 99.0, math.nan])
    got = assign_phases(chaos, t, spans).tolist()
    # A list always wins; the revert instant starts recovery; open-ended has no end.
    assert got == ["baseline", "during z#9", "after a#1", "after a#1", "during b#2", "baseline"]
    assert phase_at(10.0, spans) == "during a#1"
    assert phase_intervals(spans, 60.0) == {
        "baseline": (0.0, 10.0),
        "during a#1": (10.0, 20.0),
        "after a#1": (20.0, 30.0),
        "during b#2": (30.0, 60.0),
    }


# --- Per-phase numbers -------------------------------------------------------------------


def split_rows() -> list[dict[str, Any]]:
    """Under cpu#1 (10..20 s): valid 4 ok, 2 refused 1013 + 1 refused 503 (graceful), 1
    dropped in the handshake + 1 closed with 1006 (abrupt); empty 2 rejected 401 (graceful),
    1 accepted. Baseline: 2 valid ok. The 1006 record has no manner: derived from its outcome.
    """
    c = ("cpu#1",)
    rows = [
        rec("valid", "accepted", "ok", t=11.0 + i, hs=10.0 * (i + 1), chaos=c) for i in range(4)
    ]
    rows += [
        rec("valid", "closed_try_again", "valid_refused", t=12, hs=50, code=1013, chaos=c,
            manner="graceful"),
        rec("valid", "closed_try_again", "valid_refused", t=13, hs=60, code=1013, chaos=c,
            manner="graceful"),
        rec("valid", "rejected_capacity", "valid_refused", t=14, hs=70, status=503, chaos=c,
            manner="graceful"),
        rec("valid", "abnormal_handshake", "abrupt", t=15, chaos=c, manner="abrupt"),
        rec("valid", "abnormal_closure", "abrupt", t=16, chaos=c),  # manner missing
        rec("empty", "rejected_auth", "ok", t=17, hs=5, status=401, chaos=c, manner="graceful"),
        rec("empty", "rejected_auth", "ok", t=17, hs=5, status=401, chaos=c, manner="graceful"),
        rec("empty", "accepted", "invalid_accepted", t=18, hs=5, chaos=c),
        rec("valid", "accepted", "ok", t=1.0, hs=1.0),
        rec("valid", "accepted", "ok", t=2.0, hs=1.0),
    ]  # fmt: skip
    return rows


CPU_WINDOW = [event(10, "applied", "cpu#1"), event(20, "reverted", "cpu#1", planned_at=10)]


def test_graceful_abrupt_split_per_phase_and_kind() -> None:
    phases = summary_of(split_rows(), CPU_WINDOW).phases
    during = phases["during cpu#1"]
    valid, empty, total = during.token_kinds["valid"], during.token_kinds["empty"], during.total
    assert (valid.graceful, valid.abrupt) == (3, 2)
    assert valid.graceful_share == pytest.approx(0.6)
    assert (empty.graceful, empty.abrupt, empty.graceful_share) == (2, 0, 1.0)
    assert (total.graceful, total.abrupt) == (5, 2)
    assert total.graceful_share == pytest.approx(5 / 7)
    base = phases["baseline"].total
    assert (base.graceful, base.abrupt, base.graceful_share) == (0, 0, None)


def test_phase_sections_per_kind_numbers() -> None:
    valid = summary_of(split_rows(), CPU_WINDOW).phases["during cpu#1"].token_kinds["valid"]
    assert (valid.attempts, valid.counted) == (9, 9)
    assert valid.success_rate == pytest.approx(4 / 9)
    assert valid.verdicts["valid_refused"] == 3 and valid.verdicts["abrupt"] == 2
    # Handshakes 10, 20, 30, 40, 50, 60, 70 ms (linear interpolation).
    assert valid.handshake_ms.p50 == 40.0
    assert valid.handshake_ms.p95 == pytest.approx(67.0)
    assert valid.handshake_ms.p99 == pytest.approx(69.4)
