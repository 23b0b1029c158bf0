"""Tests of harness.config.metrics: one registry of gate metrics, and the docs generated from it."""

from __future__ import annotations

from harness.config.metrics import (
    GATE_METRICS,
    MAX_COUNT,
    MAX_HANDSHAKE_MS,
    SCOPES,
    UNITS,
    GateMetric,
    gate_metric_table,
)
from harness.protocol.outcomes import Verdict
from tests.conftest import ROOT

START = (
    "<!-- gate-metrics: generated from harness.config.metrics.gate_metric_table(); "
    "do not edit -->\n"
)
END = "<!-- /gate-metrics -->"


def test_the_metrics_are_today_s_in_documentation_order() -> None:
    assert list(GATE_METRICS) == [
        "success_rate",
        "abrupt_rate",
        "graceful_share",
        "attempts",
        "ok",
        "valid_refused",
        "invalid_accepted",
        "abrupt",
        "wrong_rejection",
        "generator_fault",
        "handshake_p50_ms",
        "handshake_p95_ms",
        "handshake_p99_ms",
        "recovery_s",
        "findings",
    ]
    assert all(name == m.name for name, m in GATE_METRICS.items())


def test_units_bounds_and_scopes() -> None:
    for m in GATE_METRICS.values():
        assert m.unit in UNITS and m.scope in SCOPES and m.doc
        expected_high = {"share": 1.0, "count": MAX_COUNT, "ms": MAX_HANDSHAKE_MS, "s": 604_800}
        assert (m.low, m.high) == (0.0, expected_high[m.unit]), m.name
    assert [m.name for m in GATE_METRICS.values() if m.scope == "recovery"] == ["recovery_s"]
    assert [m.name for m in GATE_METRICS.values() if m.scope == "findings"] == ["findings"]
    verdicts = {v.value for v in Verdict} - {"excluded"}
    assert verdicts <= set(GATE_METRICS)  # every verdict a gate can count (excluded is not counted)


def test_the_denominators_are_documented() -> None:
    assert GATE_METRICS["success_rate"].doc.startswith("ok / counted")
    assert GATE_METRICS["abrupt_rate"].doc.startswith("abrupt / counted")
    assert GATE_METRICS["graceful_share"].doc.startswith("graceful / (graceful + abrupt)")
    assert "linear interpolation" in GATE_METRICS["handshake_p95_ms"].doc


def test_bounds() -> None:
    share = GATE_METRICS["success_rate"]
    assert share.accepts(0) and share.accepts(1) and not share.accepts(1.01)
    assert not GATE_METRICS["attempts"].accepts(-1) and GATE_METRICS["attempts"].accepts(1e9)
    assert share.bounds_text() == "in [0, 1]"
    assert GATE_METRICS["recovery_s"].bounds_text() == "in [0, 604800]"
    assert not GATE_METRICS["attempts"].accepts(1e13)
    assert GateMetric("x", "ms", "d", "section", low=0).bounds_text() == ">= 0"
    assert GateMetric("x", "ms", "d", "section", high=5).bounds_text() == "<= 5"
    assert GateMetric("x", "ms", "d", "section").bounds_text() == "any"


def test_the_table_has_one_row_per_metric() -> None:
    rows = gate_metric_table().splitlines()
    assert rows[:2] == ["| metric | unit | threshold | what it measures |", "|---|---|---|---|"]
    assert [r.split("`")[1] for r in rows[2:]] == list(GATE_METRICS)
    assert rows[2] == (
        "| `success_rate` | share | in [0, 1] | "
        "ok / counted: share of counted attempts whose outcome was the expected one |"
    )


def test_docs_scenario_md_holds_the_generated_table() -> None:
    text = (ROOT / "docs" / "scenario.md").read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    between = text[text.index(START) + len(START) : text.index(END)]
    assert between == gate_metric_table(), (
        "regenerate: put the output of `python -m harness.config.metrics` between the "
        "gate-metrics markers of docs/scenario.md"
    )
