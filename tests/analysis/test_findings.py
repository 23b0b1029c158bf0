"""Tests of the findings engine: each rule fires on a crafted run and stays silent on a healthy one.

Runs are hand-built attempt rows (see :mod:`tests.analysis.builders`) summarised by
:func:`harness.analysis.summarize.summarize`, which runs the rules; times are seconds since T0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest

from harness.analysis.findings import RULES, compute_findings, findings_by_severity
from harness.analysis.rules import severity_at_least
from harness.analysis.summarize import summarize
from harness.analysis.summary import FINDING_TYPES, Finding
from harness.config.scenario import SEVERITIES
from tests.analysis.builders import CPU, T0, rec, run_of, summary_of, valid_run, window_events

KEYS = {"id", "type", "severity", "title", "evidence", "meaning", "fix"}


def row(kind: str, outcome: str, verdict: str, **kw: Any) -> dict[str, Any]:
    """An attempt row (:func:`rec`; keyword args beyond its own set record fields)."""
    return rec(kind, outcome, verdict, **kw)


def healthy_rows(n: int = 50) -> list[dict[str, Any]]:
    """Every attempt got its expected outcome; no chaos."""
    rows = []
    for i in range(n):
        t = i * 0.5
        rows.append(row("valid", "accepted", "ok", t=t, hs=12.0, open_s=2.0, pings=0))
        rows.append(row("empty", "closed_auth", "ok", t=t, hs=5.0, code=4401, reason="token empty"))
        rows.append(row("expired", "rejected_auth", "ok", t=t, hs=6.0, status=401))
        rows.append(row("alg_none", "rejected_auth", "ok", t=t, hs=6.0, status=401))
    return rows


def findings_of(
    rows: list[dict[str, Any]], events: Sequence[dict[str, Any]] = ()
) -> dict[str, Finding]:
    """The findings of a run, by id (each checked for shape)."""
    summary = summary_of(rows, events)
    for f in summary.findings:
        assert set(asdict(f)) == KEYS
        assert f.type in FINDING_TYPES and f.severity in SEVERITIES
    assert summary.findings_by_severity == findings_by_severity(summary.findings)
    return {f.id: f for f in summary.findings}


def serious(found: dict[str, Finding]) -> list[str]:
    return [i for i, f in found.items() if severity_at_least(f.severity, "high")]


# --- Healthy runs -------------------------------------------------------------------------


def test_healthy_run_has_no_findings() -> None:
    assert findings_of(healthy_rows()) == {}


def test_healthy_chaos_run_has_no_high_or_critical_finding() -> None:
    """Graceful 1013 refusals under the fault, back to normal 0.5 s after the revert."""
    rows = [
        r
        if not 10.0 <= r["t_start"] - T0 < 20.5
        else row(
            "valid",
            "closed_try_again",
            "valid_refused",
            t=r["t_start"] - T0,
            code=1013,
            reason="overloaded",
            chaos=tuple(r["chaos"]),
        )
        for r in valid_run(lambda t: True)
    ]
    found = findings_of(rows, CPU)
    assert serious(found) == []
    assert found == {}


def test_rule_table_is_well_formed() -> None:
    assert len({r.id for r in RULES}) == len(RULES) >= 10
    assert all(r.type in FINDING_TYPES and r.severity in SEVERITIES for r in RULES)


# --- Token rules --------------------------------------------------------------------------


def test_invalid_token_accepted() -> None:
    rows = healthy_rows(10)
    rows += [row("empty", "accepted", "invalid_accepted", t=30.0) for _ in range(37)]
    rows += [row("malformed", "accepted", "invalid_accepted", t=31.0) for _ in range(2)]
    rows += [row("malformed", "rejected_auth", "ok", t=31.0, status=401) for _ in range(8)]
    f = findings_of(rows)["invalid-token-accepted"]
    assert (f.type, f.severity) == ("token", "critical")
    assert f.evidence == "empty: 37 of 47 accepted; malformed: 2 of 10 accepted"
    assert "empty token" in f.fix and "parse as a JWT" in f.fix


def stale_pairs(n: int, stale_accepted: bool) -> list[dict[str, Any]]:
    """``n`` expired_reused tokens: used while valid (accepted), then again 1.2 s later."""
    rows = []
    for u in range(n):
        rows.append(row("valid", "accepted", "ok", t=u, user=u, attempt=1, hs=10.0))
        if stale_accepted:
            rows.append(
                row("expired_reused", "accepted", "invalid_accepted", t=u + 1.2, user=u, attempt=2)
            )
        else:
            rows.append(
                row(
                    "expired_reused",
                    "rejected_auth",
                    "ok",
                    t=u + 1.2,
                    user=u,
                    attempt=2,
                    status=401,
                )
            )
    return rows


def test_stale_token_accepted_compares_the_same_tokens() -> None:
    rows = stale_pairs(10, stale_accepted=True)
    rows += [row("expired", "rejected_auth", "ok", t=1.0, status=401) for _ in range(5)]
    found = findings_of(rows)
    f = found["stale-token-accepted"]
    assert (f.type, f.severity) == ("token", "critical")
    assert "expired_reused: 10 of 10 accepted after expiry" in f.evidence
    assert "the same 10 tokens: 10 accepted while valid, 10 after expiry" in f.evidence
    assert "median 1.2 s" in f.evidence
    assert "fresh expired tokens: 0 of 5 accepted" in f.evidence
    assert "TTL" in f.fix
    assert "invalid-token-accepted" not in found  # one defect, one finding


def test_stale_token_silent_when_refused() -> None:
    assert findings_of(stale_pairs(10, stale_accepted=False)) == {}


# --- Availability and resource rules ------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "verdict", "kw", "type_"),
    [
        ("rejected_capacity", "valid_refused", {"status": 503}, "resource"),
        ("timeout_handshake", "abrupt", {}, "resource"),
        ("rejected_auth", "valid_refused", {"status": 401}, "configuration"),
    ],
)
def test_valid_refused_without_chaos(
    outcome: str, verdict: str, kw: dict[str, Any], type_: str
) -> None:
    rows = [row("valid", "accepted", "ok", t=i * 0.1) for i in range(95)]
    rows += [row("valid", outcome, verdict, t=10.0 + i, **kw) for i in range(5)]
    f = findings_of(rows)["valid-refused-without-chaos"]
    assert (f.type, f.severity) == (type_, "high")
    assert f.evidence == f"baseline: 5 of 100 valid attempts refused (5.0%; {outcome} 5)"


def test_one_refusal_in_two_hundred_is_noise() -> None:
    rows = [row("valid", "accepted", "ok", t=i * 0.1) for i in range(199)]
    rows.append(row("valid", "rejected_capacity", "valid_refused", t=30.0, status=503))
    assert findings_of(rows) == {}


def test_valid_refused_after_recovery_counts_but_recovery_itself_does_not() -> None:
    """40 attempts per 2 s; after recovering at 22 s, every 40th is refused (2.5%)."""
    step = 0.05
    rows = []
    for i, t in enumerate(np.arange(0.0, 40.0, step)):
        t = float(t)
        chaos = ("cpu#1",) if 10.0 <= t < 20.0 else ()
        if 10.0 <= t < 22.0 or (t >= 25.0 and i % 40 == 0):
            rows.append(row("valid", "rejected_capacity", "valid_refused", t=t, chaos=chaos))
        else:
            rows.append(row("valid", "accepted", "ok", t=t, chaos=chaos))
    summary = summary_of(rows, CPU)
    assert summary.recovery["cpu#1"].recovered_at_s == pytest.approx(22.0)
    found = {f.id: f for f in summary.findings}
    f = found["valid-refused-without-chaos"]
    assert f.evidence.startswith("after cpu#1 (from 22.0 s): 7 of 360 valid attempts refused")
    assert "baseline" not in f.evidence
    # Without the late refusals, the 2 s of refusals before recovery are not this rule's.
    quiet = [r for r in rows if not (r["t_start"] - T0 >= 25.0 and r["verdict"] != "ok")]
    assert "valid-refused-without-chaos" not in findings_of(quiet, CPU)


def pressure_rows(abrupt: int, graceful: int) -> list[dict[str, Any]]:
    rows = valid_run(lambda t: not 10.0 <= t < 20.0)
    rows = [r for r in rows if not 10.0 <= r["t_start"] - T0 < 20.0]
    rows += [
        row("valid", "timeout_handshake", "abrupt", t=10.0 + i * 0.1, chaos=("cpu#1",))
        for i in range(abrupt)
    ]
    rows += [
        row("valid", "closed_try_again", "valid_refused", t=15.0 + i * 0.1, code=1013,
            reason="overloaded", chaos=("cpu#1",))
        for i in range(graceful)
    ]  # fmt: skip
    return rows


def test_abrupt_under_pressure() -> None:
    f = findings_of(pressure_rows(15, 5), CPU)["abrupt-under-pressure"]
    assert (f.type, f.severity) == ("resource", "high")
    assert f.evidence == (
        "during cpu#1: 15 of 20 refusals abrupt (graceful share 0.25 < 0.8; timeout_handshake 15)"
    )


@pytest.mark.parametrize(("abrupt", "graceful"), [(6, 3), (2, 18)])
def test_abrupt_under_pressure_silent(abrupt: int, graceful: int) -> None:
    """Too few refusals to judge (9 < 10), or graceful enough (0.9 >= 0.8)."""
    assert "abrupt-under-pressure" not in findings_of(pressure_rows(abrupt, graceful), CPU)


def test_no_abrupt_under_pressure_for_a_dead_process() -> None:
    """A restart refuses connections at the TCP level: that is the fault, not the service."""
    restart = window_events(("restart_target#1", 10.0, 20.0))
    rows = [
        r if not 10.0 <= r["t_start"] - T0 < 20.0
        else {**r, "outcome": "refused", "verdict": "abrupt", "chaos": ["restart_target#1"]}
        for r in valid_run(lambda t: True)
    ]  # fmt: skip
    found = findings_of(rows, restart)
    assert "abrupt-under-pressure" not in found
    # the same refusals under a CPU quota are the service's
    cpu_rows = [{**r, "chaos": ["cpu#1"] if r["chaos"] else []} for r in rows]
    assert "abrupt-under-pressure" in findings_of(cpu_rows, CPU)


def test_slow_recovery_medium_and_high() -> None:
    slow = findings_of(valid_run(lambda t: not 10.0 <= t < 34.0), CPU)["slow-recovery"]
    assert (slow.type, slow.severity) == ("resource", "medium")
    assert slow.evidence == "cpu#1 took 14.0 s to recover (back within the margin at 34.0 s)"
    never = findings_of(valid_run(lambda t: t < 10.0), CPU)["slow-recovery"]
    assert never.severity == "high"
    assert never.evidence.startswith("cpu#1 did not recover by 40.0 s (valid success 0.00")
    quick = findings_of(valid_run(lambda t: not 10.0 <= t < 25.0), CPU)
    assert "slow-recovery" not in quick


def test_handshake_latency() -> None:
    slow = [row("valid", "accepted", "ok", t=i * 0.1, hs=800.0) for i in range(20)]
    f = findings_of(slow)["handshake-latency"]
    assert (f.type, f.severity) == ("resource", "medium")
    assert f.evidence == "baseline: valid handshake p95 800 ms > 500 ms"
    chaos = [row("valid", "accepted", "ok", t=i * 0.1, hs=20.0) for i in range(20)]
    chaos += [
        row("valid", "accepted", "ok", t=12 + i * 0.1, hs=300.0, chaos=("cpu#1",))
        for i in range(20)
    ]
    f = findings_of(chaos, CPU)["handshake-latency"]
    assert f.evidence == "during cpu#1: p95 300 ms, 15.0x the baseline's 20 ms"
    assert "handshake-latency" not in findings_of(healthy_rows())
    lag = [{**r, "chaos": ["latency#1"] if r["chaos"] else []} for r in chaos]
    assert "handshake-latency" not in findings_of(lag, window_events(("latency#1", 10.0, 20.0)))


# --- Connection rules ---------------------------------------------------------------------


def test_closed_before_established() -> None:
    rows = valid_run(lambda t: True)
    rows += [row("valid", "abnormal_handshake", "abrupt", t=1.0 + i) for i in range(3)]
    rows += [
        row("valid", "abnormal_handshake", "abrupt", t=12.0 + i * 0.1, chaos=("cpu#1",))
        for i in range(37)
    ]
    f = findings_of(rows, CPU)["closed-before-established"]
    assert (f.type, f.severity) == ("connection", "high")
    assert (
        f.evidence
        == "40 of 200 attempts (20.0%) dropped before the 101: baseline 3, during cpu#1 37"
    )


def test_sessions_cut_by_a_kill_are_not_the_services() -> None:
    """Sessions open when the target is SIGKILLed end without a close frame (1006), and
    baseline sessions ended by the first window are not refusals without chaos."""
    kill = window_events(("kill_target#1", 10.0, 12.0))
    rows = healthy_rows(10)  # 0 .. 4.5 s
    rows += [
        row("valid", "abnormal_closure", "abrupt", t=8.0 + i * 0.1, open_s=2.5) for i in range(10)
    ]
    found = findings_of(rows, kill)
    assert "close-without-code" not in found
    assert "valid-refused-without-chaos" not in found


def test_close_without_code() -> None:
    rows = healthy_rows(5)
    rows += [row("valid", "closed_other", "valid_refused", t=1.0) for _ in range(2)]
    rows += [row("valid", "abnormal_closure", "abrupt", t=2.0) for _ in range(3)]
    rows += [row("valid", "closed_internal", "valid_refused", t=3.0, code=1011) for _ in range(4)]
    rows += [row("valid", "closed_normal", "valid_refused", t=3.0, code=1000) for _ in range(4)]
    f = findings_of(rows)["close-without-code"]
    assert (f.type, f.severity) == ("connection", "medium")
    assert f.evidence == (
        "2 server close frames without a code; 3 connections ended after the 101 without a "
        "close frame (1006); 4 closes with a code but no reason (1011: 4)"
    )


@pytest.mark.parametrize(("n", "pings", "fires"), [(6, 0, True), (6, 1, False), (4, 0, False)])
def test_no_heartbeat(n: int, pings: int, fires: bool) -> None:
    rows = healthy_rows(5)
    rows += [row("valid", "accepted", "ok", t=1.0, open_s=31.0 + i, pings=0) for i in range(n)]
    rows[-1]["pings"] = pings
    found = findings_of(rows)
    assert ("no-heartbeat" in found) is fires
    if fires:
        f = found["no-heartbeat"]
        assert (f.type, f.severity) == ("connection", "low")
        assert f.evidence == (
            "6 accepted connections stayed open >= 30 s (longest 36.0 s); none saw a server ping "
            "(only sessions held longer than the 30 s a service could plausibly wait between "
            "pings are judged)"
        )


def test_no_heartbeat_ignores_holds_shorter_than_a_plausible_ping_interval() -> None:
    """12 s holds against a service that pings every 20 s see no ping: not a finding."""
    rows = healthy_rows(5)
    rows += [row("valid", "accepted", "ok", t=1.0, open_s=12.0, pings=0) for _ in range(50)]
    assert "no-heartbeat" not in findings_of(rows)


# --- Configuration rules, order and counts ------------------------------------------------


def test_generator_fault() -> None:
    rows = healthy_rows(5)
    rows += [
        row("valid", "generator_fault", "generator_fault", t=1.0, error="[Errno 24] EMFILE")
        for _ in range(4)
    ]
    f = findings_of(rows)["generator-fault"]
    assert (f.type, f.severity) == ("configuration", "critical")
    assert f.evidence == (
        "4 of 24 attempts (16.7%) failed in the load generator (errors: [Errno 24] EMFILE x4)"
    )
    assert "ulimit -n" in f.fix


def test_order_and_counts_by_severity() -> None:
    rows = healthy_rows(5)
    rows += [row("empty", "accepted", "invalid_accepted", t=2.0)]
    rows += [row("valid", "generator_fault", "generator_fault", t=1.0)]
    rows += [row("valid", "abnormal_closure", "abrupt", t=2.0) for _ in range(3)]
    rows += [row("valid", "abnormal_handshake", "abrupt", t=2.0)]
    summary = summary_of(rows)
    ids = [f.id for f in summary.findings]
    assert ids[:3] == ["generator-fault", "invalid-token-accepted", "closed-before-established"]
    assert ids[3:] == ["valid-refused-without-chaos", "close-without-code"]
    assert summary.findings_by_severity == {"critical": 2, "high": 2, "medium": 1, "low": 0}
    assert list(summary.findings_by_severity) == list(reversed(SEVERITIES))


def test_compute_findings_with_one_rule() -> None:
    rows = [*healthy_rows(5), row("empty", "accepted", "invalid_accepted", t=2.0)]
    run = run_of(rows)
    summary = summary_of(rows)
    by_id = {r.id: r for r in RULES}
    assert compute_findings(summary, run, [by_id["no-heartbeat"]]) == ()
    (f,) = compute_findings(summary, run, [by_id["invalid-token-accepted"]])
    assert f == summary.findings[0]


def test_generator_faults_do_not_dilute_refusals_without_chaos() -> None:
    """The load generator's own failures are not counted: 2 of 150, not 2 of 250."""
    rows = [row("valid", "accepted", "ok", t=i * 0.1) for i in range(148)]
    rows += [row("valid", "rejected_capacity", "valid_refused", t=10.0, status=503)] * 2
    rows += [row("valid", "generator_fault", "generator_fault", t=11.0) for _ in range(100)]
    found = findings_of(rows)
    assert found["valid-refused-without-chaos"].evidence.startswith(
        "baseline: 2 of 150 valid attempts refused (1.3%"
    )
    assert "generator-fault" in found


