"""Tests of the run verdict: interrupted first, then generator faults > 50 %, then gates."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.analysis.summary import Summary
from harness.analysis.verdict import RunVerdict, Verdict, judge_run
from tests.analysis.builders import gate, rec, sample_rows, summary_of


@pytest.fixture
def failing() -> Summary:
    """The sample run with one gate passing and one failing."""
    gates = [gate("ok", ">=", 5, "valid"), gate("invalid_accepted", "==", 0, "empty")]
    return summary_of(sample_rows(), gates=gates)


def test_failed_gates_are_named(failing: Summary) -> None:
    verdict = judge_run(failing, failing.gates)
    assert verdict == Verdict(
        RunVerdict.GATE_FAILED,
        "1 of 2 gates failed: 'g-invalid_accepted' (FAIL invalid_accepted[empty] == 0: got 1)",
    )
    assert verdict.kind == "gate_failed"  # a StrEnum: the CLI and JSON read it as text


def test_all_gates_passed_and_no_gates() -> None:
    summary = summary_of(sample_rows(), gates=[gate("ok", ">=", 5, "valid")])
    assert judge_run(summary, summary.gates) == Verdict(RunVerdict.PASS, "all 1 gates passed")
    assert judge_run(summary, []).kind is RunVerdict.PASS


def test_interrupted_comes_first(failing: Summary) -> None:
    verdict = judge_run(failing, failing.gates, interrupted_by="SIGTERM")
    assert verdict == Verdict(RunVerdict.INTERRUPTED, "run stopped early by SIGTERM")


@pytest.mark.parametrize(("faults", "kind"), [(6, RunVerdict.UNTRUSTED), (5, RunVerdict.PASS)])
def test_generator_faults_dominate_above_half(faults: int, kind: RunVerdict) -> None:
    rows = [rec("valid", "accepted", "ok")] * (10 - faults)
    rows += [rec("valid", "generator_fault", "generator_fault")] * faults
    summary = summary_of(rows)
    verdict = judge_run(summary, [])
    assert verdict.kind is kind
    if kind is RunVerdict.UNTRUSTED:
        assert verdict.message.startswith("60% of attempts failed inside the load generator")
    failed = replace(summary, generator_fault_share=0.9)
    assert judge_run(failed, [], interrupted_by="SIGINT").kind is RunVerdict.INTERRUPTED
