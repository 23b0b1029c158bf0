"""Tests of junit.xml: gates and serious findings as test cases (pure: no files)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.analysis.gates import evaluate_gates
from harness.analysis.summary import GateResult, Summary
from harness.config.scenario import Gate
from harness.render.junit import junit_xml
from tests.analysis.builders import (
    CUT_META,
    event,
    gate,
    rec,
    sample_rows,
    summary_of,
    with_findings,
)

CLOSED = "Connections were closed before they were established"


def results_of(summary: Summary) -> list[GateResult]:
    """Three gates on the sample rows: one passes, one fails, one has no data."""
    gates = [
        gate("ok", ">=", 5, "valid"),
        Gate(name='no "empty" <accepted> & \x01', metric="invalid_accepted", op="==",
             threshold=0, token_kind="empty"),
        gate("success_rate", ">=", 0.9, "alg_none"),
    ]  # fmt: skip
    return evaluate_gates(summary, gates)


def test_junit_counts_gates_and_serious_findings() -> None:
    summary = with_findings(summary_of(sample_rows()))
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
        ("findings", f"closed-before-established: {CLOSED}"),
    ]
    failures = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    assert failures["g-ok"] is None
    failed = failures['no "empty" <accepted> & \ufffd']
    assert failed is not None
    assert failed.get("message") == "invalid_accepted[empty] == 0: got 1 (value 1, threshold == 0)"
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
    assert "evidence: empty: 1 of 4 accepted" in (critical.text or "")
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
    summary = summary_of([rec("valid", "accepted", "ok")])
    suite = ET.fromstring(junit_xml(summary, [])).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("0", "0")
    assert list(suite.iter("testcase")) == []
    out = suite.find("system-out")
    assert out is not None and "CUT SHORT" not in (out.text or "")
    assert "no findings" in (out.text or "")


def test_unreverted_window_in_a_cut_short_run() -> None:
    events = [event(10, "applying", "cpu#1")]
    rows = [rec("valid", "accepted", "ok", t=float(t)) for t in range(0, 30, 3)]
    root = ET.fromstring(junit_xml(summary_of(rows, events, CUT_META), []))
    assert root.find("testsuite/properties/property[@name='complete']") is not None
    out = root.find("testsuite/system-out")
    assert out is not None and (out.text or "").startswith("CUT SHORT: The run was cut short")