# --- Wrong path and dead upstream: not capacity -----------------------------------------------


def test_a_wrong_path_is_a_configuration_error_not_capacity() -> None:
    rows = [row("valid", "rejected_not_found", "valid_refused", t=i, status=404) for i in range(9)]
    rows.append(row("valid", "rejected_not_found", "valid_refused", t=9.0, status=410))
    found = findings_of(rows)
    f = found["wrong-path"]
    assert (f.type, f.severity) == ("configuration", "critical")
    assert "check the URL path" in f.title
    assert f.evidence == (
        "10 of 10 attempts (100.0%) were answered 404 x9, 410 x1 at the upgrade "
        "(rejected_not_found)"
    )
    assert "valid-refused-without-chaos" not in found  # not "size the service"
    assert "upstream-down" not in found


@pytest.mark.parametrize(
    ("outcome", "status", "accepted", "tail"),
    [
        ("rejected_upstream", 502, 0, "; no valid token was ever accepted"),
        ("rejected_upstream", 504, 90, ""),
        ("rejected_capacity", 503, 0, "; no valid token was ever accepted"),
    ],
)
def test_a_dead_upstream_is_not_capacity(
    outcome: str, status: int, accepted: int, tail: str
) -> None:
    rows = [row("valid", "accepted", "ok", t=i * 0.1) for i in range(accepted)]
    rows += [row("valid", outcome, "valid_refused", t=10.0 + i, status=status) for i in range(10)]
    found = findings_of(rows)
    f = found["upstream-down"]
    assert (f.type, f.severity) == ("crash", "high")
    n = accepted + 10
    share = f"{100 * 10 / n:.1f}%"
    assert (
        f.evidence
        == f"10 of {n} attempts ({share}) were answered {status} x10 at the upgrade{tail}"
    )
    assert "valid-refused-without-chaos" not in found
    assert "wrong-path" not in found


