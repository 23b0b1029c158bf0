"""Sessions and reconnects from attempt records: outages, time to reconnect, who gave up,
login breaking, and how bunched the reconnects after a restart were."""

from __future__ import annotations

import random
from typing import Any

from harness.analysis.sessions import peak_to_mean, session_outages
from harness.analysis.summarize import summarize
from tests.analysis.builders import T0, event, rec, run_of

FRONT_END = {"load": {"reconnect": {"policy": "exponential", "max_attempts": 2}}}


def att(
    session: str, n: int, outcome: str, verdict: str, t: float, end: float, **kw: Any
) -> dict[str, Any]:
    """One attempt of ``session`` (its ``n``-th reconnect), from ``t`` to ``end`` (s)."""
    stage = kw.pop("stage", "open" if outcome == "accepted" else "handshake")
    return rec(
        kw.pop("kind", "valid"), outcome, verdict, t=t, session=session, session_attempt=n,
        t_end=T0 + end, stage=stage, connect_ms=kw.pop("connect_ms", 1.0),
        handshake_ms=kw.pop("handshake_ms", 9.0), **kw,
    )  # fmt: skip


def lost_then_back() -> list[dict[str, Any]]:
    """Session s1: open, cut by a restart at 5 s (1001), refused at 6 s, back at 8 s."""
    return [
        att("s1", 0, "closed_normal", "valid_refused", 1.0, 5.0, stage="open", code=1001,
            closed_by="server"),
        att("s1", 1, "refused", "abrupt", 6.0, 6.01, connect_ms=None, handshake_ms=None,
            stage="connect"),
        att("s1", 2, "accepted", "ok", 8.0, 20.0),
    ]  # fmt: skip


def test_an_outage_runs_from_the_loss_to_the_reconnect_opening() -> None:
    frame = run_of(lost_then_back(), scenario=FRONT_END).attempts
    (outage,) = session_outages("s1", frame.to_dict("records"))
    assert outage.begun == 5.0  # the recorded end of the attempt the restart cut
    assert outage.back is not None
    assert round(outage.back - outage.begun, 3) == 3.01  # 8 s + 1 ms connect + 9 ms upgrade


def test_the_summary_counts_reconnects_gave_up_and_login_breaking() -> None:
    rows = lost_then_back()
    # s2: refused three times in a row with max_attempts 2: it gave up
    rows += [
        att("s2", n, "refused", "abrupt", 1.0 + n, 1.01 + n, stage="connect") for n in range(3)
    ]
    # s3: a valid token refused for auth on its reconnect: login breaks
    rows += [
        att("s3", 0, "closed_normal", "valid_refused", 1.0, 5.0, stage="open", code=1001,
            closed_by="server"),
        att("s3", 1, "rejected_auth", "valid_refused", 6.0, 6.01, status=401),
    ]  # fmt: skip
    # s4: a session that ran its plan: no outage
    rows.append(att("s4", 0, "accepted", "ok", 1.0, 3.0))
    s = summarize(run_of(rows, scenario=FRONT_END)).sessions
    assert s is not None
    assert (s.policy, s.sessions, s.reconnects, s.max_reconnects) == ("exponential", 4, 5, 2)
    assert (s.outages, s.reconnected, s.gave_up, s.auth_failed) == (3, 1, 1, 1)
    assert s.time_to_reconnect_p50_s == 3.01


def test_no_sessions_section_without_a_reconnect_policy() -> None:
    assert summarize(run_of(lost_then_back())).sessions is None


def restart_rows(step_s: float) -> list[dict[str, Any]]:
    """40 sessions cut by a restart at 5 s, each reconnecting at 6 s + i * step_s."""
    rows = []
    for i in range(40):
        s = f"u{i}"
        rows += [
            att(s, 0, "closed_normal", "valid_refused", 1.0, 5.0, stage="open", code=1001,
                closed_by="server", chaos=("restart_target#1",)),
            att(s, 1, "accepted", "ok", 6.0 + i * step_s, 20.0, reconnect_delay_s=1.0),
        ]  # fmt: skip
    return rows


def restart_events() -> list[dict[str, Any]]:
    return [
        event(5.0, "applied", "restart_target#1", fault_kind="process", disruptive=True),
        event(5.5, "reverted", "restart_target#1", fault_kind="process", disruptive=True,
              planned_at=5.0),
    ]  # fmt: skip


def test_reconnects_in_step_after_a_restart_are_a_stampede() -> None:
    summary = summarize(run_of(restart_rows(0.0), restart_events(), scenario=FRONT_END))
    assert summary.sessions is not None
    r = summary.sessions.restarts["restart_target#1"]
    assert (r.lost, r.reconnected, r.reconnect_attempts) == (40, 40, 40)
    assert r.full_reconnection_s is not None and 1.0 < r.full_reconnection_s < 1.1
    assert "reconnect-stampede" in [f.id for f in summary.findings]


def test_reconnects_spread_out_are_not() -> None:
    summary = summarize(run_of(restart_rows(0.1), restart_events(), scenario=FRONT_END))
    assert summary.sessions is not None
    r = summary.sessions.restarts["restart_target#1"]
    assert r.peak_to_mean is not None and r.peak_to_mean < 2
    assert "reconnect-stampede" not in [f.id for f in summary.findings]


def test_peak_to_mean_reads_chance_peaks_of_an_even_spread_low() -> None:
    rng = random.Random(7)
    spread = [rng.uniform(0.0, 2.0) for _ in range(200)]
    assert (got := peak_to_mean(spread)) is not None and got < 3
    in_step = [0.0] * 100 + [2.0] * 100
    assert (got := peak_to_mean(in_step)) is not None and got > 5
    assert peak_to_mean([1.0] * 5) is None  # too few to tell
