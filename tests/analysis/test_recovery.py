"""Tests of recovery after chaos windows: hand-built attempts with known recovery times.

Every run here has one valid attempt every 0.25 s (8 per trailing 2 s group) unless a test
says otherwise; a window ``cpu#1`` is applied at 10 s and reverted at 20 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from harness.analysis.recovery import (
    ASSUMED_BASELINE_NOTE,
    compute_recovery,
    recovered_from,
    trailing_starts,
)
from harness.analysis.summary import (
    NEVER_APPLIED,
    NEVER_ENDED,
    NO_DATA_AFTER,
    NOT_RECOVERED,
    RECOVERED,
    Recovery,
)
from tests.analysis.builders import (
    CPU,
    STEP_S,
    event,
    rec,
    run_of,
    summary_of,
    valid_run,
    window_events,
)


def recovery_of(
    rows: list[dict[str, Any]], events: Sequence[dict[str, Any]] = CPU, **kw: Any
) -> dict[str, Recovery]:
    return compute_recovery(run_of(rows, events), **kw)


# --- Per window ---------------------------------------------------------------------------


def test_recovers_three_seconds_after_the_revert() -> None:
    rows = valid_run(lambda t: not 10.0 <= t < 23.0)
    r = recovery_of(rows)["cpu#1"]
    assert r.status == RECOVERED and r.recovered is True
    assert r.recovered_at_s == pytest.approx(23.0)
    assert r.recovery_s == pytest.approx(3.0)
    assert r.degraded is True
    assert r.baseline_success_rate == 1.0 and r.baseline_attempts == 40
    assert r.threshold == pytest.approx(0.95)
    assert r.success_rate_during == 0.0 and r.worst_rate_during == 0.0
    assert r.attempts_after == 80 and r.horizon_end_s == 40.0
    assert r.note is None


def test_never_recovers() -> None:
    r = recovery_of(valid_run(lambda t: t < 10.0))["cpu#1"]
    assert r.status == NOT_RECOVERED and r.recovered is False
    assert r.recovered_at_s is None and r.recovery_s is None
    assert r.success_rate_after == 0.0


def test_no_degradation_is_zero() -> None:
    r = recovery_of(valid_run(lambda t: True))["cpu#1"]
    assert r.status == RECOVERED
    assert r.degraded is False
    assert r.recovery_s == 0.0 and r.recovered_at_s == 20.0


def test_degraded_only_after_the_revert_is_not_zero() -> None:
    """A revert that hurts (e.g. a restart) degrades after the window, not during it."""
    r = recovery_of(valid_run(lambda t: not 20.0 <= t < 21.0))["cpu#1"]
    assert r.degraded is True
    assert r.recovery_s == pytest.approx(1.0)


def test_window_never_ended() -> None:
    windows = window_events(("cpu#1", 10.0, None))
    rows = valid_run(lambda t: t < 10.0, windows=(("cpu#1", 10.0, None),))
    r = recovery_of(rows, windows)["cpu#1"]
    assert r.status == NEVER_ENDED and r.recovered is False
    assert r.recovery_s is None and r.reverted_s is None
    assert r.degraded is True


def test_no_data_after_the_window() -> None:
    r = recovery_of(valid_run(lambda t: True, end=20.0))["cpu#1"]
    assert r.status == NO_DATA_AFTER
    assert r.recovery_s is None and r.attempts_after == 0


def test_a_failed_window_was_never_applied() -> None:
    windows = [event(10, "failed", "net#1", error="nope")]
    r = recovery_of(valid_run(lambda t: True, windows=()), windows)["net#1"]
    assert r.status == NEVER_APPLIED and r.recovery_s is None


def test_a_later_dip_moves_the_recovery_past_it() -> None:
    """Recovery must hold to the horizon's end: one failure at 30 s resets it."""
    rows = valid_run(lambda t: not (10.0 <= t < 23.0 or t == 30.0))
    r = recovery_of(rows)["cpu#1"]
    assert r.recovered_at_s == pytest.approx(30.25)


def test_the_next_window_ends_the_horizon() -> None:
    """Failures under the next window (30 s on) do not count against the first one."""
    spans = (("cpu#1", 10.0, 20.0), ("mem#2", 30.0, 35.0))
    rows = valid_run(lambda t: not (10.0 <= t < 22.0 or 30.0 <= t < 36.0), windows=spans)
    result = recovery_of(rows, window_events(*spans))
    assert result["cpu#1"].horizon_end_s == 30.0
    assert result["cpu#1"].recovery_s == pytest.approx(2.0)
    assert result["mem#2"].recovery_s == pytest.approx(1.0)
    assert list(result) == ["cpu#1", "mem#2"]


