"""Tests of summary.md, the CI job summary (pure: no files)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.analysis.gates import evaluate_gates
from harness.config.scenario import Gate
from harness.render.markdown import md, summary_markdown, verdict_line
from tests.analysis.builders import (
    CPU,
    CUT_META,
    event,
    gate,
    rec,
    sample_rows,
    summary_of,
    valid_run,
    with_findings,
)

CHARTS = [Path("/r/charts/outcomes.png"), Path("/r/charts/open_connections.png")]


def test_verdict_tables_findings_and_charts_without_links() -> None:
    summary = with_findings(summary_of(sample_rows()))
    results = evaluate_gates(
        summary,
        [
            gate("ok", ">=", 5, "valid"),
            Gate(name='no "empty" <accepted> &', metric="invalid_accepted", op="==",
                 threshold=0, token_kind="empty"),
            gate("success_rate", ">=", 0.9, "alg_none"),
        ],
    )  # fmt: skip
    text = summary_markdown(summary, results, False, CHARTS, captions={"outcomes.png": "Outcomes"})
    lines = text.splitlines()
    assert lines[0] == "# Harness report: unit - run run-1"
    assert lines[2] == (
        "**FAIL**: 2 of 3 gates failed · 4 findings: 1 critical, 1 high, 1 medium, 1 low"
        " · 18 attempts, success 68.8%"
    )
    gates = lines[lines.index("## Gates") + 2 : lines.index("## Findings") - 1]
    assert len(gates) == 2 + 3  # header, rule, one row per gate
    assert all(row.count(" | ") == 4 for row in gates)  # the '<', '&', '"' did not break it
    assert gates[3].startswith('| **FAIL** | no "empty" \\<accepted\\> & | invalid\\_accepted')
    found = lines[lines.index("## Findings") + 2 :]
    assert found[0] == "- **[CRITICAL]** `invalid-token-accepted`: Invalid tokens were accepted"
    assert "  - fix: answer every upgrade \\| 503 when full" in found
    kinds = lines[lines.index("## Per token kind") + 4 :]
    assert kinds[2].startswith("| valid | accept | 12 | 70.0% | 7 | 2 | 0 | 1 | 0 | 1 |")
    assert kinds[5].startswith("| **total** | mixed | 18 |")
    assert "## Chaos phases" in lines  # the sample rows saw the "cpu" fault
    assert "- Outcomes (`charts/outcomes.png`)" in lines
    assert "- open connections (`charts/open_connections.png`)" in lines
    assert "](" not in text  # no link at all: relative ones are dead in a CI job summary
    assert "Full report: `index.html`" in text
    assert "## Recovery after each fault" not in lines


def test_links_are_absolute_with_a_base() -> None:
    summary = summary_of(sample_rows())
    text = summary_markdown(summary, [], True, CHARTS, link_base="https://ci.example/run/")
    assert "- [outcomes](https://ci.example/run/charts/outcomes.png)" in text
    assert "[index.html](https://ci.example/run/index.html)" in text
    assert "](charts" not in text and "](index" not in text


def test_cut_short_no_gates_recovery_and_no_charts() -> None:
    summary = summary_of(valid_run(lambda t: t < 10.0), CPU, CUT_META)
    text = summary_markdown(summary, [], True, [])
    assert verdict_line(summary, [], True).startswith("**NO GATES**: nothing to pass or fail")
    assert "**run cut short**" in text.splitlines()[2]
    assert "> **WARNING**: The run was cut short (no end time was recorded" in text
    assert "| cpu\\#1 | cpu | 20.0 | - | - | **did not recover** |" in text
    assert "## Charts" not in text
    assert md("a|b\n*c*") == "a\\|b \\*c\\*"
    plain = replace(summary_of([rec("valid", "accepted", "ok")]), findings=())
    assert "No findings." in summary_markdown(plain, [], True, [])


def test_unreverted_window_is_a_warning() -> None:
    rows = [rec("valid", "accepted", "ok", t=float(t)) for t in range(0, 30, 3)]
    summary = summary_of(rows, [event(10, "applying", "cpu#1")], CUT_META)
    text = summary_markdown(summary, [], True, [])
    assert "cpu#1 (cpu) was applied but no revert was recorded" in text.replace("\\", "")
