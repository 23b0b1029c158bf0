"""Tests of the summary's numbers: per token kind, in total, per phase (hand-built runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import stats
from harness.analysis.sections import array_percentiles, handshake_percentiles, section
from harness.analysis.summarize import summarize
from harness.analysis.summary import Percentiles, Summary
from harness.protocol.outcomes import Verdict
from tests.analysis.builders import (
    CUT_META,
    META,
    T0,
    rec,
    run_of,
    sample_rows,
    summary_of,
)


@pytest.fixture
def summary() -> Summary:
    return summary_of(sample_rows())


def test_counts_and_rates_per_kind(summary: Summary) -> None:
    valid = summary.token_kinds["valid"]
    assert valid.attempts == 12
    assert valid.counted == 10  # the interrupted attempt and the generator fault do not count
    assert valid.success_rate == pytest.approx(7 / 10)
    assert valid.abrupt_rate == pytest.approx(1 / 10)
    assert valid.expected == "accept"
    assert valid.close_codes == {"1013": 2}
    assert valid.close_reasons == {"overloaded": 2}
    assert valid.outcomes["accepted"] == 7 and valid.outcomes["interrupted"] == 1

    empty = summary.token_kinds["empty"]
    assert (empty.attempts, empty.counted) == (4, 4)
    assert empty.verdict(Verdict.INVALID_ACCEPTED) == 1
    assert empty.success_rate == pytest.approx(0.75)
    assert empty.abrupt_rate == 0.0
    assert empty.close_codes == {"4401": 3}

    expired = summary.token_kinds["expired"]
    assert expired.success_rate == pytest.approx(0.5)
    assert expired.abrupt_rate == pytest.approx(0.5)
    assert expired.handshake_ms == Percentiles(7.0, 7.0, 7.0)


def test_totals_and_run_metadata(summary: Summary) -> None:
    total = summary.total
    assert (total.attempts, total.counted) == (18, 16)
    assert total.verdict(Verdict.OK) == 7 + 3 + 1
    assert total.success_rate == pytest.approx(11 / 16)
    assert total.abrupt_rate == pytest.approx(2 / 16)
    assert total.expected == "mixed"
    assert total.close_codes == {"1013": 2, "4401": 3}
    assert summary.generator_fault_share == pytest.approx(1 / 18)  # over all attempts
    assert summary.schema_version == 2
    assert (summary.run_id, summary.scenario) == ("run-1", "unit")
    assert (summary.started_at, summary.duration_s, summary.complete) == (T0, 40.0, True)
    assert list(summary.token_kinds) == ["valid", "empty", "expired"]  # TOKEN_KINDS order


def test_every_verdict_present_with_zeros(summary: Summary) -> None:
    for sec in [summary.total, *summary.token_kinds.values()]:
        assert list(sec.verdicts) == [v.value for v in Verdict]
    assert summary.token_kinds["expired"].verdicts == {
        "ok": 1,
        "valid_refused": 0,
        "invalid_accepted": 0,
        "abrupt": 1,
        "wrong_rejection": 0,
        "generator_fault": 0,
        "excluded": 0,
    }


def test_handshake_percentiles_linear_over_non_null(summary: Summary) -> None:
    # valid: 10..90 ms over 9 rows with a handshake; 3 rows without one are ignored.
    hs = summary.token_kinds["valid"].handshake_ms
    assert hs.p50 == pytest.approx(50.0)
    assert hs.p95 == pytest.approx(86.0)  # 80 + 0.6 * 10
    assert hs.p99 == pytest.approx(89.2)  # 80 + 0.92 * 10
    assert handshake_percentiles(pd.Series([None, None], dtype=float)) == Percentiles()


def test_graceful_and_abrupt_by_manner_whatever_the_kind(summary: Summary) -> None:
    """valid: 2 refused with 1013, 1 timeout; empty: 3 closed 4401; expired: 1 401, 1 drop."""
    valid = summary.token_kinds["valid"]
    assert (valid.graceful, valid.abrupt) == (2, 1)
    assert (summary.total.graceful, summary.total.abrupt) == (6, 2)
    assert summary.total.graceful_share == pytest.approx(0.75)
    sec = section(run_of([rec("valid", "accepted", "ok")]).attempts)
    assert (sec.graceful, sec.abrupt, sec.graceful_share) == (0, 0, None)


def test_phases_without_chaos_file_follow_the_attempts_lists(summary: Summary) -> None:
    # No chaos.jsonl: the attempts that recorded "cpu" are its during phase, the rest baseline.
    assert summary.chaos_windows == ()
    assert list(summary.phases) == ["baseline", "during cpu"]
    cpu = summary.phases["during cpu"]
    assert (cpu.name, cpu.kind, cpu.labels) == ("during cpu", "during", ("cpu",))
    assert cpu.total.attempts == 5
    assert cpu.total.verdict(Verdict.VALID_REFUSED) == 2
    assert (cpu.start_s, cpu.end_s) == (20.0, 30.0)  # its attempts' first and last start
    base = summary.phases["baseline"]
    assert base.total.attempts == 13 and (base.start_s, base.end_s) == (0.0, 40.0)
    assert summary.has_chaos


def test_all_excluded_kind_has_no_rates() -> None:
    rows = [
        rec("valid", "interrupted", "excluded"),
        rec("valid", "generator_fault", "generator_fault"),
    ]
    sec = summary_of(rows).token_kinds["valid"]
    assert (sec.attempts, sec.counted) == (2, 0)
    assert sec.success_rate is None and sec.abrupt_rate is None


def test_empty_run_and_cut_short_meta() -> None:
    summary = summary_of([], run_meta=CUT_META)
    assert summary.token_kinds == {}
    assert summary.total.attempts == 0 and summary.total.success_rate is None
    assert summary.total.verdict(Verdict.OK) == 0
    assert summary.generator_fault_share is None
    assert summary.complete is False and summary.duration_s is None
    assert list(summary.phases) == ["baseline"] and not summary.has_chaos
    assert summary.findings == () and summary.recovery == {}


def test_cut_short_duration_runs_to_last_attempt() -> None:
    summary = summary_of(sample_rows(), run_meta=CUT_META)
    assert summary.duration_s == pytest.approx(39.0)
    assert summary.complete is False


def test_complete_needs_an_end_time() -> None:
    summary = summarize(run_of([], (), META.__class__(**{**META.__dict__, "ended_at": None})))
    assert summary.complete is False  # meta said complete, but no end was recorded


def test_unknown_verdict_is_kept() -> None:
    sec = summary_of([rec("valid", "accepted", "weird")]).total
    assert sec.verdicts["weird"] == 1 and sec.counted == 1 and sec.success_rate == 0.0


def test_ping_round_trips_are_summarised_per_section() -> None:
    """p50/p95 over the attempts' average ping round trips; None without client pings."""
    rows = [rec("valid", "accepted", "ok", client_pings=3, ping_rtt_ms_avg=v) for v in (1.0, 3.0)]
    rows += [rec("valid", "timeout_pong", "abrupt", client_pings=1, ping_rtt_ms_avg=None)]
    rows += [rec("empty", "rejected_auth", "ok", status=401)]
    summary = summary_of(rows)
    assert summary.token_kinds["valid"].ping_rtt_ms == Percentiles(2.0, 2.9, 2.98)
    assert summary.token_kinds["empty"].ping_rtt_ms == Percentiles()
    assert summary.total.ping_rtt_ms.p50 == 2.0
    assert summary.token_kinds["valid"].outcomes == {"accepted": 2, "timeout_pong": 1}


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_of_a_column_are_those_of_its_list(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.exponential(10.0, int(rng.integers(0, 400))).round(1)
    values[rng.random(len(values)) < 0.1] = np.nan
    values[rng.random(len(values)) < 0.05] = -0.0
    values[rng.random(len(values)) < 0.02] = np.inf
    as_list = stats.percentiles(values.tolist())
    got = array_percentiles(pd.Series(values))
    assert got == as_list  # exactly: a big run's summary stays the same
    assert all(type(v) is float for v in got.values() if v is not None)
    assert array_percentiles(np.zeros(0)) == stats.percentiles([])
