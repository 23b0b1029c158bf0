"""Tests of chaos windows and phases: loading chaos.jsonl, phase assignment, per-phase numbers.

Everything here is pure (hand-built frames with known answers) except the two
``load_chaos`` tests, which write a small file into a temporary directory.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.analysis.frames import CHAOS_COLUMNS, attempts_frame, chaos_frame, load_chaos
from harness.analysis.phases import WindowSpan, assign_phases, phase_at, phase_intervals
from harness.analysis.summary import compute_summary
from harness.render.charts.figures import new_figure
from harness.render.charts.marks import label_layout, shade_windows
from harness.render.terminal import format_terminal_summary, phase_lines
from tests.render.test_report import META, T0, rec

#: Faults of the test windows that cut or delay clients themselves (as the driver writes them).
DISRUPTIVE = frozenset({"kill", "kill_target", "restart_target", "latency", "reset", "net"})


def event(t: float, kind: str, label: str, **kw: Any) -> dict[str, Any]:
    """One chaos.jsonl event, ``t`` in seconds since T0."""
    fault = label.split("#")[0]
    return {
        "t": T0 + t,
        "event": kind,
        "label": label,
        "fault": fault,
        "disruptive": kw.pop("disruptive", fault in DISRUPTIVE),
        "params": kw.pop("params", {}),
        "planned_at": kw.pop("planned_at", t),
        "planned_for": kw.pop("planned_for", None),
        "error": kw.pop("error", None),
    }


def overlap_events() -> list[dict[str, Any]]:
    """cpu#1 10..20 s and mem#2 15..30 s overlap; net#3 failed at 40 s; all reverted."""
    return [
        event(10, "applied", "cpu#1", params={"percent": 20}, planned_for=10),
        event(15, "applied", "mem#2", planned_for=15),
        event(20, "reverted", "cpu#1", planned_at=10, planned_for=10),
        event(30, "reverted", "mem#2", planned_at=15, planned_for=15),
        event(40, "failed", "net#3", error="nft: permission denied"),
    ]


def summary_of(
    rows: list[dict[str, Any]], events: list[dict[str, Any]], meta: Any = None
) -> dict[str, Any]:
    """The summary of hand-built attempt rows and chaos events (``meta`` defaults to META)."""
    meta = META if meta is None else meta
    attempts = attempts_frame(rows)
    windows = chaos_frame(events, T0)
    summary = compute_summary(attempts, meta, windows)
    return summary


# --- chaos.jsonl -> windows --------------------------------------------------------------


def test_chaos_frame_folds_events_into_windows() -> None:
    events = [*overlap_events(), event(50, "skipped", "kill#4", planned_for=5)]
    windows = chaos_frame(events, T0)
    assert list(windows.columns) == list(CHAOS_COLUMNS)
    assert windows["label"].tolist() == ["cpu#1", "mem#2", "net#3", "kill#4"]
    assert windows["status"].tolist() == ["reverted", "reverted", "failed", "skipped"]
    cpu = windows.iloc[0]
    assert (cpu["fault"], cpu["params"], cpu["planned_for"]) == ("cpu", {"percent": 20}, 10.0)
    assert (cpu["applied_s"], cpu["reverted_s"]) == (10.0, 20.0)
    net = windows.iloc[2]
    assert math.isnan(net["applied_s"]) and math.isnan(net["reverted_s"])
    assert net["error"] == "nft: permission denied"
    kill = windows.iloc[3]
    assert pd.isna(kill["error"]) and math.isnan(kill["applied_s"])
    assert (kill["planned_at"], kill["planned_for"]) == (50.0, 5.0)


