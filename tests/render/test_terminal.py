"""Tests of the terminal summary and the doctor's findings table (pure: no files)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from harness.analysis.gates import evaluate_gates
from harness.analysis.summary import Recovery, Summary
from harness.render.terminal import (
    finding_lines,
    format_findings,
    format_terminal_summary,
    phase_lines,
    recovery_lines,
)
from tests.analysis.builders import (
    CUT_META,
    FINDINGS,
    event,
    gate,
    rec,
    sample_rows,
    summary_of,
)
from tests.conftest import ROOT


@pytest.fixture
def summary() -> Summary:
    return summary_of(sample_rows())


def test_terminal_summary(summary: Summary) -> None:
    results = evaluate_gates(
        summary, [gate("invalid_accepted", "==", 0, "empty"), gate("ok", ">=", 5, "valid")]
    )
    text = format_terminal_summary(summary, results)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 110
    rows = {
        line.split()[0]: line.split()
        for line in lines
        if line and line.split()[0] in ("valid", "empty", "expired", "total")
    }
    # kind, attempts, expected, success %, ok, refused, inv.acc, abrupt, wrong, gen, p50..p99
    assert rows["valid"][:10] == ["valid", "12", "accept", "70.0", "7", "2", "0", "1", "0", "1"]
    assert rows["empty"][:7] == ["empty", "4", "reject", "75.0", "3", "0", "1"]
    assert rows["total"][1] == "18"
    assert "  FAIL  g-invalid_accepted: invalid_accepted[empty] = 1  (required == 0)" in lines
    assert "  PASS  g-ok: ok[valid] = 7  (required >= 5)" in lines
    assert "WARNING" in text and "load generator" in text  # 1 generator fault


def test_names_are_never_cut(summary: Summary) -> None:
    """A cut name could read like a number: 'valid p95 under 250 ms' must not end '25~'."""
    long_kind = summary_of([rec("expired_reused", "rejected_auth", "ok", status=401)])
    text = format_terminal_summary(long_kind, [])
    assert "expired_reused " in text and "~" not in text
    name = "valid handshake p95 under 250 ms during every phase of the run"
    g = replace(gate("handshake_p95_ms", "<", 250, "valid"), name=name)
    text = format_terminal_summary(summary, evaluate_gates(summary, [g]))
    assert f"  PASS  {name}: handshake_p95_ms[valid] = 86  (required < 250)" in text.splitlines()


def test_terminal_summary_empty_and_cut_short() -> None:
    summary = summary_of([], run_meta=CUT_META)
    text = format_terminal_summary(
        summary, evaluate_gates(summary, [gate("success_rate", ">=", 0.9)])
    )
    assert "(no attempts recorded)" in text
    assert "FAIL  g-success_rate: success_rate = no data" in text
    assert "CUT SHORT" in text.splitlines()[0] and "cut short" in text


def chaos_summary() -> Summary:
    c = ("cpu#1",)
    rows = [rec("valid", "accepted", "ok", t=1.0), rec("valid", "accepted", "ok", t=2.0)]
    rows += [rec("valid", "accepted", "ok", t=11.0 + i, chaos=c) for i in range(4)]
    rows += [rec("valid", "closed_try_again", "valid_refused", t=12, code=1013, chaos=c)] * 3
    rows += [rec("valid", "abnormal_handshake", "abrupt", t=15, chaos=c)] * 2
    rows += [rec("empty", "rejected_auth", "ok", t=17, status=401, chaos=c)] * 2
    rows += [rec("empty", "accepted", "invalid_accepted", t=18, chaos=c)]
    events = [event(10, "applied", "cpu#1"), event(20, "reverted", "cpu#1", planned_at=10)]
    return summary_of(rows, events)


def test_phase_table_only_with_chaos() -> None:
    summary = chaos_summary()
    text = format_terminal_summary(summary, [])
    rows = {" ".join(line.split()[:2]): line.split() for line in phase_lines(summary.phases)[3:]}
    # phase, attempts, valid ok %, invalid ok %, graceful, abrupt
    assert rows["during cpu#1"][2:] == ["12", "44.4", "66.7", "5", "2"]
    assert "chaos" in text and "during cpu#1" in text
    assert max(len(line) for line in text.splitlines()) <= 110
    plain = summary_of([rec("valid", "accepted", "ok", t=1.0)])
    assert "during" not in format_terminal_summary(plain, [])
    assert "graceful" not in format_terminal_summary(plain, [])


def recovery(label: str, fault: str, reverted: float | None, **kw: object) -> Recovery:
    fields = dict(
        label=label, fault=fault, window_status="reverted", applied_s=0.0, reverted_s=reverted,
        baseline_success_rate=1.0, baseline_attempts=10, baseline_assumed=False, margin=0.05,
        threshold=0.95, success_rate_during=0.0, worst_rate_during=0.0, degraded=True,
        horizon_end_s=40.0, attempts_after=10, success_rate_after=0.5, recovered_at_s=None,
        recovery_s=None, recovered=False, status="did not recover",
    )  # fmt: skip
    fields.update(kw)
    return Recovery(**fields)  # type: ignore[arg-type]


def test_finding_and_recovery_lines(summary: Summary) -> None:
    long = replace(FINDINGS[1], evidence="x" * 300)
    with_findings = replace(
        summary,
        findings=(*FINDINGS[:2], long, *FINDINGS[2:]),
        findings_by_severity={"critical": 1, "high": 2, "medium": 1, "low": 1},
        recovery={
            "cpu#1": recovery("cpu#1", "cpu", 20.0, recovered=True, recovery_s=3.25,
                              recovered_at_s=23.25, status="recovered"),
            "kill#2": recovery("kill#2", "kill", 30.0),
            "net#3": recovery("net#3", "net", None, status="window never ended"),
        },
    )  # fmt: skip
    lines = finding_lines(with_findings)
    assert lines[0] == "Findings: 5 findings: 1 critical, 2 high, 1 medium, 1 low"
    assert lines[1] == "  [CRITICAL] invalid-token-accepted: empty: 1 of 4 accepted"
    assert lines[2] == (
        "  [HIGH] closed-before-established: 31% of handshakes dropped before the 101 (cpu#1: 12)"
    )
    assert lines[3].startswith("  [HIGH] closed-before-established: xxx")
    assert lines[3].endswith("...") and len(lines[3]) == 110
    assert lines[4] == "  [MEDIUM] abrupt-under-pressure: Refusals were abrupt"  # no evidence
    assert len(lines) == 5  # the low one is left out
    assert recovery_lines(with_findings)[1:] == [
        "  cpu#1 (cpu) reverted at 20.0 s: recovered in 3.2 s",
        "  kill#2 (kill) reverted at 30.0 s: did not recover",
        "  net#3 (net): window never ended",
    ]
    none = summary_of([rec("valid", "accepted", "ok")])
    assert finding_lines(none) == ["Findings: no findings"] and recovery_lines(none) == []


def test_format_findings_is_the_doctor_s_table() -> None:
    assert format_findings(()) == "findings: none"
    text = format_findings(FINDINGS[:2])
    assert text.splitlines() == [
        "findings:",
        "  severity  type           finding",
        "  CRITICAL  token          invalid-token-accepted: Invalid tokens were accepted",
        "                           evidence: empty: 1 of 4 accepted",
        "                           fix: refuse an empty token before the upgrade (401)",
        "  HIGH      connection     closed-before-established: Connections were closed before"
        " they were established",
        "                           evidence: 31% of handshakes dropped before the 101 (cpu#1: 12)",
        "                           fix: answer every upgrade | 503 when full",
    ]
    odd = replace(FINDINGS[0], evidence="a\x1b[31m\nb")  # no terminal escapes through
    assert "evidence: a [31m b" in format_findings([odd])


def test_the_terminal_summary_draws_nothing() -> None:
    """The CLI prints it after every run: importing it loads no chart library."""
    code = "import sys, harness.render.terminal; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
