"""Tests of harness.config.sections: chaos windows by their fault's schema, gates by their metric.

(The other sections' rules are asserted through whole files in test_loader.py.)
"""

from __future__ import annotations

from types import MappingProxyType

import pytest

from harness.config.faults import FAULT_SPECS, CpuQuotaParams
from harness.config.loader import validate_scenario
from harness.config.scenario import ChaosEntry, Gate
from harness.config.sections import param_check
from harness.errors import ScenarioError
from tests.config.helpers import error, load, write

# --- Chaos windows ------------------------------------------------------------------------


def test_windows_get_their_parameters_and_numbered_labels() -> None:
    s = load("""\
        name: x
        load: {duration: 60}
        chaos:
          - {fault: cpu_quota, at: 10, for: 20, percent: 15, optional: true}
          - {fault: latency, at: 5}
          - {fault: cpu_quota, at: 40, period_ms: 50}
        """)
    assert s.chaos == (
        ChaosEntry(
            "cpu_quota", 10.0, 20.0, MappingProxyType({"percent": 15.0}), True, "cpu_quota#1"
        ),
        ChaosEntry("latency", 5.0, None, MappingProxyType({}), False, "latency#1"),
        ChaosEntry(
            "cpu_quota", 40.0, None, MappingProxyType({"period_ms": 50.0}), False, "cpu_quota#2"
        ),
    )


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            "{fault: cpu_quota, at: 1, percent: 900}",
            "chaos[0].percent: expected a number in (0, 800] (%), got 900",
        ),
        (
            "{fault: cpu_quota, at: 1, percent: 0}",
            "chaos[0].percent: expected a number in (0, 800] (%), got 0",
        ),
        (
            "{fault: fd_limit, at: 1, headroom: 2.5}",
            "chaos[0].headroom: expected an integer in [0, 1000000] (descriptors), got 2.5",
        ),
        (
            "{fault: memory_ballast, at: 1, margin_mb: -1}",
            "chaos[0].margin_mb: expected an integer in [0, 1048576] (MiB), got -1",
        ),
        (
            "{fault: kill_target, at: 1, signal: HUP}",
            "chaos[0].signal: expected one of KILL, TERM, got 'HUP'",
        ),
        (
            "{fault: latency, at: 1, percent: 5}",
            "chaos[0].percent: unknown key; allowed: at, fault, for, jitter_ms, ms, optional",
        ),
        (
            "{fault: latency, at: -1}",
            "chaos[0].at: expected a number in [0, 604800], got -1",
        ),
        (
            "{fault: latency, at: 1, for: 0}",
            "chaos[0].for: expected a number in (0, 604800], got 0",
        ),
        (
            "{fault: latency, at: 1, for: 604801}",
            "chaos[0].for: expected a number in (0, 604800], got 604801",
        ),
        (
            "{fault: memory_cgroup, at: 1, limit_mb: 2000000}",
            "chaos[0].limit_mb: expected a number in (0, 1048576] (MiB), got 2000000",
        ),
        (
            "{fault: latency, optional: yes please}",
            "chaos[0].optional: expected true or false, got 'yes please'",
        ),
        (
            "{at: 1}",
            "chaos[0].fault: required key missing",
        ),
        (
            "{fault: ''}",
            "chaos[0].fault: expected a non-empty string, got ''",
        ),
    ],
)
def test_window_errors(window: str, message: str) -> None:
    assert error(f"name: x\nchaos:\n  - {window}\n") == f"x.yaml:3: {message}"


def test_an_unknown_fault_lists_the_known_ones() -> None:
    assert error("name: x\nchaos:\n  - {fault: cpu_qouta, at: 1}\n") == (
        "x.yaml:3: chaos[0].fault: unknown fault 'cpu_qouta'; known: " + ", ".join(FAULT_SPECS)
    )


def test_chaos_must_be_a_list_of_mappings() -> None:
    assert error("name: x\nchaos: {fault: latency}\n") == (
        "x.yaml:2: chaos: expected a list of faults, got a mapping"
    )
    assert error("name: x\nchaos: [latency]\n") == (
        "x.yaml:2: chaos[0]: expected a mapping, got 'latency'"
    )


