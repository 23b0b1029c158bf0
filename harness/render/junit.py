"""``junit.xml`` of a run (pure): gates and serious findings as JUnit test cases for CI.

Layout (the de facto JUnit schema that Jenkins, GitLab and GitHub test reporters read)::

    <testsuites name="harness" tests=N failures=F errors="0" time=s>
      <testsuite name="harness: <scenario>" tests=N failures=F errors="0" skipped="0"
                 time=<run duration s> timestamp=<start, UTC ISO 8601>>
        <properties> run_id, scenario, target_url, complete, passed, findings </properties>
        <testcase classname="gates" name="<gate name>" time="0">
          <failure message="<metric> <op> <threshold>: got <value>" type="gate">...</failure>
        </testcase>                                        (one per gate; failure if failed)
        <testcase classname="findings" name="<id>: <title>" time="0">
          <failure message="[HIGH] <title>" type="finding.high">evidence/meaning/fix</failure>
        </testcase>                                 (one per finding of high or critical)
        <system-out>verdict; "cut short" when the run did not complete</system-out>
      </testsuite>
    </testsuites>

Text is escaped by :mod:`xml.etree.ElementTree`; characters XML 1.0 cannot carry at all
(control characters, lone surrogates) are replaced first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from harness.analysis.gates import format_value
from harness.analysis.summary import Finding, GateResult, Summary
from harness.render.present import (
    JUNIT_SEVERITIES,
    cut_short_text,
    findings_headline,
    gate_metric,
    one_line,
)

#: Characters not allowed anywhere in an XML 1.0 document.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any) -> str:
    """``value`` as text XML 1.0 can hold (invalid characters become U+FFFD)."""
    return _XML_INVALID.sub("\ufffd", str(value))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        el.text = xml_text(text)
    return el


def gate_failure_message(result: GateResult) -> str:
    """``"invalid_accepted[empty] == 0: got 2 (value 2, threshold == 0)"``."""
    text = result.message.removeprefix("FAIL ").removeprefix("PASS ")
    return (
        f"{text} (value {format_value(result.value)}, threshold {result.op} {result.threshold:g})"
    )


def _gate_case(suite: ET.Element, result: GateResult) -> bool:
    case = _sub(suite, "testcase", classname="gates", name=result.name, time="0")
    if result.passed:
        return False
    body = "\n".join(
        [
            f"gate: {result.name}",
            f"metric: {gate_metric(result)}",
            f"value: {format_value(result.value)}",
            f"required: {result.op} {result.threshold:g}",
            result.message,
        ]
    )
    _sub(case, "failure", body, message=gate_failure_message(result), type="gate")
    return True


def _finding_case(suite: ET.Element, finding: Finding) -> None:
    title = one_line(finding.title) or finding.id
    case = _sub(suite, "testcase", classname="findings", name=f"{finding.id}: {title}", time="0")
    body = "\n".join(
        f"{key}: {one_line(getattr(finding, key)) or '-'}"
        for key in ("severity", "type", "evidence", "meaning", "fix")
    )
    sev = finding.severity
    _sub(case, "failure", body, message=f"[{sev.upper()}] {title}", type=f"finding.{sev}")


def _timestamp(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return (
        datetime.fromtimestamp(epoch_s, tz=UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    )


def junit_xml(summary: Summary, gate_results: Sequence[GateResult]) -> str:
    """The ``junit.xml`` document (with an XML declaration, UTF-8) of a run's report.

    Args:
        summary: from :func:`harness.analysis.summarize.summarize`.
        gate_results: from :func:`harness.analysis.gates.evaluate_gates`.
    """
    serious = [f for f in summary.findings if f.severity in JUNIT_SEVERITIES]
    tests = len(gate_results) + len(serious)
    duration = summary.duration_s or 0.0
    root = ET.Element("testsuites", {"name": "harness"})
    attrs: dict[str, Any] = {
        "name": f"harness: {summary.scenario or 'run'}",
        "tests": tests,
        "failures": 0,
        "errors": 0,
        "skipped": 0,
        "time": f"{duration:.3f}",
    }
    stamp = _timestamp(summary.started_at)
    if stamp:
        attrs["timestamp"] = stamp
    suite = _sub(root, "testsuite", **attrs)
    props = _sub(suite, "properties")
    passed = all(r.passed for r in gate_results)
    for name, value in (
        ("run_id", summary.run_id),
        ("scenario", summary.scenario),
        ("target_url", summary.target_url or ""),
        ("complete", str(summary.complete).lower()),
        ("gates_passed", str(passed).lower()),
        ("findings", findings_headline(summary)),
    ):
        _sub(props, "property", name=name, value=value)
    failures = sum(_gate_case(suite, r) for r in gate_results)
    for finding in serious:
        _finding_case(suite, finding)
    failures += len(serious)
    notes = [
        f"gates: {'PASS' if passed else 'FAIL'} ({len(gate_results)} gates)",
        findings_headline(summary),
    ]
    cut = cut_short_text(summary)
    if cut:
        notes.insert(0, f"CUT SHORT: {cut}")
    _sub(suite, "system-out", "\n".join(notes))
    for el in (root, suite):
        el.set("tests", str(tests))
        el.set("failures", str(failures))
        el.set("errors", "0")
    root.set("time", f"{duration:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
