"""Tests of gate evaluation against a summary: metrics, operators, messages, no-data cases."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from harness.analysis.gates import evaluate_gates, metric_value, with_gates
from harness.analysis.summary import Finding, Summary
from harness.config.metrics import GATE_METRICS
from harness.config.scenario import Gate
from tests.analysis.builders import (
    CPU,
    gate,
    rec,
    sample_rows,
    summary_of,
    valid_run,
    window_events,
)


@pytest.fixture
def summary() -> Summary:
    return summary_of(sample_rows())


# --- Gates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "kind", "value"),
    [
        ("success_rate", "valid", 7 / 10),  # 10 counted: no excluded, no generator fault
        ("abrupt_rate", "expired", 0.5),
        ("attempts", "valid", 12.0),
        ("ok", None, 11.0),
        ("valid_refused", "valid", 2.0),
        ("invalid_accepted", "empty", 1.0),
        ("abrupt", None, 2.0),
        ("wrong_rejection", "empty", 0.0),
        ("generator_fault", "valid", 1.0),
        ("handshake_p50_ms", "valid", 50.0),
        ("handshake_p95_ms", "valid", 86.0),
        ("handshake_p99_ms", "valid", 89.2),
    ],
)
def test_metric_values(summary: Summary, metric: str, kind: str | None, value: float) -> None:
    assert metric_value(summary, metric, kind) == pytest.approx(value)


def test_every_gate_metric_has_a_reader(recovered: Summary) -> None:
    for metric in GATE_METRICS:
        value = metric_value(recovered, metric, "valid", fault="cpu#1", severity="low")
        assert value is not None, metric


@pytest.mark.parametrize(
    ("op", "threshold", "passed"),
    [
        ("<", 2, True),
        ("<", 1, False),
        ("<=", 1, True),
        (">", 0, True),
        (">", 1, False),
        (">=", 1, True),
        ("==", 1, True),
        ("==", 0, False),
        ("!=", 0, True),
        ("!=", 1, False),
    ],
)
def test_gate_operators(summary: Summary, op: str, threshold: float, passed: bool) -> None:
    (result,) = evaluate_gates(summary, [gate("invalid_accepted", op, threshold, "empty")])
    assert result.passed is passed
    assert result.value == 1.0


def test_gate_message_and_fields(summary: Summary) -> None:
    results = evaluate_gates(
        summary,
        [
            gate("invalid_accepted", "==", 0, "empty"),
            gate("success_rate", ">=", 0.6, "valid"),
            gate("handshake_p95_ms", "<", 50),
        ],
    )
    assert [r.passed for r in results] == [False, True, False]
    assert results[0].message == "FAIL invalid_accepted[empty] == 0: got 1"
    assert results[1].message == "PASS success_rate[valid] >= 0.6: got 0.7"
    assert results[2].token_kind is None
    assert results[2].value == pytest.approx(summary.total.handshake_ms.p95)
    assert (results[0].name, results[0].unit, results[1].unit) == (
        "g-invalid_accepted",
        "count",
        "share",
    )


@pytest.mark.parametrize(
    "g",
    [
        gate("invalid_accepted", "==", 0, "malformed"),  # no attempts of the kind
        gate("attempts", "<", 100, "malformed"),
        gate("success_rate", ">=", 0.0, "missing"),
        gate("handshake_p99_ms", "<", 1e9, "missing"),
    ],
)
def test_gate_without_data_fails(summary: Summary, g: Gate) -> None:
    (result,) = evaluate_gates(summary, [g])
    assert result.value is None
    assert result.passed is False
    assert "no data" in result.message
    assert result.message.startswith("FAIL ")


def test_count_gate_on_all_excluded_kind_fails() -> None:
    rows = [
        rec("empty", "interrupted", "excluded"),
        rec("empty", "generator_fault", "generator_fault"),
    ]
    summary = summary_of(rows)
    (result,) = evaluate_gates(summary, [gate("invalid_accepted", "==", 0, "empty")])
    assert result.value is None and not result.passed
    assert "no counted attempts" in result.message
    (faults,) = evaluate_gates(summary, [gate("generator_fault", "<=", 1, "empty")])
    assert faults.value == 1.0 and faults.passed  # generator faults are counted on attempts


def test_gates_on_empty_run_fail() -> None:
    summary = summary_of([])
    results = evaluate_gates(summary, [gate("invalid_accepted", "==", 0), gate("ok", ">=", 0)])
    assert [r.passed for r in results] == [False, False]


def test_unknown_metric_fails_instead_of_raising(summary: Summary) -> None:
    (result,) = evaluate_gates(summary, [gate("nonsense", ">=", 0)])
    assert not result.passed
    assert "unknown metric" in result.message


# --- Phase, graceful_share, recovery_s, findings ------------------------------------------


def pgate(metric: str, op: str, threshold: float, **kw: Any) -> Gate:
    return Gate(name=f"g-{metric}", metric=metric, op=op, threshold=threshold, **kw)


@pytest.fixture
def recovered() -> Summary:
    """cpu#1 (10..20 s) fails every valid attempt; success is back at 23 s (recovery 3 s)."""
    rows = valid_run(lambda t: not 10.0 <= t < 23.0)
    rows += [rec("empty", "closed_auth", "ok", t=1.0, code=4401, reason="token empty")]
    return summary_of(rows, CPU)


