"""Tests of the CI outputs built from a summary: junit.xml, summary.md, the CSV tables, and
the terminal's findings and recovery lines. All pure: no files, no charts.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.analysis.frames import attempts_frame, chaos_frame
from harness.analysis.gates import GateResult, evaluate_gates
from harness.analysis.summary import compute_summary
from harness.config.scenario import Gate
from harness.render.junit import junit_xml
from harness.render.markdown import md, summary_markdown, verdict_line
from harness.render.present import (
    as_text,
    cut_short_text,
    findings,
    findings_headline,
    recovery,
    recovery_state,
    recovery_text,
    severity_counts,
)
from harness.render.tables import KIND_COLUMNS, PHASE_COLUMNS, kinds_table, phases_table
from harness.render.terminal import finding_lines, recovery_lines
from tests.render.test_report import META, T0, gate, rec, sample_rows

FINDINGS: list[dict[str, Any]] = [
    {
        "id": "slow-handshake",
        "type": "resource",
        "severity": "low",
        "title": "Handshakes were slow",
        "evidence": "p95 700 ms",
        "meaning": "slow",
        "fix": "faster",
    },
    {
        "id": "closed-before-established",
        "type": "connection",
        "severity": "high",
        "title": "Connections were closed before they were established",
        "evidence": "31% of handshakes dropped before the 101 (cpu#1: 12)",
        "meaning": "a full backlog <or> a crash & no answer",
        "fix": "answer every upgrade | 503 when full",
    },
    {
        "id": "invalid-token-accepted",
        "type": "token",
        "severity": "critical",
        "title": "Invalid tokens were accepted",
        "evidence": {"empty": 1, "kinds": ["empty"]},
        "meaning": "anyone can connect",
        "fix": "refuse an empty token before the upgrade (401)",
    },
    {
        "id": "abrupt-under-pressure",
        "severity": "medium",
        "title": "Refusals were abrupt",
        "evidence": None,
    },
]


def summary_with(findings_: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """The summary of the shared sample rows, with findings (and any other keys) set."""
    summary = compute_summary(attempts_frame(sample_rows()), META)
    if findings_ is not None:
        summary["findings"] = findings_
        summary.pop("findings_by_severity", None)
    summary.update(extra)
    return summary


def results_of(summary: dict[str, Any]) -> list[GateResult]:
    """Three gates on the sample rows: one passes, one fails, one has no data."""
    gates = [
        gate("ok", ">=", 5, "valid"),
        Gate(
            name='no "empty" <accepted> & \x01',
            metric="invalid_accepted",
            op="==",
            threshold=0,
            token_kind="empty",
        ),
        gate("success_rate", ">=", 0.9, "alg_none"),
    ]
    return evaluate_gates(summary, gates)


# --- junit.xml ---------------------------------------------------------------------------


def test_junit_counts_gates_and_serious_findings() -> None:
    summary = summary_with(FINDINGS)
    root = ET.fromstring(junit_xml(summary, results_of(summary)))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "harness: unit"
    # 3 gates + 2 findings (critical, high); medium and low are not test cases.
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "4", "0")
    assert (root.get("tests"), root.get("failures")) == ("5", "4")
    assert suite.get("time") == "40.000"
    assert suite.get("timestamp") == "2023-11-14T22:13:20"
    cases = [(c.get("classname"), c.get("name")) for c in suite.iter("testcase")]
    assert cases == [
        ("gates", "g-ok"),
        ("gates", 'no "empty" <accepted> & \ufffd'),  # escaped; the control char replaced
        ("gates", "g-success_rate"),
        ("findings", "invalid-token-accepted: Invalid tokens were accepted"),
        (
            "findings",
            "closed-before-established: Connections were closed before they were established",
        ),
    ]
    failures = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    assert failures["g-ok"] is None
    failed = failures['no "empty" <accepted> & \ufffd']
    assert failed is not None
    assert failed.get("message") == (
        "invalid_accepted[empty] == 0: got 1 (value 1, threshold == 0)"
    )
    assert "value: 1\nrequired: == 0" in (failed.text or "")
    nodata = failures["g-success_rate"]
    assert nodata is not None
    assert nodata.get("message") == (
        "success_rate[alg_none] >= 0.9: no data (no attempts of kind 'alg_none')"
        " (value no data, threshold >= 0.9)"
    )
    critical = failures["invalid-token-accepted: Invalid tokens were accepted"]
    assert critical is not None
    assert critical.get("message") == "[CRITICAL] Invalid tokens were accepted"
    assert critical.get("type") == "finding.critical"
    assert "evidence: empty: 1; kinds: empty" in (critical.text or "")
    high = failures[
        "closed-before-established: Connections were closed before they were established"
    ]
    assert high is not None
    assert "meaning: a full backlog <or> a crash & no answer" in (high.text or "")
    assert "fix: answer every upgrade | 503 when full" in (high.text or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["complete"] == "true" and props["gates_passed"] == "false"
    assert props["findings"] == "4 findings: 1 critical, 1 high, 1 medium, 1 low"


def test_junit_without_gates_or_findings_is_an_empty_passing_suite() -> None:
    summary = summary_with([])
    root = ET.fromstring(junit_xml(summary, []))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("0", "0")
    assert list(suite.iter("testcase")) == []
    out = suite.find("system-out")
    assert out is not None and "CUT SHORT" not in (out.text or "")
    assert "no findings" in (out.text or "")
    # Missing findings (an older summary) are no findings, not an error.
    summary.pop("findings")
    assert ET.fromstring(junit_xml(summary, [])).find("testsuite") is not None


# --- summary.md --------------------------------------------------------------------------


def test_markdown_verdict_tables_findings_and_links() -> None:
    summary = summary_with(FINDINGS)
    results = results_of(summary)
    charts = [Path("/r/charts/outcomes.png"), Path("/r/charts/open_connections.png")]
    text = summary_markdown(
        summary, results, False, charts, captions={"outcomes.png": "Outcomes"}, run_dir=Path("/r")
    )
    lines = text.splitlines()
    assert lines[0] == "# Harness report: unit - run run-1"
    assert lines[2] == (
        "**FAIL**: 2 of 3 gates failed · 4 findings: 1 critical, 1 high, 1 medium, 1 low"
        " · 18 attempts, success 64.7%"
    )
    gates = lines[lines.index("## Gates") + 2 : lines.index("## Findings") - 1]
    assert len(gates) == 2 + 3  # header, rule, one row per gate
    assert all(row.count(" | ") == 4 for row in gates)  # the '<', '&', '"' did not break it
    assert gates[3].startswith('| **FAIL** | no "empty" \\<accepted\\> & | invalid\\_accepted')
    found = lines[lines.index("## Findings") + 2 :]
    assert found[0] == "- **[CRITICAL]** `invalid-token-accepted`: Invalid tokens were accepted"
    assert "  - fix: answer every upgrade \\| 503 when full" in found
    kinds = lines[lines.index("## Per token kind") + 4 :]
    assert kinds[2].startswith("| valid | accept | 12 | 63.6% | 7 | 2 | 0 | 1 | 0 | 1 |")
    assert kinds[5].startswith("| **total** | mixed | 18 |")
    assert "## Chaos phases" in lines  # the sample rows saw the "cpu" fault
    assert "- [Outcomes](charts/outcomes.png)" in lines
    assert "- [open connections](charts/open_connections.png)" in lines
    assert "## Recovery after each fault" not in lines


def test_markdown_cut_short_no_gates_and_recovery() -> None:
    summary = summary_with(
        [],
        complete=False,
        ended_at=None,
        recovery={
            "cpu#1": {
                "fault": "cpu",
                "reverted_s": 20.0,
                "recovered": False,
                "status": "did not recover",
            },
        },
    )
    text = summary_markdown(summary, [], True, [])
    assert verdict_line(summary, [], True).startswith("**NO GATES**: nothing to pass or fail")
    assert "**run cut short**" in text.splitlines()[2]
    assert "> **WARNING**: The run was cut short (no end time was recorded" in text
    assert "| cpu\\#1 | cpu | 20.0 | - | - | **did not recover** |" in text
    assert "No findings." in text
    assert md("a|b\n*c*") == "a\\|b \\*c\\*"


# --- CSV tables --------------------------------------------------------------------------


def test_kinds_and_phases_tables() -> None:
    summary = summary_with()
    kinds = kinds_table(summary)
    assert list(kinds.columns) == list(KIND_COLUMNS)
    assert kinds["token_kind"].tolist() == ["valid", "empty", "expired"]
    valid = kinds.iloc[0]
    assert (valid["attempts"], valid["counted"], valid["ok"]) == (12, 11, 7)
    assert valid["success_rate"] == pytest.approx(7 / 11)
    assert valid["close_codes"] == "1013:2" and valid["top_close_reason"] == "overloaded"
    assert valid["handshake_p95_ms"] == pytest.approx(86.0)
    assert pd.isna(kinds.iloc[2]["close_codes"])

    phases = phases_table(summary)
    assert list(phases.columns) == list(PHASE_COLUMNS)
    assert phases[["phase", "token_kind"]].values.tolist() == [
        ["baseline", "valid"],
        ["baseline", "empty"],
        ["baseline", "expired"],
        ["during cpu", "valid"],
        ["during cpu", "empty"],
    ]
    assert phases["attempts"].sum() == 18
    during = phases.iloc[3]
    assert (during["phase_kind"], during["start_s"], during["end_s"]) == ("during", 20.0, 30.0)
    assert during["valid_refused"] == 2

    # Through CSV and back: the same header, rows and numbers.
    back = pd.read_csv(io.StringIO(phases.to_csv(index=False)))
    assert list(back.columns) == list(PHASE_COLUMNS) and len(back) == 5
    empty = compute_summary(attempts_frame([]), META)
    assert kinds_table(empty).empty and list(kinds_table(empty).columns) == list(KIND_COLUMNS)
    assert list(phases_table(empty).columns) == list(PHASE_COLUMNS)


# --- Shared readers and the terminal's lines ---------------------------------------------


def test_findings_and_recovery_read_defensively() -> None:
    assert [f["id"] for f in findings({"findings": FINDINGS})] == [
        "invalid-token-accepted",
        "closed-before-established",
        "abrupt-under-pressure",
        "slow-handshake",
    ]
    assert findings({}) == [] and findings({"findings": "oops"}) == []
    assert severity_counts({"findings": FINDINGS})["medium"] == 1
    assert severity_counts({"findings_by_severity": {"high": 3}})["high"] == 3
    assert findings_headline({}) == "no findings"
    assert as_text({"a": [1, 2], "b": None}) == "a: 1; 2; b: "
    assert recovery({}) == [] and recovery({"recovery": None}) == []
    listed = recovery({"recovery": [{"label": "x#1", "recovered": True, "recovery_s": 2}]})
    assert recovery_text(listed[0]) == "recovered in 2.0 s"
    never = {"recovered": False, "status": "window never ended"}
    assert (recovery_state(never), recovery_text(never)) == ("unknown", "window never ended")
    assert recovery_state({"recovered": False, "status": "did not recover"}) == "not_recovered"
    assert recovery_text({"recovered": True, "recovery_s": 0.0, "degraded": False}) == (
        "did not degrade"
    )
    assert cut_short_text({"complete": True}) is None
    assert cut_short_text({"complete": False, "ended_at": T0, "duration_s": 5.0}) == (
        "The run was cut short; the records cover 5.0 s."
    )


def test_terminal_finding_and_recovery_lines() -> None:
    long = {**FINDINGS[1], "evidence": "x" * 300}
    summary = summary_with(
        [*FINDINGS, long],
        recovery={
            "cpu#1": {"fault": "cpu", "reverted_s": 20.0, "recovered": True, "recovery_s": 3.25},
            "kill#2": {
                "fault": "kill",
                "reverted_s": 30.0,
                "recovered": False,
                "status": "did not recover",
            },
            "net#3": {
                "fault": "net",
                "reverted_s": None,
                "recovered": False,
                "status": "window never ended",
            },
        },
    )
    lines = finding_lines(summary)
    assert lines[0] == "Findings: 5 findings: 1 critical, 2 high, 1 medium, 1 low"
    assert lines[1] == "  [CRITICAL] invalid-token-accepted: empty: 1; kinds: empty"
    assert lines[2] == (
        "  [HIGH] closed-before-established: 31% of handshakes dropped before the 101 (cpu#1: 12)"
    )
    assert lines[3].startswith("  [HIGH] closed-before-established: xxx") and lines[3].endswith(
        "..."
    )
    assert len(lines[3]) == 110
    assert lines[4] == "  [MEDIUM] abrupt-under-pressure: Refusals were abrupt"  # no evidence
    assert len(lines) == 5  # the low one is left out
    assert recovery_lines(summary)[1:] == [
        "  cpu#1 (cpu) reverted at 20.0 s: recovered in 3.2 s",
        "  kill#2 (kill) reverted at 30.0 s: did not recover",
        "  net#3 (net): window never ended",
    ]
    assert finding_lines(summary_with(None) | {"findings": []}) == ["Findings: no findings"]
    plain = summary_with(None)
    plain.pop("findings", None)
    plain.pop("recovery", None)
    assert finding_lines(plain) == [] and recovery_lines(plain) == []


def test_unreverted_window_is_a_warning_everywhere() -> None:
    events = [{"t": T0 + 10, "event": "applying", "label": "cpu#1", "fault": "cpu"}]
    rows = [rec("valid", "accepted", "ok", t=float(t)) for t in range(0, 30, 3)]
    meta = {**META, "complete": False, "ended_at": None}
    summary = compute_summary(attempts_frame(rows), meta, chaos_frame(events, T0))
    text = summary_markdown(summary, [], True, [])
    assert "cpu#1 (cpu) was applied but no revert was recorded" in text.replace("\\", "")
    root = ET.fromstring(junit_xml(summary, []))
    assert root.find("testsuite/properties/property[@name='complete']") is not None
    out = root.find("testsuite/system-out")
    assert out is not None and (out.text or "").startswith("CUT SHORT: The run was cut short")
