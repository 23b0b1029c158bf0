"""Tests of the pure report computations: summary, time bins, labels, terminal table.

The sample data here (:func:`rec`, :func:`sample_rows`, :data:`META`) is shared with the
other ``test_report_*`` modules.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from harness.analysis.frames import attempts_frame, samples_frame
from harness.analysis.gates import GateResult, evaluate_gates
from harness.analysis.summary import compute_summary, handshake_percentiles
from harness.analysis.timeline import (
    bin_width_s,
    handshake_by_bin,
    make_timeline,
    success_by_bin,
    verdict_rates_by_bin,
)
from harness.config.scenario import Gate
from harness.protocol.outcomes import Verdict
from harness.render.charts.outcomes import outcome_label, outcome_table
from harness.render.terminal import format_terminal_summary

T0 = 1_700_000_000.0
META = {
    "run_id": "run-1",
    "scenario": "unit",
    "started_at": T0,
    "ended_at": T0 + 40.0,
    "duration_planned_s": 40.0,
    "target_url": "ws://127.0.0.1:9/ws",
    "complete": True,
}


def rec(
    kind: str,
    outcome: str,
    verdict: str,
    *,
    t: float = 0.0,
    hs: float | None = None,
    code: int | None = None,
    reason: str | None = None,
    status: int | None = None,
    chaos: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One attempt record as a dict (``t`` in seconds since T0)."""
    return {
        "run_id": "run-1",
        "worker": "local",
        "user": 1,
        "attempt": 1,
        "token_kind": kind,
        "placement": "query",
        "expected": "accept" if kind == "valid" else "reject",
        "t_start": T0 + t,
        "handshake_ms": hs,
        "outcome": outcome,
        "verdict": verdict,
        "http_status": status,
        "close_code": code,
        "close_reason": reason,
        "chaos": list(chaos),
    }


def sample_rows() -> list[dict[str, Any]]:
    """A small run with known answers.

    valid (12 rows): 7 ok (handshakes 10..70 ms), 2 refused with 1013 "overloaded"
    (80, 90 ms), 1 generator fault, 1 abrupt timeout, 1 excluded (interrupted).
    empty (4 rows): 3 closed 4401, 1 accepted (invalid_accepted). expired (2 rows):
    1 rejected 401, 1 abrupt. Attempts from t=20 s on ran under the "cpu" fault.
    """
    rows = [rec("valid", "accepted", "ok", t=float(i), hs=10.0 * (i + 1)) for i in range(7)]
    rows += [
        rec(
            "valid",
            "closed_try_again",
            "valid_refused",
            t=20.0 + i,
            hs=80.0 + 10 * i,
            code=1013,
            reason="overloaded",
            chaos=("cpu",),
        )
        for i in range(2)
    ]
    rows += [
        rec("valid", "generator_fault", "generator_fault", t=25.0, chaos=("cpu",)),
        rec("valid", "timeout_handshake", "abrupt", t=26.0, chaos=("cpu",)),
        rec("valid", "interrupted", "excluded", t=39.0),
    ]
    rows += [
        rec("empty", "closed_auth", "ok", t=float(i), hs=5.0, code=4401, reason="token empty")
        for i in range(3)
    ]
    rows.append(rec("empty", "accepted", "invalid_accepted", t=30.0, hs=5.0, chaos=("cpu",)))
    rows += [
        rec("expired", "rejected_auth", "ok", t=1.0, hs=7.0, status=401),
        rec("expired", "abnormal_handshake", "abrupt", t=2.0),
    ]
    return rows


def gate(metric: str, op: str, threshold: float, kind: str | None = None) -> Gate:
    return Gate(name=f"g-{metric}", metric=metric, op=op, threshold=threshold, token_kind=kind)


@pytest.fixture
def summary() -> dict[str, Any]:
    return compute_summary(attempts_frame(sample_rows()), META)


# --- Summary -----------------------------------------------------------------------------


def test_counts_and_rates_per_kind(summary: dict[str, Any]) -> None:
    valid = summary["token_kinds"]["valid"]
    assert valid["attempts"] == 12
    assert valid["counted"] == 11  # the interrupted attempt is excluded
    assert valid["success_rate"] == pytest.approx(7 / 11)
    assert valid["abrupt_rate"] == pytest.approx(1 / 11)
    assert valid["expected"] == "accept"
    assert valid["close_codes"] == {"1013": 2}
    assert valid["close_reasons"] == {"overloaded": 2}
    assert valid["outcomes"]["accepted"] == 7
    assert valid["outcomes"]["interrupted"] == 1

    empty = summary["token_kinds"]["empty"]
    assert (empty["attempts"], empty["counted"]) == (4, 4)
    assert empty["verdicts"]["invalid_accepted"] == 1
    assert empty["success_rate"] == pytest.approx(0.75)
    assert empty["abrupt_rate"] == 0.0
    assert empty["close_codes"] == {"4401": 3}

    expired = summary["token_kinds"]["expired"]
    assert expired["success_rate"] == pytest.approx(0.5)
    assert expired["abrupt_rate"] == pytest.approx(0.5)
    assert expired["handshake_ms"] == {"p50": 7.0, "p95": 7.0, "p99": 7.0}