def test_503_with_sessions_accepted_stays_a_capacity_finding() -> None:
    rows = [row("valid", "accepted", "ok", t=i * 0.1) for i in range(90)]
    rows += [
        row("valid", "rejected_capacity", "valid_refused", t=10.0 + i, status=503)
        for i in range(10)
    ]
    found = findings_of(rows)
    assert "upstream-down" not in found
    assert found["valid-refused-without-chaos"].type == "resource"


def test_a_few_not_found_among_sessions_is_not_a_wrong_path() -> None:
    rows = [row("valid", "accepted", "ok", t=i * 0.1) for i in range(90)]
    rows += [
        row("valid", "rejected_not_found", "valid_refused", t=10.0 + i, status=404)
        for i in range(10)
    ]
    assert "wrong-path" not in findings_of(rows)


def test_protocol_mismatch_is_a_configuration_error_and_no_token_finding() -> None:
    kinds = ["valid", "empty", "bad_signature", "alg_none"]
    rows = [row(k, "protocol_mismatch", "excluded", t=i) for i in range(5) for k in kinds]
    found = findings_of(rows)
    f = found["protocol-mismatch"]
    assert (f.type, f.severity) == ("configuration", "critical")
    assert "Engine.IO" in f.title and "target.protocol: socketio" in f.fix
    assert f.evidence.startswith("20 of 20 attempts (100.0%) met a server whose first message")
    assert "invalid-token-accepted" not in found
    assert "valid-refused-without-chaos" not in found


