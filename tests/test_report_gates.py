"""Tests of gate evaluation against a summary: metrics, operators, messages, no-data cases."""

from __future__ import annotations

from typing import Any

import pytest

from harness.report import compute_summary, evaluate_gates
from harness.report.frames import attempts_frame, gates_from_scenario
from harness.report.gates import metric_value
from harness.scenario import GATE_METRICS, Gate
from tests.test_report import META, gate, rec, sample_rows


@pytest.fixture
def summary() -> dict[str, Any]:
    return compute_summary(attempts_frame(sample_rows()), META)


# --- Gates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "kind", "value"),
    [
        ("success_rate", "valid", 7 / 11),
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
def test_metric_values(
    summary: dict[str, Any], metric: str, kind: str | None, value: float
) -> None:
    assert metric_value(summary, metric, kind) == pytest.approx(value)


def test_every_gate_metric_has_a_reader(summary: dict[str, Any]) -> None:
    for metric in GATE_METRICS:
        assert metric_value(summary, metric, "valid") is not None


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
def test_gate_operators(summary: dict[str, Any], op: str, threshold: float, passed: bool) -> None:
    (result,) = evaluate_gates(summary, [gate("invalid_accepted", op, threshold, "empty")])
    assert result.passed is passed
    assert result.value == 1.0


def test_gate_message_and_fields(summary: dict[str, Any]) -> None:
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
    assert results[1].message == "PASS success_rate[valid] >= 0.6: got 0.636364"
    assert results[2].token_kind is None
    assert results[2].value == pytest.approx(summary["total"]["handshake_ms"]["p95"])
    assert results[0].to_dict()["name"] == "g-invalid_accepted"


@pytest.mark.parametrize(
    "g",
    [
        gate("invalid_accepted", "==", 0, "malformed"),  # no attempts of the kind
        gate("attempts", "<", 100, "malformed"),
        gate("success_rate", ">=", 0.0, "missing"),
        gate("handshake_p99_ms", "<", 1e9, "missing"),
    ],
)
def test_gate_without_data_fails(summary: dict[str, Any], g: Gate) -> None:
    (result,) = evaluate_gates(summary, [g])
    assert result.value is None
    assert result.passed is False
    assert "no data" in result.message
    assert result.message.startswith("FAIL ")


def test_count_gate_on_all_excluded_kind_fails() -> None:
    rows = [rec("empty", "interrupted", "excluded")]
    summary = compute_summary(attempts_frame(rows), META)
    (result,) = evaluate_gates(summary, [gate("invalid_accepted", "==", 0, "empty")])
    assert result.value is None and not result.passed
    assert "no counted attempts" in result.message


def test_gates_on_empty_run_fail() -> None:
    summary = compute_summary(attempts_frame([]), META)
    results = evaluate_gates(summary, [gate("invalid_accepted", "==", 0), gate("ok", ">=", 0)])
    assert [r.passed for r in results] == [False, False]


def test_unknown_metric_fails_instead_of_raising(summary: dict[str, Any]) -> None:
    (result,) = evaluate_gates(summary, [gate("nonsense", ">=", 0)])
    assert not result.passed
    assert "unknown metric" in result.message


def test_gates_from_scenario_dicts() -> None:
    scenario = {
        "gates": [
            {
                "name": "a",
                "metric": "success_rate",
                "op": ">=",
                "threshold": 0.99,
                "token_kind": "valid",
            },
            {"name": "b", "metric": "abrupt", "op": "==", "threshold": 0, "token_kind": None},
        ]
    }
    gates = gates_from_scenario(scenario)
    assert gates == [
        Gate(name="a", metric="success_rate", op=">=", threshold=0.99, token_kind="valid"),
        Gate(name="b", metric="abrupt", op="==", threshold=0.0, token_kind=None),
    ]
    assert gates_from_scenario({}) == []