def test_totals_and_run_metadata(summary: dict[str, Any]) -> None:
    total = summary["total"]
    assert total["attempts"] == 18
    assert total["counted"] == 17
    assert total["verdicts"]["ok"] == 7 + 3 + 1
    assert total["success_rate"] == pytest.approx(11 / 17)
    assert total["abrupt_rate"] == pytest.approx(2 / 17)
    assert total["expected"] == "mixed"
    assert total["close_codes"] == {"1013": 2, "4401": 3}
    assert summary["generator_fault_share"] == pytest.approx(1 / 18)
    assert summary["schema_version"] == 1
    assert summary["run_id"] == "run-1"
    assert summary["scenario"] == "unit"
    assert summary["duration_s"] == pytest.approx(40.0)
    assert summary["complete"] is True
    assert list(summary["token_kinds"]) == ["valid", "empty", "expired"]  # TOKEN_KINDS order


def test_every_verdict_present_with_zeros(summary: dict[str, Any]) -> None:
    expected_keys = [v.value for v in Verdict]
    for sec in [summary["total"], *summary["token_kinds"].values()]:
        assert list(sec["verdicts"]) == expected_keys
    expired = summary["token_kinds"]["expired"]["verdicts"]
    assert expired == {
        "ok": 1,
        "valid_refused": 0,
        "invalid_accepted": 0,
        "abrupt": 1,
        "wrong_rejection": 0,
        "generator_fault": 0,
        "excluded": 0,
    }


def test_handshake_percentiles_linear_over_non_null() -> None:
    # valid: 10..90 ms over 9 rows with a handshake; 3 rows without one are ignored.
    summary = compute_summary(attempts_frame(sample_rows()), META)
    hs = summary["token_kinds"]["valid"]["handshake_ms"]
    assert hs["p50"] == pytest.approx(50.0)
    assert hs["p95"] == pytest.approx(86.0)  # 80 + 0.6 * 10
    assert hs["p99"] == pytest.approx(89.2)  # 80 + 0.92 * 10
    assert handshake_percentiles(pd.Series([None, None], dtype=float)) == {
        "p50": None,
        "p95": None,
        "p99": None,
    }


def test_phases_without_chaos_file_follow_the_attempts_lists(summary: dict[str, Any]) -> None:
    # No chaos.jsonl: the attempts that recorded "cpu" are its during phase, the rest baseline.
    assert summary["chaos_windows"] == []
    phases = summary["phases"]
    assert list(phases) == ["baseline", "during cpu"]
    cpu = phases["during cpu"]
    assert (cpu["kind"], cpu["labels"]) == ("during", ["cpu"])
    assert cpu["total"]["attempts"] == 5
    assert cpu["total"]["verdicts"]["valid_refused"] == 2
    assert (cpu["start_s"], cpu["end_s"]) == (20.0, 30.0)  # its attempts' first and last start
    assert phases["baseline"]["total"]["attempts"] == 13
    assert (phases["baseline"]["start_s"], phases["baseline"]["end_s"]) == (0.0, 40.0)
    assert "chaos_phases" not in summary  # one notion of phase only


def test_all_excluded_kind_has_no_rates() -> None:
    rows = [rec("valid", "interrupted", "excluded"), rec("valid", "interrupted", "excluded")]
    sec = compute_summary(attempts_frame(rows), META)["token_kinds"]["valid"]
    assert (sec["attempts"], sec["counted"]) == (2, 0)
    assert sec["success_rate"] is None
    assert sec["abrupt_rate"] is None


def test_empty_attempts_and_cut_short_meta() -> None:
    frame = attempts_frame([])
    assert list(frame.columns)[:3] == ["run_id", "worker", "user"]
    assert str(frame["close_code"].dtype) == "Int64"
    assert str(frame["handshake_ms"].dtype) == "float64"
    meta = {**META, "ended_at": None, "complete": False}
    summary = compute_summary(frame, meta)
    assert summary["token_kinds"] == {}
    assert summary["total"]["attempts"] == 0
    assert summary["total"]["success_rate"] is None
    assert summary["total"]["verdicts"]["ok"] == 0
    assert summary["generator_fault_share"] is None
    assert summary["complete"] is False
    assert summary["duration_s"] is None