def test_phase_filter_reads_the_phase_section(recovered: Summary) -> None:
    results = evaluate_gates(
        recovered,
        [
            pgate("success_rate", ">=", 0.99, token_kind="valid", phase="baseline"),
            pgate("success_rate", ">=", 0.99, token_kind="valid", phase="during cpu#1"),
            pgate("success_rate", ">=", 0.99, token_kind="valid"),
            pgate("attempts", "==", 41, phase="baseline"),
            pgate("abrupt", "==", 40, token_kind="valid", phase="during cpu#1"),
        ],
    )
    assert [r.value for r in results] == [1.0, 0.0, pytest.approx(108 / 160), 41.0, 40.0]
    assert [r.passed for r in results] == [True, False, False, True, True]
    assert results[1].message == "FAIL success_rate[valid]@during cpu#1 >= 0.99: got 0"
    assert results[1].phase == "during cpu#1"


@pytest.mark.parametrize(
    ("g", "reason"),
    [
        (
            pgate("success_rate", ">=", 0.0, phase="during mem#9"),
            "no data (no phase 'during mem#9' in this run; phases: baseline, during cpu#1, "
            "after cpu#1)",
        ),
        (
            pgate("invalid_accepted", "==", 0, token_kind="empty", phase="during cpu#1"),
            "no data (no attempts of kind 'empty' in phase 'during cpu#1')",
        ),
        (
            pgate("graceful_share", ">=", 0.0, token_kind="valid", phase="baseline"),
            "no data (no refusals of kind 'valid' in phase 'baseline')",
        ),
    ],
)
def test_phase_without_data_fails(recovered: Summary, g: Gate, reason: str) -> None:
    (result,) = evaluate_gates(recovered, [g])
    assert result.value is None and not result.passed
    assert result.message == f"FAIL {g.describe()}: {reason}"


def test_graceful_share(summary: Summary) -> None:
    """valid: 2 refused with 1013, 1 timeout; empty: 3 closed 4401; expired: 1 401, 1 drop."""
    results = evaluate_gates(
        summary,
        [
            pgate("graceful_share", ">=", 0.6, token_kind="valid"),
            pgate("graceful_share", ">=", 0.8),
            pgate("graceful_share", "==", 1.0, token_kind="valid", phase="during cpu"),
        ],
    )
    assert [r.value for r in results] == [
        pytest.approx(2 / 3),
        0.75,
        pytest.approx(2 / 3),
    ]
    assert [r.passed for r in results] == [True, False, False]
    assert results[1].message == "FAIL graceful_share >= 0.8: got 0.75"


@pytest.mark.parametrize(("threshold", "passed"), [(5, True), (3, True), (2, False)])
def test_recovery_s_pass_and_fail(recovered: Summary, threshold: float, passed: bool) -> None:
    (result,) = evaluate_gates(recovered, [pgate("recovery_s", "<=", threshold, fault="cpu#1")])
    assert result.value == pytest.approx(3.0)
    assert result.passed is passed
    assert result.fault == "cpu#1"
    assert (
        result.message == f"{'PASS' if passed else 'FAIL'} recovery_s(cpu#1) <= {threshold}: got 3"
    )


def test_recovery_s_did_not_recover_fails_with_the_reason() -> None:
    summary = summary_of(valid_run(lambda t: t < 10.0), CPU)
    (result,) = evaluate_gates(summary, [pgate("recovery_s", "<=", 1e9, fault="cpu#1")])
    assert result.value is None and not result.passed
    assert result.message == "FAIL recovery_s(cpu#1) <= 1e+09: cpu#1 did not recover"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("net#2", "no data (no chaos window 'net#2' in this run; windows: cpu#1)"),
        (None, "no data (recovery_s needs a fault: the chaos window's label)"),
    ],
)
def test_recovery_s_without_a_window_fails(
    recovered: Summary, fault: str | None, reason: str
) -> None:
    (result,) = evaluate_gates(recovered, [pgate("recovery_s", "<", 100, fault=fault)])
    assert not result.passed and result.message.endswith(reason)


def test_recovery_s_of_a_window_never_ended_fails() -> None:
    windows = window_events(("cpu#1", 10.0, None))
    summary = summary_of(valid_run(lambda t: True), windows)
    (result,) = evaluate_gates(summary, [pgate("recovery_s", "<", 100, fault="cpu#1")])
    assert not result.passed
    assert result.message.endswith("no data (cpu#1: window never ended)")


