"""Tests of the comparison's pure core: its rules and rows, on hand-built typed summaries.

(Run directories, the report files and the command line: tests/render/test_compare_report.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.compare_rows import Comparison, Row, compare_summaries, handshake_samples
from harness.analysis.compare_rules import (
    IMPROVEMENT,
    INFO,
    METRICS,
    NO_DATA,
    REGRESSION,
    SAME,
    Tolerance,
    judge,
    quantile_ci,
)
from harness.analysis.summary import GateResult, Percentiles, Phase, Section, Summary
from harness.config.metrics import GATE_METRICS
from tests.analysis.builders import CPU, rec, run_of, summary_of, valid_run

# --- Hand-built summaries -----------------------------------------------------------------


def section(
    *,
    attempts: int = 100,
    success: float = 1.0,
    abrupt: float = 0.0,
    invalid_accepted: int = 0,
    expected: str = "accept",
    p95: float | None = 10.0,
    graceful_share: float | None = None,
) -> Section:
    """A summary section with just what the comparison reads."""
    return Section(
        attempts=attempts,
        counted=attempts,
        expected=expected,
        verdicts={"ok": round(success * attempts), "invalid_accepted": invalid_accepted},
        success_rate=success,
        abrupt_rate=abrupt,
        graceful_share=graceful_share,
        handshake_ms=Percentiles(None if p95 is None else p95 / 2, p95, p95),
    )


def phase(name: str, total: Section, kinds: dict[str, Section], start: float, end: float) -> Phase:
    kind = name.split(" ")[0]
    return Phase(name, kind, start_s=start, end_s=end, total=total, token_kinds=kinds)


def summary(
    kinds: dict[str, Section] | None = None,
    *,
    scenario: str = "smoke",
    phases: dict[str, Phase] | None = None,
    gates: list[GateResult] | None = None,
    generator_fault_share: float = 0.0,
) -> Summary:
    kinds = {"valid": section()} if kinds is None else kinds
    return Summary(
        run_id=f"run-{scenario}",
        scenario=scenario,
        duration_s=10.0,
        complete=True,
        generator_fault_share=generator_fault_share,
        total=next(iter(kinds.values())) if kinds else section(attempts=0),
        token_kinds=kinds,
        phases=phases or {"baseline": phase("baseline", section(), kinds, 0.0, 10.0)},
        gates=tuple(gates or ()),
    )


def row(cmp: Comparison, metric: str, scope: str) -> Row:
    found = [r for r in cmp.rows if r.metric == metric and r.scope == scope]
    assert len(found) == 1, (metric, scope, [(r.metric, r.scope) for r in cmp.rows])
    return found[0]


# --- Rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "verdict"),
    [(0.995, SAME), (0.99, SAME), (0.98, REGRESSION), (1.0, SAME)],
)
def test_success_rate_drop_tolerance_edges(b: float, verdict: str) -> None:
    """0.01 allowed: a drop of 0.005 or exactly 0.01 is fine, 0.02 is a regression."""
    a_sum = summary({"valid": section(success=1.0)})
    b_sum = summary({"valid": section(success=b)})
    cmp = compare_summaries(a_sum, b_sum, Tolerance(success_rate_drop=0.01))
    assert row(cmp, "success_rate", "valid").verdict == verdict
    assert bool(cmp.regressions) == (verdict == REGRESSION)


def test_improvement_is_the_mirror_of_a_regression() -> None:
    cmp = compare_summaries(summary({"valid": section(success=0.9)}), summary())
    assert row(cmp, "success_rate", "valid").verdict == IMPROVEMENT
    assert cmp.improvements and not cmp.regressions


@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [
        (1.0, 2.5, SAME),  # x2.5, but 1.5 ms is under the 2 ms floor
        (10.0, 12.0, SAME),  # +2 ms but only x1.2
        (10.0, 20.0, REGRESSION),  # x2 and +10 ms (no raw samples: no noise check)
        (20.0, 10.0, IMPROVEMENT),
    ],
)
def test_latency_ratio_and_floor(a: float, b: float, verdict: str) -> None:
    cmp = compare_summaries(summary({"valid": section(p95=a)}), summary({"valid": section(p95=b)}))
    assert row(cmp, "handshake_p95_ms", "valid").verdict == verdict
    assert row(cmp, "handshake_p99_ms", "valid").verdict == INFO  # shown, never judged


def test_latency_needs_enough_samples_and_separate_confidence_intervals() -> None:
    rng = np.random.default_rng(7)
    tol = Tolerance()
    base = rng.normal(10.0, 1.0, 400)
    slow = rng.normal(30.0, 1.0, 400)
    assert judge("handshake_p95_ms", 10.0, 30.0, tol, base, slow)[0] == REGRESSION
    few = judge("handshake_p95_ms", 10.0, 30.0, tol, base[:50], slow[:50])
    assert few[0] == INFO and "too few handshakes" in few[1]
    # A long tail in A: B's p95 is beyond the ratio, but within A's p95 interval (noise).
    tail = np.concatenate([rng.normal(10.0, 1.0, 360), rng.uniform(10.0, 60.0, 40)])
    verdict, note = judge("handshake_p95_ms", 20.0, 30.0, tol, tail, tail[::-1] + 1.0)
    assert verdict == SAME and "within noise" in note
    off = Tolerance(latency_confidence=None, latency_min_samples=0)
    assert judge("handshake_p95_ms", 10.0, 30.0, off, base[:5], slow[:5])[0] == REGRESSION


def test_quantile_ci_brackets_the_sample_quantile() -> None:
    values = np.arange(1.0, 201.0)
    ci = quantile_ci(values, 0.95, 0.95)
    assert ci is not None
    assert ci[0] < float(np.quantile(values, 0.95)) < ci[1] <= 200.0
    assert quantile_ci([], 0.95, 0.95) is None


def test_any_rise_of_invalid_accepted_is_a_regression() -> None:
    a = summary({"empty": section(expected="reject", attempts=1000)})
    b = summary({"empty": section(expected="reject", attempts=1000, invalid_accepted=1)})
    cmp = compare_summaries(a, b)
    assert row(cmp, "invalid_accepted_rate", "empty").verdict == REGRESSION
    assert not [r for r in cmp.rows if r.metric == "valid_refused_rate" and r.scope == "empty"]


def test_abrupt_rate_rise_and_missing_values() -> None:
    cmp = compare_summaries(summary(), summary({"valid": section(abrupt=0.05, p95=None)}))
    assert row(cmp, "abrupt_rate", "valid").verdict == REGRESSION
    assert row(cmp, "handshake_p95_ms", "valid").verdict == NO_DATA


def test_gates_compared_by_name() -> None:
    def gate(name: str, passed: bool) -> GateResult:
        message = f"{'PASS' if passed else 'FAIL'} x"
        return GateResult(name, "ok", None, ">=", 1.0, 1.0 if passed else 0.0, passed, message)

    a = summary(gates=[gate("g1", True), gate("g2", False), gate("only-a", True)])
    b = summary(gates=[gate("g1", False), gate("g2", True), gate("only-b", False)])
    cmp = compare_summaries(a, b)
    assert row(cmp, "gate", "g1").verdict == REGRESSION
    assert row(cmp, "gate", "g2").verdict == IMPROVEMENT
    assert row(cmp, "gate", "only-a").verdict == INFO
    assert row(cmp, "gate", "only-b").verdict == INFO


def test_other_scenario_and_kinds_in_one_run_warn_without_regression() -> None:
    a = summary({"valid": section(), "expired": section(expected="reject")})
    b = summary({"valid": section(), "malformed": section(expected="reject")}, scenario="other")
    cmp = compare_summaries(a, b)
    assert not cmp.regressions
    assert cmp.only_in_a == ("expired",) and cmp.only_in_b == ("malformed",)
    text = "\n".join(cmp.warnings)
    assert "different scenarios" in text and "only in run A" in text and "malformed" in text
    assert not [r for r in cmp.rows if r.scope in ("expired", "malformed")]


def test_generator_faults_warn_and_are_never_a_regression() -> None:
    cmp = compare_summaries(summary(), summary(generator_fault_share=0.2))
    assert not cmp.regressions
    assert any("load generator" in w for w in cmp.warnings)


def test_phases_compared_only_when_both_runs_have_the_same() -> None:
    kinds = {"valid": section()}
    chaos = {
        "baseline": phase("baseline", section(), kinds, 0.0, 4.0),
        "during cpu#1": phase("during cpu#1", section(), kinds, 4.0, 8.0),
    }
    worse = {**chaos, "during cpu#1": phase("during cpu#1", section(success=0.5), kinds, 4, 8)}
    cmp = compare_summaries(summary(phases=chaos), summary(phases=worse))
    assert row(cmp, "success_rate", "during cpu#1 / all").verdict == REGRESSION
    assert row(cmp, "attempts_per_s", "baseline / all").a == pytest.approx(25.0)  # 100 in 4 s
    plain = compare_summaries(summary(), summary(phases=worse))
    assert not [r for r in plain.rows if r.phase is not None]
    assert any("phases differ" in w for w in plain.warnings)
    same = compare_summaries(summary(), summary())  # no chaos: the one phase is the run
    assert not [r for r in same.rows if r.phase is not None]


def test_tolerance_is_validated() -> None:
    with pytest.raises(ValueError, match="success_rate_drop"):
        Tolerance(success_rate_drop=2.0)
    with pytest.raises(ValueError, match="latency_ratio"):
        Tolerance(latency_ratio=0.5)


def test_compare_units_come_from_the_gate_metric_registry() -> None:
    for name, metric in METRICS.items():
        if name in GATE_METRICS:
            assert metric.unit == GATE_METRICS[name].unit, name
    assert METRICS["attempts_per_s"].unit == "per_s" and METRICS["gate"].unit == "gate"


def test_handshake_samples_per_phase_and_kind_from_the_run() -> None:
    rows = valid_run(lambda t: True)
    rows += [rec("empty", "rejected_auth", "ok", t=12.0, hs=3.0, status=401, chaos=("cpu#1",))]
    samples = handshake_samples(run_of(rows, CPU))
    assert samples is not None
    assert len(samples[(None, None)]) == 161
    assert len(samples[("during cpu#1", "valid")]) == 40
    assert samples[("during cpu#1", "empty")].tolist() == [3.0]
    assert handshake_samples(run_of([])) is None


def test_runs_at_hand_feed_the_latency_rule_and_the_load_warning() -> None:
    fast = [rec("valid", "accepted", "ok", t=i * 0.01, hs=10.0 + (i % 3)) for i in range(300)]
    slow = [{**r, "handshake_ms": 3 * r["handshake_ms"]} for r in fast]
    ra = run_of(fast, scenario={"load": {"users": 5}})
    rb = run_of(slow, scenario={"load": {"users": 9}})
    cmp = compare_summaries(summary_of(fast), summary_of(slow), runs=(ra, rb))
    p95 = row(cmp, "handshake_p95_ms", "valid")
    assert p95.verdict == REGRESSION and "95% CI" in p95.note  # raw samples: CIs compared
    assert "WARNING: the runs' load settings differ (users)." in cmp.warnings
    assert cmp.a.run is ra and cmp.b.run is rb
    without = compare_summaries(summary_of(fast), summary_of(slow))
    assert "no raw samples" in row(without, "handshake_p95_ms", "valid").note
