"""Every shipped chaos scenario bites: run as shipped (its load, its windows) against the
embedded target, the effect it states shows during each window, and its gates, which check
that effect, pass.

The runs are the scenarios' full length (36 s to a minute each, seven minutes in all), so
they are slow tests (``make test-slow``, or ``pytest -m slow
tests/chaos/test_shipped_scenarios.py``); the default suite checks that every shipped chaos
scenario has one here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli


def phase(summary: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = summary["phases"][name]["total"]
    return found


def p95(summary: dict[str, Any], name: str) -> float:
    return float(phase(summary, name)["handshake_ms"]["p95"])


def verdicts(summary: dict[str, Any], name: str) -> dict[str, int]:
    found: dict[str, int] = phase(summary, name)["verdicts"]
    return found


def outcomes(summary: dict[str, Any], name: str) -> dict[str, int]:
    found: dict[str, int] = phase(summary, name)["outcomes"]
    return found


def bites_insufficient_resources(s: dict[str, Any]) -> None:
    # over the connection limit: valid tokens refused with a reason, counted
    short = verdicts(s, "during connection_cap#1")
    assert short["valid_refused"] >= 20 and short["abrupt"] <= 0.05 * short["valid_refused"]
    assert outcomes(s, "during connection_cap#1").get("rejected_capacity", 0) >= 20
    assert verdicts(s, "during cpu_quota#1")["abrupt"] >= 1  # the starved target's timeouts
    ids = {f["id"] for f in s["findings"]}
    assert "abrupt-under-pressure" in ids, ids
    assert "valid-refused-without-chaos" not in ids  # the declared limit's refusals
    assert s["recovery"]["cpu_quota#1"]["recovery_s"] <= 10


def bites_cpu_starvation(s: dict[str, Any]) -> None:
    assert p95(s, "during cpu_quota#1") >= 3 * p95(s, "baseline")
    assert p95(s, "during cpu_pause#1") >= 3 * p95(s, "baseline")


def bites_memory_pressure(s: dict[str, Any]) -> None:
    during = verdicts(s, "during memory_rlimit#1")
    assert during["valid_refused"] >= 10 and during["abrupt"] == 0
    assert outcomes(s, "during memory_rlimit#1").get("rejected_capacity", 0) >= 10


def bites_connection_cap(s: dict[str, Any]) -> None:
    assert verdicts(s, "during connection_cap#1")["valid_refused"] >= 10
    assert verdicts(s, "during connection_cap#1")["valid_refused"] >= 10


def bites_network_flaky(s: dict[str, Any]) -> None:
    assert p95(s, "during latency#1") >= 150
    assert verdicts(s, "during reset#1")["abrupt"] >= 1
    assert verdicts(s, "during cut_handshake#1")["abrupt"] >= 1
    assert p95(s, "during packet_loss#1") >= 3 * p95(s, "baseline")


def bites_restart_storm(s: dict[str, Any]) -> None:
    for n in (1, 2, 3, 4):
        assert verdicts(s, f"during restart_target#{n}")["abrupt"] >= 1
    assert verdicts(s, "during kill_target#1")["abrupt"] >= 1


def bites_reconnect_storm(s: dict[str, Any]) -> None:
    assert verdicts(s, "during restart_target#1")["valid_refused"] >= 1
    assert "reconnect-stampede" in {f["id"] for f in s["findings"]}


BITES = {
    "insufficient-resources": bites_insufficient_resources,
    "cpu-starvation": bites_cpu_starvation,
    "memory-pressure": bites_memory_pressure,
    "connection-cap": bites_connection_cap,
    "network-flaky": bites_network_flaky,
    "restart-storm": bites_restart_storm,
    "reconnect-storm": bites_reconnect_storm,
}


def test_every_shipped_chaos_scenario_is_covered_here() -> None:
    shipped = {p.stem for p in (ROOT / "scenarios").glob("*.yaml") if "\nchaos:" in p.read_text()}
    assert shipped == set(BITES)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) for n in BITES],
)
def test_the_shipped_scenario_bites_and_passes_its_gates(name: str, tmp_path: Path) -> None:
    run = run_cli("run", f"scenarios/{name}.yaml", "-q", out_dir=tmp_path, timeout=240)
    assert run.code == 0, run.stdout[-4000:] + run.stderr[-2000:]
    summary = run.summary()
    BITES[name](summary)
    text = (ROOT / "scenarios" / f"{name}.yaml").read_text()
    assert "Expected effect" in text  # each states what its windows do