def finding(id_: str, severity: str) -> Finding:
    return Finding(id_, "resource", severity, "title", "evidence", "meaning", "fix")


FINDINGS = tuple(
    finding(i, s)
    for i, s in zip("abcde", ["critical", "high", "medium", "medium", "low"], strict=True)
)


@pytest.mark.parametrize(
    ("severity", "count"), [("low", 5), ("medium", 4), ("high", 2), ("critical", 1)]
)
def test_findings_counted_at_or_above_a_severity(severity: str, count: int) -> None:
    summary = replace(summary_of([]), findings=FINDINGS)
    (result,) = evaluate_gates(summary, [pgate("findings", "==", 0, severity=severity)])
    assert result.value == count and not result.passed
    assert result.message == f"FAIL findings(>= {severity}) == 0: got {count}"
    assert result.severity == severity


def test_findings_gate_on_a_real_summary(summary: Summary, recovered: Summary) -> None:
    """sample_rows: invalid token accepted + generator fault (critical), a drop (high);
    ``recovered``: only abrupt-under-pressure (high: every refusal under cpu#1 a timeout)."""
    gates = [
        pgate("findings", "==", 0, severity="critical"),
        pgate("findings", "<=", 3, severity="low"),
    ]
    assert [r.value for r in evaluate_gates(summary, gates)] == [2.0, 3.0]
    results = evaluate_gates(
        recovered,
        [
            pgate("findings", "==", 1, severity="high"),
            pgate("findings", "==", 0, severity="critical"),
        ],
    )
    assert [r.passed for r in results] == [True, True], [r.message for r in results]


@pytest.mark.parametrize(
    ("severity", "reason"),
    [
        ("severe", "no data (severity 'severe' is not one of low, medium, high, critical)"),
        (None, "no data (severity None is not one of low, medium, high, critical)"),
    ],
)
def test_findings_gate_never_passes_vacuously(severity: str | None, reason: str) -> None:
    (result,) = evaluate_gates(summary_of([]), [pgate("findings", "==", 0, severity=severity)])
    assert result.value is None and not result.passed
    assert result.message.endswith(reason)


def test_no_findings_is_zero_not_no_data() -> None:
    (result,) = evaluate_gates(summary_of([]), [pgate("findings", "==", 0, severity="low")])
    assert result.value == 0.0 and result.passed


def test_with_gates_puts_the_results_in_the_summary(summary: Summary) -> None:
    gates = [gate("ok", ">=", 5, "valid"), gate("invalid_accepted", "==", 0, "empty")]
    judged = with_gates(summary, gates)
    assert [g.name for g in judged.gates] == ["g-ok", "g-invalid_accepted"]
    assert judged.passed is False and [g.name for g in judged.failed_gates] == [
        "g-invalid_accepted"
    ]
    assert with_gates(summary, []).passed is True


def test_unknown_operator_fails(summary: Summary) -> None:
    (result,) = evaluate_gates(summary, [Gate(name="x", metric="ok", op="~", threshold=1)])
    assert not result.passed and "unknown operator" in result.message


# --- Ratios: relative_to ------------------------------------------------------------------


def test_a_ratio_gate_divides_by_the_same_metric_in_its_reference_phase(
    recovered: Summary,
) -> None:
    during = pgate("abrupt", ">=", 3, token_kind="valid", phase="during cpu#1")
    attempts = pgate("attempts", ">=", 0.5, phase="after cpu#1", relative_to="baseline")
    (count, ratio) = evaluate_gates(recovered, [during, attempts])
    after = metric_value(recovered, "attempts", phase="after cpu#1")
    base = metric_value(recovered, "attempts", phase="baseline")
    assert after and base and ratio.value == pytest.approx(after / base)
    assert ratio.unit == "ratio" and ratio.relative_to == "baseline"
    assert ratio.message.startswith("PASS attempts@after cpu#1 / @baseline >= 0.5: got ")
    assert count.unit == "count" and count.relative_to is None


def test_a_ratio_without_a_reference_or_over_zero_fails_and_says_why(recovered: Summary) -> None:
    zero = pgate(
        "abrupt", ">=", 1, token_kind="valid", phase="during cpu#1", relative_to="baseline"
    )
    missing = pgate("success_rate", ">=", 1, token_kind="valid", relative_to="during mem#9")
    (over_zero, no_ref) = evaluate_gates(recovered, [zero, missing])
    assert over_zero.value is None and not over_zero.passed
    assert over_zero.message.endswith("no data (the value in 'baseline' is 0: no ratio)")
    assert not no_ref.passed
    assert "no data (reference: no phase 'during mem#9' in this run" in no_ref.message
