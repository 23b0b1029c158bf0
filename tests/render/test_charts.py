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

from harness.analysis.phases import WindowSpan
from harness.analysis.summarize import summarize
from harness.analysis.summary import Recovery
from harness.render.charts.captions import CHART_FILES, PHASE_CHARTS, expected_charts
from harness.render.charts.compare import unexpected_segments
from harness.render.charts.connections import hold_group, open_counts, open_intervals
from harness.render.charts.figures import new_figure
from harness.render.charts.marks import label_layout, shade_windows
from harness.render.charts.outcomes import (
    outcome_counts,
    outcome_label,
    outcome_table,
    short_label,
    unexpected_cells,
)
from harness.render.charts.recovery import recovery_bars, recovery_chart
from harness.render.charts.run import write_charts
from tests.analysis.builders import CUT_META, png_size, rec, run_of, sample_rows


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
    intervals = open_intervals(run_of(connection_rows()).attempts)
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
    assert open_intervals(run_of([odd]).attempts)["group"].tolist() == ["planned"]


def test_open_counts_step_function() -> None:
    times, counts = open_counts(open_intervals(run_of(connection_rows()).attempts))
    # At 2.5 s one connection closes and another opens: still 2 open.
    assert times.tolist() == [0.5, 1.5, 2.5, 3.0, 3.5]
    assert counts.tolist() == [1, 2, 2, 1, 0]
    empty_t, empty_c = open_counts(open_intervals(run_of([]).attempts))
    assert len(empty_t) == 0 and len(empty_c) == 0


def test_outcome_shares_per_phase_keep_phase_order_and_empty_phases() -> None:
    rows = [
        rec("valid", "accepted", "ok", t=1.0),
        rec("valid", "closed_try_again", "valid_refused", t=12.0, code=1013),
        rec("valid", "abnormal_handshake", "abrupt", t=13.0),
        rec("empty", "rejected_auth", "ok", t=14.0, status=401),
        rec("valid", "rejected_capacity", "valid_refused", t=15.0, status=503),
    ]
    attempts = run_of(rows).attempts
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


def recovery(label: str, fault: str, reverted: float | None, **kw: Any) -> Recovery:
    fields: dict[str, Any] = dict(
        label=label, fault=fault, window_status="reverted", applied_s=0.0, reverted_s=reverted,
        baseline_success_rate=1.0, baseline_attempts=10, baseline_assumed=False, margin=0.05,
        threshold=0.95, success_rate_during=0.0, worst_rate_during=0.0, degraded=True,
        horizon_end_s=40.0, attempts_after=10, success_rate_after=0.5, recovered_at_s=None,
        recovery_s=None, recovered=False, status="did not recover",
    )  # fmt: skip
    fields.update(kw)
    return Recovery(**fields)


RECOVERY = [
    recovery("cpu#1", "cpu", 20.0, recovered=True, recovery_s=3.5, recovered_at_s=23.5,
             status="recovered", baseline_success_rate=0.98),
    recovery("kill#2", "kill_target", 30.0),
    recovery("fd#3", "fd_limit", None, status="window never ended"),
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
    assert bars[2]["text"] == "window never ended; baseline success 100%"
    assert recovery_bars(RECOVERY[1:2], run_end_s=None)[0]["length_s"] == 0.0


def test_charts_without_data_and_without_chaos(tmp_path: Path) -> None:
    out = tmp_path / "charts"
    out.mkdir()
    for stale in ("recovery.png", *PHASE_CHARTS):  # from an earlier build with chaos
        (out / stale).write_bytes(b"stale")
    run = run_of([], run_meta=CUT_META)
    empty = write_charts(run, summarize(run), out)
    assert not (out / "recovery.png").exists() and not any((out / n).exists() for n in PHASE_CHARTS)
    assert [p.name for p in empty] == list(expected_charts(False, False))
    assert [p.name for p in empty] == [
        n for n in CHART_FILES if n not in {*PHASE_CHARTS, "recovery.png"}
    ]
    for path in empty:
        width, height = png_size(path.read_bytes())
        assert 400 <= width <= 2000 and 200 <= height <= 1200
    path = recovery_chart(RECOVERY, out / "recovery.png", run_end_s=40.0)
    width, height = png_size(path.read_bytes())
    assert (width, height) == (1000, 350)  # 10 in wide, 1.4 + 0.7 in per window, 100 dpi


def test_hatched_outcomes_are_the_unexpected_ones() -> None:
    """The run's outcome chart and the comparison's hatch the same segments."""
    counts = outcome_counts(run_of(sample_rows()).attempts)
    cells = unexpected_cells(counts)
    assert ("valid", "closed 1013 try again later") in cells
    assert ("empty", "accepted") in cells and ("valid", "accepted") not in cells
    assert ("empty", "closed 4401 unauthorized") not in cells
    both = unexpected_segments([counts, None])
    assert both == {(kind, label, "A") for kind, label in cells}


# --- Chaos windows on a time axis --------------------------------------------------------


def test_overlapping_labels_get_their_own_rows() -> None:
    spans = [
        WindowSpan("a#1", "a", 10.0, 20.0),
        WindowSpan("b#2", "b", 12.0, 30.0),
        WindowSpan("c#3", "a", 50.0, 60.0),
        WindowSpan("x#9", "x", 99.0, 100.0, open_ended=True),
    ]
    layout = label_layout(spans, 0.0, 100.0, axes_width_in=8.0)
    assert [row for _, row in layout] == [0, 1, 0, 0]
    assert [x for x, _ in layout][:3] == [10.0, 12.0, 50.0]
    assert layout[3][0] < 90.0  # pulled left to stay inside the axes


def test_shade_windows_draws_a_span_and_a_label_per_window() -> None:
    ax = new_figure().add_subplot()
    ax.set_xlim(0, 60)
    spans = [WindowSpan("a#1", "a", 10.0, 20.0), WindowSpan("b#2", "b", 12.0, 60.0, True)]
    rows = shade_windows(ax, spans)
    assert rows == 2
    assert len(ax.patches) == 2
    assert [t.get_text() for t in ax.texts] == ["a#1", "b#2 (not reverted)"]
    assert shade_windows(new_figure().add_subplot(), []) == 0


@pytest.mark.parametrize(
    ("chaos", "recovery_", "n"), [(False, False, 7), (True, False, 9), (True, True, 10)]
)
def test_expected_charts(chaos: bool, recovery_: bool, n: int) -> None:
    assert len(expected_charts(chaos, recovery_)) == n
