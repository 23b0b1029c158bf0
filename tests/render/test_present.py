"""Tests of the sentences and formats every output shares."""

from __future__ import annotations

from dataclasses import replace

from harness.analysis.gates import evaluate_gates
from harness.render.present import (
    close_codes_text,
    code_name,
    cut_short_text,
    findings_headline,
    gate_metric,
    ms,
    one_line,
    pct,
    recovery_state,
    recovery_text,
    secs,
    time_utc,
    top_reason,
    warnings,
)
from tests.analysis.builders import (
    CPU,
    CUT_META,
    T0,
    gate,
    meta,
    rec,
    sample_rows,
    summary_of,
    valid_run,
    with_findings,
)


def test_number_formats() -> None:
    assert (pct(0.975), pct(None), pct(float("nan"))) == ("97.5%", "-", "-")
    assert (ms(12.345), secs(3.25), secs(None)) == ("12.3", "3.2", "-")
    assert time_utc(T0) == "2023-11-14 22:13:20 UTC" and time_utc(None) == "-"
    assert code_name(1013) == "1013 try again later" and code_name("4999") == "4999"
    assert (
        close_codes_text({"4401": 3, "1013": 4}) == "1013 try again later: 4, 4401 unauthorized: 3"
    )
    assert close_codes_text({}) == "-"
    assert top_reason({"a": 1, "b\x1b": 5}) == "b (5)" and top_reason({}) == ""
    assert one_line("a\n\tb\x07  c") == "a b c"


def test_cut_short_text() -> None:
    assert cut_short_text(summary_of(sample_rows())) is None
    killed = summary_of(sample_rows(), run_meta=CUT_META)
    assert cut_short_text(killed) == (
        "The run was cut short (no end time was recorded: the run was killed); the records "
        "cover 39.0 s of the planned 40.0 s."
    )
    stopped = summary_of([], run_meta=meta(complete=False, duration_planned_s=None))
    assert cut_short_text(stopped) == "The run was cut short; the records cover 40.0 s."


def test_warnings_name_generator_faults_and_unreverted_windows() -> None:
    texts = warnings(summary_of(sample_rows()))
    assert texts == [
        "WARNING: 1 attempts (5.6%) failed inside the load generator (out of file descriptors"
        " or ports): that is the harness's own failure, not the target's."
    ]
    assert warnings(summary_of([rec("valid", "accepted", "ok")])) == []


def test_findings_headline() -> None:
    assert findings_headline(summary_of([rec("valid", "accepted", "ok")])) == "no findings"
    assert findings_headline(with_findings(summary_of([]))) == (
        "4 findings: 1 critical, 1 high, 1 medium, 1 low"
    )


def test_recovery_texts() -> None:
    recovered = summary_of(valid_run(lambda t: not 10.0 <= t < 23.0), CPU).recovery["cpu#1"]
    assert (recovery_state(recovered), recovery_text(recovered)) == (
        "recovered",
        "recovered in 3.0 s",
    )
    held = summary_of(valid_run(lambda t: True), CPU).recovery["cpu#1"]
    assert recovery_text(held) == "did not degrade"
    lost = summary_of(valid_run(lambda t: t < 10.0), CPU).recovery["cpu#1"]
    assert (recovery_state(lost), recovery_text(lost)) == ("not_recovered", "did not recover")
    never = replace(lost, status="window never ended")
    assert (recovery_state(never), recovery_text(never)) == ("unknown", "window never ended")


def test_gate_metric_names_what_was_measured() -> None:
    summary = summary_of(sample_rows())
    results = evaluate_gates(
        summary,
        [
            gate("ok", ">=", 1, "valid", phase="baseline"),
            gate("recovery_s", "<=", 5, fault="cpu#1"),
            gate("findings", "==", 0, severity="high"),
        ],
    )
    assert [gate_metric(r) for r in results] == [
        "ok[valid]@baseline",
        "recovery_s(cpu#1)",
        "findings(>= high)",
    ]