# --- A heartbeat interval the scenario states --------------------------------------------


def heartbeat_findings(rows: list[dict[str, Any]], interval: float | None) -> dict[str, Finding]:
    """The findings of ``rows`` under a scenario whose target pings every ``interval`` s."""
    run = run_of(rows, scenario={"target": {"heartbeat_interval": interval}})
    return {f.id: f for f in summarize(run).findings}


@pytest.mark.parametrize(
    ("interval", "open_s", "fires"),
    [
        (5.0, 8.0, True),  # 8 s > 1.5 x 5 s: a ping was due
        (5.0, 7.0, False),  # 7 s < 7.5 s: the service's timer may not have fired yet
        (20.0, 29.0, False),  # a 20 s heartbeat: 29 s proves nothing either
        (20.0, 31.0, True),
        (None, 12.0, False),  # unknown: today's 30 s rule
        (None, 31.0, True),
    ],
)
def test_no_heartbeat_judges_holds_by_the_scenarios_interval(
    interval: float | None, open_s: float, fires: bool
) -> None:
    rows = healthy_rows(5)
    rows += [row("valid", "accepted", "ok", t=1.0, open_s=open_s, pings=0) for _ in range(6)]
    found = heartbeat_findings(rows, interval)
    assert ("no-heartbeat" in found) is fires
    if fires and interval is not None:
        assert found["no-heartbeat"].evidence == (
            f"6 accepted connections stayed open > {1.5 * interval:g} s (longest {open_s:.1f} s); "
            f"none saw a server ping (target.heartbeat_interval says the service pings every "
            f"{interval:g} s: only sessions held longer than 1.5 times that are judged)"
        )
    if fires and interval is None:
        assert "the 30 s a service could plausibly wait" in found["no-heartbeat"].evidence


def test_a_stated_interval_with_pings_seen_is_no_finding() -> None:
    rows = healthy_rows(5)
    rows += [row("valid", "accepted", "ok", t=1.0, open_s=8.0, pings=1) for _ in range(6)]
    assert "no-heartbeat" not in heartbeat_findings(rows, 5.0)
