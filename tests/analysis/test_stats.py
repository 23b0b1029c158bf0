"""Tests of the one definition of each statistic: counted, rates, percentiles, manners."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from harness.analysis import stats
from harness.protocol.outcomes import Outcome
from tests.conftest import ROOT


def test_counted_drops_excluded_and_generator_faults() -> None:
    assert stats.counted(12, 1, 1) == 10
    assert stats.counted(3, 2, 2) == 0  # never negative
    assert {"excluded", "generator_fault"} == stats.NOT_COUNTED


def test_rates_share_the_denominator_and_have_no_value_without_one() -> None:
    assert stats.success_rate(7, 10) == 0.7
    assert stats.abrupt_rate(1, 10) == 0.1
    assert stats.success_rate(0, 0) is None and stats.abrupt_rate(0, 0) is None
    assert stats.graceful_share(2, 1) == pytest.approx(2 / 3)
    assert stats.graceful_share(0, 0) is None


@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0])
@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_percentile_is_linear_interpolation_as_numpy(q: float, n: int) -> None:
    values = np.random.default_rng(n).exponential(10.0, n)
    assert stats.percentile(values.tolist(), q) == pytest.approx(float(np.quantile(values, q)))


def test_percentile_known_answers_and_no_data() -> None:
    values = [80.0, 10.0, 50.0, 20.0, 70.0, 30.0, 60.0, 90.0, 40.0]  # unsorted
    assert stats.percentile(values, 0.95) == pytest.approx(86.0)  # 80 + 0.6 * 10
    assert stats.percentile(values, 0.99) == pytest.approx(89.2)
    assert stats.percentile([None, math.nan, 5.0, math.inf], 0.5) == 5.0  # skipped
    assert stats.percentile([], 0.5) is None
    assert stats.percentiles([]) == {"p50": None, "p95": None, "p99": None}
    with pytest.raises(ValueError, match="q must be in"):
        stats.percentile([1.0], 95)


def test_manners_come_from_the_protocol_table() -> None:
    assert stats.manner_of(Outcome.REJECTED_CAPACITY.value) == "graceful"
    assert stats.manner_of(Outcome.CLOSED_TRY_AGAIN.value) == "graceful"
    assert stats.manner_of(Outcome.ABNORMAL_HANDSHAKE.value) == "abrupt"
    assert stats.manner_of(Outcome.TIMEOUT_HANDSHAKE.value) == "abrupt"
    assert stats.manner_of(Outcome.ACCEPTED.value) is None
    assert stats.manner_of(Outcome.GENERATOR_FAULT.value) is None
    assert stats.manner_of("no such outcome") is None and stats.manner_of(None) is None


def test_stats_imports_no_pandas() -> None:
    """The load edge's progress line uses these definitions: they must stay light."""
    code = "import sys, harness.analysis.stats; print('pandas' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