def test_sessions_ended_by_the_next_window_are_not_counted_against_the_last() -> None:
    """Sessions stay open 1.5 s; those still open when a window starts are closed by it (1001),
    in the baseline before cpu#1 and in cpu#1's horizon before mem#2."""
    spans = (("cpu#1", 10.0, 20.0), ("mem#2", 30.0, 35.0))
    rows = []
    for t in np.arange(0.0, 40.0, STEP_S):
        t = float(t)
        cut = 8.5 <= t < 10.0 or 28.5 <= t < 30.0
        if 10.0 <= t < 20.0 or 30.0 <= t < 35.0 or cut:
            rows.append(rec("valid", "closed_normal", "valid_refused", t=t, code=1001))
        else:
            rows.append(rec("valid", "accepted", "ok", t=t))
        rows[-1]["open_s"] = 1.5
    result = recovery_of(rows, window_events(*spans))
    cpu = result["cpu#1"]
    assert cpu.baseline_success_rate == 1.0 and cpu.baseline_attempts == 34
    assert cpu.status == RECOVERED and cpu.recovery_s == pytest.approx(0.0)
    assert cpu.attempts_after == 34  # 20.0 .. 28.25 s; from 28.5 s they end under mem#2


def test_overlapping_window_is_noted() -> None:
    spans = (("cpu#1", 10.0, 20.0), ("mem#2", 15.0, 25.0))
    rows = valid_run(lambda t: not 10.0 <= t < 25.0, windows=spans)
    result = recovery_of(rows, window_events(*spans))
    assert result["cpu#1"].note == "still active at its revert: mem#2"
    assert result["cpu#1"].recovery_s == pytest.approx(5.0)
    assert result["mem#2"].note is None


def test_baseline_below_one_and_margin() -> None:
    """Baseline 0.75 (every 4th attempt fails); 0.75 after the window is within the margin."""

    def ok_at(t: float) -> bool:
        return not (10.0 <= t < 20.0) and round(t / STEP_S) % 4 != 3

    r = recovery_of(valid_run(ok_at))["cpu#1"]
    assert r.baseline_success_rate == pytest.approx(0.75)
    assert r.threshold == pytest.approx(0.70)
    assert r.status == RECOVERED and r.recovery_s == pytest.approx(0.0)
    strict = recovery_of(valid_run(ok_at), margin=0.0)["cpu#1"]
    assert strict.threshold == pytest.approx(0.75)


def test_margin_decides() -> None:
    """After the window, half the attempts fail: recovered with margin 0.6, not with 0.05."""
    rows = valid_run(lambda t: t < 10.0 or (t >= 20.0 and round(t / STEP_S) % 2 == 0))
    assert recovery_of(rows)["cpu#1"].status == NOT_RECOVERED
    loose = recovery_of(rows, margin=0.6)["cpu#1"]
    assert loose.status == RECOVERED and loose.recovered_at_s == pytest.approx(20.0)


def test_baseline_assumed_without_baseline_attempts() -> None:
    r = recovery_of(valid_run(lambda t: not 10.0 <= t < 22.0, start=10.0))["cpu#1"]
    assert r.baseline_assumed is True and r.baseline_success_rate == 1.0
    assert r.note == ASSUMED_BASELINE_NOTE
    assert r.recovery_s == pytest.approx(2.0)


def test_excluded_generator_faults_and_other_kinds_do_not_count() -> None:
    rows = valid_run(lambda t: not 10.0 <= t < 23.0)
    rows += [rec("valid", "generator_fault", "generator_fault", t=30.0 + i / 10) for i in range(5)]
    rows += [rec("valid", "interrupted", "excluded", t=31.0)]
    rows += [rec("empty", "accepted", "invalid_accepted", t=32.0)]
    assert recovery_of(rows)["cpu#1"].recovery_s == pytest.approx(3.0)


def test_the_summary_carries_the_recovery() -> None:
    rows = valid_run(lambda t: not 10.0 <= t < 23.0)
    summary = summary_of(rows, CPU)
    assert summary.recovery == recovery_of(rows)
    assert summary.recovery["cpu#1"].recovery_s == pytest.approx(3.0)
    assert summary.recovery["cpu#1"].label == "cpu#1"


def test_no_windows_no_recovery() -> None:
    assert summary_of(valid_run(lambda t: True, windows=())).recovery == {}


# --- The trailing-rate core ---------------------------------------------------------------


def test_trailing_groups_cover_two_seconds_or_five_attempts() -> None:
    t = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 5.0, 6.0, 6.5])
    assert trailing_starts(t).tolist() == [0, 0, 0, 0, 0, 0, 2, 3, 4]
    dense = np.arange(0.0, 4.0, 0.25)  # 8 attempts per 2 s
    assert trailing_starts(dense)[-1] == len(dense) - 8


def test_recovered_from_needs_a_stable_suffix() -> None:
    t = np.arange(0.0, 5.0, 0.25)
    ok = np.ones(len(t), dtype=bool)
    assert recovered_from(ok, t, 0.95) == 0
    ok[3] = False
    assert recovered_from(ok, t, 0.95) == 4
    assert recovered_from(np.zeros(len(t), dtype=bool), t, 0.95) is None
    assert recovered_from(np.array([], dtype=bool), np.array([]), 0.95) is None
