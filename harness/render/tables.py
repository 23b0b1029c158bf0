"""Flat tables of a summary for CSV files (pure): one row per token kind, per phase and kind.

Columns come in a fixed order (:data:`KIND_COLUMNS`, :data:`PHASE_COLUMNS`), whatever the
summary holds, so a spreadsheet or a script reading ``token_kinds.csv`` or ``phases.csv``
sees the same header in every run. Rates are shares in 0..1, handshake times
milliseconds, phase times seconds since the run's start; an empty cell is "no data".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.numbers import finite
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
_FLOAT_COLUMNS: tuple[str, ...] = (
    "success_rate",
    "abrupt_rate",
    "graceful_share",
    "handshake_p50_ms",
    "handshake_p95_ms",
    "handshake_p99_ms",
    "start_s",
    "end_s",
)


def section_row(sec: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`SECTION_COLUMNS` of one summary section."""
    verdicts: Mapping[str, Any] = sec.get("verdicts") or {}
    hs: Mapping[str, Any] = sec.get("handshake_ms") or {}
    codes: Mapping[str, Any] = sec.get("close_codes") or {}
    reasons: Mapping[str, Any] = sec.get("close_reasons") or {}
    top = max(reasons.items(), key=lambda kv: int(kv[1] or 0))[0] if reasons else None
    return {
        "expected": sec.get("expected"),
        "attempts": sec.get("attempts", 0),
        "counted": sec.get("counted", 0),
        "success_rate": finite(sec.get("success_rate")),
        "abrupt_rate": finite(sec.get("abrupt_rate")),
        **{v: verdicts.get(v, 0) for v in VERDICT_COLUMNS},
        "refusals_graceful": sec.get("graceful", 0),
        "refusals_abrupt": sec.get("abrupt", 0),
        "graceful_share": finite(sec.get("graceful_share")),
        "handshake_p50_ms": finite(hs.get("p50")),
        "handshake_p95_ms": finite(hs.get("p95")),
        "handshake_p99_ms": finite(hs.get("p99")),
        "close_codes": ";".join(f"{c}:{n}" for c, n in codes.items()) or None,
        "top_close_reason": top,
    }


def _typed(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns))
    for col in columns:
        if col in _INT_COLUMNS:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        elif col in _FLOAT_COLUMNS:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        else:
            df[col] = df[col].astype("string")
    return df


def kinds_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """One row per token kind (in the summary's order), columns :data:`KIND_COLUMNS`."""
    kinds: Mapping[str, Any] = summary.get("token_kinds") or {}
    rows = [{"token_kind": kind, **section_row(sec)} for kind, sec in kinds.items()]
    return _typed(rows, KIND_COLUMNS)


def phases_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (phase, token kind), phases in time order, columns :data:`PHASE_COLUMNS`.

    A phase in which nobody tried a connection has no rows.
    """
    phases: Mapping[str, Any] = summary.get("phases") or {}
    rows = []
    for name, phase in phases.items():
        head = {
            "phase": name,
            "phase_kind": phase.get("kind"),
            "start_s": phase.get("start_s"),
            "end_s": phase.get("end_s"),
        }
        for kind, sec in (phase.get("token_kinds") or {}).items():
            rows.append({**head, "token_kind": kind, **section_row(sec)})
    return _typed(rows, PHASE_COLUMNS)