def test_chaos_frame_unreverted_and_orphan_events() -> None:
    events = [
        event(10, "applied", "cpu#1"),
        event(12, "reverted", "odd#2"),
        event(20, "applied", "mem#3"),
        event(25, "reverted", "mem#3", planned_at=20, error="revert failed: OSError: busy"),
        {"t": T0 + 1.0, "event": "target_pid", "pid": 4242, "error": None},  # no label: ignored
    ]
    windows = chaos_frame(events, None).set_index("label")  # t0 from t - planned_at
    assert list(windows.index) == ["cpu#1", "odd#2", "mem#3"]  # by applied_s, else planned_at
    assert windows.loc["mem#3", "status"] == "reverted"
    assert windows.loc["mem#3", "error"] == "revert failed: OSError: busy"
    assert windows.loc["cpu#1", "status"] == "active_at_end"
    assert windows.loc["cpu#1", "applied_s"] == 10.0
    assert math.isnan(windows.loc["cpu#1", "reverted_s"])
    assert windows.loc["odd#2", "status"] == "failed"  # reverted, but never applied
    assert "no applied" in str(windows.loc["odd#2", "error"])


def test_load_chaos_skips_torn_line_and_uses_meta_start(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps({"started_at": T0 - 5.0}), encoding="utf-8")
    lines = [json.dumps(e) for e in overlap_events()[:3]]
    text = "\n".join(lines) + '\n{"t": 1700000030.0, "event": "rever'  # killed mid-write
    (tmp_path / "chaos.jsonl").write_text(text, encoding="utf-8")
    windows = load_chaos(tmp_path).set_index("label")
    assert list(windows.index) == ["cpu#1", "mem#2"]
    assert windows.loc["cpu#1", "applied_s"] == 15.0  # the run started 5 s before T0
    assert windows.loc["cpu#1", "status"] == "reverted"
    assert windows.loc["mem#2", "status"] == "active_at_end"  # its revert was the torn line


def test_load_chaos_missing_or_empty_file(tmp_path: Path) -> None:
    missing = load_chaos(tmp_path)
    assert missing.empty and list(missing.columns) == list(CHAOS_COLUMNS)
    (tmp_path / "chaos.jsonl").write_text("", encoding="utf-8")
    assert load_chaos(tmp_path, started_at=T0).empty


# --- Phase assignment --------------------------------------------------------------------


def test_phase_assignment_with_overlap_and_recovery() -> None:
    rows = [
        rec("valid", "accepted", "ok", t=5.0),
        rec("valid", "accepted", "ok", t=12.0, chaos=("cpu#1",)),
        rec("valid", "accepted", "ok", t=17.0, chaos=("mem#2", "cpu#1")),
        rec("valid", "accepted", "ok", t=18.0),  # empty list inside both: placed by time
        rec("valid", "accepted", "ok", t=25.0, chaos=("mem#2",)),
        rec("valid", "accepted", "ok", t=35.0),
        rec("valid", "accepted", "ok", t=41.0),  # net#3 failed at 40 s: still recovery
    ]
    summary = summary_of(rows, overlap_events())
    phases = summary["phases"]
    assert list(phases) == [
        "baseline",
        "during cpu#1",
        "during cpu#1 + mem#2",
        "during mem#2",
        "after mem#2",
    ]
    assert [p["total"]["attempts"] for p in phases.values()] == [1, 1, 2, 1, 2]
    spans = {name: (p["start_s"], p["end_s"]) for name, p in phases.items()}
    assert spans == {
        "baseline": (0.0, 10.0),
        "during cpu#1": (10.0, 15.0),
        "during cpu#1 + mem#2": (15.0, 20.0),
        "during mem#2": (20.0, 30.0),
        "after mem#2": (30.0, 40.0),
    }
    assert phases["during cpu#1 + mem#2"]["labels"] == ["cpu#1", "mem#2"]
    assert phases["after mem#2"]["kind"] == "after"
    assert not any("net#3" in name for name in phases)  # a failed window makes no phase


