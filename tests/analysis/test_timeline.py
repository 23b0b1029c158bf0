"""Tests of the charts' time axis (pure): round bin widths, and the per-bin tables."""

from __future__ import annotations

import math

import pytest

from harness.analysis.timeline import (
    bin_width_s,
    handshake_by_bin,
    make_timeline,
    success_by_bin,
    verdict_rates_by_bin,
)
from tests.analysis.builders import CUT_META, rec, run_of, sample_rows


@pytest.mark.parametrize(
    ("duration_s", "width_s"),
    [(0.0, 1.0), (10.0, 1.0), (40.0, 1.0), (60.2775, 2.0), (120.0, 3.0), (130.0, 4.0),
     (300.0, 10.0), (3600.0, 90.0), (200_000.0, 7200.0)],
)  # fmt: skip
def test_bin_widths_are_round(duration_s: float, width_s: float) -> None:
    assert bin_width_s(duration_s) == width_s
    assert duration_s / bin_width_s(duration_s) <= 40 + 1e-9  # at most about 40 bins


def test_success_and_rates_by_bin() -> None:
    run = run_of(sample_rows())
    tl = make_timeline(run)
    assert tl.width_s == 1.0 and len(tl.edges) == 41  # 0..40 s
    success = success_by_bin(run.attempts, tl)
    assert success.loc[0, "valid"] == 1.0
    assert success.loc[20, "valid"] == 0.0
    assert math.isnan(success.loc[39, "valid"])  # only an excluded attempt
    assert math.isnan(success.loc[25, "valid"])  # only a generator fault: not counted
    assert success.loc[2, "expired"] == 0.0
    rates = verdict_rates_by_bin(run.attempts, tl)
    assert rates.loc[0, "ok"] == 2.0  # valid + empty at t=0, per second
    assert rates.loc[39, "excluded"] == 1.0
    assert handshake_by_bin(run.attempts, tl).loc[3, "p50"] == 40.0
    longer = make_timeline(run, until_s=80.0)
    assert (longer.width_s, longer.edges[-1]) == (2.0, 80.0)


def test_handshake_percentiles_per_bin_are_the_summary_s() -> None:
    rows = [rec("valid", "accepted", "ok", t=0.1 * i, hs=float(i)) for i in range(10)]
    run = run_of(rows, run_meta=CUT_META)
    table = handshake_by_bin(run.attempts, make_timeline(run))
    assert table.loc[0].tolist() == pytest.approx([4.5, 8.55, 8.91])  # linear interpolation
