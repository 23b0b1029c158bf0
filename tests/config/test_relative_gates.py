"""``gates[].relative_to``: a gate on a ratio against another phase, checked like every key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.loader import load_scenario
from harness.errors import ScenarioError, ScenarioErrors

SMOKE = Path(__file__).resolve().parents[2] / "scenarios" / "cpu-starvation.yaml"


def gate(text: str) -> list[str]:
    return [f"gates=[{text}]"]


def test_a_ratio_gate_loads_and_describes_itself() -> None:
    s = load_scenario(
        SMOKE,
        gate(
            "{metric: handshake_p95_ms, token_kind: valid, phase: 'during cpu_quota#1', "
            "relative_to: baseline, op: '>=', threshold: 3}"
        ),
    )
    (g,) = s.gates
    assert g.relative_to == "baseline"
    assert g.name == "handshake_p95_ms[valid]@during cpu_quota#1 / @baseline >= 3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "{metric: success_rate, relative_to: baseline, op: '>=', threshold: -1}",
            r"gates\[0\]\.threshold: expected a ratio in \[0, 1e\+06\] \(with relative_to\)",
        ),
        (
            "{metric: success_rate, phase: baseline, relative_to: baseline, op: '>=', "
            "threshold: 1}",
            r"gates\[0\]\.relative_to: the same phase as phase",
        ),
        (
            "{metric: recovery_s, fault: 'cpu_quota#1', relative_to: baseline, op: '<=', "
            "threshold: 1}",
            r"gates\[0\]\.relative_to: does not apply to recovery_s",
        ),
        (
            "{metric: success_rate, relative_to: 'during nope#1', op: '>=', threshold: 1}",
            r"gates\[0\]\.relative_to: unknown chaos window in 'during nope#1'",
        ),
        (
            "{metric: success_rate, relative_to: sometime, op: '>=', threshold: 1}",
            r"gates\[0\]\.relative_to: expected baseline, 'during <label>' or 'after <label>'",
        ),
    ],
)
def test_ratio_gate_mistakes_name_the_key(text: str, expected: str) -> None:
    with pytest.raises((ScenarioError, ScenarioErrors), match=expected):
        load_scenario(SMOKE, gate(text))