def test_cut_short_duration_runs_to_last_attempt() -> None:
    meta = {**META, "ended_at": None, "complete": False}
    summary = compute_summary(attempts_frame(sample_rows()), meta)
    assert summary["duration_s"] == pytest.approx(39.0)
    assert summary["complete"] is False


def test_frames_cast_types_and_drop_unknown_keys() -> None:
    row = {**rec("valid", "accepted", "ok"), "close_code": 1000.0, "bogus": 1}
    frame = attempts_frame([row])
    assert "bogus" not in frame.columns
    assert frame["close_code"].iloc[0] == 1000
    assert pd.isna(frame["http_status"].iloc[0])
    assert frame["chaos"].iloc[0] == []
    samples = samples_frame([{"t": T0 + 2, "fds": 5}, {"t": T0 + 1, "cpu_percent": 3.5}])
    assert samples["t"].tolist() == [T0 + 1, T0 + 2]
    assert str(samples["fds"].dtype) == "Int64"


# --- Time bins and chart tables ----------------------------------------------------------


def test_bin_width() -> None:
    assert bin_width_s(10.0) == 1.0
    assert bin_width_s(120.0) == 3.0
    assert bin_width_s(0.0) == 1.0


def test_success_and_rates_by_bin() -> None:
    attempts = attempts_frame(sample_rows())
    tl = make_timeline(attempts, samples_frame([]), META)
    assert tl.width_s == 1.0
    assert len(tl.edges) == 41  # 0..40 s
    success = success_by_bin(attempts, tl)
    assert success.loc[0, "valid"] == 1.0
    assert success.loc[20, "valid"] == 0.0
    assert bool(success["valid"].isna()[39])  # only an excluded attempt
    assert success.loc[2, "expired"] == 0.0
    rates = verdict_rates_by_bin(attempts, tl)
    assert rates.loc[0, "ok"] == 2.0  # valid + empty at t=0, per second
    assert rates.loc[39, "excluded"] == 1.0
    assert handshake_by_bin(attempts, tl).loc[3, "p50"] == 40.0
    longer = make_timeline(attempts, samples_frame([]), META, until_s=80.0)
    assert (longer.width_s, longer.edges[-1]) == (2.0, 80.0)


def test_outcome_labels_name_codes() -> None:
    assert (
        outcome_label({"outcome": "closed_auth", "close_code": 4401}) == "closed 4401 unauthorized"
    )
    assert (
        outcome_label({"outcome": "closed_try_again", "close_code": 1013})
        == "closed 1013 try again later"
    )
    assert (
        outcome_label({"outcome": "rejected_capacity", "http_status": 503}) == "rejected HTTP 503"
    )
    assert outcome_label({"outcome": "abnormal_closure"}) == "abnormal closure (1006)"
    table = outcome_table(attempts_frame(sample_rows()))
    assert table.loc["empty", "closed 4401 unauthorized"] == pytest.approx(0.75)
    assert table.loc["valid", "accepted"] == pytest.approx(7 / 12)
    assert table.sum(axis=1).round(9).tolist() == [1.0, 1.0, 1.0]


# --- Terminal ----------------------------------------------------------------------------


def test_terminal_summary(summary: dict[str, Any]) -> None:
    results = evaluate_gates(
        summary, [gate("invalid_accepted", "==", 0, "empty"), gate("ok", ">=", 5, "valid")]
    )
    text = format_terminal_summary(summary, results)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 110
    rows = {
        line.split()[0]: line.split()
        for line in lines
        if line and line.split()[0] in ("valid", "empty", "expired", "total")
    }
    # kind, attempts, expected, success %, ok, refused, inv.acc, abrupt, wrong, gen, p50..p99
    assert rows["valid"][:10] == ["valid", "12", "accept", "63.6", "7", "2", "0", "1", "0", "1"]
    assert rows["empty"][:7] == ["empty", "4", "reject", "75.0", "3", "0", "1"]
    assert rows["total"][1] == "18"
    assert "  FAIL  g-invalid_accepted: invalid_accepted[empty] = 1  (required == 0)" in lines
    assert "  PASS  g-ok: ok[valid] = 7  (required >= 5)" in lines
    assert "WARNING" in text and "load generator" in text  # 1 generator fault


def test_terminal_summary_empty_and_cut_short() -> None:
    summary = compute_summary(attempts_frame([]), {**META, "complete": False, "ended_at": None})
    results: list[GateResult] = evaluate_gates(summary, [gate("success_rate", ">=", 0.9)])
    text = format_terminal_summary(summary, results)
    assert "(no attempts recorded)" in text
    assert "FAIL  g-success_rate: success_rate = no data" in text
    assert "cut short" in text
