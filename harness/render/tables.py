"""Flat tables of a summary for CSV files (pure): one row per token kind, per phase and kind.

Columns come in a fixed order (:data:`KIND_COLUMNS`, :data:`PHASE_COLUMNS`), whatever the
summary holds, so a spreadsheet or a script reading ``token_kinds.csv`` or ``phases.csv``
sees the same header in every run. Rates are shares in 0..1, handshake times
milliseconds, phase times seconds since the run's start; an empty cell is "no data".

Numbers are rounded to what they mean (:data:`DECIMALS`): shares to 4 decimals (a hundredth
of a percentage point), milliseconds to 0.1 ms and seconds to 1 ms, the resolution the
records are taken at; counts are integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.analysis.summary import Section, Summary
from harness.protocol.outcomes import Verdict

#: Verdict count columns, in :class:`~harness.protocol.outcomes.Verdict` order.
VERDICT_COLUMNS: tuple[str, ...] = tuple(v.value for v in Verdict)

#: The metric columns of one section (a token kind, or a token kind within a phase).
SECTION_COLUMNS: tuple[str, ...] = (
    "expected",  # accept / reject / mixed
    "attempts",  # all rows, excluded ones too
    "counted",  # attempts whose verdict is not "excluded"
    "success_rate",  # ok / counted, 0..1
    "abrupt_rate",  # abrupt verdicts / counted, 0..1
    *VERDICT_COLUMNS,  # attempts per verdict
    "refusals_graceful",  # refusals that named a reason (status, close code)
    "refusals_abrupt",  # refusals without one (reset, drop, timeout, 1006)
    "graceful_share",  # graceful / (graceful + abrupt), 0..1
    "handshake_p50_ms",
    "handshake_p95_ms",
    "handshake_p99_ms",
    "ping_rtt_p50_ms",  # the client pings' round trip (attempts' averages)
    "ping_rtt_p95_ms",
    "close_codes",  # "1013:4;4401:3", ascending code
    "top_close_reason",  # the most frequent close reason
)

KIND_COLUMNS: tuple[str, ...] = ("token_kind", *SECTION_COLUMNS)
PHASE_COLUMNS: tuple[str, ...] = (
    "phase",  # baseline, during <labels>, after <label>
    "phase_kind",  # baseline / during / after
    "start_s",  # seconds since the run's start
    "end_s",
    "token_kind",
    *SECTION_COLUMNS,
)

#: Columns that hold integer counts (nullable, so an absent value stays empty).
_INT_COLUMNS: tuple[str, ...] = (
    "attempts",
    "counted",
    *VERDICT_COLUMNS,
    "refusals_graceful",
    "refusals_abrupt",
)
#: Decimals each float column is rounded to: shares 4, milliseconds 1, seconds 3.
DECIMALS: Mapping[str, int] = {
    "success_rate": 4,
    "abrupt_rate": 4,
    "graceful_share": 4,
    "handshake_p50_ms": 1,
    "handshake_p95_ms": 1,
    "handshake_p99_ms": 1,
    "ping_rtt_p50_ms": 1,
    "ping_rtt_p95_ms": 1,
    "start_s": 3,
    "end_s": 3,
}


def section_row(sec: Section) -> dict[str, Any]:
    """The :data:`SECTION_COLUMNS` of one summary section."""
    reasons = sec.close_reasons
    top = max(reasons.items(), key=lambda kv: int(kv[1]))[0] if reasons else None
    return {
        "expected": sec.expected,
        "attempts": sec.attempts,
        "counted": sec.counted,
        "success_rate": sec.success_rate,
        "abrupt_rate": sec.abrupt_rate,
        **{v: sec.verdict(v) for v in VERDICT_COLUMNS},
        "refusals_graceful": sec.graceful,
        "refusals_abrupt": sec.abrupt,
        "graceful_share": sec.graceful_share,
        "handshake_p50_ms": sec.handshake_ms.p50,
        "handshake_p95_ms": sec.handshake_ms.p95,
        "handshake_p99_ms": sec.handshake_ms.p99,
        "ping_rtt_p50_ms": sec.ping_rtt_ms.p50,
        "ping_rtt_p95_ms": sec.ping_rtt_ms.p95,
        "close_codes": ";".join(f"{c}:{n}" for c, n in sec.close_codes.items()) or None,
        "top_close_reason": top,
    }


def _typed(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns))
    for col in columns:
        if col in _INT_COLUMNS:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        elif col in DECIMALS:
            numbers = pd.to_numeric(df[col], errors="coerce").astype("float64")
            df[col] = numbers.round(DECIMALS[col])
        else:
            df[col] = df[col].astype("string")
    return df


def kinds_table(summary: Summary) -> pd.DataFrame:
    """One row per token kind (in the summary's order), columns :data:`KIND_COLUMNS`."""
    rows = [{"token_kind": kind, **section_row(sec)} for kind, sec in summary.token_kinds.items()]
    return _typed(rows, KIND_COLUMNS)


def phases_table(summary: Summary) -> pd.DataFrame:
    """One row per (phase, token kind), phases in time order, columns :data:`PHASE_COLUMNS`.

    A phase in which nobody tried a connection has no rows.
    """
    rows = []
    for name, phase in summary.phases.items():
        head = {
            "phase": name,
            "phase_kind": phase.kind,
            "start_s": phase.start_s,
            "end_s": phase.end_s,
        }
        for kind, sec in phase.token_kinds.items():
            rows.append({**head, "token_kind": kind, **section_row(sec)})
    return _typed(rows, PHASE_COLUMNS)


def csv_text(table: pd.DataFrame) -> str:
    """A table as CSV: a header always, no index, an empty cell for no data, ``\\n`` lines."""
    return table.to_csv(index=False, lineterminator="\n")