def test_recovery_phase_of_each_window() -> None:
    events = [
        event(10, "applied", "cpu#1"),
        event(20, "reverted", "cpu#1", planned_at=10),
        event(30, "applied", "cpu#2"),
        event(35, "reverted", "cpu#2", planned_at=30),
    ]
    rows = [
        rec("valid", "accepted", "ok", t=t, chaos=c)
        for t, c in [(5.0, ()), (20.0, ()), (29.9, ()), (31.0, ("cpu#2",)), (38.0, ())]
    ]
    phases = summary_of(rows, events)["phases"]
    assert list(phases) == [
        "baseline",
        "during cpu#1",
        "after cpu#1",
        "during cpu#2",
        "after cpu#2",
    ]
    assert phases["after cpu#1"]["total"]["attempts"] == 2  # reverted at 20 s: from 20 s on
    assert (phases["after cpu#1"]["start_s"], phases["after cpu#1"]["end_s"]) == (20.0, 30.0)
    assert phases["during cpu#1"]["total"]["attempts"] == 0  # shown, though nobody tried
    assert (phases["after cpu#2"]["start_s"], phases["after cpu#2"]["end_s"]) == (35.0, 40.0)


def test_window_never_reverted_lasts_to_the_end_of_a_killed_run() -> None:
    meta = {**META, "ended_at": None, "complete": False}
    rows = [
        rec("valid", "accepted", "ok", t=5.0),
        rec("valid", "timeout_handshake", "abrupt", t=12.0, chaos=("cpu#1",)),
        rec("valid", "timeout_handshake", "abrupt", t=30.0),  # list lost; inside the window
        rec("valid", "accepted", "ok", t=50.0, chaos=("cpu#1",)),
    ]
    summary = summary_of(rows, [event(10, "applied", "cpu#1")], meta)
    assert summary["chaos_windows"][0]["status"] == "active_at_end"
    assert summary["chaos_windows"][0]["reverted_s"] is None
    phases = summary["phases"]
    assert list(phases) == ["baseline", "during cpu#1"]
    during = phases["during cpu#1"]
    assert (during["start_s"], during["end_s"]) == (10.0, 50.0)  # to the last attempt
    assert during["total"]["attempts"] == 3
    assert during["total"]["success_rate"] == pytest.approx(1 / 3)


def test_no_chaos_is_all_baseline() -> None:
    rows = [rec("valid", "accepted", "ok", t=float(t)) for t in range(4)]
    summary = compute_summary(attempts_frame(rows), META)
    assert summary["chaos_windows"] == []
    assert list(summary["phases"]) == ["baseline"]
    assert summary["phases"]["baseline"]["total"]["attempts"] == 4
    assert summary["phases"]["baseline"]["start_s"] == 0.0
    assert summary["phases"]["baseline"]["end_s"] == 40.0
    empty = compute_summary(attempts_frame([]), {**META, "ended_at": None})
    assert list(empty["phases"]) == ["baseline"]
    assert empty["phases"]["baseline"]["total"]["attempts"] == 0


def test_assign_phases_rules_directly() -> None:
    spans = [WindowSpan("a#1", "a", 10.0, 20.0), WindowSpan("b#2", "b", 30.0, 60.0, True)]
    chaos = pd.Series([[], ["z#9"], [], [], [], []], dtype=object)
    t = pd.Series([1.0, 2.0, 20.0, 29.0, 99.0, float("nan")])
    got = assign_phases(chaos, t, spans).tolist()
    # A list always wins; the revert instant starts recovery; open-ended has no end.
    assert got == ["baseline", "during z#9", "after a#1", "after a#1", "during b#2", "baseline"]
    assert phase_at(10.0, spans) == "during a#1"
    assert phase_intervals(spans, 60.0) == {
        "baseline": (0.0, 10.0),
        "during a#1": (10.0, 20.0),
        "after a#1": (20.0, 30.0),
        "during b#2": (30.0, 60.0),
    }


# --- Per-phase numbers -------------------------------------------------------------------