def test_every_window_of_a_list_is_checked() -> None:
    text = "name: x\nchaos:\n  - {fault: nope}\n  - {fault: latency, ms: -5}\n  - {fault: reset}\n"
    assert [str(e) for e in validate_scenario(write(text))] == [
        "x.yaml:3: chaos[0].fault: unknown fault 'nope'; known: " + ", ".join(FAULT_SPECS),
        "x.yaml:4: chaos[1].ms: expected a number in [0, 60000] (ms), got -5",
    ]


def test_param_check_is_built_from_the_schema() -> None:
    percent = {f.name: f for f in CpuQuotaParams.__dataclass_fields__.values()}["percent"]
    check = param_check(percent)
    assert check.expected == "a number in (0, 800] (%)"
    assert check(800) == 800.0 and isinstance(check(5), float)


# --- Gates by their metric ----------------------------------------------------------------


def test_recovery_and_findings_gates() -> None:
    s = load("""\
        name: x
        chaos: [{fault: latency, at: 1, for: 2}]
        gates:
          - {metric: recovery_s, fault: "latency#1", op: "<=", threshold: 5}
          - {metric: findings, severity: high, op: "==", threshold: 0}
        """)
    assert s.gates == (
        Gate("recovery_s(latency#1) <= 5", "recovery_s", "<=", 5.0, fault="latency#1"),
        Gate("findings(>= high) == 0", "findings", "==", 0.0, severity="high"),
    )


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (
            "{metric: attempts, op: '>', threshold: -1}",
            "gates[0].threshold: expected a number in [0, 1000000000000] (attempts is a count), "
            "got -1",
        ),
        (
            "{metric: handshake_p95_ms, op: '<', threshold: -5}",
            "gates[0].threshold: expected a number in [0, 3600000] (handshake_p95_ms is in "
            "milliseconds), got -5",
        ),
        (
            "{metric: handshake_p95_ms, op: '<', threshold: 3600001}",
            "gates[0].threshold: expected a number in [0, 3600000] (handshake_p95_ms is in "
            "milliseconds), got 3600001",
        ),
        (
            "{metric: abrupt_rate, op: '<', threshold: 1.5}",
            "gates[0].threshold: expected a number in [0, 1] (abrupt_rate is a share, not a "
            "percent), got 1.5",
        ),
        (
            "{metric: ok, fault: 'latency#1', op: '>', threshold: 1}",
            "gates[0].fault: only for recovery_s, not ok",
        ),
        (
            "{metric: ok, severity: low, op: '>', threshold: 1}",
            "gates[0].severity: only for findings, not ok",
        ),
        (
            "{metric: findings, severity: low, token_kind: valid, op: '==', threshold: 0}",
            "gates[0].token_kind: does not apply to findings (it reads the whole run)",
        ),
        (
            "{metric: recovery_s, fault: 'latency#1', phase: baseline, op: '<', threshold: 1}",
            "gates[0].phase: does not apply to recovery_s (it reads one chaos window)",
        ),
        (
            "{metric: recovery_s, op: '<', threshold: 1}",
            "gates[0].fault: required for recovery_s; windows: latency#1",
        ),
        (
            "{metric: findings, op: '==', threshold: 0}",
            "gates[0].severity: required for findings; one of low, medium, high, critical",
        ),
        (
            "{metric: ok, phase: 'during nope#1', op: '>', threshold: 0}",
            "gates[0].phase: unknown chaos window in 'during nope#1'; windows: latency#1",
        ),
        (
            "{metric: ok, phase: sometime, op: '>', threshold: 0}",
            "gates[0].phase: expected baseline, 'during <label>' or 'after <label>', got "
            "'sometime'",
        ),
    ],
)
def test_gate_errors(gate: str, message: str) -> None:
    text = f"name: x\nchaos: [{{fault: latency, at: 1}}]\ngates:\n  - {gate}\n"
    assert error(text) == f"x.yaml:4: {message}"


def test_a_gate_s_errors_are_all_reported() -> None:
    text = "name: x\ngates:\n  - {metric: ok, severity: low, op: '>', threshold: -1}\n"
    assert [str(e) for e in validate_scenario(write(text))] == [
        "x.yaml:3: gates[0].threshold: expected a number in [0, 1000000000000] (ok is a count), "
        "got -1",
        "x.yaml:3: gates[0].severity: only for findings, not ok",
    ]
    with pytest.raises(ScenarioError):
        load("name: x\ngates: [{metric: ok, op: '>', threshold: 1, fault: x}]\n")
