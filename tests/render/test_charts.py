"""Tests of the chart data (pure) and of charts drawn without data or with recovery.

The computations behind the charts have known answers here: open connections over time,
how connections ended, outcome shares per phase, the recovery bars. Drawing is checked
only for valid PNGs of a sensible size (the build tests draw every chart with data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.analysis.frames import attempts_frame, samples_frame
from harness.render.charts.connections import hold_group, open_counts, open_intervals
from harness.render.charts.outcomes import outcome_label, outcome_table, short_label
from harness.render.charts.recovery import recovery_bars, recovery_chart
from harness.render.charts.run import CHART_FILES, write_charts
from tests.render.test_report import META, T0, rec
from tests.render.test_report_build import png_size


def opened(t: float, outcome: str, verdict: str, open_s: float | None, **kw: Any) -> dict[str, Any]:
    """A valid-token attempt at ``t`` s that took 100 ms to connect and 400 ms to handshake."""
    row = rec("valid", outcome, verdict, t=t, **kw)
    return {**row, "connect_ms": 100.0, "handshake_ms": 400.0, "open_s": open_s}


def connection_rows() -> list[dict[str, Any]]:
    """Three connections open 0.5..2.5, 1.5..3.5 and 2.5..3.0 s; two attempts never open."""
    return [
        opened(0.0, "accepted", "ok", 2.0),
        opened(1.0, "closed_try_again", "valid_refused", 2.0, code=1013),
        opened(2.0, "abnormal_closure", "abrupt", 0.5),
        opened(3.0, "rejected_capacity", "valid_refused", None, status=503),
        opened(4.0, "accepted", "ok", None),  # no open_s recorded: left out
    ]


def test_open_intervals_start_after_the_handshake() -> None:
    intervals = open_intervals(attempts_frame(connection_rows()), T0)
    assert intervals.values.tolist() == [
        [0.5, 2.5, "planned"],
        [1.5, 3.5, "server_closed"],
        [2.5, 3.0, "dropped"],
    ]
    assert [hold_group(o) for o in ("accepted", "closed_auth", "abnormal_closure")] == [
        "planned",
        "server_closed",
        "dropped",
    ]
    assert hold_group("rejected_auth") is None and hold_group("abnormal_handshake") is None
    # A record with stage "open" counts as open, whatever its outcome says.
    odd = {**opened(0.0, "protocol_error", "abrupt", 1.0), "stage": "open"}
    assert open_intervals(attempts_frame([odd]), T0)["group"].tolist() == ["planned"]


def test_open_counts_step_function() -> None:
    times, counts = open_counts(open_intervals(attempts_frame(connection_rows()), T0))
    # At 2.5 s one connection closes and another opens: still 2 open.
    assert times.tolist() == [0.5, 1.5, 2.5, 3.0, 3.5]
    assert counts.tolist() == [1, 2, 2, 1, 0]
    empty_t, empty_c = open_counts(open_intervals(attempts_frame([]), T0))
    assert len(empty_t) == 0 and len(empty_c) == 0


def test_outcome_shares_per_phase_keep_phase_order_and_empty_phases() -> None:
    rows = [
        rec("valid", "accepted", "ok", t=1.0),
        rec("valid", "closed_try_again", "valid_refused", t=12.0, code=1013),
        rec("valid", "abnormal_handshake", "abrupt", t=13.0),
        rec("empty", "rejected_auth", "ok", t=14.0, status=401),
        rec("valid", "rejected_capacity", "valid_refused", t=15.0, status=503),
    ]
    attempts = attempts_frame(rows)
    phases = pd.Series(["baseline", "during cpu#1", "during cpu#1", "during cpu#1", "during cpu#1"])
    order = ["baseline", "during cpu#1", "after cpu#1"]
    table = outcome_table(attempts, phases, order)
    assert list(table.index) == order
    assert table.loc["baseline", "accepted"] == 1.0
    during = table.loc["during cpu#1"]
    assert during["closed 1013 try again later"] == pytest.approx(0.25)
    assert during["closed before established (no 101)"] == pytest.approx(0.25)
    assert during["rejected HTTP 401"] == pytest.approx(0.25)
    assert during["rejected HTTP 503"] == pytest.approx(0.25)
    assert table.loc["after cpu#1"].sum() == 0.0  # nobody tried: an empty bar, not an error
    assert outcome_label({"outcome": "closed_other"}) == "closed without a code"
    assert outcome_label({"outcome": "refused"}) == "connection refused"
    # What a bar segment says inside itself: the code or status, readable without the legend.
    assert [short_label(c) for c in sorted(table.columns)] == [
        "accepted",
        "1013",
        "no 101",
        "HTTP 401",
        "HTTP 503",
    ]
    assert short_label("abnormal closure (1006)") == "1006"


RECOVERY = [
    {"label": "cpu#1", "fault": "cpu", "reverted_s": 20.0, "recovered": True, "recovery_s": 3.5,
     "baseline_success": 0.98, "status": "recovered"},
    {"label": "kill#2", "fault": "kill_target", "reverted_s": 30.0, "recovered": False,
     "recovery_s": None, "status": "did not recover", "baseline_success_rate": 1.0},
    {"label": "fd#3", "fault": "fd_limit", "reverted_s": None, "recovered": False,
     "status": "window never ended"},
]  # fmt: skip


def test_recovery_bars() -> None:
    bars = recovery_bars(RECOVERY, run_end_s=40.0)
    assert [(b["label"], b["kind"], b["length_s"]) for b in bars] == [
        ("cpu#1\n(cpu)", "recovered", 3.5),
        ("kill#2\n(kill_target)", "not_recovered", 10.0),  # watched from 30 s to the end
        ("fd#3\n(fd_limit)", "unknown", 0.0),
    ]
    assert bars[0]["text"] == "recovered in 3.5 s; baseline success 98%"
    assert bars[1]["text"] == "did not recover; baseline success 100%; watched 10.0 s"
    assert bars[2]["text"] == "window never ended"
    assert recovery_bars(RECOVERY[1:2], run_end_s=None)[0]["length_s"] == 0.0


def test_charts_without_data_and_with_recovery(tmp_path: Path) -> None:
    out = tmp_path / "charts"
    out.mkdir()
    (out / "recovery.png").write_bytes(b"stale, from an earlier build with recovery")
    empty = write_charts(attempts_frame([]), samples_frame([]), META, out)
    assert not (out / "recovery.png").exists()  # no recovery this time: the stale one went
    assert [p.name for p in empty] == [n for n in CHART_FILES if n != "recovery.png"]
    for path in empty:
        width, height = png_size(path.read_bytes())
        assert 400 <= width <= 2000 and 200 <= height <= 1200
    path = recovery_chart(RECOVERY, out / "recovery.png", run_end_s=40.0)
    width, height = png_size(path.read_bytes())
    assert (width, height) == (1000, 350)  # 10 in wide, 1.4 + 0.7 in per window, 100 dpi