def split_rows() -> list[dict[str, Any]]:
    """Under cpu#1 (10..20 s): valid 4 ok, 2 refused 1013 + 1 refused 503 (graceful), 1
    dropped in the handshake + 1 closed with 1006 (abrupt); empty 2 rejected 401 (graceful),
    1 accepted. Baseline: 2 valid ok. The 1006 record has no manner: derived from its outcome.
    """
    c = ("cpu#1",)

    def how(manner: str, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "manner": manner}

    rows = [
        rec("valid", "accepted", "ok", t=11.0 + i, hs=10.0 * (i + 1), chaos=c) for i in range(4)
    ]
    rows += [
        how(
            "graceful",
            rec("valid", "closed_try_again", "valid_refused", t=12, hs=50, code=1013, chaos=c),
        ),
        how(
            "graceful",
            rec("valid", "closed_try_again", "valid_refused", t=13, hs=60, code=1013, chaos=c),
        ),
        how(
            "graceful",
            rec("valid", "rejected_capacity", "valid_refused", t=14, hs=70, status=503, chaos=c),
        ),
        how("abrupt", rec("valid", "abnormal_handshake", "abrupt", t=15, chaos=c)),
        rec("valid", "abnormal_closure", "abrupt", t=16, chaos=c),  # manner missing
        how("graceful", rec("empty", "rejected_auth", "ok", t=17, hs=5, status=401, chaos=c)),
        how("graceful", rec("empty", "rejected_auth", "ok", t=17, hs=5, status=401, chaos=c)),
        rec("empty", "accepted", "invalid_accepted", t=18, hs=5, chaos=c),
        rec("valid", "accepted", "ok", t=1.0, hs=1.0),
        rec("valid", "accepted", "ok", t=2.0, hs=1.0),
    ]
    return rows


def test_graceful_abrupt_split_per_phase_and_kind() -> None:
    events = [event(10, "applied", "cpu#1"), event(20, "reverted", "cpu#1", planned_at=10)]
    phases = summary_of(split_rows(), events)["phases"]
    during = phases["during cpu#1"]
    valid, empty, total = (
        during["token_kinds"]["valid"],
        during["token_kinds"]["empty"],
        during["total"],
    )
    assert (valid["graceful"], valid["abrupt"]) == (3, 2)
    assert valid["graceful_share"] == pytest.approx(0.6)
    assert (empty["graceful"], empty["abrupt"], empty["graceful_share"]) == (2, 0, 1.0)
    assert (total["graceful"], total["abrupt"]) == (5, 2)
    assert total["graceful_share"] == pytest.approx(5 / 7)
    baseline = phases["baseline"]["total"]
    assert (baseline["graceful"], baseline["abrupt"], baseline["graceful_share"]) == (0, 0, None)


def test_phase_sections_per_kind_numbers() -> None:
    events = [event(10, "applied", "cpu#1"), event(20, "reverted", "cpu#1", planned_at=10)]
    valid = summary_of(split_rows(), events)["phases"]["during cpu#1"]["token_kinds"]["valid"]
    assert (valid["attempts"], valid["counted"]) == (9, 9)
    assert valid["success_rate"] == pytest.approx(4 / 9)
    assert valid["verdicts"]["valid_refused"] == 3
    assert valid["verdicts"]["abrupt"] == 2
    # Handshakes 10, 20, 30, 40, 50, 60, 70 ms (linear interpolation).
    assert valid["handshake_ms"] == {
        "p50": 40.0,
        "p95": pytest.approx(67.0),
        "p99": pytest.approx(69.4),
    }


def test_terminal_phase_table_only_with_chaos() -> None:
    events = [event(10, "applied", "cpu#1"), event(20, "reverted", "cpu#1", planned_at=10)]
    summary = summary_of(split_rows(), events)
    text = format_terminal_summary(summary, [])
    rows = {
        line.split()[0] + " " + line.split()[1]: line.split()
        for line in phase_lines(summary["phases"])[3:]
    }
    # phase, attempts, valid ok %, invalid ok %, graceful, abrupt
    assert rows["during cpu#1"][2:] == ["12", "44.4", "66.7", "5", "2"]
    assert "chaos" in text and "during cpu#1" in text
    assert max(len(line) for line in text.splitlines()) <= 110
    plain = compute_summary(attempts_frame(split_rows()[-2:]), META)
    assert "during" not in format_terminal_summary(plain, [])
    assert "graceful" not in format_terminal_summary(plain, [])


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
