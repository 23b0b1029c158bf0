"""Tests of the CSV tables: fixed columns, one row per kind / per phase and kind, rounding."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from harness.render.tables import (
    KIND_COLUMNS,
    PHASE_COLUMNS,
    csv_text,
    kinds_table,
    phases_table,
)
from tests.analysis.builders import rec, sample_rows, summary_of


def test_kinds_and_phases_tables() -> None:
    summary = summary_of(sample_rows())
    kinds = kinds_table(summary)
    assert list(kinds.columns) == list(KIND_COLUMNS)
    assert kinds["token_kind"].tolist() == ["valid", "empty", "expired"]
    valid = kinds.iloc[0]
    assert (valid["attempts"], valid["counted"], valid["ok"]) == (12, 10, 7)
    assert valid["success_rate"] == 0.7
    assert valid["close_codes"] == "1013:2" and valid["top_close_reason"] == "overloaded"
    assert valid["handshake_p95_ms"] == 86.0
    assert pd.isna(kinds.iloc[2]["close_codes"])

    phases = phases_table(summary)
    assert list(phases.columns) == list(PHASE_COLUMNS)
    assert phases[["phase", "token_kind"]].values.tolist() == [
        ["baseline", "valid"],
        ["baseline", "empty"],
        ["baseline", "expired"],
        ["during cpu", "valid"],
        ["during cpu", "empty"],
    ]
    assert phases["attempts"].sum() == 18
    during = phases.iloc[3]
    assert (during["phase_kind"], during["start_s"], during["end_s"]) == ("during", 20.0, 30.0)
    assert during["valid_refused"] == 2

    # Through CSV and back: the same header, rows and numbers.
    back = pd.read_csv(io.StringIO(csv_text(phases)))
    assert list(back.columns) == list(PHASE_COLUMNS) and len(back) == 5
    empty = summary_of([])
    assert kinds_table(empty).empty and list(kinds_table(empty).columns) == list(KIND_COLUMNS)
    assert list(phases_table(empty).columns) == list(PHASE_COLUMNS)


def test_numbers_are_rounded_to_what_they_mean() -> None:
    """Shares to 4 decimals, milliseconds to 0.1 ms, seconds to 1 ms."""
    rows = [rec("valid", "accepted", "ok", t=1.0 / 3, hs=10.0 / 3)]
    rows += [rec("valid", "timeout_handshake", "abrupt", t=2.0 / 3)] * 2
    summary = summary_of(rows)
    line = csv_text(kinds_table(summary)).splitlines()[1]
    assert ",0.3333,0.6667," in line  # success 1/3, abrupt 2/3
    assert ",3.3,3.3,3.3," in line  # handshake p50, p95, p99 (ms)
    assert "0.333333" not in line and "3.33333" not in line
    phase = csv_text(phases_table(summary)).splitlines()[1]
    assert phase.startswith("baseline,baseline,0.0,40.0,valid,accept,3,3,0.3333,")


@pytest.mark.parametrize("table", [kinds_table, phases_table])
def test_empty_cells_are_no_data(table: object) -> None:
    summary = summary_of([rec("valid", "interrupted", "excluded")])
    text = csv_text(table(summary))  # type: ignore[operator]
    assert ",,," in text.splitlines()[1]  # no rates, no handshakes: empty, never 0 or nan
    assert "nan" not in text.lower()
